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
    MT_LABELS_CLASS,   /* y: integer [N] class indices, read as int32 */
    MT_LABELS_TARGETS  /* y: float32 [N, k] (or [N]) regression / one-hot targets */
} mt_label_kind;

typedef struct mt_dataset mt_dataset;

typedef struct mt_dataset_info {
    uint64_t rows;                          /* N */
    int sample_rank;                        /* number of sample dimensions (x rank - 1), >= 1 */
    uint64_t sample_shape[MT_MAX_SAMPLE_RANK];
    uint64_t sample_size;                   /* product of sample_shape */
    int x_is_uint8;                         /* uint8 x is scaled to [0, 1] on read */
    mt_label_kind label_kind;
    uint64_t target_size;                   /* k for MT_LABELS_TARGETS, 1 for classes */
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
mt_status mt_dataset_read_range(mt_dataset *ds, uint64_t first, size_t n, float *x, int32_t *y_class,
                                float *y_target, mt_error *err);

/* Prepares internal buffers for reads of up to max_rows rows per call (allocates once). */
mt_status mt_dataset_reserve(mt_dataset *ds, size_t max_rows, mt_error *err);

/* Checks that every class label in the split lies in [0, n_classes): reads only y, in blocks.
 * Error names file, split, row and value ("f.h5: /train/y: row 17 has label 12, outside [0, 10)").
 * For float targets it checks instead that every value is finite (n_classes is not used). */
mt_status mt_dataset_check_labels(mt_dataset *ds, int64_t n_classes, mt_error *err);

/* Counts class labels: counts[c] (c < n_counts) gets the number of rows with label c, *other the number of
 * rows whose label lies outside [0, n_counts). Reads only y, in blocks. Class labels only (MT_ERR_INTERNAL
 * for targets). */
mt_status mt_dataset_count_labels(mt_dataset *ds, int64_t *counts, int64_t n_counts, uint64_t *other,
                                  mt_error *err);

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

#endif
