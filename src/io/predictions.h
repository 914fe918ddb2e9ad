/* Files `mpitrain predict` writes (model outputs, decided classes and the labels of the input rows, as
 * HDF5 or CSV), and the split listing it uses to choose a default split of a dataset file. */
#ifndef MT_IO_PREDICTIONS_H
#define MT_IO_PREDICTIONS_H

#include <stdint.h>

#include <mpitrain/mpitrain.h>

/* What to write. Arrays are borrowed; NULL ones are left out. */
typedef struct mt_prediction_file {
    uint64_t n;               /* rows */
    int k;                    /* outputs per row */
    const float *values;      /* [n, k] */
    const char *values_name;  /* "probabilities" (classifier with softmax/sigmoid output), "scores" or "outputs" */
    const int32_t *predicted; /* [n] decided class, or NULL */
    const uint64_t *rows;     /* [n] row of the input split, or NULL */
    const int32_t *y_class;   /* [n] class labels of the input, or NULL */
    const float *y_target;    /* [n, target_k] float targets of the input, or NULL */
    int target_k;
    const char *const *classes; /* class names (n_classes of them), or NULL */
    int n_classes;
    const char *checkpoint, *input, *split; /* recorded as attributes (HDF5) */
} mt_prediction_file;

/* HDF5: /<values_name> float32 [n, k], /predicted int32 [n], /row int64 [n], /y (int32 [n] or float32
 * [n, target_k]); file attributes checkpoint, input, split, outputs (= values_name), classes when given,
 * format = "mpitrain-predictions", format_version = 1. Written to "<path>.tmp.<pid>" and renamed.
 * MT_ERR_IO naming the file when it cannot be written. */
mt_status mt_predictions_write_h5(const char *path, const mt_prediction_file *f, mt_error *err);

/* CSV with a header line: row, then y (class labels) or y0..y<target_k-1> (targets), predicted, then
 * p0..p<k-1> (probabilities), score0.. (scores) or out0.. (outputs); floats with 9 significant digits.
 * Written to "<path>.tmp.<pid>" and renamed. MT_ERR_IO naming the file. */
mt_status mt_predictions_write_csv(const char *path, const mt_prediction_file *f, mt_error *err);

/* Names of the top-level groups of HDF5 file path that hold an "x" dataset (the splits), in the file's
 * order, up to max (each cut to 63 characters). Returns the count, or -1 with MT_ERR_INPUT naming the file
 * when it cannot be opened as HDF5. */
int mt_dataset_list_splits(const char *path, char (*names)[64], int max, mt_error *err);

#endif
