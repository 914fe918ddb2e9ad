/* Writing dataset files (private to src/io): an output created as "<out>.tmp.<pid>" and renamed into place
 * when complete, contiguous datasets written row block by row block, and string / integer attributes.
 * Shared by the IDX and CSV importers. Includes hdf5.h, so only src/io includes this header. */
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
    const char *out;      /* final path (borrowed) */
    mt_atomic_file tmp;   /* the temporary it is written as */
    hid_t file;           /* -1 when closed */
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

/* A contiguous, uncompressed dataset name in g of the given file type and shape (rank <= 3); -1 on error. */
hid_t mt_h5w_dataset(hid_t g, const char *name, hid_t type, int rank, const uint64_t *dims);

/* Writes rows [first, first + count) of dataset d (row_elems elements of memtype per row) from buf. */
herr_t mt_h5w_rows(hid_t d, hid_t memtype, uint64_t first, uint64_t count, uint64_t row_elems, const void *buf);

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
