/* The data-parallel training loop: every rank holds the whole model, computes the gradient of its slice
 * of each global batch, the gradients are summed by allreduce and every rank takes the same step. */
#ifndef MT_TRAIN_TRAINER_H
#define MT_TRAIN_TRAINER_H

#include "config/config.h"
#include "comm/comm.h"
#include "train/checkpoint.h"
#include "train/stop_request.h"

typedef enum mt_progress_kind {
    MT_PROGRESS_INFO,    /* a message (message) */
    MT_PROGRESS_STEP,    /* after a training step (epoch, step, steps, loss, accuracy, elapsed) */
    MT_PROGRESS_EPOCH,   /* after an epoch (row) */
    MT_PROGRESS_WARNING  /* a warning (message) */
} mt_progress_kind;

typedef struct mt_progress {
    mt_progress_kind kind;
    int epoch, epochs;              /* 1-based epoch */
    uint64_t step, steps;           /* 1-based step within the epoch */
    double loss, accuracy;          /* running means on this rank's samples of the epoch so far */
    double elapsed;                 /* seconds since the epoch started */
    const mt_metrics_row *row;
    const char *message;
} mt_progress;

/* Called on rank 0 only. */
typedef void (*mt_progress_fn)(const mt_progress *p, void *user);

typedef struct mt_train_options {
    int resume;                     /* continue from a checkpoint */
    const char *resume_path;        /* that checkpoint; NULL = newest good one in the output directory */
    mt_progress_fn progress;
    void *user;
    const char *timeline_path;      /* write a Chrome trace of every rank's steps here (NULL: none) */
} mt_train_options;

/* Per-rank time split, summed over the run: compute + exposed + data + idle is the training time. */
typedef struct mt_rank_times {
    double compute;     /* forward, loss, backward (with starting the bucket sums) and optimizer */
    double allreduce;   /* gradient sums in flight: first bucket started to last one complete, per step */
    double exposed;     /* the part of it nothing overlapped: time in MPI calls during backprop, plus the
                           optimizer's wait for the sums (the least any rank waited) */
    double data;        /* reading and augmenting batches */
    double idle;        /* the rest of this rank's wait: for slower ranks */
} mt_rank_times;

typedef struct mt_train_result {
    int epochs_run;
    mt_metrics_row last;            /* metrics of the last epoch */
    double test_loss, test_accuracy;/* on data.test (NaN when there is none) */
    int world_size;
    double train_seconds, samples_per_sec;
    mt_rank_times *ranks;           /* world_size entries (valid on every rank); freed by mt_train_result_free */
    double efficiency;              /* compute / (compute + exposed + data + idle), averaged over ranks */
    int buckets;                    /* gradient buckets */
    double bucket_mb;
    const char *dtype;              /* "float32", "bfloat16" or "fixed64" (deterministic) */
    int deterministic;
} mt_train_result;

/* Trains cfg on the ranks of comm. Collective. Errors are agreed across ranks: every rank returns the
 * same status and message. */
mt_status mt_train_run(const mt_config *cfg, mt_comm *comm, const mt_train_options *opts, mt_train_result *res,
                       mt_error *err);

void mt_train_result_free(mt_train_result *res);


#endif
