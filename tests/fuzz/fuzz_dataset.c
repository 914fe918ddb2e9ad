/* libFuzzer harness for the dataset reader: the input bytes become an HDF5 file that is opened and read
 * the way a training session does: mt_dataset_open of split "train", shape and label checks, the
 * optional weight and order columns, then a few rows (first, last, middle, a repeat) through the
 * default read path and through HDF5, and a contiguous range. Rejections must be one line; nothing of
 * HDF5 may stay open. The "classes" attribute (variable-length strings, read only by eval and inspect)
 * is left out: libhdf5 1.10.8 can loop for minutes in its global-heap code on a damaged heap
 * (tests/fuzz/hdf5_known/ keeps such a file), which this harness cannot fix. Name lookups in a damaged
 * symbol table can take as long (hdf5_known/symbol_table_lookup_hang.h5: minutes in H5G__stab_lookup);
 * those cannot be left out, so a long fuzzing run may stop on such an input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "fuzz_common.h"

#define MAX_X_FLOATS (1u << 16)   /* x rows are only read when 4 of them fit in this */
#define MAX_LABEL_ROWS (1u << 16) /* labels are checked in full up to this many rows */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_some(mt_dataset *ds, const mt_dataset_info *in)
{
    uint64_t rows[4] = {0, in->rows - 1, in->rows / 2, 0};
    int x_fits = in->sample_size <= MAX_X_FLOATS / 4;
    float *x = x_fits ? malloc(4 * in->sample_size * sizeof *x) : NULL;
    float *yt = in->target_size <= MAX_X_FLOATS / 4 ? malloc(4 * in->target_size * sizeof *yt) : NULL;
    int32_t yc[4];
    mt_error err = {0};
    if (mt_dataset_reserve(ds, 4, &err) == MT_OK) {
        for (int path = MT_DATASET_READ_MMAP; path >= MT_DATASET_READ_HDF5; path--) {
            mt_dataset_set_read_path(ds, path);
            mt_status st = mt_dataset_read_rows(ds, rows, 4, x, yc, yt, &err);
            check_message(&err, st);
            size_t n = in->rows < 3 ? (size_t)in->rows : 3;
            st = mt_dataset_read_range(ds, in->rows - n, n, x, yc, yt, &err);
            check_message(&err, st);
        }
    }
    free(x);
    free(yt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = write_scratch(data, size, ".h5");
    mt_dataset *ds = NULL;
    mt_error err = {0};
    mt_status st = mt_dataset_open(path, "train", &ds, &err);
    check_message(&err, st);
    if (st == MT_OK) {
        const mt_dataset_info *in = mt_dataset_get_info(ds);
        if (in->rows == 0 || in->sample_size == 0 || in->target_size == 0) {
            fprintf(stderr, "fuzz: opened a split with an empty dimension\n");
            abort();
        }
        if (in->rows <= MAX_LABEL_ROWS) {
            st = mt_dataset_check_labels(ds, 10, &err);
            check_message(&err, st);
            float *w = NULL;
            st = mt_dataset_read_weights(path, "train", in->rows, &w, &err);
            check_message(&err, st);
            free(w);
            double *order = NULL;
            st = mt_dataset_read_column(path, "train", "order", in->rows, &order, &err);
            check_message(&err, st);
            free(order);
        }
        read_some(ds, in);
        mt_dataset_close(ds);
    }
    check_no_open_objects("the dataset reader");
    return 0;
}
