/* Early stopping (Keras EarlyStopping): watch one metric after every epoch and stop when it has not
 * improved by min_delta for `patience` epochs; optionally restore the weights of the best epoch. Every
 * rank sees the same reduced metrics, so every rank decides to stop at the same epoch. */
#ifndef MT_TRAIN_EARLY_STOP_H
#define MT_TRAIN_EARLY_STOP_H

#include "config/options.h"
#include "train/checkpoint.h"

typedef struct mt_early_stop_opts {
    char monitor[MT_NAME_MAX];
    int patience;
    double min_delta;
    char mode[MT_NAME_MAX];
    int restore_best_weights;
} mt_early_stop_opts;

typedef struct mt_early_stop {
    int enabled;
    mt_early_stop_opts opts;
    int maximize;   /* resolved mode */
    int field;      /* the monitored column of the metrics row */
    double best;    /* best value so far (NaN before the first epoch) */
    int best_epoch; /* 1-based epoch of the best value, 0 = none */
    int wait;       /* epochs since the best */
} mt_early_stop;

extern const mt_option mt_early_stop_options[];

/* Reads the early_stopping node (NULL or empty: disabled). The monitored metric must be one of the run's
 * metrics row columns[n_columns] (a metrics.jsonl key); with no validation split, val_* cannot be
 * monitored (MT_ERR_CONFIG). */
mt_status mt_early_stop_init(mt_early_stop *es, const mt_node *node, const char *const *columns, int n_columns,
                             int have_validation, mt_error *err);

/* Records an epoch's metrics row (row[0] is the 1-based epoch). Returns 1 if training should stop now, 0 otherwise; *improved is set
 * when this epoch is the new best. */
int mt_early_stop_update(mt_early_stop *es, const double *row, int *improved);

#endif
