/* The per-epoch history: the metrics' names and the growing array of rows (see history.h). */
#include "train/history.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

_Static_assert(sizeof(mt_metrics_row) == MT_METRICS_FIELDS * sizeof(double), "rows are indexed as double[]");

const char *const mt_metrics_field_names[MT_METRICS_FIELDS] = {
    "epoch",           "loss",     "accuracy",        "val_loss", "val_accuracy", "seconds",
    "samples_per_sec", "lr",       "binary_accuracy", "mae",      "rmse",         "val_binary_accuracy",
    "val_mae",         "val_rmse",
};

mt_status mt_history_append(mt_history *h, const mt_metrics_row *row, mt_error *err)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        mt_metrics_row *r = realloc(h->rows, cap * sizeof *r);
        if (!r)
            return mt_fail(err, MT_ERR_NOMEM, "out of memory");
        h->rows = r, h->cap = cap;
    }
    h->rows[h->n++] = *row;
    return MT_OK;
}

void mt_history_free(mt_history *h)
{
    free(h->rows);
    memset(h, 0, sizeof *h);
}
