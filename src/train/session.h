/* Everything a run needs, built from a config and checked before any training starts: the model, the
 * loss, the optimizer, the dataset splits as row lists (a validation fraction or fold taken from the
 * training split, rows with missing values dropped when asked), per-row weights, the feature
 * preprocessing fitted on the training rows, and the per-batch buffers, sized once so that no step
 * allocates. */
#ifndef MT_TRAIN_SESSION_H
#define MT_TRAIN_SESSION_H

#include "config/config.h"
#include "comm/comm.h"
#include "io/dataset.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/augment.h"
#include "train/prep.h"

/* The rows of one split that take part, in ascending order, and where they come from. */
typedef struct mt_split_view {
    mt_dataset *ds; /* NULL when the split is absent */
    int owns_ds;    /* 0 when it shares the training split's dataset (validation fraction) */
    char file[MT_PATH_MAX];
    char name[MT_NAME_MAX];
    uint64_t *rows; /* [n] row indices into ds */
    uint64_t n;
    float *weights; /* per row of ds (/<split>/w), or NULL: all 1 */
} mt_split_view;

/* Sums over samples from which the loss and metrics of a split follow; all plain sums (one allreduce). */
typedef struct mt_eval_sums {
    double loss;              /* summed per-sample loss (mt_loss_compute) */
    double penalty;           /* summed L1/L2 penalty, weighted by the samples of each step */
    double m[MT_METRIC_SUMS]; /* metric sums (mt_metrics_accumulate) */
} mt_eval_sums;

/* The values reported for a split. NaN where not meaningful. */
typedef struct mt_eval_values {
    double loss, accuracy, binary_accuracy, mae, rmse;
} mt_eval_values;

typedef struct mt_session {
    const mt_config *cfg;
    mt_model model;
    mt_loss loss;
    mt_optimizer opt;   /* only when built for training */
    mt_prep prep;       /* feature preprocessing (identity unless configured) */
    mt_augment augment; /* training-time image augmentation (disabled unless configured) */
    mt_split_view train, validation, test;
    int metrics[MT_METRIC_COUNT]; /* which metrics the config asks for */
    int classes;                  /* labels are class indices */
    int capacity;                 /* rows per rank per batch the buffers hold */
    uint64_t *rows;               /* [capacity] row indices of the current slice */
    int32_t *y_class;             /* [capacity] */
    float *y_target;              /* [capacity * outputs] */
    float *weights;               /* [capacity] */
    float *dout;                  /* [capacity * outputs] */
} mt_session;

typedef enum mt_session_mode {
    MT_SESSION_TRAIN, /* model, loss, optimizer, splits of the config (collective) */
    MT_SESSION_EVAL   /* model and loss only; the caller adds a split (mt_session_add_split) */
} mt_session_mode;

/* Builds the session. Collective in MT_SESSION_TRAIN mode (fitting the preprocessing reads the training
 * rows on all ranks); errors are agreed, so every rank returns the same status. */
mt_status mt_session_open(mt_session *s, const mt_config *cfg, mt_session_mode mode, mt_comm *comm, mt_error *err);

/* Opens split `split` of `file` as the test view (all rows; rows with missing values handled by the
 * session's preprocessing policy). Collective. For eval. */
mt_status mt_session_add_split(mt_session *s, const char *file, const char *split, mt_comm *comm, mt_error *err);

/* Checks that a dataset split fits the model (sample shape, label kind, class range). */
mt_status mt_session_check_split(mt_session *s, mt_dataset *ds, const char *file, const char *split, mt_error *err);

/* Makes the batch buffers hold capacity rows (allocates only when growing). */
mt_status mt_session_reserve(mt_session *s, int capacity, mt_error *err);

/* Reads rows[0..n) of a view into the model input and label/weight buffers, preprocessing applied. */
mt_status mt_session_read(mt_session *s, const mt_split_view *v, const uint64_t *rows, int n, mt_error *err);

/* Loss and metrics of a split view, each rank evaluating a contiguous part of its rows; collective. */
mt_status mt_session_evaluate(mt_session *s, const mt_split_view *v, mt_comm *comm, mt_eval_values *out, mt_error *err);

/* Reported values from sums already combined over ranks. */
void mt_session_values(const mt_session *s, const mt_eval_sums *sums, mt_eval_values *out);

void mt_session_close(mt_session *s);

#endif
