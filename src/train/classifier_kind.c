/* Training a classifier or regressor, as a kind of the training loop (train_kind.h). Per global batch:
 * each rank reads its slice of the shared permutation, runs forward and backward with the loss gradient
 * scaled by 1/(global batch), the gradient slab is summed over the ranks in buckets, and every rank
 * applies the same optimizer step. Also deterministic mode (fixed chunks summed exactly), load balancing
 * by measured speed, gradient accumulation and the scaling report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/fault.h"
#include "optim/schedule.h"
#include "train/run_dir.h"
#include "train/sampler.h"
#include "train/session.h"
#include "train/train_kind.h"

static const mt_train_columns columns = {
    .names = mt_metrics_field_names,
    .n = MT_METRICS_FIELDS,
    .base = MT_METRICS_BASE_FIELDS,
    .running = {"loss", "accuracy"},
    .shown = (const char *const[]){"loss", "loss", "accuracy", "accuracy", "val_loss", "val_loss", "val_accuracy",
                                   "val_accuracy", NULL},
    .decimals = 4,
};
_Static_assert(sizeof(mt_metrics_row) == MT_METRICS_FIELDS * sizeof(double), "rows are stored as double[]");
_Static_assert(MT_METRICS_FIELDS <= MT_ROW_MAX, "a row fits mt_row");

typedef struct classifier {
    mt_loop *L;
    const mt_config *cfg;
    mt_comm *comm;
    int rank, size;
    mt_session s;
    mt_grad_exchange *gx; /* the loop's exchange of the model's gradients */
    uint64_t rows;        /* training rows */
    mt_eval_sums sums;    /* this rank's, over the epoch so far */
    struct {
        double compute, allreduce, data;
        double wait, busy;    /* blocked waiting for the sums; inside MPI calls during backprop */
        double work, samples; /* reading, forward and backward, and the samples they covered (the speed) */
        double cpu;           /* this thread's CPU time during that work (below `work` on a shared core) */
        double summing;       /* summing this rank's slices of the node's gradients (one copy per node) */
        double optimizer;     /* the update (and the node's meeting after it) */
    } times;
    int full_batch; /* full-batch gradient descent: one step per epoch */
    mt_schedule sched;
    double lr;                /* learning rate of the latest step */
    struct {                  /* training.balance: slices in proportion to measured speeds */
        double *cum;          /* the shares in force (the targets, or 1 each), cumulative: size + 1, the same on
                           every rank */
        double *target;       /* per rank: the shares the speeds call for */
        double *gathered;     /* 2 x size: what rebalance gathers */
        double work, samples; /* this rank's seconds in its pieces and their samples since the last update */
        double step_time, step_samples; /* the steps' wall time and global samples since the last update */
        int steps;                      /* and their count */
        int measured_steps;             /* the steps of the measurement in flight */
        mt_request req;                 /* the measurement in flight: a sum over the ranks of `gathered` */
        int pending;
        double rate[2];   /* samples/s last measured with even shares [0] and speed shares [1]; 0: none */
        int speed_shares; /* the shares in force: 1 = target, 0 = even */
        int windows;      /* measurements so far */
    } bal;
    uint64_t chunk;      /* deterministic mode: samples per chunk; 0 = one slice per rank */
    int direct;          /* deterministic mode: a rank's chunks run as one slice, the layers summing each chunk's
                       gradient straight into the exact accumulator (every layer direct_fixed) */
    mt_pass_fixed fixed; /* what the layers need for that */
} classifier;

/* Micro-batches per optimizer step: the configured accumulation, or the whole epoch for full-batch gd. */
static uint64_t micro_per_step(const classifier *t)
{
    uint64_t micro = mt_sampler_steps(t->rows, (uint64_t)t->cfg->training.batch_size);
    return t->full_batch ? micro : (uint64_t)t->cfg->training.accumulate_steps;
}

/* Optimizer steps per epoch: every batch of the split, or training.steps_per_epoch. */
static uint64_t steps_per_epoch(const classifier *t)
{
    const uint64_t micro = mt_sampler_steps(t->rows, (uint64_t)t->cfg->training.batch_size), k = micro_per_step(t);
    const uint64_t steps = (micro + k - 1) / k, limit = (uint64_t)t->cfg->training.steps_per_epoch;
    return limit > 0 && limit < steps ? limit : steps;
}

/* The learning-rate schedule, in optimizer steps; its batch is the samples one step consumes. */
static mt_status make_schedule(classifier *t, mt_error *err)
{
    t->rows = t->s.train.n;
    t->full_batch = mt_optimizer_full_batch(&t->s.opt);
    const uint64_t B = (uint64_t)t->cfg->training.batch_size;
    const uint64_t k = micro_per_step(t), steps = steps_per_epoch(t);
    const uint64_t batch = B * k < t->rows ? B * k : t->rows;
    return mt_schedule_create(t->cfg->lr_schedule, t->s.opt.opts.learning_rate, (int)batch, steps,
                              t->cfg->training.epochs, &t->sched, err);
}

/* Balancing starts from even slices; the target shares stay within [1/2, 3/2] before they are normalized to
 * mean 1, so a slice is at most 3 times the largest even slice. In deterministic mode whole chunks are
 * dealt. */
static mt_status setup_balance(classifier *t, mt_error *err)
{
    const mt_training_config *tc = &t->cfg->training;
    const size_t n = (size_t)t->size;
    t->bal.target = malloc(n * sizeof *t->bal.target);
    t->bal.cum = malloc((n + 1) * sizeof *t->bal.cum);
    t->bal.gathered = malloc(2 * n * sizeof *t->bal.gathered);
    if (!t->bal.target || !t->bal.cum || !t->bal.gathered)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    t->bal.cum[0] = 0;
    for (int r = 0; r < t->size; r++)
        t->bal.target[r] = 1, t->bal.cum[r + 1] = r + 1;
    mt_comm_request_clear(&t->bal.req);
    if (tc->deterministic) /* chunks of a fixed size, whoever computes them */
        return MT_OK;
    /* room for a slice at most 3x the even one: targets in [1/2, 3/2], over their mean, itself at least 1/2 */
    uint64_t b = (uint64_t)tc->batch_size < t->rows ? (uint64_t)tc->batch_size : t->rows;
    uint64_t most = mt_sampler_max_slice(b, t->size) * 3 + 1;
    return mt_session_reserve(&t->s, (int)(most < b ? most : b), err);
}

/* Steps between two measurements of the ranks' speeds, after the first ones at steps 2, 4, 8 and 16. */
#define BALANCE_EVERY 20
/* Every this many measurements the shares not in force are tried again for one interval. */
#define BALANCE_PROBE 10

static int rebalance_due(uint64_t step)
{
    return step % BALANCE_EVERY == 0 || step == 2 || step == 4 || step == 8 || step == 16;
}

/* Collective, at the same step on every rank: start_measure starts the gathering of each rank's seconds per
 * sample (a sum of vectors holding each rank's values at its place), without waiting for it: a further
 * meeting of the ranks costs a whole scheduler slice when one shares its core. One step later, rebalance
 * completes it (it travelled beside the gradient sums) and moves the target
 * shares halfway toward the speeds (1 / seconds per sample), normalized to mean 1 and kept in [1/2, 3/2].
 * Shares by speed are only worth it when the steps go faster with them: a rank can be slow for reasons
 * its share does not change (a core time-shared with a busy process stalls the sums, not its
 * computation). So the rate of the steps (rank 0's samples/s, which every rank receives) is averaged for
 * the shares in force, and the next interval uses the faster of the two (speed shares only when over 2%
 * faster), trying the other again every BALANCE_PROBE intervals. */
static mt_status start_measure(classifier *t, mt_error *err)
{
    double *g = t->bal.gathered;
    memset(g, 0, 2 * (size_t)t->size * sizeof *g);
    g[2 * t->rank] = t->bal.samples > 0 ? t->bal.work / t->bal.samples : 0;
    g[2 * t->rank + 1] = t->bal.step_time > 0 ? t->bal.step_samples / t->bal.step_time : 0;
    t->bal.measured_steps = t->bal.steps;
    t->bal.work = t->bal.samples = t->bal.step_time = t->bal.step_samples = 0;
    t->bal.steps = 0;
    t->bal.pending = 1;
    return mt_comm_iallreduce_sum(t->comm, g, 2 * (size_t)t->size, MT_DTYPE_F64, &t->bal.req, err);
}

static mt_status rebalance(classifier *t, mt_error *err)
{
    const int n = t->size, steps = t->bal.measured_steps;
    const double *per = t->bal.gathered;
    t->bal.pending = 0;
    mt_status st = mt_comm_wait(&t->bal.req, err);
    if (st)
        return st;
    double *rate = t->bal.rate;             /* a moving average per kind of shares */
    if (t->bal.windows++ > 0 && steps >= 8) /* not the warm-up steps, nor an interval too short to tell */
        rate[t->bal.speed_shares] = rate[t->bal.speed_shares] > 0 ? 0.5 * (rate[t->bal.speed_shares] + per[1]) : per[1];
    int known = 1;
    double total = 0;
    for (int r = 0; r < n; r++) {
        known &= per[2 * r] > 0; /* a rank without samples yet: keep the targets */
        total += per[2 * r] > 0 ? 1.0 / per[2 * r] : 0;
    }
    double sum = 0;
    for (int r = 0; r < n && known; r++) {
        double w = 0.5 * (t->bal.target[r] + n / (per[2 * r] * total));
        t->bal.target[r] = w < 0.5 ? 0.5 : w > 1.5 ? 1.5 : w;
        sum += t->bal.target[r];
    }
    for (int r = 0; r < n && known; r++)
        t->bal.target[r] *= n / sum;
    const int best = rate[0] > 0 && rate[1] <= 1.02 * rate[0] ? 0 : 1;
    /* speed shares, then even ones, are each measured once before the faster is chosen */
    t->bal.speed_shares = rate[1] == 0 ? 1 : rate[0] == 0 ? 0 : t->bal.windows % BALANCE_PROBE == 0 ? !best : best;
    t->bal.cum[0] = 0;
    for (int r = 0; r < n; r++) {
        t->bal.cum[r + 1] = t->bal.cum[r] + (t->bal.speed_shares ? t->bal.target[r] : 1);
    }
    return MT_OK;
}

/* Deterministic mode's direct path (a rank's chunks in one pass, see run_slice), when every layer supports
 * it and there is room for a rank's largest share of a batch; MPITRAIN_DETERMINISTIC_CHUNKS=1 keeps the
 * path of one pass per chunk (for tests and benchmarks). */
static mt_status setup_direct(classifier *t)
{
    const mt_training_config *tc = &t->cfg->training;
    const char *env = getenv("MPITRAIN_DETERMINISTIC_CHUNKS");
    int ok = !(env && strcmp(env, "1") == 0) && t->chunk <= (uint64_t)INT32_MAX;
    for (int i = 0; ok && i < t->s.model.n_layers; i++)
        ok = t->s.model.layers[i].ops->direct_fixed;
    if (!ok)
        return MT_OK;
    const uint64_t B = (uint64_t)tc->batch_size < t->rows ? (uint64_t)tc->batch_size : t->rows;
    const uint64_t chunks = (B + t->chunk - 1) / t->chunk;
    uint64_t most = tc->balance ? mt_sampler_max_slice(chunks, t->size) * 3 / 2 + 1
                                : mt_sampler_max_slice(chunks, t->size);
    most = (most < chunks ? most : chunks) * t->chunk;
    mt_error quiet = {0};
    if (most > (uint64_t)INT32_MAX || mt_session_reserve(&t->s, (int)most, &quiet) != MT_OK)
        return MT_OK; /* no room: one chunk at a time */
    t->direct = 1;
    t->fixed = (mt_pass_fixed){.chunk = (int)t->chunk,
                               .acc = t->gx->acc + t->gx->trailer,
                               .grads = t->s.model.grads,
                               .scale = MT_GRAD_FIXED_SCALE,
                               .limit = MT_GRAD_FIXED_LIMIT,
                               .bad = mt_model_grad_trailer(&t->s.model) + MT_GRAD_BAD_SLOT};
    return MT_OK;
}

/* The gradient exchange over the model's buckets; in deterministic mode the chunk size and room for it. */
static mt_status setup_exchange(classifier *t, mt_error *err)
{
    const mt_training_config *tc = &t->cfg->training;
    mt_grad_mode mode = tc->deterministic                             ? MT_GRAD_FIXED64
                        : strcmp(tc->gradient_dtype, "bfloat16") == 0 ? MT_GRAD_BFLOAT16
                                                                      : MT_GRAD_FLOAT32;
    mt_status st = mt_loop_add_net(t->L, "", &t->s.model, &t->s.opt, mode, 1, err);
    t->gx = &t->L->nets[0].gx;
    if (!st && tc->balance)
        st = setup_balance(t, err);
    if (st || !tc->deterministic)
        return st;
    if (strcmp(tc->gradient_dtype, "float32") != 0)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: training.gradient_dtype: deterministic mode sums gradients exactly; "
                       "it cannot exchange them as %s",
                       t->cfg->origin, tc->gradient_dtype);
    const uint64_t B = (uint64_t)tc->batch_size;
    t->chunk = tc->chunk_size > 0 ? (uint64_t)tc->chunk_size : (B + 7) / 8;
    if (t->chunk > B)
        t->chunk = B;
    st = mt_session_reserve(&t->s, (int)t->chunk, err);
    return st ? st : setup_direct(t);
}

/* Samples [start, start + count) of micro-batch `mb` (which begins at `offset` of the step's `total`):
 * reads them, runs forward, the loss (its gradient scaled by 1/total) and backward, adding into the
 * gradient slab. `last` marks this rank's last piece of the step: its backward pass starts the bucket
 * sums. The trailer gets the failure flag and the loss (of this piece in deterministic mode, where every
 * piece is accumulated on its own, else of all pieces so far). On the direct path the piece is a run of
 * whole chunks: the loss, the trailer and its accumulation go chunk by chunk as if each chunk were a
 * piece, and the backward pass adds each chunk's gradient into the exact accumulator. */
static mt_status run_piece(classifier *t, uint64_t mb, uint64_t start, uint64_t count, uint64_t offset, uint64_t total,
                           int last, mt_fault_action fault, mt_eval_sums *sums, double *loss_here, mt_error *err)
{
    mt_session *s = &t->s;
    uint64_t B = (uint64_t)t->cfg->training.batch_size;
    double t0 = mt_wtime(), c0 = mt_cputime();
    mt_status st = MT_OK;
    for (uint64_t i = 0; i < count; i++)
        s->rows[i] = s->train.rows[t->L->perm[mb * B + start + i]];
    if (fault == MT_FAULT_FAIL)
        st = mt_fail(err, MT_ERR_IO, "%s: /%s/x: reading %llu row(s) failed (injected by MPITRAIN_FAULT)",
                     t->cfg->data.file, t->cfg->data.train, (unsigned long long)count);
    else if (count > 0)
        st = mt_session_read(s, &s->train, s->rows, (int)count, err);
    if (count > 0 && !st)
        mt_augment_apply(&s->augment, s->model.acts[0], s->rows, (int)count, (uint64_t)t->cfg->training.seed,
                         (uint64_t)t->L->state.epoch);
    for (uint64_t c = 0; c < count && !st && fault == MT_FAULT_NAN; c += t->direct ? t->chunk : count)
        s->model.acts[0][c * s->model.input_size] = NAN; /* each chunk's first sample, as pieces of one chunk */
    double t1 = mt_wtime();
    t->times.data += t1 - t0;
    mt_timeline_add(t->L->tl, MT_TL_READ, -1, t0, t1);
    /* An empty slice still runs, and so does a slice whose read failed (as an empty one): layers that
     * reduce over ranks (synchronized batch norm) must take part, or the other ranks would wait for ever. */
    int n = st ? 0 : (int)count;
    const uint64_t invalid = mt_model_invalid_inputs(&s->model);
    mt_pass pass = {.training = 1,
                    .seed = (uint64_t)t->cfg->training.seed,
                    .step = (uint64_t)t->L->state.step,
                    .first = offset + start,
                    .global_n = total,
                    .sum_over_ranks = t->chunk ? NULL : mt_comm_sum_hook,
                    .sum_user = t->comm,
                    .timeline = t->L->tl,
                    .grads_ready = last ? mt_loop_grads_ready : NULL,
                    .poll = last ? mt_loop_poll : NULL,
                    .hook_user = t->gx,
                    .fixed = t->direct ? &t->fixed : NULL};
    const float *out;
    mt_status rc = mt_loop_params_ready(t->L, err); /* the last update, read while the others finish theirs */
    if (!rc)
        rc = mt_model_forward(&s->model, n, &pass, &out, err);
    if (rc)
        return rc;
    mt_fault_stretch(mt_wtime() - t1); /* MPITRAIN_FAULT=slow=F: a slower core */
    const int32_t *yc = s->classes ? s->y_class : NULL;
    const float *yt = s->classes ? NULL : s->y_target;
    const float *logits = mt_model_logits(&s->model), *w = s->train.weights ? s->weights : NULL;
    const size_t k = s->model.output_size;
    if (!st && mt_model_invalid_inputs(&s->model) != invalid)
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s: /%s/x: %llu token id(s) are not integers in [0, input_dim) of the "
                     "embedding",
                     t->cfg->data.file, t->cfg->data.train,
                     (unsigned long long)(mt_model_invalid_inputs(&s->model) - invalid));
    float *trailer = mt_model_grad_trailer(&s->model);
    const int per = t->direct ? (int)t->chunk : n; /* the samples of each loss (and trailer) */
    int q0 = 0;
    do {
        const int cn = n - q0 < per ? n - q0 : per;
        const size_t o = (size_t)q0 * k;
        double loss = mt_loss_compute(&s->loss, out + o, logits ? logits + o : NULL, yc ? yc + q0 : NULL,
                                      yt ? yt + o : NULL, w ? w + q0 : NULL, cn, s->dout + o, 1.0f / (float)total,
                                      NULL);
        sums->loss += loss;
        *loss_here += loss;
        mt_metrics_accumulate(&s->loss, out + o, yc ? yc + q0 : NULL, yt ? yt + o : NULL, cn, sums->m);
        trailer[MT_GRAD_FAIL_SLOT] = st || trailer[MT_GRAD_FAIL_SLOT] != 0.0f; /* stays set once a piece failed */
        trailer[MT_GRAD_LOSS_SLOT] = (float)(t->chunk ? loss : *loss_here);
        q0 += cn;
        if (t->direct && !st && (q0 < n || !last)) { /* a chunk's trailer on its own, as in step() */
            mt_grad_exchange_accumulate(t->gx);
            memset(trailer, 0, MT_GRAD_TRAILER * sizeof *trailer);
        }
    } while (q0 < n);
    if (t->direct && n > 0) { /* the layers write the accumulator's gradients: fresh the first time */
        t->fixed.fresh = !t->gx->direct_filled;
        t->gx->direct_filled = 1;
    }
    const double b0 = mt_wtime();
    if ((rc = mt_model_backward(&s->model, s->dout, n, &pass, NULL, err)))
        return rc;
    mt_fault_stretch(mt_wtime() - b0);
    double t2 = mt_wtime();
    t->times.compute += t2 - t1;
    t->bal.work += t2 - t0;
    t->bal.samples += (double)n;
    t->times.work += t2 - t0;
    t->times.samples += (double)n;
    t->times.cpu += mt_cputime() - c0;
    return st;
}

/* This rank's pieces of micro-batch mb of size b: its slice, or in deterministic mode its share of the
 * fixed-size chunks (chunk c covers samples [c * chunk, (c + 1) * chunk) of the batch, whichever rank
 * computes it), all of them in one piece on the direct path. Returns the number of pieces; piece p is
 * [*start + p * step, ...) clipped to b. */
static uint64_t pieces(const classifier *t, uint64_t b, uint64_t *start, uint64_t *step)
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
    const uint64_t chunks = (b + t->chunk - 1) / t->chunk;
    if (t->bal.cum) /* balanced: whole chunks in proportion to the speeds; the exact sums do not change */
        mt_sampler_slice_weighted(chunks, t->bal.cum, t->size, t->rank, &first, &count);
    else
        mt_sampler_slice(chunks, t->size, t->rank, &first, &count);
    *start = first * t->chunk, *step = t->chunk;
    if (t->direct) { /* the direct path: the rank's chunks in one piece */
        *step = count * t->chunk;
        return count > 0;
    }
    return count;
}

/* Optimizer step `step` of the epoch: micro-batches [step * k, step * k + k) accumulate into the gradient
 * slab; during the backward pass of this rank's last piece the bucket sums over the ranks start, and once
 * they are all complete every rank applies the same update. The trailer carries a failure flag (a rank
 * whose read failed still joins the sums, and every rank stops) and the step's loss sum (rmse scales its
 * gradient by the global mean). */
static mt_status step(mt_loop *L, uint64_t step, int *skipped, mt_error *err)
{
    classifier *t = L->self;
    mt_session *s = &t->s;
    mt_eval_sums *sums = &t->sums;
    const uint64_t B = (uint64_t)t->cfg->training.batch_size, micro = mt_sampler_steps(t->rows, B);
    const uint64_t k = micro_per_step(t), first = step * k, last = first + k < micro ? first + k : micro;
    const uint64_t total = (last * B < t->rows ? last * B : t->rows) - first * B;
    float *trailer = mt_model_grad_trailer(&s->model);
    mt_status st = MT_OK;
    double loss_here = 0;
    const mt_eval_sums before = *sums; /* restored when the step is skipped */
    const double step0 = mt_wtime();
    mt_loop_begin_sums(L, &L->nets[0], 1); /* the first backward pass writes the gradients */
    if (t->direct) {
        t->gx->direct = 1;
        t->fixed.acc = t->gx->acc + t->gx->trailer;
    }
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
            if (t->chunk && !t->direct && !final && !st) { /* deterministic: each chunk on its own into the exact sum */
                mt_grad_exchange_accumulate(t->gx);
                memset(trailer, 0, MT_GRAD_TRAILER * sizeof *trailer); /* the stop flag counted once is enough */
                mt_model_zero_grads(&s->model);
            }
        }
        offset += b;
    }
    if (st)
        trailer[MT_GRAD_FAIL_SLOT] = 1.0f; /* the sums still run, so that the other ranks learn of the failure */
    /* zeros where no backward pass ran (a rank without a chunk) */
    mt_model_settle_grads(&s->model);
    /* the L1/L2 penalty of the parameters, read before any rank can update its slice of them */
    const double penalty = t->rank == 0 ? mt_model_apply_penalties(&s->model, NULL, 0, s->model.n_params) : 0;
    double t0 = mt_wtime();
    mt_status rc = mt_grad_exchange_finish(t->gx, err);
    double t1 = mt_wtime();
    t->times.allreduce += t->gx->in_flight;
    t->times.wait += t->gx->wait;
    t->times.busy += t->gx->busy_step;                              /* counted as compute so far */
    t->times.compute += (t1 - t0 - t->gx->wait) - t->gx->busy_step; /* converting the sums back is compute */
    t->bal.work -= t->gx->busy_step;
    t->times.work -= t->gx->busy_step;
    if (rc)
        return rc;
    if ((rc = mt_loop_check_sums(L, &L->nets[0], NULL, st, skipped, err)) || *skipped) {
        *sums = before;
        return rc;
    }
    const float f = mt_loss_needs_global_mean(&s->loss) /* rmse: the gradient of the global mean */
                        ? (float)mt_loss_grad_factor(&s->loss, mt_loop_summed(&L->nets[0])[MT_GRAD_LOSS_SLOT],
                                                     (double)total)
                        : 1.0f;
    if (t->rank == 0) /* the same on every rank: counted once */
        sums->penalty += penalty * (double)total;
    t->lr = mt_schedule_lr(&t->sched, (uint64_t)s->opt.step);
    if ((rc = mt_loop_update(L, &L->nets[0], t->lr, f, err)))
        return rc;
    double t2 = mt_wtime();
    t->times.compute += t2 - t1;
    t->times.summing += t->gx->summing;
    t->times.optimizer += t2 - t1;
    mt_timeline_add(t->L->tl, MT_TL_OPTIMIZER, -1, t1, t2);
    L->samples += total;
    L->epoch_samples += total;
    t->bal.step_time += mt_wtime() - step0;
    t->bal.step_samples += (double)total;
    t->bal.steps++;
    mt_status rs = t->bal.pending ? rebalance(t, err) : MT_OK;
    if (!rs && t->bal.cum && rebalance_due((uint64_t)L->state.step + 1))
        rs = start_measure(t, err);
    if (rs)
        return rs;
    if (mt_loop_stop_requested(&L->nets[0])) /* some rank was asked to stop: every rank stops after this step */
        return mt_fail(err, MT_INTERRUPTED, "stop requested");
    return MT_OK;
}

static void fill_row(mt_metrics_row *row, const mt_eval_values *train, const mt_eval_values *val)
{
    row->loss = train->loss, row->accuracy = train->accuracy, row->binary_accuracy = train->binary_accuracy;
    row->mae = train->mae, row->rmse = train->rmse;
    row->val_loss = val->loss, row->val_accuracy = val->accuracy, row->val_binary_accuracy = val->binary_accuracy;
    row->val_mae = val->mae, row->val_rmse = val->rmse;
}

static uint64_t kind_steps_per_epoch(const mt_loop *L)
{
    return steps_per_epoch(L->self);
}

static void begin_epoch(mt_loop *L)
{
    classifier *t = L->self;
    memset(&t->sums, 0, sizeof t->sums);
}

static void running(const mt_loop *L, double values[2])
{
    const classifier *t = L->self;
    mt_eval_values v;
    mt_session_values(&t->s, &t->sums, &v);
    values[0] = v.loss, values[1] = v.accuracy;
}

/* The epoch's training metrics (summed over the ranks) and the evaluation on the validation split. */
static mt_status end_epoch(mt_loop *L, int epoch, double *values, mt_error *err)
{
    classifier *t = L->self;
    mt_status st = mt_comm_allreduce_sum_f64(t->comm, (double *)&t->sums, sizeof t->sums / sizeof(double), err);
    if (st)
        return st;
    mt_eval_values train, val = {NAN, NAN, NAN, NAN, NAN};
    mt_session_values(&t->s, &t->sums, &train);
    double e0 = mt_wtime();
    mt_comm_set_phase(t->comm, "the evaluation after epoch %d", epoch + 1);
    if (t->s.validation.ds)
        st = mt_session_evaluate(&t->s, &t->s.validation, t->comm, &val, err);
    mt_timeline_add(L->tl, MT_TL_EVAL, -1, e0, mt_wtime());
    mt_metrics_row *row = &((mt_row *)values)->metrics;
    row->lr = t->lr;
    fill_row(row, &train, &val);
    return st;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The slowest rank, when its time per sample over the run exceeds the median rank's by more than
 * MT_STRAGGLER_RATIO (whatever the mode: with balance it gets fewer samples, but each takes as long). */
static void find_straggler(mt_train_result *res, const mt_comm *comm)
{
    const int n = res->world_size;
    double *sorted = n > 1 ? malloc((size_t)n * sizeof *sorted) : NULL;
    if (!sorted)
        return;
    int slowest = 0;
    for (int r = 0; r < n; r++) {
        sorted[r] = res->ranks[r].speed > 0 ? 1.0 / res->ranks[r].speed : 0;
        slowest = sorted[r] > sorted[slowest] ? r : slowest;
    }
    const double worst = sorted[slowest];
    qsort(sorted, (size_t)n, sizeof *sorted, by_value);
    const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    /* of two ranks the median is their mean: compare with the other rank instead */
    const double base = n == 2 ? sorted[0] : median;
    free(sorted);
    if (base > 0 && worst > MT_STRAGGLER_RATIO * base) {
        res->straggler = slowest;
        res->straggler_slower = worst / base;
        res->straggler_host = mt_comm_host(comm, slowest);
    }
}

/* The test evaluation, every rank's time split and scaling.json. */
static mt_status finish(mt_loop *L, mt_train_result *res, mt_error *err)
{
    static const char *const dtypes[] = {
        [MT_GRAD_FLOAT32] = "float32", [MT_GRAD_BFLOAT16] = "bfloat16", [MT_GRAD_FIXED64] = "fixed64"};
    classifier *t = L->self;
    res->buckets = t->gx->n_buckets;
    res->bucket_mb = t->cfg->training.bucket_mb;
    res->dtype = dtypes[t->gx->mode];
    res->deterministic = t->cfg->training.deterministic;
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
    if (!st && t->bal.pending)
        st = rebalance(t, err);
    enum { K = 11 };
    const mt_node_share *sh = &L->nets[0].share;
    const mt_state_pieces *z = &L->nets[0].pieces;
    const double state = (double)t->s.opt.n_slots * sizeof(float) *
                         (z->on ? (double)z->n : (double)t->s.opt.n / (sh->k ? sh->k : 1));
    double mine[K] = {
        t->times.compute, t->times.allreduce, t->times.wait,    t->times.data,      t->times.busy, t->times.work,
        t->times.samples, t->times.cpu,       t->times.summing, t->times.optimizer, state};
    res->shared = sh->k;
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
            *rt = (mt_rank_times){.compute = a[0],
                                  .allreduce = a[1],
                                  .exposed = least + a[4],
                                  .data = a[3],
                                  .idle = a[2] - least,
                                  .samples = a[6],
                                  .speed = a[5] > 0 ? a[6] / a[5] : 0,
                                  .core_share = a[5] > 0 ? a[7] / a[5] : 1,
                                  .summing = a[8],
                                  .optimizer = a[9],
                                  .state_bytes = a[10]};
            double total = rt->compute + rt->exposed + rt->data + rt->idle;
            eff += total > 0 ? rt->compute / total : 0;
        }
        res->efficiency = eff / t->size;
        find_straggler(res, t->comm);
    }
    free(all);
    if (!st && t->rank == 0)
        st = mt_run_dir_write_scaling(t->cfg->output, res, (uint64_t)t->cfg->training.batch_size, err);
    return st;
}

/* The session (data, model, loss, optimizer), the schedule and the exchange. */
static mt_status setup(mt_loop *L, mt_error *err)
{
    classifier *t = L->self;
    *t = (classifier){.L = L, .cfg = L->cfg, .comm = L->comm, .rank = L->rank, .size = L->size};
    mt_status st = mt_session_open(&t->s, t->cfg, MT_SESSION_TRAIN, t->comm, err);
    if (st)
        return st;
    L->prep = &t->s.prep;
    L->has_validation = t->s.validation.ds != NULL;
    st = make_schedule(t, err);
    L->n_rows = t->rows;
    return st ? st : setup_exchange(t, err);
}

static void init_params(mt_loop *L)
{
    classifier *t = L->self;
    mt_model_init_params(&t->s.model, (uint64_t)t->cfg->training.seed);
}

static void kind_free(mt_loop *L)
{
    classifier *t = L->self;
    free(t->bal.cum), free(t->bal.target), free(t->bal.gathered);
    mt_session_close(&t->s);
}

const mt_train_kind mt_classifier_kind = {
    .columns = &columns,
    .setup_phase = "setup (reading the data, building the model)",
    .self_size = sizeof(classifier),
    .setup = setup,
    .init_params = init_params,
    .steps_per_epoch = kind_steps_per_epoch,
    .begin_epoch = begin_epoch,
    .step = step,
    .running = running,
    .end_epoch = end_epoch,
    .finish = finish,
    .free = kind_free,
};
