/* Datasets in HDF5: /<split>/x (uint8 or float32, [N, sample shape...]) and /<split>/y (int32 [N] class
 * indices, or float32 [N, k] targets). Each rank opens the file itself and reads only the rows it needs
 * (HDF5 hyperslab selections, or direct reads of contiguous storage); nothing of the file is read whole. */
#ifndef MT_IO_DATASET_H
#define MT_IO_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include <mpitrain/mpitrain.h>

#define MT_MAX_SAMPLE_RANK 4

typedef enum mt_label_kind {
    MT_LABELS_CLASS,  /* y: integer [N] class indices, read as int32 */
    MT_LABELS_TARGETS /* y: float32 [N, k] (or [N]) regression / one-hot targets */
} mt_label_kind;

typedef struct mt_dataset mt_dataset;

typedef struct mt_dataset_info {
    uint64_t rows;   /* N */
    int sample_rank; /* number of sample dimensions (x rank - 1), >= 1 */
    uint64_t sample_shape[MT_MAX_SAMPLE_RANK];
    uint64_t sample_size; /* product of sample_shape */
    int x_is_uint8;       /* uint8 x is scaled to [0, 1] on read */
    mt_label_kind label_kind;
    uint64_t target_size; /* k for MT_LABELS_TARGETS, 1 for classes */
} mt_dataset_info;

/* Opens split `split` of HDF5 file `path`, checks shapes and types (x rank 2..5, y rows equal to x rows,
 * supported dtypes, no dimension so large that sizes overflow) without reading data.
 * Errors are MT_ERR_INPUT and name the file and the dataset path ("f.h5: /train/x: ..."). */
mt_status mt_dataset_open(const char *path, const char *split, mt_dataset **out, mt_error *err);

const mt_dataset_info *mt_dataset_get_info(const mt_dataset *ds);

/* Reads rows[0..n) (any order, duplicates allowed; each < rows) into x (n * sample_size floats, row i
 * of the output is rows[i]) and labels: y_class (n int32) for class labels, or y_target (n * target_size
 * floats) for targets; the unused one may be NULL. x may be NULL to read labels only, and both label
 * outputs NULL to read x only. Uses the scratch from mt_dataset_reserve (reserved for n rows on the first
 * call if not done before); a request larger than the reserve is read in pieces, so no call allocates
 * after the reserve. A row >= rows is MT_ERR_INTERNAL (a caller bug); a failing read is MT_ERR_IO. */
mt_status mt_dataset_read_rows(mt_dataset *ds, const uint64_t *rows, size_t n, float *x, int32_t *y_class,
                               float *y_target, mt_error *err);

/* Reads a contiguous range [first, first + n). Same output layout and NULL rules as read_rows; reserves
 * min(n, 4096) rows on the first call if nothing was reserved. */
mt_status mt_dataset_read_range(mt_dataset *ds, uint64_t first, size_t n, float *x, int32_t *y_class, float *y_target,
                                mt_error *err);

/* Prepares internal buffers for reads of up to max_rows rows per call (allocates once). */
mt_status mt_dataset_reserve(mt_dataset *ds, size_t max_rows, mt_error *err);

/* Checks that every class label in the split lies in [0, n_classes): reads only y, in blocks.
 * Error names file, split, row and value ("f.h5: /train/y: row 17 has label 12, outside [0, 10)").
 * For float targets it checks instead that every value is finite (n_classes is not used). */
mt_status mt_dataset_check_labels(mt_dataset *ds, int64_t n_classes, mt_error *err);

/* Counts class labels: counts[c] (c < n_counts) gets the number of rows with label c, *other the number of
 * rows whose label lies outside [0, n_counts). Reads only y, in blocks. Class labels only (MT_ERR_INTERNAL
 * for targets). */
mt_status mt_dataset_count_labels(mt_dataset *ds, int64_t *counts, int64_t n_counts, uint64_t *other, mt_error *err);

void mt_dataset_close(mt_dataset *ds);

/* How rows are read, fastest first (see dataset.c): straight from a read-only mapping of the file, by
 * pread at the dataset's file offset, or through HDF5 hyperslab selections. The first two need
 * contiguous, fully allocated storage holding uint8 / native float32 / native int32 as the reader
 * returns them (what mt_import_idx writes); anything else (chunked, compressed, other types) takes the
 * HDF5 path. All three read the same values. */
#define MT_DATASET_READ_HDF5 0
#define MT_DATASET_READ_PREAD 1
#define MT_DATASET_READ_MMAP 2

/* Limits the read path to at most max_path (default MT_DATASET_READ_MMAP), so that tests and benchmarks
 * can compare the paths. Returns the path x rows now take. */
int mt_dataset_set_read_path(mt_dataset *ds, int max_path);

/* The path x rows take (MT_DATASET_READ_*). */
int mt_dataset_read_path(const mt_dataset *ds);

/* Class names stored as the file's "classes" attribute, if any (for inspect/eval). Returns the count
 * written (at most max; 0 when the file has no such attribute), each name copied into names[i] (cut to
 * 63 characters), or -1 with MT_ERR_INPUT when the file cannot be opened or the attribute is not strings. */
int mt_dataset_class_names(const char *path, char (*names)[64], int max, mt_error *err);

/* Imports IDX files (MNIST family: magic 0x0803 images, 0x0801 labels; gzip or plain, detected by
 * content) into the dataset layout: /train/x uint8 [N, H, W] (contiguous, uncompressed), /train/y int32
 * [N], likewise /test when given. test_* may be NULL (both or neither). Written to "<out>.tmp.<pid>" and
 * renamed, so a failed import leaves no file. class_names (may be NULL) is stored as the "classes"
 * attribute (UTF-8 variable-length strings, as h5py writes them) and labels must then be < n_class_names;
 * source (NULL: the input paths) as "source"; also format = "mpitrain-dataset", format_version = 1.
 * Bad, truncated or mismatched inputs are MT_ERR_INPUT naming the input file; write failures MT_ERR_IO
 * naming out_path. */
mt_status mt_import_idx(const char *train_images, const char *train_labels, const char *test_images,
                        const char *test_labels, const char *out_path, const char *const *class_names,
                        int n_class_names, const char *source, mt_error *err);

/* Prints a human-readable summary of any HDF5 file mpitrain reads or writes (datasets: splits, shapes,
 * dtypes, label histogram; checkpoints: tensors, optimizer state, run state, config) to the stream
 * (a FILE *). A file that cannot be opened as HDF5 is MT_ERR_INPUT naming it; a split the reader would
 * reject is shown with the reader's message, not an error. */
mt_status mt_inspect_file(const char *path, void *stdio_file, mt_error *err);

/* ---- data preparation: class subsets, CSV import, per-row columns (section of the data-prep engineer) -- */

/* mt_import_idx that keeps only the items whose label is in keep[0..n_keep) (n_keep == 0: all, as
 * mt_import_idx), relabelled by their position in keep (keep = {5, 7}: 5 -> 0, 7 -> 1), in both splits.
 * The classes attribute then names the kept classes in that order (class_names[keep[k]] when names are
 * given, else the original label as text). keep must be distinct labels (and < n_class_names when names
 * are given); a split with no kept item is MT_ERR_INPUT. */
mt_status mt_import_idx_subset(const char *train_images, const char *train_labels, const char *test_images,
                               const char *test_labels, const char *out_path, const char *const *class_names,
                               int n_class_names, const char *source, const int *keep, int n_keep, mt_error *err);

typedef enum mt_csv_task {
    MT_CSV_AUTO,           /* classification when every label is an integer (and at most 65536 distinct) */
    MT_CSV_CLASSIFICATION, /* y int32 [N] in 0..k-1 (labels renumbered when they are not 0..k-1) */
    MT_CSV_REGRESSION      /* y float32 [N, k], one column per label column */
} mt_csv_task;

/* What `mpitrain import csv` does. Strings are borrowed; NULL means the default given. */
typedef struct mt_csv_import {
    const char *input;      /* CSV file (plain or gzip-compressed), header line first */
    const char *test_input; /* a second CSV with the same header for the test split, or NULL */
    const char *out_path;   /* HDF5 file to write (replaced atomically) */
    const char *split;      /* split the rows of input go to (NULL: "train") */
    const char *test_split; /* split of test_input / of the test fraction (NULL: "test") */
    const char *label;      /* label column; for regression several may be given, comma-separated */
    const char *weights;    /* column of per-row weights (finite, >= 0) -> /<split>/w float32 [N], or NULL */
    const char *order;      /* column ordering the rows in time -> /<split>/order float64 [N], or NULL */
    const char *ignore;     /* comma-separated columns to leave out (ids, dates), or NULL */
    mt_csv_task task;
    double test_fraction; /* in [0, 1): this fraction of input's rows (seeded choice) goes to test_split */
    uint64_t seed;        /* seed of that choice */
    const char *source;   /* "source" attribute (NULL: the input path(s)) */
} mt_csv_import;

/* What the import wrote. */
typedef struct mt_csv_result {
    uint64_t rows[2];       /* rows written to split and test_split (0 when there is none) */
    uint64_t features;      /* columns of x */
    uint64_t missing_cells; /* empty or NaN feature cells (stored as NaN) */
    mt_csv_task task;       /* the task chosen (never MT_CSV_AUTO) */
    int n_classes;          /* classification: k */
    int renumbered;         /* classification: the labels were not 0..k-1 and were mapped (sorted) */
} mt_csv_result;

/* Imports numeric CSV into the dataset layout: /<split>/x float32 [N, F] (every column except the label,
 * weight, order and ignored ones, in file order; empty, NaN/nan and NA cells become NaN), /<split>/y
 * (int32 [N] classes, or float32 [N, k] targets), optional /<split>/w and /<split>/order; file attributes
 * features (column names of x), labels (label column names), task, classes (classification: the original
 * label values as text, so class i is classes[i]), source, format, format_version. The delimiter is ',';
 * fields may be quoted ("1.5", with "" for a quote); spaces around fields, CRLF line ends, a UTF-8 BOM,
 * blank lines and a missing final newline are accepted. Two streaming passes (check, then write), so only
 * one block of rows is in memory (plus the distinct labels and, with test_fraction, one byte per row).
 * Errors are MT_ERR_INPUT naming "file:line" and the column ("a.csv:18: column 'x3': 'abc' is not a
 * number"); a missing label, weight or order cell is an error. Written to "<out>.tmp.<pid>" and renamed.
 * res may be NULL. */
mt_status mt_import_csv(const mt_csv_import *opt, mt_csv_result *res, mt_error *err);

/* Reads the whole 1-D per-row column /<split>/<name> (any numeric type; [N] or [N, 1]) as doubles into
 * *values (malloc'd, caller frees). When it does not exist, *values = NULL and MT_OK. Its length must be
 * `rows` (the split's N): MT_ERR_INPUT naming file and dataset otherwise. For /order and /w columns,
 * which are 8 or 4 bytes per row: small next to x. */
mt_status mt_dataset_read_column(const char *path, const char *split, const char *name, uint64_t rows, double **values,
                                 mt_error *err);

/* The per-row sample weights /<split>/w as float (malloc'd; *w = NULL and MT_OK when the split has none).
 * Every weight must be finite and >= 0 (MT_ERR_INPUT naming the row otherwise), and not all 0. */
mt_status mt_dataset_read_weights(const char *path, const char *split, uint64_t rows, float **w, mt_error *err);

/* Name of x's column `column` from the file's "features" attribute (what import csv writes) into buf;
 * returns 1, or 0 when the file has no such name (buf is then ""). Never fails. */
int mt_dataset_feature_name(const char *path, uint64_t column, char *buf, size_t size);

#endif
