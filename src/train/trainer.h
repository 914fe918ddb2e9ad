/* Data-parallel training: every rank holds the whole model (or both networks of a GAN), computes the
 * gradient of its slice of each global batch, the gradients are summed over the ranks and every rank
 * takes the same step. The run's options, progress events and result. */
#ifndef MT_TRAIN_TRAINER_H
#define MT_TRAIN_TRAINER_H

#include "config/config.h"
#include "comm/comm.h"
#include "train/checkpoint.h"
#include "train/gan_score.h"
#include "train/stop_request.h"

/* The columns of a kind of training's per-epoch metrics row (metrics.jsonl, the checkpoint's /metrics, the
 * progress lines), every one a double. */
typedef struct mt_train_columns {
    const char *const *names;
    int n;
    int base;                 /* the first `base` are always in metrics.jsonl (null when NaN), the
                                       others when measured */
    const char *running[2];   /* what the progress bar shows after each step (running means) */
    const char *const *shown; /* pairs {column, label} an epoch's progress line shows, NULL-ended;
                                       then seconds and samples/s */
    int decimals;             /* of the shown values after the first two (the first two: 4) */
} mt_train_columns;

/* The largest metrics row of any kind. */
#define MT_ROW_MAX 16

typedef enum mt_progress_kind {
    MT_PROGRESS_INFO,   /* a message (message) */
    MT_PROGRESS_STEP,   /* after a training step (epoch, step, steps, running, elapsed) */
    MT_PROGRESS_EPOCH,  /* after an epoch (row, file) */
    MT_PROGRESS_WARNING /* a warning (message) */
} mt_progress_kind;

typedef struct mt_progress {
    mt_progress_kind kind;
    int epoch, epochs;    /* 1-based epoch */
    uint64_t step, steps; /* 1-based step within the epoch */
    double running[2];    /* running means of columns->running on this rank's samples so far */
    double elapsed;       /* seconds since the epoch started */
    const mt_train_columns *columns;
    const double *row; /* the epoch's metrics row (columns->n values) */
    const char *file;  /* a file the epoch wrote (a GAN's sample grid), or NULL */
    const char *message;
} mt_progress;

/* Called on rank 0 only. */
typedef void (*mt_progress_fn)(const mt_progress *p, void *user);

typedef struct mt_train_options {
    int resume;              /* continue from a checkpoint */
    const char *resume_path; /* that checkpoint; NULL = newest good one in the output directory */
    mt_progress_fn progress;
    void *user;
    const char *timeline_path; /* write a Chrome trace of every rank's steps here (NULL: none) */
} mt_train_options;

/* Per-rank time split, summed over the run: compute + exposed + data + idle is the training time. */
typedef struct mt_rank_times {
    double compute;     /* forward, loss, backward (with starting the bucket sums) and optimizer */
    double allreduce;   /* gradient sums in flight: first bucket started to last one complete, per step */
    double exposed;     /* the part of it nothing overlapped: time in MPI calls during backprop, plus the
                           optimizer's wait for the sums (the least any rank waited) */
    double data;        /* reading and augmenting batches */
    double idle;        /* the rest of this rank's wait: for slower ranks */
    double samples;     /* samples this rank computed (its shares of the global batches) */
    double speed;       /* samples this rank computed per second of its own work (reading, forward, backward) */
    double core_share;  /* the CPU time it got during that work over its wall time: below 1 on a shared core */
    double summing;     /* one copy per node: summing its slices of the node's gradients (part of compute) */
    double optimizer;   /* the update, with the node's meeting after it (part of compute) */
    double state_bytes; /* optimizer state this rank updates: all of it, or its slice with one copy per node */
} mt_rank_times;

/* A GAN's metrics row: d_loss = mean over the epoch's real and fake samples of the discriminator's BCE
 * (both halves summed: log 4 = 1.386 when it cannot tell them apart), g_loss = mean -log D(G(z)),
 * d_real / d_fake = mean probability the discriminator gave real / generated samples. */
typedef struct mt_gan_row {
    double epoch, d_loss, g_loss, d_real, d_fake, seconds, samples_per_sec;
} mt_gan_row;

/* An epoch's metrics row, by column or as the row of a classifier or a GAN. */
typedef union mt_row {
    double v[MT_ROW_MAX];
    mt_metrics_row metrics;
    mt_gan_row gan;
} mt_row;

/* A rank whose time per sample over the whole run exceeds the median rank's by this factor is named as a
 * straggler in the end-of-run report. */
#define MT_STRAGGLER_RATIO 1.2

typedef struct mt_train_result {
    const mt_train_columns *columns;
    int epochs_run;
    mt_row last; /* metrics of the last epoch */
    int world_size;
    double train_seconds, samples_per_sec;
    /* a classifier's */
    double test_loss, test_accuracy; /* on data.test (NaN when there is none) */
    mt_rank_times *ranks;            /* world_size entries (valid on every rank); freed by mt_train_result_free */
    double efficiency;               /* compute / (compute + exposed + data + idle), averaged over ranks */
    int straggler;                   /* the rank persistently slower than the others, or -1 */
    double straggler_slower;         /* its time per sample over the median rank's (> MT_STRAGGLER_RATIO) */
    const char *straggler_host;      /* its host (owned by the communicator) */
    int buckets;                     /* gradient buckets */
    double bucket_mb;
    const char *dtype; /* "float32", "bfloat16" or "fixed64" (deterministic) */
    int deterministic;
    int shared; /* ranks per node that share one copy (training.shard_optimizer), or 0 */
    /* a GAN's */
    int scored; /* gan.classifier was set: score holds the figures */
    mt_gan_score score;
} mt_train_result;

/* Trains cfg on the ranks of comm: a classifier (or regressor), or with cfg->gan.enabled a GAN. Collective.
 * Errors are agreed across ranks: every rank returns the same status and message. Writes the run
 * directory: metrics.jsonl, the checkpoints, and scaling.json (a classifier) or the sample grids and
 * gan_score.json (a GAN). */
mt_status mt_train_run(const mt_config *cfg, mt_comm *comm, const mt_train_options *opts, mt_train_result *res,
                       mt_error *err);

void mt_train_result_free(mt_train_result *res);

#endif
