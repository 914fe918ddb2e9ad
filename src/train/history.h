/* The per-epoch history of a run: one row of metrics per epoch (metrics.jsonl and a checkpoint's
 * /metrics), kept in a growing array. */
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
    mt_metrics_row *rows;
    size_t n, cap;
} mt_history;

mt_status mt_history_append(mt_history *h, const mt_metrics_row *row, mt_error *err);
void mt_history_free(mt_history *h);

#endif
