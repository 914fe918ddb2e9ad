/* The one training loop (see train_kind.h): setup and its agreement, the initial parameters broadcast from
 * rank 0, resume, the epochs and their steps under the stall watchdog, the non-finite policy, progress
 * events, the metrics history, early stopping, checkpoints, the checkpoint of an interrupted run and the
 * timeline, for every kind of training. */
#include "train/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "nn/activation.h"
#include "optim/schedule.h"
#include "train/resume.h"
#include "train/run_dir.h"
#include "train/sampler.h"
#include "train/state_pieces.h"
#include "train/stop_request.h"
#include "train/timeline.h"
#include "train/train_kind.h"

extern const mt_train_kind mt_classifier_kind, mt_gan_kind;

/* ---- what kinds call ------------------------------------------------------------------------------- */

void mt_loop_info(const mt_loop *L, mt_progress_kind kind, const char *fmt, ...)
{
    if (L->rank != 0 || !L->opts->progress)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_progress p = {.kind = kind, .message = msg};
    L->opts->progress(&p, L->opts->user);
}

/* training.node_sums: two_level sums when the job spans several nodes with several ranks on one; flat
 * sums otherwise. Collective. */
static mt_status setup_node_sums(mt_loop *L, mt_error *err)
{
    if (strcmp(L->cfg->training.node_sums, "two_level") != 0 || L->size == 1)
        return MT_OK;
    mt_status st = mt_node_comms_create(&L->nodes, L->comm, err);
    if (st)
        return st;
    L->has_nodes = mt_node_comms_worthwhile(&L->nodes);
    if (!L->has_nodes)
        mt_node_comms_destroy(&L->nodes);
    else
        mt_loop_info(L, MT_PROGRESS_INFO, "gradient sums in two levels: inside each of %d nodes, then across them",
                     L->nodes.nodes);
    return MT_OK;
}

/* training.shard_optimizer: the network's parameters, optimizer state and gradient sums in memory the ranks of
 * a node share. Collective. */
static mt_status setup_share(mt_loop *L, mt_loop_net *net, mt_error *err)
{
    mt_model *m = net->model;
    mt_node_share *sh = &net->share;
    const int fixed = net->gx.mode == MT_GRAD_FIXED64, pieces = L->cfg->training.shard_across_nodes;
    /* with the state in pieces, each rank keeps its own: the window holds no optimizer state */
    mt_status st = mt_node_share_create(sh, L->comm, m->n_params, MT_GRAD_TRAILER, pieces ? 0 : net->opt->n_slots,
                                        fixed, err);
    if (!st && sh->why[0])
        mt_loop_info(L, MT_PROGRESS_INFO, "every rank keeps its own copy (training.shard_optimizer): %s", sh->why);
    if (st || sh->k == 0)
        return st;
    const int first = sh->me == 0; /* the node's first rank fills the shared copy, the others point at it */
    mt_model_use_slabs(m, sh->params, fixed ? NULL : sh->block[sh->me], first);
    mt_grad_exchange_use_share(&net->gx, sh);
    if (pieces)
        st = mt_state_pieces_setup(net, err);
    else
        mt_optimizer_use_slots(net->opt, sh->slots, first);
    if (!st)
        st = mt_node_share_barrier(sh, err);
    if (!st && pieces)
        mt_loop_info(L, MT_PROGRESS_INFO,
                     "one copy per node: %d node(s) x %d ranks share the parameters; each rank sums and updates "
                     "1/%d of them and keeps the optimizer state of 1/%d (training.shard_across_nodes)",
                     sh->nodes, sh->k, sh->k, sh->k * sh->nodes);
    else if (!st)
        mt_loop_info(L, MT_PROGRESS_INFO,
                     "one copy per node: %d node(s) x %d ranks share the parameters and the optimizer state; each "
                     "rank sums and updates 1/%d of them",
                     sh->nodes, sh->k, sh->k);
    return st;
}

/* Takes net's parameters and optimizer state back into memory of its own, and frees the shared copy.
 * Collective over the node (over world when the state is in pieces). */
static void end_share(mt_loop_net *net, mt_error *err)
{
    if (!net->share.k)
        return;
    if (net->pieces.on && mt_state_pieces_end(net, net->share.world, err))
        return; /* the model still points into the window: it stays mapped */
    if (!mt_model_own_slabs(net->model, err) && !mt_optimizer_own_slots(net->opt, err))
        mt_node_share_destroy(&net->share); /* else the model still points into it: it stays mapped */
}

mt_status mt_loop_add_net(mt_loop *L, const char *name, mt_model *m, mt_optimizer *opt, mt_grad_mode mode, int shard,
                          mt_error *err)
{
    if (L->n_nets == MT_LOOP_MAX_NETS)
        return mt_fail(err, MT_ERR_INTERNAL, "more than %d networks", MT_LOOP_MAX_NETS);
    mt_loop_net *net = &L->nets[L->n_nets++];
    *net = (mt_loop_net){.name = name, .model = m, .opt = opt};
    size_t *offsets = malloc(((size_t)m->n_layers + 1) * sizeof *offsets);
    if (!offsets)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (int i = 0; i <= m->n_layers; i++)
        offsets[i] = mt_model_layer_offset(m, i);
    mt_status st = mt_grad_exchange_init(&net->gx, L->comm, mt_model_grad_trailer(m), MT_GRAD_TRAILER, offsets,
                                         m->n_layers, L->cfg->training.bucket_mb * 1048576.0, mode, err);
    free(offsets);
    net->has_gx = st == MT_OK;
    if (!st && shard && L->cfg->training.shard_optimizer && mode != MT_GRAD_BFLOAT16 && L->size > 1)
        st = setup_share(L, net, err);
    if (!st && L->n_nets == 1 && !net->share.k)
        st = setup_node_sums(L, err);
    if (!st && L->has_nodes)
        mt_grad_exchange_use_nodes(&net->gx, &L->nodes);
    return st;
}

void mt_loop_grads_ready(void *gx, int layer)
{
    mt_grad_exchange_layer_done(gx, layer);
}

void mt_loop_poll(void *gx)
{
    mt_grad_exchange_poll(gx);
}

void mt_loop_begin_sums(mt_loop *L, mt_loop_net *net, int lazy)
{
    float *trailer = mt_model_grad_trailer(net->model);
    memset(trailer, 0, MT_GRAD_TRAILER * sizeof *trailer);
    trailer[MT_GRAD_STOP_SLOT] = mt_stop_requested();
    const double every = L->cfg->checkpoint.every_seconds;
    trailer[MT_GRAD_CHECKPOINT_SLOT] = L->rank == 0 && every > 0 && mt_wtime() - L->last_checkpoint >= every;
    if (lazy)
        mt_model_zero_grads_lazy(net->model);
    else
        mt_model_zero_grads(net->model);
    mt_comm_set_phase(L->comm, "step %lld (epoch %lld)", (long long)L->state.step + 1, (long long)L->state.epoch + 1);
}

float *mt_loop_summed(const mt_loop_net *net)
{
    return mt_grad_exchange_result(&net->gx);
}

int mt_loop_stop_requested(mt_loop_net *net)
{
    return mt_loop_summed(net)[MT_GRAD_STOP_SLOT] != 0.0f;
}

void mt_loop_part(const mt_loop_net *net, int b, int place, size_t *lo, size_t *hi)
{
    mt_grad_exchange_part(&net->gx, b, place, lo, hi);
    *lo = *lo > MT_GRAD_TRAILER ? *lo - MT_GRAD_TRAILER : 0;
    *hi = *hi > MT_GRAD_TRAILER ? *hi - MT_GRAD_TRAILER : 0;
}

mt_status mt_loop_update(mt_loop *L, mt_loop_net *net, double lr, float factor, mt_error *err)
{
    (void)L;
    mt_model *m = net->model;
    mt_optimizer *opt = net->opt;
    mt_node_share *sh = &net->share;
    if (!sh->k) {
        if (factor != 1.0f)
            for (size_t i = 0; i < m->n_params; i++)
                m->grads[i] *= factor;
        mt_model_apply_penalties(m, m->grads, 0, m->n_params);
        mt_optimizer_step(opt, m->params, m->grads, lr);
        return MT_OK;
    }
    float *g = sh->summed + MT_GRAD_TRAILER;
    const int buckets = net->gx.n_buckets;
    const uint64_t step = net->gx.steps; /* the exchange's count of steps, the same on every rank */
    for (int b = 0; b < buckets; b++) {
        size_t lo, hi;
        mt_loop_part(net, b, sh->me, &lo, &hi);
        if (factor != 1.0f)
            for (size_t i = lo; i < hi; i++)
                g[i] *= factor;
        mt_model_apply_penalties(m, g, lo, hi);
    }
    double norm = 0;
    if (opt->opts.clipnorm > 0) { /* the norm of the whole prepared gradient: every slice must be ready */
        mt_node_share_publish(sh, MT_SHARE_PREPARED, step);
        mt_status st = mt_node_share_wait(sh, MT_SHARE_PREPARED, step, "the gradient norm", NULL, NULL, err);
        if (st)
            return st;
        norm = mt_optimizer_norm_squared(g, m->n_params);
    }
    mt_optimizer_begin(opt, lr, norm);
    if (net->pieces.on) {
        mt_status st = mt_state_pieces_update(net, err);
        if (st)
            return st;
    } else {
        for (int b = 0; b < buckets; b++) {
            size_t lo, hi;
            mt_loop_part(net, b, sh->me, &lo, &hi);
            mt_optimizer_apply(opt, m->params, g, lo, hi);
        }
    }
    mt_node_share_publish(sh, MT_SHARE_UPDATED, step);
    net->updating = step;
    return MT_OK;
}

mt_status mt_loop_params_ready(mt_loop *L, mt_error *err)
{
    for (int n = 0; n < L->n_nets; n++) {
        mt_loop_net *net = &L->nets[n];
        if (!net->updating)
            continue;
        const uint64_t step = net->updating;
        net->updating = 0;
        mt_status st = mt_node_share_wait(&net->share, MT_SHARE_UPDATED, step, "the update of the parameter slices",
                                          NULL, NULL, err);
        if (st)
            return st;
    }
    return MT_OK;
}

/* Whether the summed trailer or gradients of net hold a NaN or an infinity: the loss sum, the gradients
 * (a non-finite value on any rank makes the sum non-finite on every rank, so all ranks decide alike
 * without another message), or in fixed64 mode the count of values the fixed point could not take. */
static int nonfinite(const mt_loop_net *net, const char *who, char *what, size_t size)
{
    mt_model *m = net->model;
    const float *trailer = mt_loop_summed(net);
    const char *of = who ? who : "", *sp = who ? " " : "";
    int layer = -1;
    if (trailer[MT_GRAD_BAD_SLOT] != 0.0f)
        snprintf(what, size, "%.0f %s%sgradient or loss value(s) on some rank are NaN or beyond +-2^20",
                 (double)trailer[MT_GRAD_BAD_SLOT], of, sp);
    else if (!isfinite(trailer[MT_GRAD_LOSS_SLOT]))
        snprintf(what, size, "the %s%sloss is %s on some rank", of, sp,
                 isnan(trailer[MT_GRAD_LOSS_SLOT]) ? "NaN" : "infinite");
    else if (net->gx.mode != MT_GRAD_FIXED64 && (!net->share.k || net->gx.nonfinite) &&
             (layer = mt_model_nonfinite_grad_layer(m, trailer + MT_GRAD_TRAILER)) >= 0)
        snprintf(what, size, "the gradient of %s%slayer %d (%s) is NaN or infinite", of, sp, layer,
                 m->layers[layer].ops->name);
    else
        return 0;
    return 1;
}

mt_status mt_loop_check_sums(mt_loop *L, mt_loop_net *net, const char *who, mt_status local, int *skip, mt_error *err)
{
    const float *trailer = mt_loop_summed(net);
    if (local || trailer[MT_GRAD_FAIL_SLOT] != 0.0f) {
        if (!local)
            mt_error_clear(err); /* another rank failed: its message comes with the agreement */
        return local ? local : MT_ERR_IO;
    }
    char what[200];
    if (!nonfinite(net, who, what, sizeof what))
        return MT_OK;
    const unsigned long long step_no = (unsigned long long)L->state.step + 1;
    if (strcmp(L->cfg->training.on_nonfinite, "skip_step") != 0)
        return mt_fail(err, MT_ERR_NUMERIC,
                       "step %llu (epoch %lld): %s; stopped before the update (training."
                       "on_nonfinite: skip_step would skip such steps)",
                       step_no, (long long)L->state.epoch + 1, what);
    mt_loop_info(L, MT_PROGRESS_WARNING, "step %llu (epoch %lld): %s; step skipped (no update)", step_no,
                 (long long)L->state.epoch + 1, what);
    *skip = 1;
    return MT_OK;
}

/* ---- setup ------------------------------------------------------------------------------------------ */

static mt_status setup(mt_loop *L, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = L->kind->setup(L, err);
    if (mt_comm_agree(L->comm, err))
        return err->code;
    if (!(L->perm = malloc((L->n_rows ? L->n_rows : 1) * sizeof *L->perm)))
        st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate the permutation of %llu rows", (unsigned long long)L->n_rows);
    const mt_train_columns *cols = L->kind->columns;
    if (!st)
        st = mt_early_stop_init(&L->es, L->cfg->early_stopping, cols->names, cols->n, L->has_validation, err);
    for (int n = 0; !st && n < L->n_nets; n++)
        for (int i = 0; i < L->nets[n].model->n_layers; i++) {
            char warning[512];
            if (mt_activation_warning(&L->nets[n].model->layers[i], warning, sizeof warning))
                mt_loop_info(L, MT_PROGRESS_WARNING, "%s", warning);
        }
    if (!st && L->rank == 0)
        st = mt_run_dir_prepare(L->cfg->output, err);
    if (!st && L->rank == 0 && !(L->config_yaml = mt_config_to_yaml(L->cfg, err)))
        st = err->code ? err->code : mt_fail(err, MT_ERR_INTERNAL, "cannot serialize the config");
    return mt_comm_agree(L->comm, err);
}

/* Rank 0's copy of a slab of net to every rank, or to every node's shared copy. */
static mt_status bcast_slab(mt_loop *L, mt_loop_net *net, void *buf, size_t bytes, mt_error *err)
{
    return net->share.k ? mt_node_share_bcast(&net->share, buf, bytes, err)
                        : mt_comm_bcast(L->comm, buf, bytes, 0, err);
}

/* Rank 0's parameters (with what), or its buffers and optimizer states, of every network to every rank. */
static mt_status bcast_params(mt_loop *L, mt_error *err)
{
    mt_status st = MT_OK;
    for (int n = 0; n < L->n_nets && !st; n++)
        st = bcast_slab(L, &L->nets[n], L->nets[n].model->params, L->nets[n].model->n_params * sizeof(float), err);
    return st;
}

/* With the optimizer state in pieces (training.shard_across_nodes) rank 0 holds it whole while it writes or
 * reads a checkpoint: lend_state assembles it there (collective), back_state ends that. */
static mt_status lend_state(mt_loop *L, mt_error *err)
{
    mt_status st = MT_OK;
    for (int n = 0; n < L->n_nets && !st; n++)
        if (L->nets[n].pieces.on)
            st = mt_state_pieces_lend(&L->nets[n], L->comm, err);
    return st;
}

static void back_state(mt_loop *L)
{
    for (int n = 0; n < L->n_nets; n++)
        mt_state_pieces_back(&L->nets[n]);
}

/* Rank 0's optimizer states to every rank (to every node's copy, or to every rank's pieces of it). */
static mt_status bcast_state(mt_loop *L, mt_error *err)
{
    mt_status st = MT_OK;
    for (int n = 0; n < L->n_nets && !st; n++) {
        const mt_model *m = L->nets[n].model;
        mt_optimizer *opt = L->nets[n].opt;
        st = mt_comm_bcast(L->comm, m->buffers, m->n_buffers * sizeof(float), 0, err);
        if (!st)
            st = mt_comm_bcast(L->comm, &opt->step, sizeof opt->step, 0, err);
        mt_loop_net *net = &L->nets[n];
        if (!st && net->pieces.on) {
            if (!net->pieces.lent)
                st = mt_state_pieces_lend(net, L->comm, err);
            if (!st)
                st = mt_state_pieces_spread(net, L->comm, err);
            mt_state_pieces_back(net);
        }
        for (int k = 0; !st && !net->pieces.on && k < opt->n_slots; k++)
            st = bcast_slab(L, net, opt->slots[k], opt->n * sizeof(float), err);
        if (!st)
            st = mt_comm_bcast(L->comm, opt->scalars, sizeof opt->scalars, 0, err);
    }
    return st;
}

/* ---- checkpoints ------------------------------------------------------------------------------------ */

/* A checkpoint of the run: the networks (one at the root, or each in its group), the run state, the
 * history, the preprocessing and the config. model_only: the parameters and buffers alone (best.h5's
 * restore). */
static mt_status checkpoint_io(mt_loop *L, const char *path, int write, int model_only, mt_error *err)
{
    mt_checkpoint_net nets[MT_LOOP_MAX_NETS];
    for (int n = 0; n < L->n_nets; n++)
        nets[n] = (mt_checkpoint_net){L->nets[n].name, L->nets[n].model, model_only ? NULL : L->nets[n].opt};
    const int single = L->n_nets == 1 && !L->nets[0].name[0];
    mt_checkpoint c = {0};
    if (single)
        c.model = nets[0].model, c.opt = nets[0].opt;
    if (!model_only)
        c.state = &L->state, c.history = &L->history, c.prep = L->prep;
    mt_checkpoint_multi x = {single ? NULL : nets, single ? 0 : L->n_nets};
    if (!write)
        return mt_checkpoint_read_multi(path, &c, &x, err);
    c.config_yaml = L->config_yaml;
    return mt_checkpoint_write_multi(path, &c, &x, err);
}

/* Rank 0, resuming from path: one line when training.epochs differs from that of the run that wrote it
 * and the learning-rate schedule spans the run, since the rates then differ from an uninterrupted run's. */
static void check_epochs(mt_loop *L, const char *path)
{
    char *yaml = NULL;
    mt_config was;
    mt_error ignored;
    if (!mt_schedule_spans_run(L->cfg->lr_schedule) || mt_checkpoint_read_config(path, &yaml, &ignored))
        return;
    if (mt_config_load_string(yaml, path, NULL, 0, &was, &ignored) == MT_OK) {
        if (was.training.epochs != L->cfg->training.epochs)
            mt_loop_info(L, MT_PROGRESS_WARNING,
                         "%s was written by a run of training.epochs = %d, this one has %d: "
                         "the lr_schedule spans the run, so its learning rates from here on differ from those of "
                         "an uninterrupted run",
                         path, was.training.epochs, L->cfg->training.epochs);
        mt_config_free(&was);
    }
    free(yaml);
}

static mt_status read_checkpoint(void *user, const char *path, mt_error *err)
{
    mt_status st = checkpoint_io(user, path, 0, 0, err);
    if (!st)
        check_epochs(user, path);
    return st;
}

static void resume_notice(void *user, int warning, const char *text)
{
    mt_loop_info(user, warning ? MT_PROGRESS_WARNING : MT_PROGRESS_INFO, "%s", text);
}

/* Rank 0 loads the checkpoint; the run state, buffers and optimizer states are broadcast (the parameters
 * follow with the initial broadcast). */
static mt_status resume(mt_loop *L, mt_error *err)
{
    int found = 1;
    mt_error_clear(err);
    mt_status st = lend_state(L, err); /* the whole state on rank 0, for the checkpoint to replace */
    if (st)
        return st;
    if (L->rank == 0)
        mt_resume_read(&(mt_resume_source){L->cfg->output, L->opts->resume_path, L->cfg->training.epochs, &L->state,
                                           read_checkpoint, resume_notice, L},
                       &found, err);
    if (mt_comm_agree(L->comm, err)) {
        back_state(L);
        return err->code;
    }
    st = mt_comm_bcast(L->comm, &found, sizeof found, 0, err);
    if (!st && found) {
        st = mt_comm_bcast(L->comm, &L->state, sizeof L->state, 0, err);
        L->es.best = L->state.es_best;
        L->es.best_epoch = (int)L->state.es_best_epoch;
        L->es.wait = (int)L->state.es_wait;
        st = st ? st : bcast_state(L, err);
    }
    back_state(L);
    return st;
}

/* Rank 0 writes the epoch checkpoint and points checkpoint.h5 at it; all ranks agree on the outcome. */
static mt_status save_checkpoint(mt_loop *L, int epoch, mt_error *err)
{
    mt_error_clear(err);
    double t0 = mt_wtime();
    mt_comm_set_phase(L->comm, "the checkpoint of epoch %d (written by rank 0)", epoch);
    mt_status st = lend_state(L, err);
    if (st)
        return st;
    if (L->rank == 0) {
        char path[MT_PATH_MAX + 64];
        mt_run_dir_checkpoint_path(L->cfg->output, epoch, path, sizeof path);
        if (!checkpoint_io(L, path, 1, 0, err))
            mt_run_dir_publish_checkpoint(L->cfg->output, epoch, L->cfg->checkpoint.keep, err);
        mt_timeline_add(L->tl, MT_TL_CHECKPOINT, -1, t0, mt_wtime());
    }
    back_state(L);
    L->last_checkpoint = mt_wtime();
    return mt_comm_agree(L->comm, err);
}

/* Running statistics (batch norm without sync) come from each rank's own slices; they are exponential
 * moving averages, which are linear, so averaging them over ranks once per epoch equals averaging the
 * batch statistics at every step. Evaluation and checkpoints then see one set on every rank. */
static mt_status average_buffers(mt_loop *L, mt_error *err)
{
    mt_status st = MT_OK;
    for (int n = 0; n < L->n_nets && !st && L->size > 1; n++) {
        mt_model *m = L->nets[n].model;
        if (m->n_buffers == 0)
            continue;
        st = mt_comm_allreduce_sum_f32(L->comm, m->buffers, m->n_buffers, err);
        const float inv = 1.0f / (float)L->size;
        for (size_t i = 0; i < m->n_buffers; i++)
            m->buffers[i] *= inv;
    }
    return st;
}

/* After a stop request: every rank finished the same step; the running statistics are averaged (as at an
 * epoch end: they are linear, so the resumed run ends with the same averages), rank 0 writes
 * checkpoint_interrupted.h5 and points checkpoint.h5 at it. Returns MT_INTERRUPTED with the message. */
static mt_status save_interrupted(mt_loop *L, int epoch, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = average_buffers(L, err);
    if (!st)
        st = lend_state(L, err);
    char path[MT_PATH_MAX + 64];
    mt_run_dir_interrupted_path(L->cfg->output, path, sizeof path);
    double t0 = mt_wtime();
    if (!st && L->rank == 0 && !checkpoint_io(L, path, 1, 0, err))
        mt_run_dir_publish_interrupted(L->cfg->output, err);
    back_state(L);
    mt_timeline_add(L->tl, MT_TL_CHECKPOINT, -1, t0, mt_wtime());
    if (mt_comm_agree(L->comm, err))
        return err->code;
    return mt_stop_interrupted(&L->state, epoch, path, err);
}

/* After a step of an epoch, mid-epoch: whether checkpoint.every_steps or every_seconds (rank 0's request,
 * carried by the summed trailer to every rank) calls for a checkpoint. Not after the epoch's last step
 * when the epoch's own checkpoint follows. */
static int step_checkpoint_due(const mt_loop *L, int epoch, int last_of_epoch)
{
    const mt_checkpoint_config *c = &L->cfg->checkpoint;
    if (last_of_epoch &&
        ((c->every_epochs > 0 && (epoch + 1) % c->every_epochs == 0) || epoch + 1 == L->cfg->training.epochs))
        return 0;
    return (c->every_steps > 0 && L->state.step % c->every_steps == 0) ||
           mt_loop_summed(&L->nets[0])[MT_GRAD_CHECKPOINT_SLOT] != 0.0f;
}

/* The checkpoint after a step: running statistics averaged over the ranks (as at an epoch end), rank 0
 * writes checkpoint_stepNNNNNNNN.h5 and points checkpoint.h5 at it; all ranks agree on the outcome. */
static mt_status save_step_checkpoint(mt_loop *L, mt_error *err)
{
    mt_error_clear(err);
    mt_comm_set_phase(L->comm, "the checkpoint after step %lld (written by rank 0)", (long long)L->state.step);
    mt_status st = average_buffers(L, err);
    if (!st)
        st = lend_state(L, err);
    const double t0 = mt_wtime();
    if (!st && L->rank == 0) {
        char path[MT_PATH_MAX + 64];
        mt_run_dir_step_checkpoint_path(L->cfg->output, (long long)L->state.step, path, sizeof path);
        if (!checkpoint_io(L, path, 1, 0, err))
            mt_run_dir_publish_step_checkpoint(L->cfg->output, (long long)L->state.step, L->cfg->checkpoint.keep, err);
        mt_timeline_add(L->tl, MT_TL_CHECKPOINT, -1, t0, mt_wtime());
    }
    back_state(L);
    L->last_checkpoint = mt_wtime();
    return mt_comm_agree(L->comm, err);
}

/* ---- epochs ----------------------------------------------------------------------------------------- */

/* The watchdog's limit: training.stall_timeout, or 100 times the slowest recent step if that is longer
 * (a slowly decaying maximum), so that long steps of a large model never look like a stall. */
static void watch_step(mt_loop *L, double seconds)
{
    const double floor = L->cfg->training.stall_timeout;
    L->slow_step = seconds > L->slow_step ? seconds : 0.99 * L->slow_step;
    if (floor > 0)
        mt_comm_set_stall_timeout(L->comm, 100 * L->slow_step > floor ? 100 * L->slow_step : floor);
}

static void report_step(const mt_loop *L, int epoch, uint64_t step, uint64_t steps, double t0)
{
    if (L->rank != 0 || !L->opts->progress)
        return;
    mt_progress p = {.kind = MT_PROGRESS_STEP,
                     .epoch = epoch + 1,
                     .epochs = L->cfg->training.epochs,
                     .step = step + 1,
                     .steps = steps,
                     .elapsed = mt_wtime() - t0,
                     .columns = L->kind->columns};
    L->kind->running(L, p.running);
    L->opts->progress(&p, L->opts->user);
}

/* The column named `name` of the kind's row, or -1. */
static int column(const mt_train_columns *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name))
            return i;
    return -1;
}

static mt_status run_epoch(mt_loop *L, int epoch, double *row, mt_error *err)
{
    const uint64_t steps = L->kind->steps_per_epoch(L);
    L->epoch_samples = 0;
    mt_sampler_permutation((uint64_t)L->cfg->training.seed, (uint64_t)epoch, L->n_rows, L->perm);
    L->kind->begin_epoch(L);
    const double t0 = mt_wtime();
    mt_status st = MT_OK;
    mt_error_clear(err);
    /* A run resumed from a checkpoint written mid-epoch continues after its last step. */
    for (uint64_t step = (uint64_t)L->state.epoch_step; step < steps && !st; step++) {
        const double s0 = mt_wtime();
        int skipped = 0;
        st = L->kind->step(L, step, &skipped, err);
        watch_step(L, mt_wtime() - s0);
        L->skipped += skipped != 0;
        if (!st || st == MT_INTERRUPTED) {
            L->state.step++;
            L->state.epoch_step = (int64_t)step + 1;
        }
        if (!st)
            report_step(L, epoch, step, steps, t0);
        if (!st && step_checkpoint_due(L, epoch, step + 1 == steps) && !(st = mt_loop_params_ready(L, err)))
            st = save_step_checkpoint(L, err);
    }
    /* the epoch's evaluation and checkpoints read the parameters (after a stop request too) */
    if (!st || st == MT_INTERRUPTED) {
        mt_error late = {0};
        if (mt_loop_params_ready(L, &late))
            st = late.code, *err = late;
    }
    /* Every rank left the loop at the same step; the failing rank's message reaches all of them. */
    if (mt_comm_agree(L->comm, err))
        return err->code;
    const double seconds = mt_wtime() - t0;
    L->train_seconds += seconds;
    st = average_buffers(L, err);
    for (int i = 0; i < L->kind->columns->n; i++)
        row[i] = NAN;
    row[0] = epoch + 1;
    if (!st)
        st = L->kind->end_epoch(L, epoch, row, err);
    const mt_train_columns *c = L->kind->columns;
    const int sec = column(c, "seconds"), rate = column(c, "samples_per_sec");
    if (sec >= 0)
        row[sec] = mt_wtime() - t0;
    if (rate >= 0)
        row[rate] = (double)L->epoch_samples / seconds;
    return st;
}

/* After an epoch: history, metrics.jsonl and the kind's file on rank 0, then the progress event. */
static mt_status record_epoch(mt_loop *L, int epoch, const double *row, mt_error *err)
{
    char file[MT_PATH_MAX + 64] = "";
    mt_error_clear(err);
    if (L->rank == 0 && !mt_history_append(&L->history, row, err) &&
        !mt_run_dir_append_metrics(L->cfg->output, L->kind->columns, row, err) && L->kind->epoch_file)
        L->kind->epoch_file(L, epoch, file, sizeof file, err);
    if (mt_comm_agree(L->comm, err))
        return err->code;
    if (L->rank == 0 && L->opts->progress) {
        mt_progress p = {.kind = MT_PROGRESS_EPOCH,
                         .epoch = epoch + 1,
                         .epochs = L->cfg->training.epochs,
                         .columns = L->kind->columns,
                         .row = row,
                         .file = file[0] ? file : NULL};
        L->opts->progress(&p, L->opts->user);
    }
    return MT_OK;
}

/* Early stopping after an epoch: records the best epoch (writing best.h5 when the best weights are to be
 * restored) and, when patience runs out, restores them from best.h5. Returns 1 to stop. */
static int early_stop(mt_loop *L, const double *row, mt_status *st, mt_error *err)
{
    int improved;
    int stop = mt_early_stop_update(&L->es, row, &improved);
    L->state.es_best = L->es.best;
    L->state.es_best_epoch = L->es.best_epoch;
    L->state.es_wait = L->es.wait;
    *st = MT_OK;
    if (!L->es.enabled || !L->es.opts.restore_best_weights || (!improved && !stop))
        return stop;
    char path[MT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/best.h5", L->cfg->output);
    mt_error_clear(err);
    if (improved && (*st = lend_state(L, err)))
        return stop;
    if (L->rank == 0 && improved)
        checkpoint_io(L, path, 1, 0, err);
    else if (L->rank == 0 && stop)
        checkpoint_io(L, path, 0, 1, err);
    back_state(L);
    *st = mt_comm_agree(L->comm, err);
    for (int n = 0; n < L->n_nets && !*st && stop; n++) {
        const mt_model *m = L->nets[n].model;
        *st = bcast_slab(L, &L->nets[n], m->params, m->n_params * sizeof(float), err);
        if (!*st)
            *st = mt_comm_bcast(L->comm, m->buffers, m->n_buffers * sizeof(float), 0, err);
    }
    if (!*st && stop)
        mt_loop_info(L, MT_PROGRESS_INFO, "restored the weights of epoch %d (best %s %.6g)", L->es.best_epoch,
                     L->es.opts.monitor, L->es.best);
    return stop;
}

static mt_status epochs(mt_loop *L, mt_train_result *res, mt_error *err)
{
    mt_status st = MT_OK;
    const int fields = L->kind->columns->n;
    if (L->rank == 0)
        st = mt_run_dir_write_metrics(L->cfg->output, L->kind->columns, L->history.rows, L->history.n, err);
    if (mt_comm_agree(L->comm, err))
        return err->code;
    const int n_epochs = L->cfg->training.epochs, every = L->cfg->checkpoint.every_epochs;
    int first = (int)L->state.epoch;
    if (L->es.enabled && L->es.best_epoch > 0 && L->es.wait >= L->es.opts.patience) {
        mt_loop_info(L, MT_PROGRESS_INFO, "the run stopped early after epoch %d; nothing to resume", first);
        first = n_epochs;
    }
    for (int epoch = first; epoch < n_epochs; epoch++) {
        double row[MT_ROW_MAX];
        st = run_epoch(L, epoch, row, err);
        if (st == MT_INTERRUPTED)
            return save_interrupted(L, epoch, err);
        if (st)
            return st;
        L->state.epoch = epoch + 1;
        L->state.epoch_step = 0;
        res->epochs_run++;
        memcpy(res->last.v, row, (size_t)fields * sizeof *row);
        if ((st = record_epoch(L, epoch, row, err)))
            return st;
        int stop = early_stop(L, row, &st, err);
        if (st)
            return st;
        if (stop)
            mt_loop_info(L, MT_PROGRESS_INFO,
                         "early stopping after epoch %d: %s has not improved for %d epoch(s) "
                         "since epoch %d",
                         epoch + 1, L->es.opts.monitor, L->es.wait, L->es.best_epoch);
        if ((every > 0 && (epoch + 1) % every == 0) || epoch + 1 == n_epochs || stop) {
            st = save_checkpoint(L, epoch + 1, err);
            if (st)
                return st;
        }
        if (stop)
            break;
    }
    if (res->epochs_run == 0 && L->history.n > 0)
        memcpy(res->last.v, L->history.rows + (L->history.n - 1) * (size_t)fields, (size_t)fields * sizeof(double));
    if (L->skipped)
        mt_loop_info(L, MT_PROGRESS_WARNING, "%llu step(s) were skipped for a non-finite loss or gradient",
                     (unsigned long long)L->skipped);
    res->world_size = L->size;
    res->train_seconds = L->train_seconds;
    res->samples_per_sec = L->train_seconds > 0 ? (double)L->samples / L->train_seconds : NAN;
    return L->kind->finish(L, res, err);
}

/* ---- the timeline ----------------------------------------------------------------------------------- */

/* Events a timeline holds per rank (24 bytes each); later ones are counted as dropped. */
#define TIMELINE_EVENTS ((size_t)1 << 20)

/* Each network's layers and buckets get indices after the previous network's. */
static mt_status start_timeline(mt_loop *L, mt_error *err)
{
    mt_status st = mt_timeline_init(&L->timeline, TIMELINE_EVENTS, L->comm, err);
    if (st)
        return st;
    L->tl = &L->timeline;
    for (int n = 0, buckets = 0; n < L->n_nets; n++) {
        L->nets[n].gx.timeline = L->tl;
        L->nets[n].gx.timeline_bucket0 = buckets;
        buckets += L->nets[n].gx.n_buckets;
    }
    return MT_OK;
}

static mt_status write_timeline(mt_loop *L, const char *path, mt_error *err)
{
    int layers = 0, buckets = 0;
    for (int n = 0; n < L->n_nets; n++)
        layers += L->nets[n].model->n_layers, buckets += L->nets[n].gx.n_buckets;
    char(*text)[80] = calloc((size_t)(layers + buckets), sizeof *text);
    const char **ptrs = calloc((size_t)(layers + buckets), sizeof *ptrs);
    for (int n = 0, l = 0, b = layers; text && ptrs && n < L->n_nets; n++) {
        const mt_loop_net *net = &L->nets[n];
        const char *dot = net->name[0] ? "." : "";
        for (int i = 0; i < net->model->n_layers; i++, l++)
            snprintf(text[l], sizeof text[l], "%s%s%03d_%s", net->name, dot, i, net->model->layers[i].ops->name);
        for (int i = 0; i < net->gx.n_buckets; i++, b++)
            mt_grad_exchange_describe(&net->gx, i, net->name, text[b], sizeof text[b]);
    }
    for (int i = 0; text && ptrs && i < layers + buckets; i++)
        ptrs[i] = text[i];
    mt_timeline_names names = {0};
    if (text && ptrs)
        names = (mt_timeline_names){ptrs, layers, ptrs + layers, buckets};
    mt_status st = mt_timeline_write(&L->timeline, L->comm, path, &names, err);
    free(text), free(ptrs);
    return st;
}

/* ---- the run ---------------------------------------------------------------------------------------- */

mt_status mt_train_run(const mt_config *cfg, mt_comm *comm, const mt_train_options *opts, mt_train_result *res,
                       mt_error *err)
{
    const mt_train_kind *kind = cfg->gan.enabled ? &mt_gan_kind : &mt_classifier_kind;
    mt_loop L = {.cfg = cfg,
                 .comm = comm,
                 .rank = mt_comm_rank(comm),
                 .size = mt_comm_size(comm),
                 .opts = opts,
                 .kind = kind,
                 .history = {.names = kind->columns->names, .fields = kind->columns->n}};
    memset(res, 0, sizeof *res);
    res->columns = kind->columns;
    res->test_loss = res->test_accuracy = NAN;
    res->straggler = -1;
    L.state = (mt_train_state){.world_size = L.size,
                               .seed = (int64_t)cfg->training.seed,
                               .global_batch = cfg->training.batch_size,
                               .es_best = NAN};
    const double stall_before = mt_comm_stall_timeout(comm);
    mt_comm_set_stall_timeout(comm, cfg->training.stall_timeout);
    mt_comm_set_phase(comm, "%s", kind->setup_phase);
    L.self = calloc(1, kind->self_size);
    mt_status st = L.self ? setup(&L, err) : mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st && L.rank == 0)
        kind->init_params(&L);
    if (!st)
        st = bcast_state(&L, err); /* the initial buffers, before a checkpoint's replace them */
    if (!st && opts->resume)
        st = resume(&L, err);
    if (!st && opts->resume && L.state.world_size != L.size)
        mt_loop_info(&L, MT_PROGRESS_INFO,
                     "continuing on %d rank(s) a run written by %lld: the same global batch, schedule and data "
                     "order; %s",
                     L.size, (long long)L.state.world_size,
                     cfg->training.deterministic ? "deterministic mode: the weights are bitwise those of an "
                                                   "undisturbed run"
                                                 : "the sums round differently from an undisturbed run "
                                                   "(training.deterministic: true makes them bitwise equal)");
    if (!st) {
        /* A resumed run records the current world size; the data path depends only on the global batch. */
        L.state.world_size = L.size;
        st = bcast_params(&L, err);
    }
    if (!st && opts->timeline_path)
        st = start_timeline(&L, err);
    L.last_checkpoint = mt_wtime();
    if (!st)
        st = epochs(&L, res, err);
    if (!st && L.tl)
        st = write_timeline(&L, opts->timeline_path, err);
    mt_comm_set_stall_timeout(comm, stall_before);
    mt_stop_clear(); /* a stop request ends this run, not the next one in the same process */
    for (int n = 0; n < L.n_nets; n++) {
        mt_error ignored = {0};
        if (!mt_status_breaks_comm(st)) /* else the job ends (MPI_Abort): no collective can complete */
            end_share(&L.nets[n], &ignored);
        if (L.nets[n].has_gx)
            mt_grad_exchange_free(&L.nets[n].gx);
    }
    if (L.has_nodes)
        mt_node_comms_destroy(&L.nodes);
    if (L.self)
        kind->free(&L);
    free(L.self);
    mt_timeline_free(&L.timeline);
    mt_history_free(&L.history);
    free(L.perm);
    free(L.config_yaml);
    return st;
}

void mt_train_result_free(mt_train_result *res)
{
    free(res->ranks);
    memset(res, 0, sizeof *res);
}
