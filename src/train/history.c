/* The per-epoch history: the metrics' names and the growing array of rows (see history.h). */
#include "train/history.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

_Static_assert(sizeof(mt_metrics_row) == MT_METRICS_FIELDS * sizeof(double), "rows are indexed as double[]");

const char *const mt_metrics_field_names[MT_METRICS_FIELDS] = {
    "epoch",           "loss",     "accuracy",        "val_loss", "val_accuracy", "seconds",
    "samples_per_sec", "lr",       "binary_accuracy", "mae",      "rmse",         "val_binary_accuracy",
    "val_mae",         "val_rmse",
};

mt_status mt_history_append(mt_history *h, const double *row, mt_error *err)
{
    const size_t fields = (size_t)h->fields;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        double *r = realloc(h->rows, cap * fields * sizeof *r);
        if (!r)
            return mt_fail(err, MT_ERR_NOMEM, "out of memory");
        h->rows = r, h->cap = cap;
    }
    double *to = h->rows + h->n++ * fields;
    for (size_t k = 0; k < fields; k++)
        to[k] = row ? row[k] : NAN;
    return MT_OK;
}

void mt_history_free(mt_history *h)
{
    free(h->rows);
    h->rows = NULL, h->n = h->cap = 0;
}
