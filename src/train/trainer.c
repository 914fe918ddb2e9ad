/* The data-parallel training loop. Per global batch: each rank reads its slice of the shared
 * permutation, runs forward and backward with the loss gradient scaled by 1/(global batch), the
 * gradient slab is summed by one allreduce, and every rank applies the same optimizer step. */
#include "train/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/fault.h"
#include "comm/grad_exchange.h"
#include "nn/activation.h"
#include "optim/schedule.h"
#include "train/early_stop.h"
#include "train/resume.h"
#include "train/run_dir.h"
#include "train/sampler.h"
#include "train/stop_request.h"
#include "train/session.h"
#include "train/timeline.h"

typedef struct trainer {
    const mt_config *cfg;
    mt_comm *comm;
    int rank, size;
    const mt_train_options *opts;
    mt_session s;
    mt_train_state state;
    mt_history history;
    uint64_t *perm;
    uint64_t rows;                 /* training rows */
    struct {
        double compute, allreduce, data;
        double wait, busy;         /* blocked waiting for the sums; inside MPI calls during backprop */
    } times;
    double train_seconds;
    uint64_t samples, epoch_samples;
    uint64_t skipped;              /* steps skipped for a non-finite loss or gradient */
    int full_batch;                /* full-batch gradient descent: one step per epoch */
    mt_early_stop es;
    mt_schedule sched;
    double lr;                     /* learning rate of the latest step */
    mt_timeline timeline;
    mt_timeline *tl;               /* &timeline when --timeline is on, else NULL */
    mt_grad_exchange gx;           /* bucketed gradient sums */
    struct {                       /* training.balance: slices in proportion to measured speeds */
        double *weight, *cum;      /* per rank (identical on every rank); cumulative, size + 1 */
        double work, samples;      /* this rank's seconds in its pieces and their samples since the last update */
    } bal;
    uint64_t chunk;                /* deterministic mode: samples per chunk; 0 = one slice per rank */
    double slow_step;              /* seconds of the slowest recent step (decaying), for the watchdog */
    char *config_yaml;
} trainer;

/* Trailer slot that carries "a stop was requested on this rank" with the step's sums. */
#define STOP_SLOT 3

static void info(trainer *t, mt_progress_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void info(trainer *t, mt_progress_kind kind, const char *fmt, ...)
{
    if (t->rank != 0 || !t->opts->progress)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_progress p = {.kind = kind, .message = msg};
    t->opts->progress(&p, t->opts->user);
}

/* Micro-batches per optimizer step: the configured accumulation, or the whole epoch for full-batch gd. */
static uint64_t micro_per_step(const trainer *t)
{
    uint64_t micro = mt_sampler_steps(t->rows, (uint64_t)t->cfg->training.batch_size);
    return t->full_batch ? micro : (uint64_t)t->cfg->training.accumulate_steps;
}

/* Optimizer steps per epoch: every batch of the split, or training.steps_per_epoch. */
static uint64_t steps_per_epoch(const trainer *t)
{
    const uint64_t micro = mt_sampler_steps(t->rows, (uint64_t)t->cfg->training.batch_size), k = micro_per_step(t);
    const uint64_t steps = (micro + k - 1) / k, limit = (uint64_t)t->cfg->training.steps_per_epoch;
    return limit > 0 && limit < steps ? limit : steps;
}

/* The learning-rate schedule, in optimizer steps; its batch is the samples one step consumes. */
static mt_status make_schedule(trainer *t, mt_error *err)
{
    t->rows = t->s.train.n;
    t->full_batch = mt_optimizer_full_batch(&t->s.opt);
    const uint64_t B = (uint64_t)t->cfg->training.batch_size;
    const uint64_t k = micro_per_step(t), steps = steps_per_epoch(t);
    const uint64_t batch = B * k < t->rows ? B * k : t->rows;
    return mt_schedule_create(t->cfg->lr_schedule, t->s.opt.opts.learning_rate, (int)batch, steps,
                              t->cfg->training.epochs, &t->sched, err);
}

/* Balancing starts from even slices; shares stay within [1/2, 3/2] of the even share, so buffers for
 * 3/2 of the largest even slice hold any slice. */
static mt_status setup_balance(trainer *t, mt_error *err)
{
    const mt_training_config *tc = &t->cfg->training;
    if (tc->deterministic)
        return mt_fail(err, MT_ERR_CONFIG, "%s: training.balance: deterministic mode deals fixed chunks to the "
                       "ranks; it cannot be combined with balance", t->cfg->origin);
    t->bal.weight = malloc((size_t)t->size * sizeof *t->bal.weight);
    t->bal.cum = malloc(((size_t)t->size + 1) * sizeof *t->bal.cum);
    if (!t->bal.weight || !t->bal.cum)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    t->bal.cum[0] = 0;
    for (int r = 0; r < t->size; r++)
        t->bal.weight[r] = 1, t->bal.cum[r + 1] = r + 1;
    uint64_t b = (uint64_t)tc->batch_size < t->rows ? (uint64_t)tc->batch_size : t->rows;
    return mt_session_reserve(&t->s, (int)(mt_sampler_max_slice(b, t->size) * 3 / 2 + 1), err);
}

/* Steps between two measurements of the ranks' speeds, after the first ones at steps 2, 4, 8 and 16. */
#define BALANCE_EVERY 20

static int rebalance_due(uint64_t step)
{
    return step % BALANCE_EVERY == 0 || step == 2 || step == 4 || step == 8 || step == 16;
}

/* Collective, at the same step on every rank: gathers each rank's seconds per sample and moves the
 * weights halfway toward the speeds (1 / seconds per sample), normalized to mean 1 and kept in [1/2, 3/2]. */
static mt_status rebalance(trainer *t, mt_error *err)
{
    double mine = t->bal.samples > 0 ? t->bal.work / t->bal.samples : 0;
    double *per = t->bal.cum; /* scratch: the cumulative sums are rebuilt below */
    mt_status st = mt_comm_allgather_f64(t->comm, &mine, 1, per, err);
    t->bal.work = t->bal.samples = 0;
    if (st)
        return st;
    double total = 0;
    for (int r = 0; r < t->size; r++) {
        if (!(per[r] > 0)) /* a rank without samples yet: keep the weights */
            total = NAN;
        total += per[r] > 0 ? 1.0 / per[r] : 0;
    }
    double sum = 0;
    for (int r = 0; r < t->size; r++) {
        double w = isnan(total) ? t->bal.weight[r] : t->size / (per[r] * total);
        w = 0.5 * (t->bal.weight[r] + w);
        t->bal.weight[r] = w < 0.5 ? 0.5 : w > 1.5 ? 1.5 : w;
        sum += t->bal.weight[r];
    }
    t->bal.cum[0] = 0;
    for (int r = 0; r < t->size; r++) {
        t->bal.weight[r] *= t->size / sum;
        t->bal.cum[r + 1] = t->bal.cum[r] + t->bal.weight[r];
    }
    return MT_OK;
}

/* The gradient exchange over the model's buckets; in deterministic mode the chunk size and room for it. */
static mt_status setup_exchange(trainer *t, mt_error *err)
{
    const mt_training_config *tc = &t->cfg->training;
    mt_model *m = &t->s.model;
    size_t *offsets = malloc(((size_t)m->n_layers + 1) * sizeof *offsets);
    if (!offsets)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (int i = 0; i <= m->n_layers; i++)
        offsets[i] = mt_model_layer_offset(m, i);
    mt_grad_mode mode = tc->deterministic ? MT_GRAD_FIXED64
                        : strcmp(tc->gradient_dtype, "bfloat16") == 0 ? MT_GRAD_BFLOAT16 : MT_GRAD_FLOAT32;
    mt_status st = mt_grad_exchange_init(&t->gx, t->comm, mt_model_grad_trailer(m), MT_GRAD_TRAILER, offsets,
                                         m->n_layers, tc->bucket_mb * 1048576.0, mode, err);
    free(offsets);
    if (!st && tc->balance)
        st = setup_balance(t, err);
    if (st || !tc->deterministic)
        return st;
    if (strcmp(tc->gradient_dtype, "float32") != 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s: training.gradient_dtype: deterministic mode sums gradients exactly; "
                       "it cannot exchange them as %s", t->cfg->origin, tc->gradient_dtype);
    const uint64_t B = (uint64_t)tc->batch_size;
    t->chunk = tc->chunk_size > 0 ? (uint64_t)tc->chunk_size : (B + 7) / 8;
    if (t->chunk > B)
        t->chunk = B;
    return mt_session_reserve(&t->s, (int)t->chunk, err);
}

/* Builds everything on every rank and agrees on the outcome. */
static mt_status setup(trainer *t, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = mt_session_open(&t->s, t->cfg, MT_SESSION_TRAIN, t->comm, err);
    if (st)
        return st;
    if (!st)
        st = mt_early_stop_init(&t->es, t->cfg->early_stopping, t->s.validation.ds != NULL, err);
    if (!st)
        st = make_schedule(t, err);
    if (!st) {
        t->perm = malloc(t->rows * sizeof *t->perm);
        if (!t->perm)
            st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate the permutation of %llu rows",
                         (unsigned long long)t->rows);
    }
    for (int i = 0; !st && i < t->s.model.n_layers; i++) {
        char warning[512];
        if (mt_activation_warning(&t->s.model.layers[i], warning, sizeof warning))
            info(t, MT_PROGRESS_WARNING, "%s", warning);
    }
    if (!st)
        st = setup_exchange(t, err);
    if (!st && t->rank == 0)
        st = mt_run_dir_prepare(t->cfg->output, err);
    if (!st && t->rank == 0 && !(t->config_yaml = mt_config_to_yaml(t->cfg, err)))
        st = err->code ? err->code : mt_fail(err, MT_ERR_INTERNAL, "cannot serialize the config");
    return mt_comm_agree(t->comm, err);
}

/* Rank 0 reads one checkpoint into the model, optimizer, run state, history and preprocessing. */
static mt_status read_checkpoint(void *user, const char *path, mt_error *err)
{
    trainer *t = user;
    return mt_checkpoint_read(path, &(mt_checkpoint){&t->s.model, &t->s.opt, &t->state, &t->history, &t->s.prep,
                                                     NULL}, err);
}

static void resume_notice(void *user, int warning, const char *text)
{
    info(user, warning ? MT_PROGRESS_WARNING : MT_PROGRESS_INFO, "%s", text);
}

/* Rank 0 loads the checkpoint; parameters, optimizer state and run state are broadcast. */
static mt_status resume(trainer *t, mt_error *err)
{
    int found = 1;
    mt_error_clear(err);
    if (t->rank == 0)
        mt_resume_read(&(mt_resume_source){t->cfg->output, t->opts->resume_path, t->cfg->training.epochs, &t->state,
                                           read_checkpoint, resume_notice, t}, &found, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    mt_status st = mt_comm_bcast(t->comm, &found, sizeof found, 0, err);
    if (st || !found)
        return st;
    st = mt_comm_bcast(t->comm, &t->state, sizeof t->state, 0, err);
    t->es.best = t->state.es_best;
    t->es.best_epoch = (int)t->state.es_best_epoch;
    t->es.wait = (int)t->state.es_wait;
    if (!st)
        st = mt_comm_bcast(t->comm, &t->s.opt.step, sizeof t->s.opt.step, 0, err);
    for (int k = 0; !st && k < t->s.opt.n_slots; k++)
        st = mt_comm_bcast(t->comm, t->s.opt.slots[k], t->s.opt.n * sizeof(float), 0, err);
    if (!st)
        st = mt_comm_bcast(t->comm, t->s.model.buffers, t->s.model.n_buffers * sizeof(float), 0, err);
    if (!st)
        st = mt_comm_bcast(t->comm, t->s.opt.scalars, sizeof t->s.opt.scalars, 0, err);
    return st;
}

static void report_step(trainer *t, int epoch, uint64_t step, uint64_t steps, const mt_eval_sums *sums, double t0)
{
    if (t->rank != 0 || !t->opts->progress)
        return;
    mt_eval_values v;
    mt_session_values(&t->s, sums, &v);
    mt_progress p = {.kind = MT_PROGRESS_STEP, .epoch = epoch + 1, .epochs = t->cfg->training.epochs,
                     .step = step + 1, .steps = steps, .loss = v.loss, .accuracy = v.accuracy,
                     .elapsed = mt_wtime() - t0};
    t->opts->progress(&p, t->opts->user);
}

/* Whether the step's summed values hold a NaN or an infinity: the loss sum, the gradients (a non-finite
 * value on any rank makes the sum non-finite on every rank, so all ranks decide alike without another
 * message), or in deterministic mode the count of values the fixed point could not take. */
static int nonfinite(trainer *t, const float *trailer, char *what, size_t size)
{
    mt_model *m = &t->s.model;
    int layer = -1;
    if (trailer[MT_GRAD_BAD_SLOT] != 0.0f)
        snprintf(what, size, "%.0f gradient or loss value(s) on some rank are NaN or beyond +-2^20",
                 (double)trailer[MT_GRAD_BAD_SLOT]);
    else if (!isfinite(trailer[1]))
        snprintf(what, size, "the loss is %s on some rank", isnan(trailer[1]) ? "NaN" : "infinite");
    else if (t->gx.mode != MT_GRAD_FIXED64 && (layer = mt_model_nonfinite_grad_layer(m)) >= 0) /* fixed64: counted */
        snprintf(what, size, "the gradient of layer %d (%s) is NaN or infinite", layer, m->layers[layer].ops->name);
    else
        return 0;
    return 1;
}

static void grads_ready(void *user, int layer)
{
    mt_grad_exchange_layer_done(user, layer);
}

/* Samples [start, start + count) of micro-batch `mb` (which begins at `offset` of the step's `total`):
 * reads them, runs forward, the loss (its gradient scaled by 1/total) and backward, adding into the
 * gradient slab. `last` marks this rank's last piece of the step: its backward pass starts the bucket
 * sums. The trailer gets the failure flag and the loss (of this piece in deterministic mode, where every
 * piece is accumulated on its own, else of all pieces so far). */
static mt_status run_piece(trainer *t, uint64_t mb, uint64_t start, uint64_t count, uint64_t offset,
                           uint64_t total, int last, mt_fault_action fault, mt_eval_sums *sums, double *loss_here,
                           mt_error *err)
{
    mt_session *s = &t->s;
    uint64_t B = (uint64_t)t->cfg->training.batch_size;
    double t0 = mt_wtime();
    mt_status st = MT_OK;
    for (uint64_t i = 0; i < count; i++)
        s->rows[i] = s->train.rows[t->perm[mb * B + start + i]];
    if (fault == MT_FAULT_FAIL)
        st = mt_fail(err, MT_ERR_IO, "%s: /%s/x: reading %llu row(s) failed (injected by MPITRAIN_FAULT)",
                     t->cfg->data.file, t->cfg->data.train, (unsigned long long)count);
    else if (count > 0)
        st = mt_session_read(s, &s->train, s->rows, (int)count, err);
    if (count > 0 && !st)
        mt_augment_apply(&s->augment, s->model.acts[0], s->rows, (int)count, (uint64_t)t->cfg->training.seed,
                         (uint64_t)t->state.epoch);
    if (count > 0 && !st && fault == MT_FAULT_NAN)
        s->model.acts[0][0] = NAN;
    double t1 = mt_wtime();
    t->times.data += t1 - t0;
    mt_timeline_add(t->tl, MT_TL_READ, -1, t0, t1);
    /* An empty slice still runs, and so does a slice whose read failed (as an empty one): layers that
     * reduce over ranks (synchronized batch norm) must take part, or the other ranks would wait for ever. */
    int n = st ? 0 : (int)count;
    const uint64_t invalid = mt_model_invalid_inputs(&s->model);
    mt_pass pass = {.training = 1, .seed = (uint64_t)t->cfg->training.seed, .step = (uint64_t)t->state.step,
                    .first = offset + start, .global_n = total, .sum_over_ranks = t->chunk ? NULL : mt_comm_sum_hook, .sum_user = t->comm,
                    .timeline = t->tl, .grads_ready = last ? grads_ready : NULL, .hook_user = &t->gx};
    const float *out;
    mt_status rc = mt_model_forward(&s->model, n, &pass, &out, err);
    if (rc)
        return rc;
    const int32_t *yc = s->classes ? s->y_class : NULL;
    const float *yt = s->classes ? NULL : s->y_target;
    double loss = mt_loss_compute(&s->loss, out, mt_model_logits(&s->model), yc, yt,
                                  s->train.weights ? s->weights : NULL, n, s->dout, 1.0f / (float)total, NULL);
    sums->loss += loss;
    *loss_here += loss;
    mt_metrics_accumulate(&s->loss, out, yc, yt, n, sums->m);
    if (!st && mt_model_invalid_inputs(&s->model) != invalid)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s/x: %llu token id(s) are not integers in [0, input_dim) of the "
                     "embedding", t->cfg->data.file, t->cfg->data.train,
                     (unsigned long long)(mt_model_invalid_inputs(&s->model) - invalid));
    float *trailer = mt_model_grad_trailer(&s->model);
    trailer[0] = st || trailer[0] != 0.0f ? 1.0f : 0.0f; /* stays set once a piece of the step failed */
    trailer[1] = (float)(t->chunk ? loss : *loss_here);
    if ((rc = mt_model_backward(&s->model, s->dout, n, &pass, NULL, err)))
        return rc;
    double t2 = mt_wtime();
    t->times.compute += t2 - t1;
    t->bal.work += t2 - t0;
    t->bal.samples += (double)n;
    return st;
}

/* This rank's pieces of micro-batch mb of size b: its slice, or in deterministic mode its share of the
 * fixed-size chunks (chunk c covers samples [c * chunk, (c + 1) * chunk) of the batch, whichever rank
 * computes it). Returns the number of pieces; piece p is [*start + p * step, ...) clipped to b. */
static uint64_t pieces(const trainer *t, uint64_t b, uint64_t *start, uint64_t *step)
{
    uint64_t first, count;
    if (!t->chunk) {
        if (t->bal.cum)
            mt_sampler_slice_weighted(b, t->bal.cum, t->size, t->rank, start, &count);
        else
            mt_sampler_slice(b, t->size, t->rank, start, &count);
        *step = count;
        return 1;
    }
    mt_sampler_slice((b + t->chunk - 1) / t->chunk, t->size, t->rank, &first, &count);
    *start = first * t->chunk, *step = t->chunk;
    return count;
}

/* Optimizer step `step` of the epoch: micro-batches [step * k, step * k + k) accumulate into the gradient
 * slab; during the backward pass of this rank's last piece the bucket sums over the ranks start, and once
 * they are all complete every rank applies the same update. The trailer carries a failure flag (a rank
 * whose read failed still joins the sums, and every rank stops) and the step's loss sum (rmse scales its
 * gradient by the global mean). */
static mt_status train_step(trainer *t, uint64_t step, uint64_t micro, uint64_t k, mt_eval_sums *sums,
                            mt_error *err)
{
    mt_session *s = &t->s;
    const uint64_t B = (uint64_t)t->cfg->training.batch_size;
    const uint64_t first = step * k, last = first + k < micro ? first + k : micro;
    const uint64_t total = (last * B < t->rows ? last * B : t->rows) - first * B;
    float *trailer = mt_model_grad_trailer(&s->model);
    mt_status st = MT_OK;
    double loss_here = 0;
    const mt_eval_sums before = *sums; /* restored when the step is skipped */
    memset(trailer, 0, MT_GRAD_TRAILER * sizeof *trailer);
    trailer[STOP_SLOT] = mt_stop_requested();
    mt_model_zero_grads(&s->model);
    mt_comm_set_phase(t->comm, "step %lld (epoch %lld)", (long long)t->state.step + 1, (long long)t->state.epoch + 1);
    mt_fault_action fault = mt_fault_check(MT_FAULT_STEP);
    /* After a failure the remaining pieces run empty, so every rank takes part in the same collectives. */
    for (uint64_t mb = first, offset = 0; mb < last; mb++) {
        const uint64_t b = mt_sampler_batch_size(t->rows, B, mb);
        uint64_t start, stride, np = pieces(t, b, &start, &stride);
        for (uint64_t p = 0; p < np; p++) {
            uint64_t lo = start + p * stride, n = lo + stride < b ? stride : b - lo;
            int final = mb + 1 == last && p + 1 == np;
            mt_status ps = run_piece(t, mb, lo, st ? 0 : n, offset, total, final, st ? MT_FAULT_NONE : fault, sums,
                                     &loss_here, err);
            st = st ? st : ps;
            if (t->chunk && !final && !st) { /* deterministic: each chunk on its own into the exact sum */
                mt_grad_exchange_accumulate(&t->gx);
                memset(trailer, 0, MT_GRAD_TRAILER * sizeof *trailer); /* the stop flag counted once is enough */
                mt_model_zero_grads(&s->model);
            }
        }
        offset += b;
    }
    if (st)
        trailer[0] = 1.0f; /* the sums still run, so that the other ranks learn of the failure */
    double t0 = mt_wtime();
    mt_status rc = mt_grad_exchange_finish(&t->gx, err);
    double t1 = mt_wtime();
    t->times.allreduce += t->gx.in_flight;
    t->times.wait += t->gx.wait;
    t->times.busy += t->gx.busy_step; /* counted as compute so far */
    t->times.compute += (t1 - t0 - t->gx.wait) - t->gx.busy_step; /* converting the sums back is compute */
    t->bal.work -= t->gx.busy_step;
    if (rc)
        return rc;
    if (st || trailer[0] != 0.0f) {
        if (!st)
            mt_error_clear(err); /* another rank failed: its message comes with the agreement */
        return st ? st : MT_ERR_IO;
    }
    char what[160];
    if (nonfinite(t, trailer, what, sizeof what)) {
        const unsigned long long step_no = (unsigned long long)t->state.step + 1;
        if (strcmp(t->cfg->training.on_nonfinite, "skip_step") != 0)
            return mt_fail(err, MT_ERR_NUMERIC, "step %llu (epoch %lld): %s; stopped before the update (training."
                           "on_nonfinite: skip_step would skip such steps)", step_no, (long long)t->state.epoch + 1,
                           what);
        info(t, MT_PROGRESS_WARNING, "step %llu (epoch %lld): %s; step skipped (no update)", step_no,
             (long long)t->state.epoch + 1, what);
        *sums = before;
        t->skipped++;
        t->state.step++;
        return MT_OK;
    }
    if (mt_loss_needs_global_mean(&s->loss)) {
        const float f = (float)mt_loss_grad_factor(&s->loss, trailer[1], (double)total);
        for (size_t i = 0; i < s->model.n_params; i++)
            s->model.grads[i] *= f;
    }
    double penalty = mt_model_apply_penalties(&s->model); /* same on every rank: counted once */
    if (t->rank == 0)
        sums->penalty += penalty * (double)total;
    t->lr = mt_schedule_lr(&t->sched, (uint64_t)s->opt.step);
    mt_optimizer_step(&s->opt, s->model.params, s->model.grads, t->lr);
    double t2 = mt_wtime();
    t->times.compute += t2 - t1;
    mt_timeline_add(t->tl, MT_TL_OPTIMIZER, -1, t1, t2);
    t->samples += total;
    t->epoch_samples += total;
    t->state.step++;
    if (t->bal.cum && rebalance_due((uint64_t)t->state.step)) {
        mt_status rs = rebalance(t, err);
        if (rs)
            return rs;
    }
    if (trailer[STOP_SLOT] != 0.0f) /* some rank was asked to stop: every rank stops after this step */
        return mt_fail(err, MT_INTERRUPTED, "stop requested");
    return MT_OK;
}

/* Running statistics (batch norm without sync) come from each rank's own slices; they are exponential
 * moving averages, which are linear, so averaging them over ranks once per epoch equals averaging the
 * batch statistics at every step. Evaluation and checkpoints then see one set on every rank. */
static mt_status average_buffers(trainer *t, mt_error *err)
{
    mt_model *m = &t->s.model;
    if (m->n_buffers == 0 || t->size == 1)
        return MT_OK;
    mt_status st = mt_comm_allreduce_sum_f32(t->comm, m->buffers, m->n_buffers, err);
    const float inv = 1.0f / (float)t->size;
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] *= inv;
    return st;
}

static void fill_row(mt_metrics_row *row, const mt_eval_values *train, const mt_eval_values *val)
{
    row->loss = train->loss, row->accuracy = train->accuracy, row->binary_accuracy = train->binary_accuracy;
    row->mae = train->mae, row->rmse = train->rmse;
    row->val_loss = val->loss, row->val_accuracy = val->accuracy, row->val_binary_accuracy = val->binary_accuracy;
    row->val_mae = val->mae, row->val_rmse = val->rmse;
}

/* The watchdog's limit: training.stall_timeout, or 100 times the slowest recent step if that is longer
 * (a slowly decaying maximum), so that long steps of a large model never look like a stall. */
static void watch_step(trainer *t, double seconds)
{
    const double floor = t->cfg->training.stall_timeout;
    t->slow_step = seconds > t->slow_step ? seconds : 0.99 * t->slow_step;
    if (floor > 0)
        mt_comm_set_stall_timeout(t->comm, 100 * t->slow_step > floor ? 100 * t->slow_step : floor);
}

static mt_status run_epoch(trainer *t, int epoch, mt_metrics_row *row, mt_error *err)
{
    const uint64_t B = (uint64_t)t->cfg->training.batch_size, micro = mt_sampler_steps(t->rows, B);
    const uint64_t k = micro_per_step(t), steps = steps_per_epoch(t);
    t->epoch_samples = 0;
    mt_sampler_permutation((uint64_t)t->cfg->training.seed, (uint64_t)epoch, t->rows, t->perm);
    mt_eval_sums sums;
    memset(&sums, 0, sizeof sums);
    double t0 = mt_wtime();
    mt_status st = MT_OK;
    mt_error_clear(err);
    /* A run resumed from a checkpoint written mid-epoch continues after its last step. */
    for (uint64_t step = (uint64_t)t->state.epoch_step; step < steps && !st; step++) {
        const double s0 = mt_wtime();
        st = train_step(t, step, micro, k, &sums, err);
        watch_step(t, mt_wtime() - s0);
        if (!st || st == MT_INTERRUPTED)
            t->state.epoch_step = (int64_t)step + 1;
        if (!st)
            report_step(t, epoch, step, steps, &sums, t0);
    }
    /* Every rank left the loop at the same step; the failing rank's message reaches all of them. */
    if (mt_comm_agree(t->comm, err))
        return err->code;
    double train_time = mt_wtime() - t0;
    t->train_seconds += train_time;
    st = mt_comm_allreduce_sum_f64(t->comm, (double *)&sums, sizeof sums / sizeof(double), err);
    if (st)
        return st;
    mt_eval_values train, val = {NAN, NAN, NAN, NAN, NAN};
    mt_session_values(&t->s, &sums, &train);
    st = average_buffers(t, err);
    double e0 = mt_wtime();
    mt_comm_set_phase(t->comm, "the evaluation after epoch %d", epoch + 1);
    if (!st && t->s.validation.ds)
        st = mt_session_evaluate(&t->s, &t->s.validation, t->comm, &val, err);
    mt_timeline_add(t->tl, MT_TL_EVAL, -1, e0, mt_wtime());
    *row = (mt_metrics_row){.epoch = epoch + 1, .samples_per_sec = (double)t->epoch_samples / train_time,
                            .lr = t->lr};
    fill_row(row, &train, &val);
    row->seconds = mt_wtime() - t0;
    return st;
}

/* Early stopping after an epoch: records the best epoch (writing best.h5 when the best weights are to be
 * restored) and, when patience runs out, restores them from best.h5. Returns 1 to stop. */
static int early_stop(trainer *t, const mt_metrics_row *row, mt_status *st, mt_error *err)
{
    int improved;
    int stop = mt_early_stop_update(&t->es, row, &improved);
    t->state.es_best = t->es.best;
    t->state.es_best_epoch = t->es.best_epoch;
    t->state.es_wait = t->es.wait;
    if (!t->es.enabled || !t->es.opts.restore_best_weights || (!improved && !stop))
        return stop;
    char path[MT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/best.h5", t->cfg->output);
    mt_error_clear(err);
    if (t->rank == 0 && improved)
        mt_checkpoint_write(path, &(mt_checkpoint){&t->s.model, &t->s.opt, &t->state, &t->history, &t->s.prep,
                                                   t->config_yaml}, err);
    else if (t->rank == 0 && stop)
        mt_checkpoint_read(path, &(mt_checkpoint){.model = &t->s.model}, err);
    *st = mt_comm_agree(t->comm, err);
    if (!*st && stop) {
        *st = mt_comm_bcast(t->comm, t->s.model.params, t->s.model.n_params * sizeof(float), 0, err);
        if (!*st)
            *st = mt_comm_bcast(t->comm, t->s.model.buffers, t->s.model.n_buffers * sizeof(float), 0, err);
        info(t, MT_PROGRESS_INFO, "restored the weights of epoch %d (best %s %.6g)", t->es.best_epoch,
             t->es.opts.monitor, t->es.best);
    }
    return stop;
}

/* Rank 0 writes the epoch checkpoint and points checkpoint.h5 at it; all ranks agree on the outcome. */
static mt_status save_checkpoint(trainer *t, int epoch, mt_error *err)
{
    mt_error_clear(err);
    double t0 = mt_wtime();
    mt_comm_set_phase(t->comm, "the checkpoint of epoch %d (written by rank 0)", epoch);
    if (t->rank == 0) {
        char path[MT_PATH_MAX + 64];
        mt_run_dir_checkpoint_path(t->cfg->output, epoch, path, sizeof path);
        if (!mt_checkpoint_write(path, &(mt_checkpoint){&t->s.model, &t->s.opt, &t->state, &t->history, &t->s.prep,
                                                        t->config_yaml}, err))
            mt_run_dir_publish_checkpoint(t->cfg->output, epoch, t->cfg->checkpoint.keep, err);
        mt_timeline_add(t->tl, MT_TL_CHECKPOINT, -1, t0, mt_wtime());
    }
    return mt_comm_agree(t->comm, err);
}

/* After a stop request: every rank finished the same step; the running statistics are averaged (as at an
 * epoch end: they are linear, so the resumed run ends with the same averages), rank 0 writes
 * checkpoint_interrupted.h5 and points checkpoint.h5 at it. Returns MT_INTERRUPTED with the message. */
static mt_status save_interrupted(trainer *t, int epoch, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = average_buffers(t, err);
    char path[MT_PATH_MAX + 64];
    mt_run_dir_interrupted_path(t->cfg->output, path, sizeof path);
    double t0 = mt_wtime();
    if (!st && t->rank == 0 &&
        !mt_checkpoint_write(path, &(mt_checkpoint){&t->s.model, &t->s.opt, &t->state, &t->history, &t->s.prep,
                                                    t->config_yaml}, err))
        mt_run_dir_publish_interrupted(t->cfg->output, err);
    mt_timeline_add(t->tl, MT_TL_CHECKPOINT, -1, t0, mt_wtime());
    if (mt_comm_agree(t->comm, err))
        return err->code;
    return mt_stop_interrupted(&t->state, epoch, path, err);
}

static mt_status finish(trainer *t, mt_train_result *res, mt_error *err)
{
    static const char *const dtypes[] = {[MT_GRAD_FLOAT32] = "float32", [MT_GRAD_BFLOAT16] = "bfloat16",
                                         [MT_GRAD_FIXED64] = "fixed64"};
    if (t->skipped)
        info(t, MT_PROGRESS_WARNING, "%llu step(s) were skipped for a non-finite loss or gradient",
             (unsigned long long)t->skipped);
    res->world_size = t->size;
    res->buckets = t->gx.n_buckets;
    res->bucket_mb = t->cfg->training.bucket_mb;
    res->dtype = dtypes[t->gx.mode];
    res->deterministic = t->cfg->training.deterministic;
    res->train_seconds = t->train_seconds;
    res->samples_per_sec = t->train_seconds > 0 ? (double)t->samples / t->train_seconds : NAN;
    res->test_loss = res->test_accuracy = NAN;
    mt_status st = MT_OK;
    mt_comm_set_phase(t->comm, "the test evaluation and the scaling report");
    if (t->s.test.ds) {
        mt_eval_values v;
        st = mt_session_evaluate(&t->s, &t->s.test, t->comm, &v, err);
        res->test_loss = v.loss, res->test_accuracy = v.accuracy;
    }
    /* Each rank's wait for the sums is the exposed communication plus its wait for slower ranks: the
     * least any rank waited is counted as communication, the rest of a rank's wait as idle. Time in MPI
     * calls during backprop is exposed communication too (on shared memory the copies are CPU work). */
    enum { K = 5 };
    double mine[K] = {t->times.compute, t->times.allreduce, t->times.wait, t->times.data, t->times.busy};
    double *all = NULL;
    res->ranks = calloc((size_t)t->size, sizeof *res->ranks);
    all = calloc((size_t)t->size * K, sizeof *all);
    if (!st && (!res->ranks || !all))
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st)
        st = mt_comm_allgather_f64(t->comm, mine, K, all, err);
    if (!st) {
        double least = INFINITY, eff = 0;
        for (int r = 0; r < t->size; r++)
            least = all[K * r + 2] < least ? all[K * r + 2] : least;
        for (int r = 0; r < t->size; r++) {
            const double *a = &all[K * r];
            mt_rank_times *rt = &res->ranks[r];
            *rt = (mt_rank_times){.compute = a[0], .allreduce = a[1], .exposed = least + a[4], .data = a[3],
                                  .idle = a[2] - least};
            double total = rt->compute + rt->exposed + rt->data + rt->idle;
            eff += total > 0 ? rt->compute / total : 0;
        }
        res->efficiency = eff / t->size;
    }
    free(all);
    if (!st && t->rank == 0)
        st = mt_run_dir_write_scaling(t->cfg->output, res, (uint64_t)t->cfg->training.batch_size, err);
    return st;
}

static mt_status train_loop(trainer *t, mt_train_result *res, mt_error *err)
{
    mt_status st = MT_OK;
    if (t->rank == 0)
        st = mt_run_dir_write_metrics(t->cfg->output, &t->history, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    const int epochs = t->cfg->training.epochs, every = t->cfg->checkpoint.every_epochs;
    int first = (int)t->state.epoch;
    if (t->es.enabled && t->es.best_epoch > 0 && t->es.wait >= t->es.opts.patience) {
        info(t, MT_PROGRESS_INFO, "the run stopped early after epoch %d; nothing to resume", first);
        first = epochs;
    }
    for (int epoch = first; epoch < epochs; epoch++) {
        mt_metrics_row row;
        st = run_epoch(t, epoch, &row, err);
        if (st == MT_INTERRUPTED)
            return save_interrupted(t, epoch, err);
        if (st)
            return st;
        t->state.epoch = epoch + 1;
        t->state.epoch_step = 0;
        res->epochs_run++;
        res->last = row;
        mt_error_clear(err);
        if (t->rank == 0 && !mt_history_append(&t->history, &row, err))
            mt_run_dir_append_metrics(t->cfg->output, &row, err);
        if (mt_comm_agree(t->comm, err))
            return err->code;
        if (t->rank == 0 && t->opts->progress) {
            mt_progress p = {.kind = MT_PROGRESS_EPOCH, .epoch = epoch + 1, .epochs = epochs, .row = &row};
            t->opts->progress(&p, t->opts->user);
        }
        int stop = early_stop(t, &row, &st, err);
        if (st)
            return st;
        if (stop)
            info(t, MT_PROGRESS_INFO, "early stopping after epoch %d: %s has not improved for %d epoch(s) since "
                 "epoch %d", epoch + 1, t->es.opts.monitor, t->es.wait, t->es.best_epoch);
        if ((every > 0 && (epoch + 1) % every == 0) || epoch + 1 == epochs || stop) {
            st = save_checkpoint(t, epoch + 1, err);
            if (st)
                return st;
        }
        if (stop)
            break;
    }
    if (res->epochs_run == 0 && t->history.n > 0)
        res->last = t->history.rows[t->history.n - 1];
    return finish(t, res, err);
}

/* Events a timeline holds per rank (24 bytes each); later ones are counted as dropped. */
#define TIMELINE_EVENTS ((size_t)1 << 20)

static mt_status write_timeline(trainer *t, const char *path, mt_error *err)
{
    mt_model *m = &t->s.model;
    const int n = m->n_layers + t->gx.n_buckets;
    char (*text)[64] = calloc((size_t)n, sizeof *text);
    const char **ptrs = calloc((size_t)n, sizeof *ptrs);
    for (int i = 0; text && ptrs && i < n; i++) {
        if (i < m->n_layers)
            snprintf(text[i], sizeof text[i], "%03d_%s", i, m->layers[i].ops->name);
        else
            mt_grad_exchange_describe(&t->gx, i - m->n_layers, text[i], sizeof text[i]);
        ptrs[i] = text[i];
    }
    mt_timeline_names names = {0};
    if (text && ptrs)
        names = (mt_timeline_names){ptrs, m->n_layers, ptrs + m->n_layers, t->gx.n_buckets};
    mt_status st = mt_timeline_write(&t->timeline, t->comm, path, &names, err);
    free(text), free(ptrs);
    return st;
}

mt_status mt_train_run(const mt_config *cfg, mt_comm *comm, const mt_train_options *opts, mt_train_result *res,
                       mt_error *err)
{
    trainer t = {.cfg = cfg, .comm = comm, .rank = mt_comm_rank(comm), .size = mt_comm_size(comm), .opts = opts};
    memset(res, 0, sizeof *res);
    t.state = (mt_train_state){.world_size = t.size, .seed = (int64_t)cfg->training.seed,
                               .global_batch = cfg->training.batch_size, .es_best = NAN};
    const double stall_before = mt_comm_stall_timeout(comm);
    mt_comm_set_stall_timeout(comm, cfg->training.stall_timeout);
    mt_comm_set_phase(comm, "setup (reading the data, building the model)");
    mt_status st = setup(&t, err);
    if (!st) {
        if (t.rank == 0)
            mt_model_init_params(&t.s.model, (uint64_t)cfg->training.seed);
        st = mt_comm_bcast(comm, t.s.model.buffers, t.s.model.n_buffers * sizeof(float), 0, err);
    }
    if (!st && opts->resume)
        st = resume(&t, err);
    if (!st) {
        /* A resumed run records the current world size; the data path depends only on the global batch. */
        t.state.world_size = t.size;
        st = mt_comm_bcast(comm, t.s.model.params, t.s.model.n_params * sizeof(float), 0, err);
    }
    if (!st && opts->timeline_path && !(st = mt_timeline_init(&t.timeline, TIMELINE_EVENTS, comm, err)))
        t.tl = t.gx.timeline = &t.timeline;
    if (!st)
        st = train_loop(&t, res, err);
    if (!st && t.tl)
        st = write_timeline(&t, opts->timeline_path, err);
    mt_comm_set_stall_timeout(comm, stall_before);
    mt_stop_clear(); /* a stop request ends this run, not the next one in the same process */
    mt_grad_exchange_free(&t.gx);
    free(t.bal.weight), free(t.bal.cum);
    mt_timeline_free(&t.timeline);
    mt_session_close(&t.s);
    mt_history_free(&t.history);
    free(t.perm);
    free(t.config_yaml);
    return st;
}

void mt_train_result_free(mt_train_result *res)
{
    free(res->ranks);
    memset(res, 0, sizeof *res);
}
