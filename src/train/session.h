/* Everything a run needs, built from a config and checked before any training starts: the model, the
 * loss, the optimizer, the opened dataset splits (shapes and labels checked against the model) and the
 * per-batch buffers, sized once so that no step allocates. */
#ifndef MT_TRAIN_SESSION_H
#define MT_TRAIN_SESSION_H

#include "config/config.h"
#include "dist/comm.h"
#include "io/dataset.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/optimizer.h"

typedef struct mt_session {
    const mt_config *cfg;
    mt_model model;
    mt_loss loss;
    mt_optimizer opt;               /* only when built for training */
    mt_dataset *train, *validation, *test;
    int capacity;                   /* rows per rank per batch the buffers hold */
    uint64_t *rows;                 /* [capacity] row indices of the current slice */
    int32_t *y_class;               /* [capacity] */
    float *y_target;                /* [capacity * outputs] */
    float *dout;                    /* [capacity * outputs] */
} mt_session;

typedef enum mt_session_mode {
    MT_SESSION_TRAIN,               /* model, loss, optimizer, train (+ validation, test) splits */
    MT_SESSION_EVAL                 /* model and loss only; datasets opened by the caller */
} mt_session_mode;

/* Builds the session on this rank. Not collective: callers agree on the status afterwards. */
mt_status mt_session_open(mt_session *s, const mt_config *cfg, mt_session_mode mode, int nranks, mt_error *err);

/* Checks that a dataset split fits the model (sample shape, label kind, class range). */
mt_status mt_session_check_split(mt_session *s, mt_dataset *ds, const char *file, const char *split,
                                 mt_error *err);

/* Makes the batch buffers hold capacity rows (allocates only when growing). */
mt_status mt_session_reserve(mt_session *s, int capacity, mt_error *err);

/* Loss and accuracy of the model on a split, each rank evaluating a contiguous shard; collective. */
mt_status mt_session_evaluate(mt_session *s, mt_dataset *ds, mt_comm *comm, double *loss, double *accuracy,
                              mt_error *err);

void mt_session_close(mt_session *s);

#endif
