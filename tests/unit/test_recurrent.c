/* Tests of the embedding and recurrent layers (rnn, lstm, gru):
 * - finite-difference gradient checks of whole small models (parameters along random directions and single
 *   coordinates, and the gradient with respect to the input sequence), both return_sequences settings,
 *   stacked layers, an embedding in front;
 * - reference outputs: a direct per-sample, per-time-step scalar implementation (double precision, no BLAS)
 *   of the cells from the formulas PyTorch documents, on the layers' own parameters, plus values computed
 *   by hand for one-unit cells;
 * - shapes, parameter names and shapes, initializers, batches of zero samples, and config errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

enum { N = 4, MAXK = 64 };

typedef struct fixture {
    mt_config cfg;
    mt_model m;
    mt_loss loss;
    float t[N * MAXK];
    mt_pass pass;
} fixture;

/* Builds a model from "model: {input: INPUT, layers: LAYERS}" with an mse loss; 0 on failure (reported). */
static int build(fixture *f, const char *name, const char *input, const char *layers, int capacity)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "model: {input: %s, layers: %s}\nloss: mse\noptimizer: sgd\ndata: {file: none.h5}\n",
             input, layers);
    memset(f, 0, sizeof *f);
    f->pass = (mt_pass){.training = 1, .seed = 1, .global_n = N};
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, &f->cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return 0;
    if (!CHECK(mt_model_build(&f->cfg, 0, &f->m, &err) == MT_OK, "%s: %s", name, err.msg)) {
        mt_config_free(&f->cfg);
        return 0;
    }
    if (!CHECK(mt_model_reserve(&f->m, capacity, &err) == MT_OK &&
                   mt_loss_setup(&f->loss, f->cfg.loss, &f->m, &err) == MT_OK,
               "%s: %s", name, err.msg)) {
        mt_model_free(&f->m);
        mt_config_free(&f->cfg);
        return 0;
    }
    return 1;
}

static void release(fixture *f)
{
    mt_model_free(&f->m);
    mt_config_free(&f->cfg);
}

static double batch_loss(fixture *f)
{
    const float *out = MODEL_FORWARD(&f->m, N, &f->pass);
    return mt_loss_compute(&f->loss, out, NULL, NULL, f->t, NULL, N, NULL, 0, NULL) / N;
}

/* The parameter gradients, and the input's into dx0. */
static void analytic(fixture *f, float *dx0)
{
    static float dout[N * MAXK];
    mt_model *m = &f->m;
    mt_model_zero_grads(m);
    const float *out = MODEL_FORWARD(m, N, &f->pass);
    mt_loss_compute(&f->loss, out, NULL, NULL, f->t, NULL, N, dout, 1.0f / N, NULL);
    MODEL_BACKWARD(m, dout, N, &f->pass, dx0);
}

/* Central difference of the loss along dir, applied to v[0..n) (parameters or the input batch). */
static double numeric_dir(fixture *f, float *v, size_t n, const float *dir, double eps)
{
    for (size_t i = 0; i < n; i++)
        v[i] += (float)(eps * dir[i]);
    double up = batch_loss(f);
    for (size_t i = 0; i < n; i++)
        v[i] -= (float)(2 * eps * dir[i]);
    double down = batch_loss(f);
    for (size_t i = 0; i < n; i++)
        v[i] += (float)(eps * dir[i]);
    return (up - down) / (2 * eps);
}

/* Token ids in [0, vocab), as floats; with `bad`, three of them are invalid (out of range, negative, not an
 * integer), which must map to zero vectors without gradient. */
static void fill_ids(float *x, size_t n, int vocab, int bad, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)mt_rng_below(rng, (uint64_t)vocab);
    if (bad && n >= 3)
        x[0] = (float)vocab, x[n / 2] = -1.0f, x[n - 1] = 1.5f;
}

/* Gradient check of a model whose first layer takes input `input`: every coordinate of tensors of up to 80
 * values (first, middle and last of larger ones), three random directions over all parameters, and two
 * random directions over the input (when the first layer is not an embedding, whose ids have no gradient:
 * then its dx must be all zeros). */
static void check_model(const char *name, const char *input, const char *layers, int vocab)
{
    fixture f;
    if (!build(&f, name, input, layers, N))
        return;
    mt_model *m = &f.m;
    size_t k = m->output_size, in = m->input_size;
    if (!CHECK(k <= MAXK, "%s: output of %zu values is more than the test holds", name, k)) {
        release(&f);
        return;
    }
    mt_model_init_params(m, 42);
    mt_rng rng = mt_rng_make(mt_key(11, (uint64_t)strlen(name)));
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] += 0.1f * mt_rng_normal(&rng);
    if (vocab)
        fill_ids(m->acts[0], N * in, vocab, 1, &rng);
    else
        for (size_t i = 0; i < N * in; i++)
            m->acts[0][i] = mt_rng_normal(&rng);
    for (size_t i = 0; i < N * k; i++)
        f.t[i] = 0.5f * mt_rng_normal(&rng);

    float *dx0 = malloc(N * in * sizeof *dx0), *g = malloc(m->n_params * sizeof *g);
    float *dir = malloc((m->n_params > N * in ? m->n_params : N * in) * sizeof *dir);
    for (size_t i = 0; i < N * in; i++)
        dx0[i] = 123.0f; /* must be overwritten */
    analytic(&f, dx0);
    memcpy(g, m->grads, m->n_params * sizeof *g);
    char what[200];
    for (int trial = 0; trial < 3; trial++) {
        double dot = 0;
        for (size_t i = 0; i < m->n_params; i++) {
            dir[i] = mt_rng_normal(&rng);
            dot += (double)dir[i] * g[i];
        }
        snprintf(what, sizeof what, "%s: directional derivative %d", name, trial);
        CHECK_CLOSE(dot, numeric_dir(&f, m->params, m->n_params, dir, 1e-3), 2e-2, 2e-4, what);
    }
    for (int li = 0; li < m->n_layers; li++) {
        const mt_layer *l = &m->layers[li];
        for (int t = 0; t < l->n_tensors; t++) {
            const mt_tensor_desc *d = &l->tensors[t];
            size_t few[3] = {0, d->size / 2, d->size - 1}, count = d->size <= 80 ? d->size : 3;
            for (size_t e = 0; e < count; e++) {
                size_t idx = d->size <= 80 ? e : few[e];
                size_t at = (size_t)(l->params - m->params) + d->offset + idx;
                memset(dir, 0, m->n_params * sizeof *dir);
                dir[at] = 1;
                snprintf(what, sizeof what, "%s: layer %d %s %s[%zu]", name, li, l->ops->name, d->name, idx);
                CHECK_CLOSE(g[at], numeric_dir(&f, m->params, m->n_params, dir, 1e-3), 2e-2, 2e-4, what);
            }
        }
    }
    if (vocab) {
        int zeros = 1;
        for (size_t i = 0; i < N * in; i++)
            zeros &= dx0[i] == 0.0f;
        CHECK(zeros, "%s: the embedding's dx is not all zeros", name);
        CHECK(mt_embedding_invalid_ids(&m->layers[0]) > 0, "%s: invalid ids not counted", name);
    } else
        for (int trial = 0; trial < 2; trial++) {
            double dot = 0;
            for (size_t i = 0; i < N * in; i++) {
                dir[i] = mt_rng_normal(&rng);
                dot += (double)dir[i] * dx0[i];
            }
            snprintf(what, sizeof what, "%s: input directional derivative %d", name, trial);
            CHECK_CLOSE(dot, numeric_dir(&f, m->acts[0], N * in, dir, 1e-3), 2e-2, 2e-4, what);
        }
    free(dx0), free(g), free(dir);
    release(&f);
}

static void gradient_checks(void)
{
    const char *cells[] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++)
        for (int seq = 0; seq < 2; seq++) {
            char name[96], layers[256];
            snprintf(name, sizeof name, "%s, return_sequences %s", cells[c], seq ? "true" : "false");
            snprintf(layers, sizeof layers, "[{%s: {units: %d, return_sequences: %s}}]", cells[c], 3 + c % 2,
                     seq ? "true" : "false");
            check_model(name, c == 1 ? "[4, 3]" : "[3, 2]", layers, 0);
        }
    check_model("stacked lstm (sequences) -> gru -> dense", "[4, 3]",
                "[{lstm: {units: 4, return_sequences: true}}, {gru: {units: 3}}, {dense: {units: 2}}]", 0);
    check_model("stacked rnn (sequences) -> rnn (sequences) -> lstm -> dense softmax", "[3, 2]",
                "[{rnn: {units: 3, return_sequences: true}}, {rnn: {units: 4, return_sequences: true}},"
                " {lstm: {units: 3}}, {dense: {units: 3, activation: softmax}}]",
                0);
    check_model("embedding -> lstm -> dense", "[4]",
                "[{embedding: {input_dim: 5, output_dim: 3}}, {lstm: {units: 3}}, {dense: {units: 2}}]", 5);
    check_model("embedding -> gru (sequences)", "[3]",
                "[{embedding: {input_dim: 6, output_dim: 2}}, {gru: {units: 3, return_sequences: true}}]", 6);
    check_model("embedding alone, rank-2 ids", "[2, 3]", "[{embedding: {input_dim: 4, output_dim: 2}}]", 4);
}

/* ---- Reference: the cells written directly from torch's formulas, one sample and one step at a time. ---- */

static const float *tensor(const mt_layer *l, const char *name)
{
    for (int t = 0; t < l->n_tensors; t++)
        if (!strcmp(l->tensors[t].name, name))
            return l->params + l->tensors[t].offset;
    return NULL;
}

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* Row j of gate q of a torch weight [G*H, cols] times v, plus both biases of that row (if given). */
static double affine(const float *w, int cols, int H, int q, int j, const double *v, const float *b)
{
    double s = b ? b[q * H + j] : 0.0;
    for (int k = 0; k < cols; k++)
        s += (double)w[(size_t)(q * H + j) * cols + k] * v[k];
    return s;
}

/* hs[T][H] for one sample x[T][F] of layer l (kind 0 rnn, 1 lstm, 2 gru). */
static void reference(const mt_layer *l, int kind, int T, int F, int H, const float *x, double *hs)
{
    const float *wi = tensor(l, "weight_ih_l0"), *wh = tensor(l, "weight_hh_l0");
    const float *bi = tensor(l, "bias_ih_l0"), *bh = tensor(l, "bias_hh_l0");
    double h[64] = {0}, c[64] = {0}, xt[64], hn[64], cn[64] = {0};
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < F; k++)
            xt[k] = x[t * F + k];
        for (int j = 0; j < H; j++) {
            if (kind == 0) { /* h' = tanh(W_ih x + b_ih + W_hh h + b_hh) */
                hn[j] = tanh(affine(wi, F, H, 0, j, xt, bi) + affine(wh, H, H, 0, j, h, bh));
            } else if (kind == 1) { /* gates i, f, g, o */
                double gi = sigmoid(affine(wi, F, H, 0, j, xt, bi) + affine(wh, H, H, 0, j, h, bh));
                double gf = sigmoid(affine(wi, F, H, 1, j, xt, bi) + affine(wh, H, H, 1, j, h, bh));
                double gg = tanh(affine(wi, F, H, 2, j, xt, bi) + affine(wh, H, H, 2, j, h, bh));
                double go = sigmoid(affine(wi, F, H, 3, j, xt, bi) + affine(wh, H, H, 3, j, h, bh));
                cn[j] = gf * c[j] + gi * gg;
                hn[j] = go * tanh(cn[j]);
            } else { /* gates r, z, n */
                double r = sigmoid(affine(wi, F, H, 0, j, xt, bi) + affine(wh, H, H, 0, j, h, bh));
                double z = sigmoid(affine(wi, F, H, 1, j, xt, bi) + affine(wh, H, H, 1, j, h, bh));
                double n = tanh(affine(wi, F, H, 2, j, xt, bi) + r * affine(wh, H, H, 2, j, h, bh));
                hn[j] = (1 - z) * n + z * h[j];
            }
        }
        for (int j = 0; j < H; j++) {
            h[j] = hn[j], c[j] = cn[j];
            hs[t * H + j] = h[j];
        }
    }
}

static void reference_checks(void)
{
    const char *cells[] = {"rnn", "lstm", "gru"};
    enum { T = 5, F = 3, H = 4, NS = 3 };
    for (int c = 0; c < 3; c++) {
        fixture fs, fl;
        char name[64], layers[128];
        snprintf(name, sizeof name, "reference %s", cells[c]);
        snprintf(layers, sizeof layers, "[{%s: {units: %d, return_sequences: true}}]", cells[c], H);
        if (!build(&fs, name, "[5, 3]", layers, NS))
            continue;
        snprintf(layers, sizeof layers, "[{%s: {units: %d}}]", cells[c], H);
        if (!build(&fl, name, "[5, 3]", layers, NS)) {
            release(&fs);
            continue;
        }
        mt_model_init_params(&fs.m, 5);
        mt_rng rng = mt_rng_make(mt_key(3, (uint64_t)c));
        for (size_t i = 0; i < fs.m.n_params; i++) /* larger than the init, so that the gates saturate some */
            fs.m.params[i] += 0.4f * mt_rng_normal(&rng);
        memcpy(fl.m.params, fs.m.params, fs.m.n_params * sizeof *fs.m.params);
        for (int i = 0; i < NS * T * F; i++)
            fs.m.acts[0][i] = fl.m.acts[0][i] = 1.5f * mt_rng_normal(&rng);
        const float *seq = MODEL_FORWARD(&fs.m, NS, &fs.pass), *last = MODEL_FORWARD(&fl.m, NS, &fl.pass);
        double max_err = 0;
        for (int s = 0; s < NS; s++) {
            double hs[T * H];
            reference(&fs.m.layers[0], c, T, F, H, fs.m.acts[0] + s * T * F, hs);
            for (int i = 0; i < T * H; i++) {
                double e1 = fabs(seq[s * T * H + i] - hs[i]);
                max_err = e1 > max_err ? e1 : max_err;
                if (!CHECK(e1 < 1e-5, "%s: sample %d step %d unit %d: layer %.7f, reference %.7f", name, s, i / H,
                           i % H, seq[s * T * H + i], hs[i]))
                    break;
            }
            for (int j = 0; j < H; j++)
                CHECK(fabs(last[s * H + j] - hs[(T - 1) * H + j]) < 1e-5,
                      "%s: last state, sample %d unit %d: layer %.7f, reference %.7f", name, s, j, last[s * H + j],
                      hs[(T - 1) * H + j]);
        }
        printf("%s: max |layer - reference| over %d samples x %d steps x %d units = %.2g\n", name, NS, T, H, max_err);
        release(&fs), release(&fl);
    }
}

/* One-unit cells with parameters set by hand; the expected values are computed by hand in the comments. */
static void hand_checks(void)
{
    fixture f;
    /* rnn, T = 2, F = 1: W_ih 0.5, W_hh -1, b_ih 0.1, b_hh 0.2, x = (1, 2):
     * h1 = tanh(0.5 + 0.3) = tanh(0.8) = 0.66403677; h2 = tanh(1.0 + 0.3 - 0.66403677) = tanh(0.63596323)
     * = 0.56214470. */
    if (build(&f, "hand rnn", "[2, 1]", "[{rnn: {units: 1, return_sequences: true}}]", 1)) {
        float p[4] = {0.5f, -1.0f, 0.1f, 0.2f};
        memcpy(f.m.params, p, sizeof p);
        f.m.acts[0][0] = 1, f.m.acts[0][1] = 2;
        const float *y = MODEL_FORWARD(&f.m, 1, &f.pass);
        CHECK_CLOSE(y[0], 0.66403677, 1e-6, 1e-6, "hand rnn h1");
        CHECK_CLOSE(y[1], 0.56214470, 1e-6, 1e-6, "hand rnn h2");
        release(&f);
    }
    /* lstm, T = 1, F = 1, x = 2, W_ih rows (i, f, g, o) = (0.5, -0.5, 1, 0.25), biases 0, h0 = c0 = 0:
     * i = sigmoid(1) = 0.73105858, g = tanh(2) = 0.96402758, o = sigmoid(0.5) = 0.62245933 (f multiplies c0 = 0);
     * c = i g = 0.70476063; h = o tanh(c) = 0.62245933 * 0.60737... = 0.37806988. A different gate order
     * gives another value. */
    if (build(&f, "hand lstm", "[1, 1]", "[{lstm: {units: 1}}]", 1)) {
        float p[16] = {0.5f, -0.5f, 1.0f, 0.25f, 0.3f, 0.3f, 0.3f, 0.3f}; /* W_hh unused at the first step */
        memcpy(f.m.params, p, sizeof p);
        f.m.acts[0][0] = 2;
        const float *y = MODEL_FORWARD(&f.m, 1, &f.pass);
        CHECK_CLOSE(y[0], 0.37806988, 1e-6, 1e-6, "hand lstm h1");
        release(&f);
    }
    /* gru, T = 1, F = 1, x = 1.5, W_ih rows (r, z, n) = (0.3, -0.4, 0.8), b_ih 0, b_hh = (0, 0, 0.5), h0 = 0:
     * r = sigmoid(0.45) = 0.61063923, z = sigmoid(-0.6) = 0.35434369, n = tanh(1.2 + r * 0.5) = tanh(1.50531962)
     * = 0.90610493; h = (1 - z) n = 0.58503236 (b_hn sits inside r * (.), so r matters even with h0 = 0). */
    if (build(&f, "hand gru", "[1, 1]", "[{gru: {units: 1}}]", 1)) {
        float p[12] = {0.3f, -0.4f, 0.8f, 0.7f, 0.7f, 0.7f, 0, 0, 0, 0, 0, 0.5f};
        memcpy(f.m.params, p, sizeof p);
        f.m.acts[0][0] = 1.5f;
        const float *y = MODEL_FORWARD(&f.m, 1, &f.pass);
        CHECK_CLOSE(y[0], 0.58503236, 1e-6, 1e-6, "hand gru h1");
        release(&f);
    }
    /* embedding: rows of the weight, zeros for invalid ids (counted). */
    if (build(&f, "hand embedding", "[4]", "[{embedding: {input_dim: 3, output_dim: 2}}]", 1)) {
        float p[6] = {1, 2, 3, 4, 5, 6}, x[4] = {2, 0, 3, -0.5f}, want[8] = {5, 6, 1, 2, 0, 0, 0, 0};
        memcpy(f.m.params, p, sizeof p);
        memcpy(f.m.acts[0], x, sizeof x);
        const float *y = MODEL_FORWARD(&f.m, 1, &f.pass);
        for (int i = 0; i < 8; i++)
            CHECK(y[i] == want[i], "embedding output %d: %g, expected %g", i, y[i], want[i]);
        CHECK(mt_embedding_invalid_ids(&f.m.layers[0]) == 2, "embedding: %llu invalid ids counted, expected 2",
              (unsigned long long)mt_embedding_invalid_ids(&f.m.layers[0]));
        release(&f);
    }
}

/* ---- Shapes, names, initializers, empty batches. ---- */

static void check_tensor(const mt_layer *l, int t, const char *name, int rank, int64_t d0, int64_t d1)
{
    const mt_tensor_desc *d = &l->tensors[t];
    CHECK(!strcmp(d->name, name) && d->rank == rank && d->shape[0] == d0 && (rank < 2 || d->shape[1] == d1),
          "%s tensor %d: %s rank %d [%lld, %lld], expected %s rank %d [%lld, %lld]", l->ops->name, t, d->name, d->rank,
          (long long)d->shape[0], (long long)d->shape[1], name, rank, (long long)d0, (long long)d1);
}

static void shape_checks(void)
{
    fixture f;
    const char *cells[] = {"rnn", "lstm", "gru"};
    const int gates[] = {1, 4, 3};
    for (int c = 0; c < 3; c++)
        for (int seq = 0; seq < 2; seq++) {
            char layers[128];
            snprintf(layers, sizeof layers, "[{%s: {units: 16, return_sequences: %d}}]", cells[c], seq);
            if (!build(&f, cells[c], "[7, 5]", layers, 2))
                continue;
            const mt_layer *l = &f.m.layers[0];
            int gh = gates[c] * 16;
            CHECK(l->n_tensors == 4, "%s: %d tensors", cells[c], l->n_tensors);
            check_tensor(l, 0, "weight_ih_l0", 2, gh, 5);
            check_tensor(l, 1, "weight_hh_l0", 2, gh, 16);
            check_tensor(l, 2, "bias_ih_l0", 1, gh, 0);
            check_tensor(l, 3, "bias_hh_l0", 1, gh, 0);
            CHECK(l->n_params == (size_t)gh * (5 + 16 + 2), "%s: %zu parameters", cells[c], l->n_params);
            if (seq)
                CHECK(l->out_shape.n == 2 && l->out_shape.v[0] == 7 && l->out_shape.v[1] == 16 && l->out_size == 112,
                      "%s sequences: output rank %d size %zu", cells[c], l->out_shape.n, l->out_size);
            else
                CHECK(l->out_shape.n == 1 && l->out_shape.v[0] == 16 && l->out_size == 16,
                      "%s: output rank %d size %zu", cells[c], l->out_shape.n, l->out_size);
            /* torch's default: every tensor ~ U(-1/sqrt(H), 1/sqrt(H)) = U(-0.25, 0.25) here */
            for (int t = 0; t < 4; t++)
                CHECK(!strcmp(l->tensors[t].init, "uniform(-0.25, 0.25)"), "%s %s init '%s'", cells[c],
                      l->tensors[t].name, l->tensors[t].init);
            mt_model_init_params(&f.m, 9);
            float lo = 1, hi = -1;
            for (size_t i = 0; i < f.m.n_params; i++)
                lo = f.m.params[i] < lo ? f.m.params[i] : lo, hi = f.m.params[i] > hi ? f.m.params[i] : hi;
            CHECK(lo >= -0.25f && hi <= 0.25f && lo < -0.2f && hi > 0.2f, "%s init range [%g, %g]", cells[c], lo, hi);
            /* an empty batch does nothing and touches no gradient */
            mt_model_zero_grads(&f.m);
            MODEL_FORWARD(&f.m, 0, &f.pass);
            float dy[1] = {0};
            LAYER_BACKWARD(&f.m.layers[0], f.m.acts[0], f.m.acts[1], dy, f.m.dbuf[0], 0, &f.pass);
            int zero = 1;
            for (size_t i = 0; i < f.m.n_params; i++)
                zero &= f.m.grads[i] == 0.0f;
            CHECK(zero, "%s: n = 0 changed the gradients", cells[c]);
            release(&f);
        }
    if (build(&f, "initializers", "[7, 5]",
              "[{lstm: {units: 8, kernel_initializer: glorot_uniform, recurrent_initializer: zeros, "
              "bias_initializer: constant(0.5)}}]",
              1)) {
        const mt_layer *l = &f.m.layers[0];
        CHECK(!strcmp(l->tensors[0].init, "glorot_uniform") && !strcmp(l->tensors[1].init, "zeros") &&
                  !strcmp(l->tensors[2].init, "constant(0.5)") && !strcmp(l->tensors[3].init, "constant(0.5)"),
              "initializers: %s %s %s %s", l->tensors[0].init, l->tensors[1].init, l->tensors[2].init,
              l->tensors[3].init);
        release(&f);
    }
    if (build(&f, "embedding shape", "[9]", "[{embedding: {input_dim: 100, output_dim: 8}}, {gru: {units: 5}}]", 2)) {
        const mt_layer *l = &f.m.layers[0];
        check_tensor(l, 0, "weight", 2, 100, 8);
        CHECK(l->out_shape.n == 2 && l->out_shape.v[0] == 9 && l->out_shape.v[1] == 8 && l->out_size == 72,
              "embedding output rank %d size %zu", l->out_shape.n, l->out_size);
        CHECK(!strcmp(l->tensors[0].init, "normal(0, 1)"), "embedding init '%s'", l->tensors[0].init);
        mt_model_init_params(&f.m, 3);
        double s = 0, s2 = 0;
        for (int i = 0; i < 800; i++)
            s += f.m.params[i], s2 += (double)f.m.params[i] * f.m.params[i];
        CHECK(fabs(s / 800) < 0.15 && fabs(s2 / 800 - 1) < 0.2, "embedding init mean %g, mean square %g", s / 800,
              s2 / 800);
        MODEL_FORWARD(&f.m, 0, &f.pass);
        float dy[1] = {0};
        mt_model_zero_grads(&f.m);
        MODEL_BACKWARD(&f.m, dy, 0, &f.pass, NULL);
        int zero = 1;
        for (size_t i = 0; i < f.m.n_params; i++)
            zero &= f.m.grads[i] == 0.0f;
        CHECK(zero, "embedding + gru: n = 0 changed the gradients");
        release(&f);
    }
}

/* ---- Config errors: MT_ERR_CONFIG naming the file, line and key. ---- */

static void fails(int line, const char *input, const char *layer, const char *needle1, const char *needle2)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: %s\n  layers:\n    - %s\nloss: mse\noptimizer: sgd\n"
             "data: {file: none.h5}\n",
             input, layer);
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    mt_status st = mt_config_load_string(yaml, "t.yaml", NULL, 0, &cfg, &err);
    if (st == MT_OK) {
        st = mt_model_build(&cfg, 0, &m, &err);
        if (st == MT_OK)
            mt_model_free(&m);
        mt_config_free(&cfg);
    }
    mt_check(st == MT_ERR_CONFIG, __FILE__, line, "'%s' on %s: status %d, expected a config error (%s)", layer, input,
             (int)st, err.msg);
    mt_check(strstr(err.msg, needle1) != NULL, __FILE__, line, "message '%s' lacks '%s'", err.msg, needle1);
    mt_check(!needle2 || strstr(err.msg, needle2), __FILE__, line, "message '%s' lacks '%s'", err.msg, needle2);
}

static void config_errors(void)
{
    fails(__LINE__, "[5, 3]", "lstm: {units: 0}", "t.yaml:4", "model.layers[0].lstm.units");
    fails(__LINE__, "[5, 3]", "gru: {units: 1000000000}", "t.yaml:4", "out of range");
    fails(__LINE__, "[28, 28]", "lstm: {units: 300000}", "t.yaml:4", "too large");
    fails(__LINE__, "[5]", "rnn: {units: 4}", "t.yaml:4", "model.layers[0].rnn: expects a sequence [time, features]");
    fails(__LINE__, "[2, 3, 4]", "gru: {units: 4}", "t.yaml:4", "got an input of shape [2, 3, 4]");
    fails(__LINE__, "[5, 3]", "lstm: {unit: 4}", "t.yaml:4", "unknown key 'unit'");
    fails(__LINE__, "[5, 3]", "lstm", "t.yaml:4", "units");
    fails(__LINE__, "[5, 3]", "lstm: {units: 4, return_sequences: maybe}", "t.yaml:4", "return_sequences");
    fails(__LINE__, "[5, 3]", "lstm: {units: 4, kernel_initializer: glorious}", "t.yaml:4",
          "model.layers[0].lstm.kernel_initializer: unknown initializer 'glorious'");
    fails(__LINE__, "[5]", "embedding: {output_dim: 4}", "t.yaml:4", "input_dim");
    fails(__LINE__, "[5]", "embedding: {input_dim: 10, output_dim: 0}", "t.yaml:4", "output_dim");
    fails(__LINE__, "[5]", "embedding: {input_dim: 100000000, output_dim: 1000}", "t.yaml:4", "too large");
    /* a recurrent layer without return_sequences gives [H]: another recurrent layer cannot follow */
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: [5, 3]\n  layers:\n    - lstm: {units: 4}\n    - gru: {units: 2}\n"
             "loss: mse\noptimizer: sgd\ndata: {file: none.h5}\n");
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (CHECK(mt_config_load_string(yaml, "s.yaml", NULL, 0, &cfg, &err) == MT_OK, "%s", err.msg)) {
        mt_status st = mt_model_build(&cfg, 0, &m, &err);
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, "s.yaml:5") && strstr(err.msg, "return_sequences: true"),
              "stacked without return_sequences: status %d, '%s'", (int)st, err.msg);
        if (st == MT_OK)
            mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

int main(void)
{
    hand_checks();
    reference_checks();
    shape_checks();
    config_errors();
    gradient_checks();
    return mt_test_finish("recurrent");
}
