/* What differs between kinds of training (a classifier or regressor, a GAN), as a table of functions the
 * one training loop of loop.c calls, and the loop's state those functions share. The loop does
 * everything else: setup agreement, parameter broadcast, resume, the epochs and their steps, the stall
 * watchdog, the non-finite policy, progress, early stopping, checkpoints, interrupts and the timeline.
 * A kind is one file (classifier_kind.c, gan_kind.c) that fills an mt_train_kind. */
#ifndef MT_TRAIN_TRAIN_KIND_H
#define MT_TRAIN_TRAIN_KIND_H

#include "comm/grad_exchange.h"
#include "core/timeline.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/early_stop.h"
#include "train/trainer.h"

/* Networks a kind may train at once. */
#define MT_LOOP_MAX_NETS 2

/* training.shard_across_nodes: with one copy per node, part r of every bucket (updated by place r of each
 * node) is cut into one piece per node, and each rank keeps the optimizer state of its part's piece on its
 * node only (state_pieces.c). */
typedef struct mt_state_pieces {
    int on;
    int node, nodes;                 /* this rank's node (its place in share.peers) and how many */
    size_t n;                        /* floats this rank keeps per optimizer slot */
    size_t *at;                      /* per bucket: the slots' index of this rank's piece */
    int *counts, *displs;            /* per node: an allgather's counts and offsets */
    int lent;                        /* the whole state is on rank 0 (mt_state_pieces_lend) */
    float *whole[MT_OPT_MAX_SLOTS];  /* rank 0, while lent: the whole state, which the optimizer points at */
    float *pieces[MT_OPT_MAX_SLOTS]; /* rank 0, while lent: the slots of its pieces */
} mt_state_pieces;

/* A network the loop trains: model, optimizer and gradient exchange, owned by the kind. */
typedef struct mt_loop_net {
    const char *name; /* checkpoint group and messages: "" for a single network (/params) */
    mt_model *model;
    mt_optimizer *opt;
    mt_grad_exchange gx;
    int has_gx;
    mt_node_share share;    /* one copy per node (training.shard_optimizer): used when share.k > 0 */
    uint64_t updating;      /* one copy per node: the update whose end the node has not yet been seen to reach */
    mt_state_pieces pieces; /* used when pieces.on */
} mt_loop_net;

typedef struct mt_loop mt_loop;

typedef struct mt_train_kind {
    const mt_train_columns *columns; /* the metrics row of an epoch */
    const char *setup_phase;         /* what the watchdog names while setup runs */
    size_t self_size;                /* bytes of the kind's own state (mt_loop.self, zeroed by the loop) */
    /* Builds the kind's data, networks (mt_loop_add_net) and buffers; may be collective (it agrees on
     * the outcome itself before any collective that follows a local step). */
    mt_status (*setup)(mt_loop *L, mt_error *err);
    /* Rank 0: the networks' initial parameters (they are then broadcast). */
    void (*init_params)(mt_loop *L);
    /* Optimizer steps in an epoch. */
    uint64_t (*steps_per_epoch)(const mt_loop *L);
    /* Before the first step of an epoch: the running sums. */
    void (*begin_epoch)(mt_loop *L);
    /* Optimizer step `step` of the epoch, collective: pieces, gradient sums, mt_loop_check_sums, update.
     * Sets *skipped when the non-finite policy skipped the update. */
    mt_status (*step)(mt_loop *L, uint64_t step, int *skipped, mt_error *err);
    /* Rank 0: the running means the progress bar shows after a step. */
    void (*running)(const mt_loop *L, double values[2]);
    /* After the last step, collective: the epoch's metrics row (row[0] = epoch + 1; seconds and
     * samples_per_sec are filled by the loop when the columns have them). */
    mt_status (*end_epoch)(mt_loop *L, int epoch, double *row, mt_error *err);
    /* Rank 0, after the row is recorded: a file the epoch made beside it (a GAN's sample grid), named in
     * path for the progress event; NULL when the kind makes none. */
    mt_status (*epoch_file)(mt_loop *L, int epoch, char *path, size_t size, mt_error *err);
    /* After the last epoch, collective: what the kind adds to the result (test evaluation, scaling
     * report, score). */
    mt_status (*finish)(mt_loop *L, mt_train_result *res, mt_error *err);
    /* Frees what setup built (also after a failed setup; the loop frees self itself). */
    void (*free)(mt_loop *L);
} mt_train_kind;

/* The loop's state. Kinds read it and keep their own in `self`. */
struct mt_loop {
    const mt_config *cfg;
    mt_comm *comm;
    int rank, size;
    const mt_train_options *opts;
    const mt_train_kind *kind;
    void *self; /* the kind's own state */
    mt_loop_net nets[MT_LOOP_MAX_NETS];
    int n_nets;
    mt_prep *prep;      /* fitted preprocessing, stored in checkpoints (set by the kind) */
    int has_validation; /* a validation split is evaluated after each epoch (set by the kind) */
    uint64_t n_rows;    /* training rows (set by the kind) */
    uint64_t *perm;     /* [n_rows] the epoch's order of them, the same on every rank */
    mt_train_state state;
    mt_history history; /* the epochs' metrics rows, under the kind's columns */
    mt_early_stop es;
    char *config_yaml; /* rank 0: the config, stored in checkpoints */
    mt_timeline timeline;
    mt_timeline *tl;        /* &timeline with --timeline, else NULL: kinds pass it to their passes */
    double train_seconds;   /* in epochs' steps */
    uint64_t samples;       /* trained on, over the run; kinds add each step's global batch */
    uint64_t epoch_samples; /* the same in the current epoch */
    uint64_t skipped;       /* steps skipped by the non-finite policy */
    double slow_step;       /* seconds of the slowest recent step (decaying), for the watchdog */
    double last_checkpoint; /* wall-clock time of the latest checkpoint, or of the start */
    mt_node_comms nodes;    /* the node and leader communicators of two-level gradient sums */
    int has_nodes;          /* nodes is set up (training.node_sums, several nodes with several ranks) */
};

/* Registers a network of the kind (in setup, after it is built): it is broadcast, checkpointed, resumed
 * and its running statistics averaged by the loop. Sets up its gradient exchange in the given mode; with
 * shard set (and training.shard_optimizer), its parameters, optimizer state and gradient sums in memory
 * the ranks of a node share, each rank summing and updating a slice (then the kind updates it through
 * mt_loop_update). Collective. */
mt_status mt_loop_add_net(mt_loop *L, const char *name, mt_model *m, mt_optimizer *opt, mt_grad_mode mode, int shard,
                          mt_error *err);

/* net's gradient block summed over the ranks (trailer, then gradients), after its exchange finished. */
float *mt_loop_summed(const mt_loop_net *net);
/* One copy per node: the parameters [lo, hi) that place `place` of a node updates in bucket b (its part of
 * the bucket, less the trailer). */
void mt_loop_part(const mt_loop_net *net, int b, int place, size_t *lo, size_t *hi);

/* The optimizer step of net from its summed gradients with learning rate lr: the gradients scaled by factor
 * (rmse's global mean; 1: unchanged) and given the layers' L1/L2 penalty gradients, then the update. With a
 * node's shared copy each rank prepares and updates its slice of every bucket, and the ranks of the node
 * meet before anyone reads the new parameters. Collective over the node. */
mt_status mt_loop_update(mt_loop *L, mt_loop_net *net, double lr, float factor, mt_error *err);

/* Before anything reads the parameters after an update: with a node's shared copy, waits until every rank
 * of the node has written its slices (mt_loop_update returns without waiting, so that reading the next
 * batch overlaps the others' updates). Collective over the node when an update is pending. */
mt_status mt_loop_params_ready(mt_loop *L, mt_error *err);

/* A message for the progress callback on rank 0 (kind INFO or WARNING). */
void mt_loop_info(const mt_loop *L, mt_progress_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Starts a step of net: zeroes its gradients (lazy: marks them stale, so that the first backward pass
 * writes them; the kind then calls mt_model_settle_grads before the sums) and trailer, puts this rank's
 * stop request (and on rank 0 the request for a checkpoint.every_seconds checkpoint) in the trailer and
 * names the step for the watchdog. */
void mt_loop_begin_sums(mt_loop *L, mt_loop_net *net, int lazy);

/* After net's gradient sums of the step: a failure on any rank (local: this rank's status; another rank's
 * flag in the trailer ends every rank with the agreed message), or a NaN or infinity in the summed loss
 * or gradients, handled by training.on_nonfinite (stop with MT_ERR_NUMERIC, or skip: *skip set and a
 * warning). Returns MT_OK to update, or the status to stop with. `who` names the network in messages
 * (NULL for a single one). */
mt_status mt_loop_check_sums(mt_loop *L, mt_loop_net *net, const char *who, mt_status local, int *skip, mt_error *err);

/* Whether any rank asked to stop, as carried by net's summed trailer. */
int mt_loop_stop_requested(mt_loop_net *net);

/* The backward hook that starts the bucket sums of a layer (mt_pass.grads_ready; hook_user = &net->gx). */
void mt_loop_grads_ready(void *gx, int layer);
/* The hook that drives the sums in flight from inside long layers (mt_pass.poll; hook_user = &net->gx). */
void mt_loop_poll(void *gx);

#endif
