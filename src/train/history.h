/* The per-epoch history of a run: one row of metrics per epoch (metrics.jsonl and a checkpoint's
 * /metrics) under the names of its columns, kept in a growing array; and a classifier's row. */
#ifndef MT_TRAIN_HISTORY_H
#define MT_TRAIN_HISTORY_H

#include <stddef.h>

#include <mpitrain/mpitrain.h>

/* One row of the per-epoch history (metrics.jsonl and /metrics). NaN where not measured. The first
 * MT_METRICS_BASE_FIELDS are always written to metrics.jsonl (null when NaN); the others when measured. */
typedef struct mt_metrics_row {
    double epoch, loss, accuracy, val_loss, val_accuracy, seconds, samples_per_sec;
    double lr, binary_accuracy, mae, rmse, val_binary_accuracy, val_mae, val_rmse;
} mt_metrics_row;

#define MT_METRICS_BASE_FIELDS 7
#define MT_METRICS_FIELDS 14
extern const char *const mt_metrics_field_names[MT_METRICS_FIELDS];

typedef struct mt_history {
    const char *const *names; /* the columns */
    int fields;
    double *rows; /* n rows of `fields` values */
    size_t n, cap;
} mt_history;

/* An empty history of a classifier's columns. */
#define MT_METRICS_HISTORY ((mt_history){.names = mt_metrics_field_names, .fields = MT_METRICS_FIELDS})

/* Adds a row of h->fields values (NULL: a row of NaN). */
mt_status mt_history_append(mt_history *h, const double *row, mt_error *err);
/* Frees the rows; the columns stay. */
void mt_history_free(mt_history *h);

#endif
