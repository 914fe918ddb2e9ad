/* Training a GAN, as a kind of the training loop (train_kind.h). Per global batch (the loop's permutation,
 * sliced over the ranks as for a classifier): each rank reads its slice of real samples, mapped from [0, 1] to [-1, 1] (2x - 1, after
 * data.scaling), and generates as many fakes from noise that depends only on (seed, step, position in the
 * global batch). Discriminator step: BCE with logits on the real (label 1) and fake (label 0) samples, the
 * gradient scaled by 1 / (global batch), summed over the ranks, optimizer step. Generator step: the fakes
 * through the updated discriminator, the non-saturating loss -log D(G(z)), its gradient back through the
 * discriminator (whose parameter gradients of this pass are discarded) into the generator, summed, step.
 * Nothing is allocated in a step. */
#include "train/gan_kind.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "io/png_write.h"
#include "nn/activation.h"
#include "train/sampler.h"
#include "train/train_kind.h"

const char *const mt_gan_row_names[MT_GAN_ROW_FIELDS] = {"epoch",  "d_loss",  "g_loss",         "d_real",
                                                         "d_fake", "seconds", "samples_per_sec"};
_Static_assert(sizeof(mt_gan_row) == MT_GAN_ROW_FIELDS * sizeof(double), "rows are stored as double[]");

static const mt_train_columns columns = {
    .names = mt_gan_row_names,
    .n = MT_GAN_ROW_FIELDS,
    .base = MT_GAN_ROW_FIELDS,
    .running = {"d_loss", "g_loss"},
    .shown = (const char *const[]){"d_loss", "d_loss", "g_loss", "g_loss", "d_real", "D(x)", "d_fake", "D(G(z))", NULL},
    .decimals = 3,
};

/* Purposes of the random streams (keys derived from the seed). */
enum {
    KEY_TRAIN_NOISE = 0x6a11,
    KEY_GRID_NOISE = 0x6a12,
    KEY_SCORE_NOISE = 0x6a13,
    KEY_D_INIT = 0x6a14,
    KEY_G_PASS = 0x6a15
};

/* Images in the sample grid (8 x 8). */
#define GRID_SAMPLES 64
#define GRID_COLS 8
typedef struct net {
    mt_config view; /* the config seen as this network's */
    mt_model m;
    mt_optimizer opt;
    int has_opt;
    mt_loop_net *loop; /* the loop's record of it: its gradient exchange */
} net;

typedef struct gan {
    mt_loop *L;
    const mt_config *cfg;
    mt_comm *comm;
    int rank, size;
    net g, d;
    mt_dataset *ds;
    uint64_t *rows, n_rows; /* training rows (all rows of the split) */
    uint64_t *slice;        /* [cap] dataset rows of this rank's slice */
    mt_prep prep;
    int has_prep;
    int cap;                     /* rows per rank per batch */
    size_t sample;               /* values per sample */
    int channels, height, width; /* of a sample, for the grid */
    float *dlogit;               /* [cap] gradient of the loss by the logits */
    float *dimg;                 /* [cap * sample] gradient of the generator loss by the fakes */
    struct {
        double d_loss, g_loss, d_real, d_fake, n;
    } sums; /* this rank's, over the epoch so far */
} gan;

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
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: gan.generator: its output has %zu values per sample (shape [%s]), "
                       "the samples of %s /%s have %zu (shape [%s])",
                       where, g->output_size, shape_text(&g->layers[g->n_layers - 1].out_shape, have, sizeof have),
                       t->cfg->data.file, t->cfg->data.train, t->sample,
                       shape_text(&d->input_shape, want, sizeof want));
    }
    const mt_layer *last = &d->layers[d->n_layers - 1];
    if (d->output_size != 1 || (last->out_activation >= 0 && last->out_activation != MT_ACT_LINEAR)) {
        mt_node_where(t->cfg->gan.discriminator.layers[d->n_layers - 1].node, where, sizeof where);
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: %s: the discriminator must end in one linear output (a logit: the "
                       "loss applies the sigmoid), got %zu output(s)%s",
                       where, last->section, d->output_size, d->output_size == 1 ? " with an activation" : "");
    }
    return MT_OK;
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
        st = mt_fail(err, MT_ERR_CONFIG,
                     "%s: training.batch_size: the global batch %d is smaller than the %d "
                     "ranks; each rank needs at least one sample",
                     cfg->origin, cfg->training.batch_size, t->size);
    if (!st && t->n_rows < (uint64_t)t->size)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu training rows cannot be shared by %d ranks", cfg->data.file,
                     cfg->data.train, (unsigned long long)t->n_rows, t->size);
    if (st)
        return st;
    t->rows = malloc(t->n_rows * sizeof *t->rows);
    if (!t->rows)
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

/* Collective: the data, both networks, the preprocessing fitted over the ranks, the buffers and the
 * networks' gradient exchanges (the generator's first). */
static mt_status setup(mt_loop *L, mt_error *err)
{
    gan *t = L->self;
    *t = (gan){.L = L, .cfg = L->cfg, .comm = L->comm, .rank = L->rank, .size = L->size};
    if (!t->cfg->gan.enabled)
        return mt_fail(err, MT_ERR_INTERNAL, "%s is not a GAN config", t->cfg->origin);
    mt_status st = setup_local(t, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    st = mt_prep_fit(&t->prep, &t->cfg->data, t->ds, t->rows, &t->n_rows, t->comm, err);
    t->has_prep = st == MT_OK;
    if (mt_comm_agree(t->comm, err))
        return err->code;
    L->prep = &t->prep;
    L->n_rows = t->n_rows;
    if (t->n_rows < (uint64_t)t->size)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu training rows cannot be shared by %d ranks", t->cfg->data.file,
                       t->cfg->data.train, (unsigned long long)t->n_rows, t->size);
    const mt_grad_mode mode = strcmp(t->cfg->training.gradient_dtype, "bfloat16") == 0 ? MT_GRAD_BFLOAT16
                                                                                       : MT_GRAD_FLOAT32;
    st = setup_buffers(t, err);
    if (!st && !(st = mt_loop_add_net(L, "generator", &t->g.m, &t->g.opt, mode, 0, err)))
        t->g.loop = &L->nets[L->n_nets - 1];
    if (!st && !(st = mt_loop_add_net(L, "discriminator", &t->d.m, &t->d.opt, mode, 0, err)))
        t->d.loop = &L->nets[L->n_nets - 1];
    return st;
}

/* ---- the step ---------------------------------------------------------------------------------------- */

/* Reads this rank's real samples of batch `batch` (positions [start, start + count)) into the
 * discriminator's input, preprocessed and mapped to [-1, 1]. */
static mt_status read_real(gan *t, uint64_t batch, uint64_t start, uint64_t count, mt_error *err)
{
    const uint64_t B = (uint64_t)t->cfg->training.batch_size;
    for (uint64_t i = 0; i < count; i++)
        t->slice[i] = t->rows[t->L->perm[batch * B + start + i]];
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
static mt_status step(mt_loop *L, uint64_t batch, int *skip, mt_error *err)
{
    gan *t = L->self;
    const uint64_t B = (uint64_t)t->cfg->training.batch_size, b = mt_sampler_batch_size(t->n_rows, B, batch);
    const uint64_t seed = (uint64_t)t->cfg->training.seed, step = (uint64_t)L->state.step;
    uint64_t start, count;
    mt_sampler_slice(b, t->size, t->rank, &start, &count);
    const float inv = 1.0f / (float)b;
    mt_model *g = &t->g.m, *d = &t->d.m;

    /* Discriminator: real samples (label 1), then fakes (label 0); its sums start during the second backward. */
    mt_loop_begin_sums(L, t->d.loop, 0);
    mt_status st = read_real(t, batch, start, count, err);
    const int n = st ? 0 : (int)count; /* a failed read runs empty: every rank joins the same collectives */
    mt_pass real = {.training = 1,
                    .seed = seed,
                    .step = step,
                    .first = start,
                    .global_n = 2 * b,
                    .sum_over_ranks = mt_comm_sum_hook,
                    .sum_user = t->comm,
                    .timeline = L->tl,
                    .timeline_layer0 = g->n_layers};
    double p_real, p_fake, p_g, loss_d = 0, loss_g = 0;
    mt_status rc = d_loss(t, n, &real, 1, inv, &loss_d, &p_real, err);
    if (!rc)
        rc = mt_model_backward(d, t->dlogit, n, &real, NULL, err);
    if (rc)
        return rc;
    fill_noise(g->acts[0], t->cfg->gan.noise, train_noise_key(t, step), start, n);
    mt_pass gpass = {.training = 1,
                     .seed = mt_key(seed, KEY_G_PASS),
                     .step = step,
                     .first = start,
                     .global_n = b,
                     .sum_over_ranks = mt_comm_sum_hook,
                     .sum_user = t->comm,
                     .timeline = L->tl};
    const float *fake;
    if ((rc = mt_model_forward(g, n, &gpass, &fake, err)))
        return rc;
    memcpy(d->acts[0], fake, (size_t)n * t->sample * sizeof *fake);
    mt_pass fk = real;
    fk.first = b + start;
    if ((rc = d_loss(t, n, &fk, 0, inv, &loss_d, &p_fake, err)))
        return rc;
    float *dtr = mt_model_grad_trailer(d);
    dtr[MT_GRAD_FAIL_SLOT] = st ? 1.0f : 0.0f;
    dtr[MT_GRAD_LOSS_SLOT] = (float)loss_d;
    fk.grads_ready = mt_loop_grads_ready, fk.hook_user = &t->d.loop->gx;
    if ((rc = mt_model_backward(d, t->dlogit, n, &fk, NULL, err)) ||
        (rc = mt_grad_exchange_finish(&t->d.loop->gx, err)) ||
        (rc = mt_loop_check_sums(L, t->d.loop, "discriminator", st, skip, err)))
        return rc;
    const int stop = mt_loop_stop_requested(t->d.loop);
    if (!*skip)
        mt_optimizer_step(&t->d.opt, d->params, d->grads, t->d.opt.opts.learning_rate);

    /* Generator: the same fakes (still the discriminator's input) through the updated discriminator. */
    mt_loop_begin_sums(L, t->g.loop, 0);
    fk.grads_ready = NULL, fk.hook_user = NULL;
    if ((rc = d_loss(t, n, &fk, 1, inv, &loss_g, &p_g, err)) ||
        (rc = mt_model_backward(d, t->dlogit, n, &fk, t->dimg, err)))
        return rc;
    mt_model_grad_trailer(g)[MT_GRAD_LOSS_SLOT] = (float)loss_g;
    gpass.grads_ready = mt_loop_grads_ready, gpass.hook_user = &t->g.loop->gx;
    if ((rc = mt_model_backward(g, t->dimg, n, &gpass, NULL, err)) ||
        (rc = mt_grad_exchange_finish(&t->g.loop->gx, err)) ||
        (rc = mt_loop_check_sums(L, t->g.loop, "generator", MT_OK, skip, err)))
        return rc;
    if (!*skip) {
        mt_optimizer_step(&t->g.opt, g->params, g->grads, t->g.opt.opts.learning_rate);
        t->sums.d_loss += loss_d, t->sums.g_loss += loss_g;
        t->sums.d_real += p_real, t->sums.d_fake += p_fake, t->sums.n += n;
        L->samples += b, L->epoch_samples += b;
    }
    return stop ? mt_fail(err, MT_INTERRUPTED, "stop requested") : MT_OK;
}

/* ---- epochs ------------------------------------------------------------------------------------------ */

/* Rank 0: the generator (inference mode) on the fixed noise batch, as an 8 x 8 grid PNG. */
static mt_status write_grid(gan *t, int epoch, char *path, size_t size, mt_error *err)
{
    snprintf(path, size, "%s/samples_epoch%03d.png", t->cfg->output, epoch);
    mt_model *g = &t->g.m;
    fill_noise(g->acts[0], t->cfg->gan.noise, mt_key((uint64_t)t->cfg->training.seed, KEY_GRID_NOISE), 0, GRID_SAMPLES);
    mt_pass pass = {.training = 0, .global_n = GRID_SAMPLES};
    const float *img;
    mt_status st = mt_model_forward(g, GRID_SAMPLES, &pass, &img, err);
    if (st)
        return st;
    return mt_png_write_grid(path, img, GRID_SAMPLES, t->channels == 3 ? 3 : 1,
                             t->channels == 3 ? t->height : t->channels * t->height, t->width, GRID_COLS, -1.0f, 1.0f,
                             err);
}

static mt_status epoch_file(mt_loop *L, int epoch, char *path, size_t size, mt_error *err)
{
    return write_grid(L->self, epoch + 1, path, size, err);
}

static uint64_t steps_per_epoch(const mt_loop *L)
{
    const gan *t = L->self;
    const uint64_t steps = mt_sampler_steps(t->n_rows, (uint64_t)t->cfg->training.batch_size);
    const uint64_t limit = (uint64_t)t->cfg->training.steps_per_epoch;
    return limit > 0 && limit < steps ? limit : steps;
}

static void begin_epoch(mt_loop *L)
{
    gan *t = L->self;
    memset(&t->sums, 0, sizeof t->sums);
}

static void running(const mt_loop *L, double values[2])
{
    const gan *t = L->self;
    const double n = t->sums.n > 0 ? t->sums.n : NAN;
    values[0] = t->sums.d_loss / n, values[1] = t->sums.g_loss / n;
}

/* The epoch's means over every rank's samples. */
static mt_status end_epoch(mt_loop *L, int epoch, double *values, mt_error *err)
{
    gan *t = L->self;
    (void)epoch;
    mt_status st = mt_comm_allreduce_sum_f64(t->comm, (double *)&t->sums, sizeof t->sums / sizeof(double), err);
    const double n = t->sums.n > 0 ? t->sums.n : NAN;
    mt_gan_row *row = &((mt_row *)values)->gan;
    row->d_loss = t->sums.d_loss / n, row->g_loss = t->sums.g_loss / n;
    row->d_real = t->sums.d_real / n, row->d_fake = t->sums.d_fake / n;
    return st;
}

/* ---- the score --------------------------------------------------------------------------------------- */

/* Generated samples [first, first + count) of the score's noise stream, classified chunk by chunk. */
static mt_status score_generated(gan *t, mt_gan_classifier *c, uint64_t first, uint64_t count, mt_gan_score_sums *s,
                                 mt_error *err)
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

/* With gan.classifier: the score, in the result and gan_score.json. */
static mt_status finish(mt_loop *L, mt_train_result *res, mt_error *err)
{
    gan *t = L->self;
    if (!t->cfg->gan.classifier[0])
        return MT_OK;
    mt_status st = run_score(t, &res->score, err);
    res->scored = st == MT_OK;
    return st;
}

/* ---- the kind ---------------------------------------------------------------------------------------- */

static void init_params(mt_loop *L)
{
    gan *t = L->self;
    mt_model_init_params(&t->g.m, (uint64_t)t->cfg->training.seed);
    mt_model_init_params(&t->d.m, mt_key((uint64_t)t->cfg->training.seed, KEY_D_INIT));
}

static void free_net(net *nt)
{
    if (nt->has_opt)
        mt_optimizer_free(&nt->opt);
    mt_model_free(&nt->m);
}

static void kind_free(mt_loop *L)
{
    gan *t = L->self;
    free_net(&t->g);
    free_net(&t->d);
    if (t->ds)
        mt_dataset_close(t->ds);
    if (t->has_prep)
        mt_prep_free(&t->prep);
    free(t->rows), free(t->slice), free(t->dlogit), free(t->dimg);
}

const mt_train_kind mt_gan_kind = {
    .columns = &columns,
    .setup_phase = "setup (reading the data, building the generator and the discriminator)",
    .self_size = sizeof(gan),
    .setup = setup,
    .init_params = init_params,
    .steps_per_epoch = steps_per_epoch,
    .begin_epoch = begin_epoch,
    .step = step,
    .running = running,
    .end_epoch = end_epoch,
    .epoch_file = epoch_file,
    .finish = finish,
    .free = kind_free,
};

mt_status mt_gan_checkpoint_values(const char *path, const mt_config *cfg, float **values, size_t *n, mt_error *err)
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
        st = mt_checkpoint_read_multi(path, &(mt_checkpoint){.model = NULL}, &(mt_checkpoint_multi){nets, 2}, err);
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
