/* The data-parallel GAN training loop. Per global batch (the permutation and slices of the classifier
 * trainer): each rank reads its slice of real samples, mapped from [0, 1] to [-1, 1] (2x - 1, after
 * data.scaling), and generates as many fakes from noise that depends only on (seed, step, position in the
 * global batch). Discriminator step: BCE with logits on the real (label 1) and fake (label 0) samples, the
 * gradient scaled by 1 / (global batch), summed over the ranks, optimizer step. Generator step: the fakes
 * through the updated discriminator, the non-saturating loss -log D(G(z)), its gradient back through the
 * discriminator (whose parameter gradients of this pass are discarded) into the generator, summed, step.
 * Nothing is allocated in a step. */
#include "train/gan_trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "comm/grad_exchange.h"
#include "train/checkpoint.h"
#include "io/dataset.h"
#include "io/png_write.h"
#include "nn/activation.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/prep.h"
#include "train/resume.h"
#include "train/run_dir.h"
#include "train/sampler.h"
#include "train/stop_request.h"

const char *const mt_gan_row_names[MT_GAN_ROW_FIELDS] = {"epoch", "d_loss", "g_loss", "d_real", "d_fake",
                                                         "seconds", "samples_per_sec"};
_Static_assert(sizeof(mt_gan_row) == MT_GAN_ROW_FIELDS * sizeof(double), "rows are stored as double[]");

/* Purposes of the random streams (keys derived from the seed). */
enum { KEY_TRAIN_NOISE = 0x6a11, KEY_GRID_NOISE = 0x6a12, KEY_SCORE_NOISE = 0x6a13, KEY_D_INIT = 0x6a14,
       KEY_G_PASS = 0x6a15 };

/* Images in the sample grid (8 x 8). */
#define GRID_SAMPLES 64
#define GRID_COLS 8
/* Trailer slots: failure flag, loss, (fixed64's bad count), stop request. */
#define FAIL_SLOT 0
#define LOSS_SLOT 1
#define STOP_SLOT 3

typedef struct net {
    mt_config view;             /* the config seen as this network's */
    mt_model m;
    mt_optimizer opt;
    mt_grad_exchange gx;
    int has_opt, has_gx;
} net;

typedef struct gan {
    const mt_config *cfg;
    mt_comm *comm;
    int rank, size;
    const mt_gan_train_options *opts;
    net g, d;
    mt_dataset *ds;
    uint64_t *rows, n_rows;     /* training rows (all rows of the split) */
    uint64_t *perm;
    uint64_t *slice;            /* [cap] dataset rows of this rank's slice */
    mt_prep prep;
    int has_prep;
    int cap;                    /* rows per rank per batch */
    size_t sample;              /* values per sample */
    int channels, height, width;/* of a sample, for the grid */
    float *dlogit;              /* [cap] gradient of the loss by the logits */
    float *dimg;                /* [cap * sample] gradient of the generator loss by the fakes */
    mt_train_state state;
    double *hist;               /* history rows of MT_GAN_ROW_FIELDS */
    size_t hist_n, hist_cap;
    char *config_yaml;
    double train_seconds;
    uint64_t samples, epoch_samples, skipped;
    struct { double d_loss, g_loss, d_real, d_fake, n; } sums; /* this rank's, over the epoch so far */
} gan;

static void info(gan *t, mt_gan_progress_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void info(gan *t, mt_gan_progress_kind kind, const char *fmt, ...)
{
    if (t->rank != 0 || !t->opts->progress)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mt_gan_progress p = {.kind = kind, .message = msg};
    t->opts->progress(&p, t->opts->user);
}

/* ---- numerics ---------------------------------------------------------------------------------------- */

/* log(1 + e^x) without overflow: BCE with logits is softplus(-l) for label 1, softplus(l) for label 0. */
static inline double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static inline float sigmoid(float x)
{
    return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

/* z[n, noise]: sample i's values are a standard normal stream keyed by (key, first + i). */
static void fill_noise(float *z, int noise, uint64_t key, uint64_t first, int n)
{
    for (int i = 0; i < n; i++) {
        mt_rng r = mt_rng_make(mt_key(key, first + (uint64_t)i));
        float *row = z + (size_t)i * (size_t)noise;
        for (int k = 0; k < noise; k++)
            row[k] = mt_rng_normal(&r);
    }
}

static uint64_t train_noise_key(const gan *t, uint64_t step)
{
    return mt_key(mt_key((uint64_t)t->cfg->training.seed, KEY_TRAIN_NOISE), step);
}

static void grads_ready(void *user, int layer)
{
    mt_grad_exchange_layer_done(user, layer);
}

/* ---- setup ------------------------------------------------------------------------------------------- */

static mt_status build_net(gan *t, net *nt, int discriminator, const mt_ints *input, mt_error *err)
{
    mt_config_gan_net(t->cfg, discriminator, input, &nt->view);
    mt_status st = mt_model_build(&nt->view, mt_optimizer_slots(nt->view.optimizer), &nt->m, err);
    if (st)
        return st;
    st = mt_optimizer_create(nt->view.optimizer, nt->m.n_params, &nt->opt, err);
    nt->has_opt = st == MT_OK;
    return st;
}

static const char *shape_text(const mt_ints *s, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < s->n; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%d", i ? ", " : "", s->v[i]);
    return buf;
}

/* The networks against the data: the generator makes samples of the data's size, the discriminator ends
 * in one linear output (a logit). */
static mt_status check_nets(gan *t, mt_error *err)
{
    char where[300], have[96], want[96];
    const mt_model *g = &t->g.m, *d = &t->d.m;
    if (g->output_size != t->sample) {
        mt_node_where(t->cfg->gan.generator.node, where, sizeof where);
        return mt_fail(err, MT_ERR_CONFIG, "%s: gan.generator: its output has %zu values per sample (shape [%s]), "
                       "the samples of %s /%s have %zu (shape [%s])", where, g->output_size,
                       shape_text(&g->layers[g->n_layers - 1].out_shape, have, sizeof have), t->cfg->data.file,
                       t->cfg->data.train, t->sample, shape_text(&d->input_shape, want, sizeof want));
    }
    const mt_layer *last = &d->layers[d->n_layers - 1];
    if (d->output_size != 1 || (last->out_activation >= 0 && last->out_activation != MT_ACT_LINEAR)) {
        mt_node_where(t->cfg->gan.discriminator.layers[d->n_layers - 1].node, where, sizeof where);
        return mt_fail(err, MT_ERR_CONFIG, "%s: %s: the discriminator must end in one linear output (a logit: the "
                       "loss applies the sigmoid), got %zu output(s)%s", where, last->section, d->output_size,
                       d->output_size == 1 ? " with an activation" : "");
    }
    return MT_OK;
}

static mt_status setup_exchange(gan *t, net *nt, mt_error *err)
{
    const mt_training_config *tc = &t->cfg->training;
    mt_model *m = &nt->m;
    size_t *offsets = malloc(((size_t)m->n_layers + 1) * sizeof *offsets);
    if (!offsets)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (int i = 0; i <= m->n_layers; i++)
        offsets[i] = mt_model_layer_offset(m, i);
    mt_grad_mode mode = strcmp(tc->gradient_dtype, "bfloat16") == 0 ? MT_GRAD_BFLOAT16 : MT_GRAD_FLOAT32;
    mt_status st = mt_grad_exchange_init(&nt->gx, t->comm, mt_model_grad_trailer(m), MT_GRAD_TRAILER, offsets,
                                         m->n_layers, tc->bucket_mb * 1048576.0, mode, err);
    free(offsets);
    nt->has_gx = st == MT_OK;
    return st;
}

/* Everything that needs no other rank: the dataset, both networks, the buffers. */
static mt_status setup_local(gan *t, mt_error *err)
{
    const mt_config *cfg = t->cfg;
    mt_status st = mt_dataset_open(cfg->data.file, cfg->data.train, &t->ds, err);
    if (st)
        return st;
    const mt_dataset_info *in = mt_dataset_get_info(t->ds);
    mt_ints shape = {.n = in->sample_rank};
    for (int i = 0; i < in->sample_rank; i++)
        shape.v[i] = (int)in->sample_shape[i];
    t->sample = in->sample_size;
    t->channels = shape.n == 3 ? shape.v[0] : 1;
    t->height = shape.n >= 2 ? shape.v[shape.n - 2] : 1;
    t->width = shape.v[shape.n - 1];
    t->n_rows = in->rows;
    const mt_ints noise = {.n = 1, .v = {cfg->gan.noise}};
    st = build_net(t, &t->g, 0, &noise, err);
    if (!st)
        st = build_net(t, &t->d, 1, &shape, err);
    if (!st)
        st = check_nets(t, err);
    if (!st && (uint64_t)cfg->training.batch_size < (uint64_t)t->size)
        st = mt_fail(err, MT_ERR_CONFIG, "%s: training.batch_size: the global batch %d is smaller than the %d "
                     "ranks; each rank needs at least one sample", cfg->origin, cfg->training.batch_size, t->size);
    if (!st && t->n_rows < (uint64_t)t->size)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu training rows cannot be shared by %d ranks", cfg->data.file,
                     cfg->data.train, (unsigned long long)t->n_rows, t->size);
    if (st)
        return st;
    t->rows = malloc(t->n_rows * sizeof *t->rows);
    t->perm = malloc(t->n_rows * sizeof *t->perm);
    if (!t->rows || !t->perm)
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate the row lists of %llu rows", (unsigned long long)t->n_rows);
    for (uint64_t i = 0; i < t->n_rows; i++)
        t->rows[i] = i;
    return MT_OK;
}

/* After the preprocessing is fitted: buffers for the largest slice (the generator also for the grid). */
static mt_status setup_buffers(gan *t, mt_error *err)
{
    const uint64_t B = (uint64_t)t->cfg->training.batch_size, b = B < t->n_rows ? B : t->n_rows;
    t->cap = (int)mt_sampler_max_slice(b, t->size);
    t->slice = malloc((size_t)t->cap * sizeof *t->slice);
    t->dlogit = malloc((size_t)t->cap * sizeof *t->dlogit);
    t->dimg = malloc((size_t)t->cap * t->sample * sizeof *t->dimg);
    if (!t->slice || !t->dlogit || !t->dimg)
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate batch buffers for %d rows", t->cap);
    mt_status st = mt_model_reserve(&t->g.m, t->cap > GRID_SAMPLES ? t->cap : GRID_SAMPLES, err);
    if (!st)
        st = mt_model_reserve(&t->d.m, t->cap, err);
    if (!st)
        st = mt_dataset_reserve(t->ds, (size_t)t->cap, err);
    return st;
}

static mt_status setup(gan *t, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = setup_local(t, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    st = mt_prep_fit(&t->prep, &t->cfg->data, t->ds, t->rows, &t->n_rows, t->comm, err);
    t->has_prep = st == MT_OK;
    if (mt_comm_agree(t->comm, err))
        return err->code;
    if (t->n_rows < (uint64_t)t->size)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu training rows cannot be shared by %d ranks",
                     t->cfg->data.file, t->cfg->data.train, (unsigned long long)t->n_rows, t->size);
    for (int i = 0; !st && i < 2; i++) {
        net *nt = i ? &t->d : &t->g;
        for (int k = 0; k < nt->m.n_layers; k++) {
            char warning[512];
            if (mt_activation_warning(&nt->m.layers[k], warning, sizeof warning))
                info(t, MT_GAN_PROGRESS_WARNING, "%s", warning);
        }
    }
    if (!st)
        st = setup_buffers(t, err);
    if (!st)
        st = setup_exchange(t, &t->g, err);
    if (!st)
        st = setup_exchange(t, &t->d, err);
    if (!st && t->rank == 0)
        st = mt_run_dir_prepare(t->cfg->output, err);
    if (!st && t->rank == 0 && !(t->config_yaml = mt_config_to_yaml(t->cfg, err)))
        st = err->code ? err->code : mt_fail(err, MT_ERR_INTERNAL, "cannot serialize the config");
    return mt_comm_agree(t->comm, err);
}

/* ---- checkpoints ------------------------------------------------------------------------------------- */

static mt_status write_checkpoint(gan *t, const char *path, mt_error *err)
{
    const mt_checkpoint_net nets[2] = {{"generator", &t->g.m, &t->g.opt}, {"discriminator", &t->d.m, &t->d.opt}};
    const mt_checkpoint_table table = {mt_gan_row_names, MT_GAN_ROW_FIELDS, &t->hist, &t->hist_n, &t->hist_cap};
    return mt_checkpoint_write_multi(path, &(mt_checkpoint){.state = &t->state, .prep = &t->prep,
                                                            .config_yaml = t->config_yaml},
                                     &(mt_checkpoint_multi){nets, 2, &table}, err);
}

static mt_status read_checkpoint(void *user, const char *path, mt_error *err)
{
    gan *t = user;
    const mt_checkpoint_net nets[2] = {{"generator", &t->g.m, &t->g.opt}, {"discriminator", &t->d.m, &t->d.opt}};
    const mt_checkpoint_table table = {mt_gan_row_names, MT_GAN_ROW_FIELDS, &t->hist, &t->hist_n, &t->hist_cap};
    return mt_checkpoint_read_multi(path, &(mt_checkpoint){.state = &t->state, .prep = &t->prep},
                                    &(mt_checkpoint_multi){nets, 2, &table}, err);
}

static void resume_notice(void *user, int warning, const char *text)
{
    info(user, warning ? MT_GAN_PROGRESS_WARNING : MT_GAN_PROGRESS_INFO, "%s", text);
}

static mt_status bcast_net(gan *t, net *nt, mt_error *err)
{
    mt_status st = mt_comm_bcast(t->comm, &nt->opt.step, sizeof nt->opt.step, 0, err);
    for (int k = 0; !st && k < nt->opt.n_slots; k++)
        st = mt_comm_bcast(t->comm, nt->opt.slots[k], nt->opt.n * sizeof(float), 0, err);
    if (!st)
        st = mt_comm_bcast(t->comm, nt->opt.scalars, sizeof nt->opt.scalars, 0, err);
    return st;
}

/* Rank 0 loads the checkpoint; the optimizer states and the run state are broadcast (the parameters and
 * buffers follow in start()). */
static mt_status resume(gan *t, mt_error *err)
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
    if (!st)
        st = bcast_net(t, &t->g, err);
    if (!st)
        st = bcast_net(t, &t->d, err);
    return st;
}

/* Rank 0's parameters and buffers of both networks to every rank. */
static mt_status bcast_params(gan *t, mt_error *err)
{
    mt_status st = MT_OK;
    for (int i = 0; i < 2 && !st; i++) {
        mt_model *m = i ? &t->d.m : &t->g.m;
        st = mt_comm_bcast(t->comm, m->params, m->n_params * sizeof(float), 0, err);
        if (!st)
            st = mt_comm_bcast(t->comm, m->buffers, m->n_buffers * sizeof(float), 0, err);
    }
    return st;
}

/* ---- the step ---------------------------------------------------------------------------------------- */

/* Whether the summed trailer or gradients of a network hold a NaN or an infinity. */
static int nonfinite(net *nt, const char *who, char *what, size_t size)
{
    const float *trailer = mt_model_grad_trailer(&nt->m);
    int layer = -1;
    if (!isfinite(trailer[LOSS_SLOT]))
        snprintf(what, size, "the %s loss is %s on some rank", who, isnan(trailer[LOSS_SLOT]) ? "NaN" : "infinite");
    else if ((layer = mt_model_nonfinite_grad_layer(&nt->m)) >= 0)
        snprintf(what, size, "the gradient of %s layer %d (%s) is NaN or infinite", who, layer,
                 nt->m.layers[layer].ops->name);
    else
        return 0;
    return 1;
}

/* After a network's sums: a failure on any rank, or a non-finite value (stop, or skip the step). Returns
 * MT_OK to update, a status to stop; *skip set when the step is skipped. */
static mt_status after_sums(gan *t, net *nt, const char *who, mt_status local, int *skip, mt_error *err)
{
    const float *trailer = mt_model_grad_trailer(&nt->m);
    if (local || trailer[FAIL_SLOT] != 0.0f) {
        if (!local)
            mt_error_clear(err); /* another rank failed: its message comes with the agreement */
        return local ? local : MT_ERR_IO;
    }
    char what[200];
    if (!nonfinite(nt, who, what, sizeof what))
        return MT_OK;
    const unsigned long long step_no = (unsigned long long)t->state.step + 1;
    if (strcmp(t->cfg->training.on_nonfinite, "skip_step") != 0)
        return mt_fail(err, MT_ERR_NUMERIC, "step %llu (epoch %lld): %s; stopped before the update (training."
                       "on_nonfinite: skip_step would skip such steps)", step_no, (long long)t->state.epoch + 1, what);
    info(t, MT_GAN_PROGRESS_WARNING, "step %llu (epoch %lld): %s; step skipped (no update)", step_no,
         (long long)t->state.epoch + 1, what);
    *skip = 1;
    return MT_OK;
}

/* Reads this rank's real samples of batch `batch` (positions [start, start + count)) into the
 * discriminator's input, preprocessed and mapped to [-1, 1]. */
static mt_status read_real(gan *t, uint64_t batch, uint64_t start, uint64_t count, mt_error *err)
{
    const uint64_t B = (uint64_t)t->cfg->training.batch_size;
    for (uint64_t i = 0; i < count; i++)
        t->slice[i] = t->rows[t->perm[batch * B + start + i]];
    if (count == 0)
        return MT_OK;
    float *x = t->d.m.acts[0];
    mt_status st = mt_dataset_read_rows(t->ds, t->slice, (size_t)count, x, NULL, NULL, err);
    if (st)
        return st;
    mt_prep_apply(&t->prep, x, (size_t)count);
    const size_t n = (size_t)count * t->sample;
    for (size_t i = 0; i < n; i++)
        x[i] = 2.0f * x[i] - 1.0f;
    return MT_OK;
}

/* Discriminator forward on its input, BCE with logits against `label`; dlogit gets the gradient scaled
 * by inv. Adds the summed loss to *total; *prob gets the summed probabilities. The forward pass's failure,
 * if any. */
static mt_status d_loss(gan *t, int n, const mt_pass *pass, int label, float inv, double *total, double *prob,
                        mt_error *err)
{
    const float *out;
    mt_status st = mt_model_forward(&t->d.m, n, pass, &out, err);
    if (st)
        return st;
    double loss = 0, p_sum = 0;
    for (int i = 0; i < n; i++) {
        const float l = out[i], p = sigmoid(l);
        loss += softplus(label ? -(double)l : (double)l);
        p_sum += p;
        t->dlogit[i] = (p - (float)label) * inv;
    }
    *prob = p_sum;
    *total += loss;
    return MT_OK;
}

/* Global batch `batch` of the epoch: one discriminator step and one generator step (see the top). */
static mt_status gan_step(gan *t, uint64_t batch, mt_error *err)
{
    const uint64_t B = (uint64_t)t->cfg->training.batch_size, b = mt_sampler_batch_size(t->n_rows, B, batch);
    const uint64_t seed = (uint64_t)t->cfg->training.seed, step = (uint64_t)t->state.step;
    uint64_t start, count;
    mt_sampler_slice(b, t->size, t->rank, &start, &count);
    const float inv = 1.0f / (float)b;
    mt_model *g = &t->g.m, *d = &t->d.m;
    mt_comm_set_phase(t->comm, "step %lld (epoch %lld)", (long long)step + 1, (long long)t->state.epoch + 1);

    /* Discriminator: real samples (label 1), then fakes (label 0); its sums start during the second backward. */
    float *dtr = mt_model_grad_trailer(d);
    memset(dtr, 0, MT_GRAD_TRAILER * sizeof *dtr);
    dtr[STOP_SLOT] = mt_stop_requested();
    mt_model_zero_grads(d);
    mt_status st = read_real(t, batch, start, count, err);
    const int n = st ? 0 : (int)count; /* a failed read runs empty: every rank joins the same collectives */
    mt_pass real = {.training = 1, .seed = seed, .step = step, .first = start, .global_n = 2 * b,
                   .sum_over_ranks = mt_comm_sum_hook, .sum_user = t->comm};
    double p_real, p_fake, p_g, loss_d = 0, loss_g = 0;
    mt_status rc = d_loss(t, n, &real, 1, inv, &loss_d, &p_real, err);
    if (!rc)
        rc = mt_model_backward(d, t->dlogit, n, &real, NULL, err);
    if (rc)
        return rc;
    fill_noise(g->acts[0], t->cfg->gan.noise, train_noise_key(t, step), start, n);
    mt_pass gpass = {.training = 1, .seed = mt_key(seed, KEY_G_PASS), .step = step, .first = start, .global_n = b,
                     .sum_over_ranks = mt_comm_sum_hook, .sum_user = t->comm};
    const float *fake;
    if ((rc = mt_model_forward(g, n, &gpass, &fake, err)))
        return rc;
    memcpy(d->acts[0], fake, (size_t)n * t->sample * sizeof *fake);
    mt_pass fk = real;
    fk.first = b + start;
    if ((rc = d_loss(t, n, &fk, 0, inv, &loss_d, &p_fake, err)))
        return rc;
    dtr[FAIL_SLOT] = st ? 1.0f : 0.0f;
    dtr[LOSS_SLOT] = (float)loss_d;
    fk.grads_ready = grads_ready, fk.hook_user = &t->d.gx;
    if ((rc = mt_model_backward(d, t->dlogit, n, &fk, NULL, err)))
        return rc;
    if ((rc = mt_grad_exchange_finish(&t->d.gx, err)))
        return rc;
    int skip = 0;
    if ((rc = after_sums(t, &t->d, "discriminator", st, &skip, err)))
        return rc;
    const int stop = dtr[STOP_SLOT] != 0.0f;
    if (!skip)
        mt_optimizer_step(&t->d.opt, d->params, d->grads, t->d.opt.opts.learning_rate);

    /* Generator: the same fakes (still the discriminator's input) through the updated discriminator. */
    float *gtr = mt_model_grad_trailer(g);
    memset(gtr, 0, MT_GRAD_TRAILER * sizeof *gtr);
    mt_model_zero_grads(g);
    fk.grads_ready = NULL, fk.hook_user = NULL;
    if ((rc = d_loss(t, n, &fk, 1, inv, &loss_g, &p_g, err)) ||
        (rc = mt_model_backward(d, t->dlogit, n, &fk, t->dimg, err)))
        return rc;
    gtr[LOSS_SLOT] = (float)loss_g;
    gpass.grads_ready = grads_ready, gpass.hook_user = &t->g.gx;
    if ((rc = mt_model_backward(g, t->dimg, n, &gpass, NULL, err)) || (rc = mt_grad_exchange_finish(&t->g.gx, err)))
        return rc;
    if ((rc = after_sums(t, &t->g, "generator", MT_OK, &skip, err)))
        return rc;
    if (!skip) {
        mt_optimizer_step(&t->g.opt, g->params, g->grads, t->g.opt.opts.learning_rate);
        t->sums.d_loss += loss_d, t->sums.g_loss += loss_g;
        t->sums.d_real += p_real, t->sums.d_fake += p_fake, t->sums.n += n;
        t->samples += b, t->epoch_samples += b;
    } else {
        t->skipped++;
    }
    t->state.step++;
    return stop ? mt_fail(err, MT_INTERRUPTED, "stop requested") : MT_OK;
}

/* ---- epochs ------------------------------------------------------------------------------------------ */

/* Running statistics (batch norm without sync) averaged over the ranks, as the classifier trainer does. */
static mt_status average_buffers(gan *t, mt_error *err)
{
    mt_status st = MT_OK;
    for (int i = 0; i < 2 && !st && t->size > 1; i++) {
        mt_model *m = i ? &t->d.m : &t->g.m;
        if (m->n_buffers == 0)
            continue;
        st = mt_comm_allreduce_sum_f32(t->comm, m->buffers, m->n_buffers, err);
        const float inv = 1.0f / (float)t->size;
        for (size_t k = 0; k < m->n_buffers; k++)
            m->buffers[k] *= inv;
    }
    return st;
}

/* Rank 0: the generator (inference mode) on the fixed noise batch, as an 8 x 8 grid PNG. */
static mt_status write_grid(gan *t, int epoch, char *path, size_t size, mt_error *err)
{
    snprintf(path, size, "%s/samples_epoch%03d.png", t->cfg->output, epoch);
    mt_model *g = &t->g.m;
    fill_noise(g->acts[0], t->cfg->gan.noise, mt_key((uint64_t)t->cfg->training.seed, KEY_GRID_NOISE), 0,
               GRID_SAMPLES);
    mt_pass pass = {.training = 0, .global_n = GRID_SAMPLES};
    const float *img;
    mt_status st = mt_model_forward(g, GRID_SAMPLES, &pass, &img, err);
    if (st)
        return st;
    return mt_png_write_grid(path, img, GRID_SAMPLES, t->channels == 3 ? 3 : 1,
                             t->channels == 3 ? t->height : t->channels * t->height, t->width, GRID_COLS, -1.0f,
                             1.0f, err);
}

static void json_value(FILE *f, const char *name, double v, int first)
{
    fprintf(f, "%s\"%s\": ", first ? "" : ", ", name);
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

/* metrics.jsonl: rewritten from the history (rows = 0: only those), or one row appended. */
static mt_status write_metrics(gan *t, const mt_gan_row *append, mt_error *err)
{
    char path[MT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->cfg->output);
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f)
        return mt_fail(err, MT_ERR_IO, "%s: cannot write", path);
    const size_t n = append ? 1 : t->hist_n;
    for (size_t r = 0; r < n; r++) {
        const double *row = append ? (const double *)append : t->hist + r * MT_GAN_ROW_FIELDS;
        fputc('{', f);
        for (int k = 0; k < MT_GAN_ROW_FIELDS; k++)
            json_value(f, mt_gan_row_names[k], row[k], k == 0);
        fputs("}\n", f);
    }
    int bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    return bad ? mt_fail(err, MT_ERR_IO, "%s: cannot write", path) : MT_OK;
}

static mt_status history_append(gan *t, const mt_gan_row *row, mt_error *err)
{
    if (t->hist_n == t->hist_cap) {
        size_t cap = t->hist_cap ? 2 * t->hist_cap : 16;
        double *p = realloc(t->hist, cap * MT_GAN_ROW_FIELDS * sizeof *p);
        if (!p)
            return mt_fail(err, MT_ERR_NOMEM, "out of memory");
        t->hist = p, t->hist_cap = cap;
    }
    memcpy(t->hist + t->hist_n++ * MT_GAN_ROW_FIELDS, row, sizeof *row);
    return MT_OK;
}

static uint64_t steps_per_epoch(const gan *t)
{
    const uint64_t steps = mt_sampler_steps(t->n_rows, (uint64_t)t->cfg->training.batch_size);
    const uint64_t limit = (uint64_t)t->cfg->training.steps_per_epoch;
    return limit > 0 && limit < steps ? limit : steps;
}

static void report_step(gan *t, int epoch, uint64_t step, uint64_t steps, double t0)
{
    if (t->rank != 0 || !t->opts->progress)
        return;
    const double n = t->sums.n > 0 ? t->sums.n : NAN;
    mt_gan_progress p = {.kind = MT_GAN_PROGRESS_STEP, .epoch = epoch + 1, .epochs = t->cfg->training.epochs,
                         .step = step + 1, .steps = steps, .d_loss = t->sums.d_loss / n, .g_loss = t->sums.g_loss / n,
                         .elapsed = mt_wtime() - t0};
    t->opts->progress(&p, t->opts->user);
}

static mt_status run_epoch(gan *t, int epoch, mt_gan_row *row, mt_error *err)
{
    const uint64_t steps = steps_per_epoch(t);
    mt_sampler_permutation((uint64_t)t->cfg->training.seed, (uint64_t)epoch, t->n_rows, t->perm);
    memset(&t->sums, 0, sizeof t->sums);
    t->epoch_samples = 0;
    const double t0 = mt_wtime();
    mt_status st = MT_OK;
    mt_error_clear(err);
    for (uint64_t step = (uint64_t)t->state.epoch_step; step < steps && !st; step++) {
        st = gan_step(t, step, err);
        if (!st || st == MT_INTERRUPTED)
            t->state.epoch_step = (int64_t)step + 1;
        if (!st)
            report_step(t, epoch, step, steps, t0);
    }
    if (mt_comm_agree(t->comm, err))
        return err->code;
    const double seconds = mt_wtime() - t0;
    t->train_seconds += seconds;
    st = mt_comm_allreduce_sum_f64(t->comm, (double *)&t->sums, sizeof t->sums / sizeof(double), err);
    if (!st)
        st = average_buffers(t, err);
    const double n = t->sums.n > 0 ? t->sums.n : NAN;
    *row = (mt_gan_row){.epoch = epoch + 1, .d_loss = t->sums.d_loss / n, .g_loss = t->sums.g_loss / n,
                        .d_real = t->sums.d_real / n, .d_fake = t->sums.d_fake / n, .seconds = seconds,
                        .samples_per_sec = (double)t->epoch_samples / seconds};
    return st;
}

static mt_status save_checkpoint(gan *t, int epoch, mt_error *err)
{
    mt_error_clear(err);
    mt_comm_set_phase(t->comm, "the checkpoint of epoch %d (written by rank 0)", epoch);
    if (t->rank == 0) {
        char path[MT_PATH_MAX + 64];
        mt_run_dir_checkpoint_path(t->cfg->output, epoch, path, sizeof path);
        if (!write_checkpoint(t, path, err))
            mt_run_dir_publish_checkpoint(t->cfg->output, epoch, t->cfg->checkpoint.keep, err);
    }
    return mt_comm_agree(t->comm, err);
}

static mt_status save_interrupted(gan *t, int epoch, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = average_buffers(t, err);
    char path[MT_PATH_MAX + 64];
    mt_run_dir_interrupted_path(t->cfg->output, path, sizeof path);
    if (!st && t->rank == 0 && !write_checkpoint(t, path, err))
        mt_run_dir_publish_interrupted(t->cfg->output, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    return mt_stop_interrupted(&t->state, epoch, path, err);
}

/* After an epoch: history, metrics.jsonl and the sample grid on rank 0, then the progress line. */
static mt_status record_epoch(gan *t, int epoch, const mt_gan_row *row, mt_error *err)
{
    char grid[MT_PATH_MAX + 64] = "";
    mt_error_clear(err);
    if (t->rank == 0 && !history_append(t, row, err) && !write_metrics(t, row, err))
        write_grid(t, epoch + 1, grid, sizeof grid, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    if (t->rank == 0 && t->opts->progress) {
        mt_gan_progress p = {.kind = MT_GAN_PROGRESS_EPOCH, .epoch = epoch + 1, .epochs = t->cfg->training.epochs,
                             .row = row, .grid = grid};
        t->opts->progress(&p, t->opts->user);
    }
    return MT_OK;
}

/* ---- the score --------------------------------------------------------------------------------------- */

/* Generated samples [first, first + count) of the score's noise stream, classified chunk by chunk. */
static mt_status score_generated(gan *t, mt_gan_classifier *c, uint64_t first, uint64_t count,
                                 mt_gan_score_sums *s, mt_error *err)
{
    mt_model *g = &t->g.m;
    const uint64_t key = mt_key((uint64_t)t->cfg->training.seed, KEY_SCORE_NOISE);
    const int chunk = g->capacity < mt_gan_classifier_capacity(c) ? g->capacity : mt_gan_classifier_capacity(c);
    for (uint64_t done = 0; done < count;) {
        const int n = (int)(count - done < (uint64_t)chunk ? count - done : (uint64_t)chunk);
        fill_noise(g->acts[0], t->cfg->gan.noise, key, first + done, n);
        mt_pass pass = {.training = 0, .global_n = (uint64_t)n};
        const float *out;
        mt_status st = mt_model_forward(g, n, &pass, &out, err);
        if (st)
            return st;
        float *img = (float *)out;
        const size_t values = (size_t)n * t->sample;
        for (size_t i = 0; i < values; i++) /* back from [-1, 1] to the data's [0, 1] */
            img[i] = 0.5f * (img[i] + 1.0f);
        if ((st = mt_gan_classifier_add(c, img, n, s, err)))
            return st;
        done += (uint64_t)n;
    }
    return MT_OK;
}

/* The score of gan.classifier: generated samples and the classifier's real test images. Collective. */
static mt_status run_score(gan *t, mt_gan_score *out, mt_error *err)
{
    mt_gan_classifier c;
    memset(out, 0, sizeof *out);
    snprintf(out->classifier, sizeof out->classifier, "%s", t->cfg->gan.classifier);
    mt_comm_set_phase(t->comm, "the score with %s", t->cfg->gan.classifier);
    mt_status st = mt_gan_classifier_open(&c, t->cfg->gan.classifier, t->sample, t->comm, err);
    mt_gan_score_sums *sums = st ? NULL : calloc(2, sizeof *sums);
    if (!st && !sums)
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st) {
        uint64_t first, count;
        mt_sampler_slice((uint64_t)t->cfg->gan.score_samples, t->size, t->rank, &first, &count);
        score_generated(t, &c, first, count, &sums[0], err);
        if (!(st = mt_comm_agree(t->comm, err))) /* every rank joins the sum, or none */
            st = mt_comm_allreduce_sum_f64(t->comm, (double *)&sums[0], sizeof sums[0] / sizeof(double), err);
    }
    if (!st)
        st = mt_gan_classifier_real(&c, t->comm, &sums[1], out, err);
    if (!st) {
        out->classes = c.classes;
        out->generated = mt_gan_score_value(&sums[0], c.classes);
        out->real = mt_gan_score_value(&sums[1], c.classes);
        out->ratio = out->generated / out->real;
        out->n_generated = sums[0].n, out->n_real = sums[1].n;
        memcpy(out->hist, sums[0].hist, sizeof out->hist);
        mt_error ignored = {0};
        mt_dataset_class_names(c.cfg.data.file, out->names, c.classes, &ignored);
    }
    if (!st && t->rank == 0) {
        char path[MT_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/gan_score.json", t->cfg->output);
        st = mt_gan_score_write_json(path, out, err);
    }
    free(sums);
    mt_gan_classifier_close(&c);
    return mt_comm_agree(t->comm, err);
}

/* ---- the run ----------------------------------------------------------------------------------------- */

static mt_status train_loop(gan *t, mt_gan_result *res, mt_error *err)
{
    mt_error_clear(err);
    if (t->rank == 0)
        write_metrics(t, NULL, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    const int epochs = t->cfg->training.epochs, every = t->cfg->checkpoint.every_epochs;
    mt_status st = MT_OK;
    for (int epoch = (int)t->state.epoch; epoch < epochs && !st; epoch++) {
        mt_gan_row row;
        st = run_epoch(t, epoch, &row, err);
        if (st == MT_INTERRUPTED)
            return save_interrupted(t, epoch, err);
        if (st)
            return st;
        t->state.epoch = epoch + 1;
        t->state.epoch_step = 0;
        res->epochs_run++;
        res->last = row;
        st = record_epoch(t, epoch, &row, err);
        if (!st && ((every > 0 && (epoch + 1) % every == 0) || epoch + 1 == epochs))
            st = save_checkpoint(t, epoch + 1, err);
    }
    if (st)
        return st;
    if (res->epochs_run == 0 && t->hist_n > 0)
        memcpy(&res->last, t->hist + (t->hist_n - 1) * MT_GAN_ROW_FIELDS, sizeof res->last);
    if (t->skipped)
        info(t, MT_GAN_PROGRESS_WARNING, "%llu step(s) were skipped for a non-finite loss or gradient",
             (unsigned long long)t->skipped);
    res->world_size = t->size;
    res->train_seconds = t->train_seconds;
    res->samples_per_sec = t->train_seconds > 0 ? (double)t->samples / t->train_seconds : NAN;
    if (t->cfg->gan.classifier[0]) {
        st = run_score(t, &res->score, err);
        res->scored = st == MT_OK;
    }
    return st;
}

static void free_net(net *nt)
{
    if (nt->has_gx)
        mt_grad_exchange_free(&nt->gx);
    if (nt->has_opt)
        mt_optimizer_free(&nt->opt);
    mt_model_free(&nt->m);
}

static void gan_free(gan *t)
{
    free_net(&t->g);
    free_net(&t->d);
    if (t->ds)
        mt_dataset_close(t->ds);
    if (t->has_prep)
        mt_prep_free(&t->prep);
    free(t->rows), free(t->perm), free(t->slice), free(t->dlogit), free(t->dimg), free(t->hist);
    free(t->config_yaml);
}

mt_status mt_gan_train_run(const mt_config *cfg, mt_comm *comm, const mt_gan_train_options *opts, mt_gan_result *res,
                           mt_error *err)
{
    gan t = {.cfg = cfg, .comm = comm, .rank = mt_comm_rank(comm), .size = mt_comm_size(comm), .opts = opts};
    memset(res, 0, sizeof *res);
    if (!cfg->gan.enabled)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_gan_train_run: %s is not a GAN config", cfg->origin);
    t.state = (mt_train_state){.world_size = t.size, .seed = (int64_t)cfg->training.seed,
                               .global_batch = cfg->training.batch_size, .es_best = NAN};
    const double stall_before = mt_comm_stall_timeout(comm);
    mt_comm_set_stall_timeout(comm, cfg->training.stall_timeout);
    mt_comm_set_phase(comm, "setup (reading the data, building the generator and the discriminator)");
    mt_status st = setup(&t, err);
    if (!st && t.rank == 0) {
        mt_model_init_params(&t.g.m, (uint64_t)cfg->training.seed);
        mt_model_init_params(&t.d.m, mt_key((uint64_t)cfg->training.seed, KEY_D_INIT));
    }
    if (!st && opts->resume)
        st = resume(&t, err);
    if (!st) {
        t.state.world_size = t.size;
        st = bcast_params(&t, err);
    }
    if (!st)
        st = train_loop(&t, res, err);
    mt_comm_set_stall_timeout(comm, stall_before);
    mt_stop_clear(); /* a stop request ends this run, not the next one in the same process */
    gan_free(&t);
    return st;
}

mt_status mt_gan_checkpoint_values(const char *path, const mt_config *cfg, float **values, size_t *n,
                                   mt_error *err)
{
    mt_dataset *ds = NULL;
    net g = {0}, d = {0};
    *values = NULL, *n = 0;
    mt_status st = mt_dataset_open(cfg->data.file, cfg->data.train, &ds, err);
    if (st)
        return st;
    const mt_dataset_info *in = mt_dataset_get_info(ds);
    mt_ints shape = {.n = in->sample_rank};
    for (int i = 0; i < in->sample_rank; i++)
        shape.v[i] = (int)in->sample_shape[i];
    const mt_ints noise = {.n = 1, .v = {cfg->gan.noise}};
    gan t = {.cfg = cfg};
    st = build_net(&t, &g, 0, &noise, err);
    if (!st)
        st = build_net(&t, &d, 1, &shape, err);
    const mt_checkpoint_net nets[2] = {{"generator", &g.m, NULL}, {"discriminator", &d.m, NULL}};
    if (!st)
        st = mt_checkpoint_read_multi(path, &(mt_checkpoint){.model = NULL}, &(mt_checkpoint_multi){nets, 2, NULL},
                                      err);
    const size_t total = g.m.n_params + g.m.n_buffers + d.m.n_params + d.m.n_buffers;
    if (!st && !(*values = malloc((total ? total : 1) * sizeof **values)))
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st) {
        float *p = *values;
        const mt_model *ms[2] = {&g.m, &d.m};
        for (int i = 0; i < 2; i++) {
            memcpy(p, ms[i]->params, ms[i]->n_params * sizeof *p), p += ms[i]->n_params;
            memcpy(p, ms[i]->buffers, ms[i]->n_buffers * sizeof *p), p += ms[i]->n_buffers;
        }
        *n = total;
    }
    free_net(&g);
    free_net(&d);
    mt_dataset_close(ds);
    return st;
}
