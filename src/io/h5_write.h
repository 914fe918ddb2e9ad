/* Writing dataset files: an output created as "<out>.tmp.<pid>" and renamed into place when complete,
 * contiguous datasets written row block by row block, and string / integer attributes; and an existing
 * file opened to write rows in place. Shared by the IDX and CSV importers, the prediction files and the
 * API's arrays (whose ranks each write their rows into the file rank 0 made). Includes hdf5.h. */
#ifndef MT_IO_H5_WRITE_H
#define MT_IO_H5_WRITE_H

#include <stdint.h>

#include <hdf5.h>
#include <mpitrain/mpitrain.h>

#include "core/atomic_file.h"

#define MT_DATASET_FORMAT_NAME "mpitrain-dataset"
#define MT_DATASET_FORMAT_VERSION 1

/* An output file being written. */
typedef struct mt_h5w {
    const char *out;    /* final path (borrowed) */
    mt_atomic_file tmp; /* the temporary it is written as */
    hid_t file;         /* -1 when closed */
} mt_h5w;

/* Creates the temporary of out (core/atomic_file.h) and opens it with HDF5. With
 * large_attributes the file uses the HDF5 1.8 object format, which stores attributes over 64 KiB (a
 * features list of thousands of names); h5py and HDF5 >= 1.8 read it. */
mt_status mt_h5w_create(mt_h5w *w, const char *out, int large_attributes, mt_error *err);

/* Closes the temporary file and puts it in place of the output path (synced, renamed). */
mt_status mt_h5w_finish(mt_h5w *w, mt_error *err);

/* Closes (if open) and removes the temporary file after a failure. */
void mt_h5w_abort(mt_h5w *w);

/* MT_ERR_IO "out: what: write failed: <HDF5's innermost reason>". */
mt_status mt_h5w_error(const mt_h5w *w, const char *what, mt_error *err);

#define MT_H5W_MAX_RANK 8

/* A contiguous, uncompressed dataset name in g of the given file type and shape (rank <= MT_H5W_MAX_RANK);
 * -1 on error. */
hid_t mt_h5w_dataset(hid_t g, const char *name, hid_t type, int rank, const uint64_t *dims);

/* Writes rows [first, first + count) of dataset d (row_elems elements of memtype per row) from buf. */
herr_t mt_h5w_rows(hid_t d, hid_t memtype, uint64_t first, uint64_t count, uint64_t row_elems, const void *buf);

/* Element types of the writers below that take no HDF5 type: little-endian in the file, native in memory. */
typedef enum mt_h5w_type { MT_H5W_FLOAT32, MT_H5W_INT32 } mt_h5w_type;

/* A contiguous dataset at path name of the file (its groups created as needed), its storage allocated at
 * once and never filled: rows written later, in any order and by other processes, land in place, and the
 * reader can map it. MT_ERR_IO naming the file and the dataset. */
mt_status mt_h5w_allocated(mt_h5w *w, const char *name, mt_h5w_type type, int rank, const uint64_t *dims,
                           mt_error *err);

/* Opens the existing file path for writing in place (no temporary); mt_h5w_close closes it. */
mt_status mt_h5w_open(mt_h5w *w, const char *path, mt_error *err);
mt_status mt_h5w_close(mt_h5w *w, mt_error *err);

/* mt_h5w_rows on the dataset at path name of the file; MT_ERR_IO naming the file and the dataset. */
mt_status mt_h5w_write_rows(mt_h5w *w, const char *name, mt_h5w_type type, uint64_t first, uint64_t count,
                            uint64_t row_elems, const void *buf, mt_error *err);

/* A UTF-8 variable-length string attribute (as h5py writes them): a scalar when n < 0, else a 1-D array
 * of n strings. */
herr_t mt_h5w_strings(hid_t obj, const char *name, const char *const *values, int n);

/* A scalar int64 attribute. */
herr_t mt_h5w_int(hid_t obj, const char *name, int64_t value);

/* The file attributes every dataset file carries: classes (when n_classes > 0), source, format =
 * MT_DATASET_FORMAT_NAME, format_version = MT_DATASET_FORMAT_VERSION. */
mt_status mt_h5w_dataset_attributes(mt_h5w *w, const char *const *classes, int n_classes, const char *source,
                                    mt_error *err);

#endif
