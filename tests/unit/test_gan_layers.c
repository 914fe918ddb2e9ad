/* The layers a GAN generator needs: reshape, upsample2d and conv2d_transpose.
 *   - conv2d_transpose against a direct double-precision loop of torch.nn.ConvTranspose2d's definition
 *     (output, input gradient, weight and bias gradients) over strides 1 to 3, valid / same / numeric
 *     padding, output_padding, rectangular kernels, [H, W] inputs; a 2x2 case computed by hand; and the
 *     adjoint identity <convT(u), v> = <u, conv2d(v)> against the existing conv2d with the same weights;
 *   - upsample2d against the nearest-neighbour definition, reshape as a copy with its shape inferred;
 *   - finite-difference gradient checks (inputs and parameters) of each layer alone, with linear, tanh and
 *     sigmoid activations, and of a whole generator-shaped model;
 *   - activation: tanh on dense and conv2d_transpose gives tanh of the linear layer's output;
 *   - config errors name the file, line and option;
 *   - a checkpoint of a model with the new layers (and adam state) round-trips bitwise, with
 *     conv2d_transpose's weight stored in torch's [in, out, kh, kw] shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "config/config.h"
#include "core/rng.h"
#include "train/checkpoint.h"
#include "nn/activation.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "model_pass.h"
#include "testlib.h"

static int build(const char *name, const char *input, const char *layers, int n, mt_config *cfg, mt_model *m)
{
    char yaml[2048];
    mt_error err = {0};
    snprintf(yaml, sizeof yaml,
             "model: {input: %s, layers: [%s]}\nloss: mse\noptimizer: {name: adam, learning_rate: 0.01}\n"
             "data: {file: none.h5}\n",
             input, layers);
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return 0;
    if (!CHECK(mt_model_build(cfg, 0, m, &err) == MT_OK && mt_model_reserve(m, n, &err) == MT_OK, "%s: %s", name,
               err.msg)) {
        mt_config_free(cfg);
        return 0;
    }
    mt_model_init_params(m, 3);
    return 1;
}

static void finish(mt_config *cfg, mt_model *m)
{
    mt_model_free(m);
    mt_config_free(cfg);
}

static void fill_normal(float *v, size_t n, float scale, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = scale * mt_rng_normal(rng);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* ---- conv2d_transpose against its definition ---- */

typedef struct convt_case {
    int C, H, W, F, kh, kw, sh, sw;
    const char *padding;  /* "valid", "same", or "p" / "[ph, pw]" */
    int ph, pw, oph, opw; /* numeric padding and output_padding (for the reference) */
    int rank2;            /* input [H, W] (C must be 1) */
} convt_case;

/* Top padding and output size of the reference: torch's formula, or Keras' `same`. */
static void convt_geometry(const convt_case *c, int *pt, int *pl, int *oh, int *ow)
{
    if (!strcmp(c->padding, "same")) {
        *pt = c->kh > c->sh ? (c->kh - c->sh) / 2 : 0;
        *pl = c->kw > c->sw ? (c->kw - c->sw) / 2 : 0;
        *oh = c->H * c->sh;
        *ow = c->W * c->sw;
    } else {
        *pt = c->ph, *pl = c->pw;
        *oh = (c->H - 1) * c->sh - 2 * c->ph + c->kh + c->oph;
        *ow = (c->W - 1) * c->sw - 2 * c->pw + c->kw + c->opw;
    }
}

static void convt_spec(const convt_case *c, const char *act, int use_bias, char *spec, size_t size, char *input,
                       size_t isize)
{
    snprintf(spec, size,
             "{conv2d_transpose: {filters: %d, kernel_size: [%d, %d], strides: [%d, %d], padding: %s, "
             "output_padding: [%d, %d], activation: %s, use_bias: %s}}",
             c->F, c->kh, c->kw, c->sh, c->sw, c->padding, c->oph, c->opw, act, use_bias ? "true" : "false");
    if (c->rank2)
        snprintf(input, isize, "[%d, %d]", c->H, c->W);
    else
        snprintf(input, isize, "[%d, %d, %d]", c->C, c->H, c->W);
}

/* Output, input gradient and parameter gradients against double loops over the definition. */
static void convt_vs_reference(const convt_case *c, int n)
{
    char spec[512], input[64], name[640];
    mt_config cfg;
    mt_model m;
    convt_spec(c, "linear", 1, spec, sizeof spec, input, sizeof input);
    snprintf(name, sizeof name, "%s on %s", spec, input);
    if (!build(name, input, spec, n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    int pt, pl, OH, OW;
    convt_geometry(c, &pt, &pl, &OH, &OW);
    CHECK(l->out_shape.n == 3 && l->out_shape.v[0] == c->F && l->out_shape.v[1] == OH && l->out_shape.v[2] == OW,
          "%s: output shape [%d, %d, %d], expected [%d, %d, %d]", name, l->out_shape.v[0], l->out_shape.v[1],
          l->out_shape.v[2], c->F, OH, OW);
    CHECK(l->n_tensors == 2 && l->tensors[0].rank == 4 && l->tensors[0].shape[0] == c->C &&
              l->tensors[0].shape[1] == c->F && l->tensors[0].shape[2] == c->kh && l->tensors[0].shape[3] == c->kw,
          "%s: weight shape is not [in, out, kh, kw]", name);
    if (l->out_size != (size_t)c->F * OH * OW) {
        finish(&cfg, &m);
        return;
    }
    const size_t in = (size_t)c->C * c->H * c->W, out = l->out_size;
    mt_rng rng = mt_rng_make(mt_key(11, in * 31 + out));
    fill_normal(m.params, m.n_params, 0.5f, &rng);
    const float *w = l->params, *b = l->params + (size_t)c->C * c->F * c->kh * c->kw;
    float *x = m.acts[0], *dy = malloc(n * out * sizeof *dy), *dx = malloc(n * in * sizeof *dx);
    fill_normal(x, n * in, 1.0f, &rng);
    fill_normal(dy, n * out, 1.0f, &rng);
    for (size_t i = 0; i < n * in; i++)
        dx[i] = NAN; /* every value must be written */
    double *ry = calloc(n * out, sizeof *ry), *rdx = calloc(n * in, sizeof *rdx),
           *rdw = calloc(m.n_params, sizeof *rdw);
    for (int s = 0; s < n; s++)
        for (int f = 0; f < c->F; f++)
            for (int q = 0; q < OH * OW; q++) {
                ry[(size_t)s * out + (size_t)f * OH * OW + q] = b[f];
                rdw[(size_t)c->C * c->F * c->kh * c->kw + f] += dy[(size_t)s * out + (size_t)f * OH * OW + q];
            }
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c->C; ch++)
            for (int ih = 0; ih < c->H; ih++)
                for (int iw = 0; iw < c->W; iw++)
                    for (int f = 0; f < c->F; f++)
                        for (int ki = 0; ki < c->kh; ki++)
                            for (int kj = 0; kj < c->kw; kj++) {
                                int oh = ih * c->sh - pt + ki, ow = iw * c->sw - pl + kj;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                                    continue;
                                size_t xi = (size_t)s * in + ((size_t)ch * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)ch * c->F + f) * c->kh + ki) * c->kw + kj;
                                size_t yi = (size_t)s * out + ((size_t)f * OH + oh) * OW + ow;
                                ry[yi] += (double)x[xi] * w[wi];
                                rdx[xi] += (double)w[wi] * dy[yi];
                                rdw[wi] += (double)x[xi] * dy[yi];
                            }
    mt_pass pass = {.training = 1, .global_n = (uint64_t)n};
    mt_model_zero_grads(&m);
    LAYER_FORWARD(l, x, m.acts[1], n, &pass);
    LAYER_BACKWARD(l, x, m.acts[1], dy, dx, n, &pass);
    int bad = 0;
    for (size_t i = 0; i < n * out; i++)
        if (!(fabs(m.acts[1][i] - ry[i]) <= 1e-5 * (1 + fabs(ry[i]))) && bad++ < 3)
            CHECK(0, "%s: output %zu = %.7g, expected %.7g", name, i, m.acts[1][i], ry[i]);
    for (size_t i = 0; i < n * in; i++)
        if (!(fabs(dx[i] - rdx[i]) <= 1e-5 * (1 + fabs(rdx[i]))) && bad++ < 6)
            CHECK(0, "%s: input gradient %zu = %.7g, expected %.7g", name, i, dx[i], rdx[i]);
    for (size_t i = 0; i < m.n_params; i++)
        if (!(fabs(m.grads[i] - rdw[i]) <= 1e-5 * (1 + fabs(rdw[i]))) && bad++ < 9)
            CHECK(0, "%s: parameter gradient %zu = %.7g, expected %.7g", name, i, m.grads[i], rdw[i]);
    CHECK(bad == 0, "%s: %d values differ from the reference", name, bad);
    /* A second backward adds to the gradients. */
    float *g1 = malloc(m.n_params * sizeof *g1);
    memcpy(g1, m.grads, m.n_params * sizeof *g1);
    for (size_t i = 0; i < n * out; i++)
        dy[i] = 1.0f;
    LAYER_BACKWARD(l, x, m.acts[1], dy, NULL, n, &pass);
    size_t bias_at = (size_t)c->C * c->F * c->kh * c->kw;
    CHECK_CLOSE(m.grads[bias_at] - g1[bias_at], (double)n * OH * OW, 1e-6, 1e-3,
                "bias gradient accumulates over a second backward pass");
    free(g1), free(dy), free(dx), free(ry), free(rdx), free(rdw);
    finish(&cfg, &m);
}

static const convt_case convt_cases[] = {
    {3, 4, 5, 2, 3, 3, 1, 1, "valid", 0, 0, 0, 0, 0},
    {3, 4, 5, 2, 3, 3, 1, 1, "same", 0, 0, 0, 0, 0},
    {2, 5, 4, 3, 3, 3, 2, 2, "valid", 0, 0, 0, 0, 0},
    {2, 5, 4, 3, 3, 3, 2, 2, "same", 0, 0, 0, 0, 0},   /* k - s odd: the last row and column are cropped */
    {4, 7, 7, 5, 4, 4, 2, 2, "same", 0, 0, 0, 0, 0},   /* DCGAN's 7 -> 14 */
    {4, 7, 7, 5, 4, 4, 2, 2, "1", 1, 1, 0, 0, 0},      /* the same as torch's padding=1 */
    {2, 4, 3, 2, 3, 2, 2, 1, "[1, 0]", 1, 0, 1, 0, 0}, /* output_padding, rectangular kernel and strides */
    {2, 6, 5, 3, 5, 5, 2, 2, "2", 2, 2, 1, 1, 0},
    {3, 3, 4, 2, 1, 1, 2, 2, "same", 0, 0, 0, 0, 0},  /* k < s: every other row holds only the bias */
    {2, 3, 3, 4, 2, 2, 2, 2, "valid", 0, 0, 0, 0, 0}, /* k = s: no overlap */
    {1, 3, 3, 2, 5, 5, 3, 3, "valid", 0, 0, 0, 0, 1}, /* [H, W] input, stride 3 */
    {16, 7, 7, 8, 4, 4, 2, 2, "same", 0, 0, 0, 0, 0}, /* wider: the GEMM's vector paths */
    {5, 9, 11, 3, 3, 3, 1, 1, "1", 1, 1, 0, 0, 0},
};

/* x = [[1, 2], [3, 4]], w = [[1, 10], [100, 1000]]: stride 2 places the four scaled kernels side by side;
 * stride 1 overlaps them. */
static void convt_by_hand(void)
{
    static const float want2[16] = {1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000};
    static const float want1[9] = {1, 12, 20, 103, 1234, 2040, 300, 3400, 4000};
    /* same with k 3, s 2 on 2x2: full output 5x5 cropped to the top-left 4x4 (TensorFlow's rule) */
    const char *specs[] = {"{conv2d_transpose: {filters: 1, kernel_size: 2, strides: 2, use_bias: false}}",
                           "{conv2d_transpose: {filters: 1, kernel_size: 2, use_bias: false}}"};
    const float *wants[] = {want2, want1};
    const int sizes[] = {16, 9};
    for (int t = 0; t < 2; t++) {
        mt_config cfg;
        mt_model m;
        if (!build(specs[t], "[1, 2, 2]", specs[t], 1, &cfg, &m))
            continue;
        const float x[4] = {1, 2, 3, 4}, w[4] = {1, 10, 100, 1000};
        memcpy(m.params, w, sizeof w);
        memcpy(m.acts[0], x, sizeof x);
        const float *y = MODEL_FORWARD(&m, 1, &(mt_pass){0});
        CHECK((int)m.output_size == sizes[t], "%s: %zu outputs", specs[t], m.output_size);
        for (int i = 0; i < sizes[t] && i < (int)m.output_size; i++)
            CHECK(y[i] == wants[t][i], "%s: output %d = %g, expected %g", specs[t], i, y[i], wants[t][i]);
        finish(&cfg, &m);
    }
    mt_config cfg;
    mt_model m;
    const char *spec = "{conv2d_transpose: {filters: 1, kernel_size: 3, strides: 2, padding: same, use_bias: false}}";
    if (build(spec, "[1, 2, 2]", spec, 1, &cfg, &m)) {
        const float x[4] = {1, 2, 3, 4};
        for (int i = 0; i < 9; i++)
            m.params[i] = (float)(1 << i); /* w[ki, kj] = 2^(3 ki + kj) */
        memcpy(m.acts[0], x, sizeof x);
        const float *y = MODEL_FORWARD(&m, 1, &(mt_pass){0});
        CHECK(m.output_size == 16, "%s: %zu outputs", spec, m.output_size);
        for (int oh = 0; oh < 4; oh++)
            for (int ow = 0; ow < 4; ow++) {
                float want = 0;
                for (int ih = 0; ih < 2; ih++)
                    for (int iw = 0; iw < 2; iw++) {
                        int ki = oh - 2 * ih, kj = ow - 2 * iw;
                        if (ki >= 0 && ki < 3 && kj >= 0 && kj < 3)
                            want += x[ih * 2 + iw] * (float)(1 << (3 * ki + kj));
                    }
                CHECK(y[oh * 4 + ow] == want, "%s: output [%d, %d] = %g, expected %g", spec, oh, ow, y[oh * 4 + ow],
                      want);
            }
        finish(&cfg, &m);
    }
}

/* <convT(u), v> = <u, conv2d(v)>: conv2d with filters = C on [F, OH, OW] with the same kernel, strides and
 * padding maps back to [C, H, W], and its weight [C, F, kh, kw] is conv2d_transpose's. */
static void convt_adjoint(const convt_case *c)
{
    char spec_t[512], spec_c[512], input_t[64], input_c[64], name[1200];
    mt_config cfg_t, cfg_c;
    mt_model mt, mc;
    int pt, pl, OH, OW;
    convt_geometry(c, &pt, &pl, &OH, &OW);
    convt_spec(c, "linear", 0, spec_t, sizeof spec_t, input_t, sizeof input_t);
    snprintf(spec_c, sizeof spec_c,
             "{conv2d: {filters: %d, kernel_size: [%d, %d], strides: [%d, %d], padding: %s, use_bias: false}}", c->C,
             c->kh, c->kw, c->sh, c->sw, c->padding);
    snprintf(input_c, sizeof input_c, "[%d, %d, %d]", c->F, OH, OW);
    snprintf(name, sizeof name, "adjoint of %s on %s and %s", spec_t, input_t, spec_c);
    if (!build(name, input_t, spec_t, 2, &cfg_t, &mt))
        return;
    if (!build(name, input_c, spec_c, 2, &cfg_c, &mc)) {
        finish(&cfg_t, &mt);
        return;
    }
    if (CHECK(mc.output_size == mt.input_size && mt.output_size == mc.input_size && mt.n_params == mc.n_params,
              "%s: shapes do not match (%zu -> %zu vs %zu -> %zu)", name, mt.input_size, mt.output_size, mc.input_size,
              mc.output_size)) {
        mt_rng rng = mt_rng_make(mt_key(13, mt.input_size * 7 + mt.output_size));
        fill_normal(mt.params, mt.n_params, 0.5f, &rng);
        memcpy(mc.params, mt.params, mt.n_params * sizeof *mt.params);
        fill_normal(mt.acts[0], 2 * mt.input_size, 1.0f, &rng);
        fill_normal(mc.acts[0], 2 * mc.input_size, 1.0f, &rng);
        const float *ty = MODEL_FORWARD(&mt, 2, &(mt_pass){0}), *cy = MODEL_FORWARD(&mc, 2, &(mt_pass){0});
        double lhs = dot(ty, mc.acts[0], 2 * mt.output_size), rhs = dot(mt.acts[0], cy, 2 * mt.input_size);
        CHECK_CLOSE(lhs, rhs, 1e-5, 1e-4, name);
    }
    finish(&cfg_t, &mt);
    finish(&cfg_c, &mc);
}

/* ---- upsample2d and reshape ---- */

static void upsample_case(const char *input, int C, int H, int W, int sh, int sw, const char *size, int n)
{
    char spec[128], name[256];
    mt_config cfg;
    mt_model m;
    snprintf(spec, sizeof spec, "{upsample2d: {size: %s}}", size);
    snprintf(name, sizeof name, "%s on %s", spec, input);
    if (!build(name, input, spec, n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    const int OH = H * sh, OW = W * sw, r = l->in_shape.n;
    CHECK(l->out_shape.n == r && l->out_shape.v[r - 2] == OH && l->out_shape.v[r - 1] == OW &&
              (r == 2 || l->out_shape.v[0] == C),
          "%s: output shape", name);
    const size_t in = (size_t)C * H * W, out = (size_t)C * OH * OW;
    mt_rng rng = mt_rng_make(mt_key(17, in));
    float *x = m.acts[0], *dy = malloc(n * out * sizeof *dy), *dx = malloc(n * in * sizeof *dx);
    fill_normal(x, n * in, 1.0f, &rng);
    fill_normal(dy, n * out, 1.0f, &rng);
    double *want = calloc(n * in, sizeof *want);
    int bad = 0;
    mt_pass pass = {.training = 1};
    LAYER_FORWARD(l, x, m.acts[1], n, &pass);
    for (size_t s = 0; s < (size_t)n * C; s++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                size_t o = s * OH * OW + (size_t)oh * OW + ow, i = s * H * W + (size_t)(oh / sh) * W + ow / sw;
                want[i] += dy[o];
                if (m.acts[1][o] != x[i] && bad++ < 3)
                    CHECK(0, "%s: output %zu = %g, expected %g", name, o, m.acts[1][o], x[i]);
            }
    LAYER_BACKWARD(l, x, m.acts[1], dy, dx, n, &pass);
    for (size_t i = 0; i < n * in; i++)
        if (!(fabs(dx[i] - want[i]) <= 1e-6 * (1 + fabs(want[i]))) && bad++ < 6)
            CHECK(0, "%s: input gradient %zu = %.7g, expected %.7g", name, i, dx[i], want[i]);
    CHECK(bad == 0, "%s: %d values differ", name, bad);
    free(dy), free(dx), free(want);
    finish(&cfg, &m);
}

static void reshape_cases(void)
{
    static const struct {
        const char *input, *shape;
        int n, v[4];
    } cases[] = {{"[24]", "[2, 3, 4]", 3, {2, 3, 4}},
                 {"[2, 3, 4]", "[4, -1]", 2, {4, 6}},
                 {"[2, 3, 4]", "[-1]", 1, {24}},
                 {"[6, 4]", "[1, 2, 3, 4]", 4, {1, 2, 3, 4}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char spec[128], name[256];
        mt_config cfg;
        mt_model m;
        snprintf(spec, sizeof spec, "{reshape: {shape: %s}}", cases[k].shape);
        snprintf(name, sizeof name, "%s on %s", spec, cases[k].input);
        if (!build(name, cases[k].input, spec, 3, &cfg, &m))
            continue;
        mt_layer *l = &m.layers[0];
        int same = l->out_shape.n == cases[k].n && l->out_size == 24;
        for (int i = 0; same && i < cases[k].n; i++)
            same = l->out_shape.v[i] == cases[k].v[i];
        CHECK(same, "%s: output shape of %d dimensions, first %d", name, l->out_shape.n, l->out_shape.v[0]);
        float dy[72], dx[72];
        for (int i = 0; i < 72; i++)
            m.acts[0][i] = (float)i * 0.5f, dy[i] = (float)i - 3.0f;
        mt_pass pass = {.training = 1};
        LAYER_FORWARD(l, m.acts[0], m.acts[1], 3, &pass);
        LAYER_BACKWARD(l, m.acts[0], m.acts[1], dy, dx, 3, &pass);
        int bad = 0;
        for (int i = 0; i < 72; i++)
            bad += m.acts[1][i] != (float)i * 0.5f || dx[i] != (float)i - 3.0f;
        CHECK(bad == 0, "%s: %d values moved", name, bad);
        finish(&cfg, &m);
    }
}

/* ---- finite differences ---- */

/* Loss sum r . layer(x) over n samples, in double. */
static double layer_loss(mt_layer *l, const float *x, float *y, const float *r, int n)
{
    const mt_pass pass = {.training = 1, .global_n = (uint64_t)n};
    LAYER_FORWARD(l, x, y, n, &pass);
    return dot(y, r, (size_t)n * l->out_size);
}

/* Central difference of layer_loss along dir, applied to v (the input or the parameters). */
static double layer_numeric(mt_layer *l, float *x, float *y, const float *r, int n, float *v, const float *dir,
                            size_t len, double eps)
{
    for (size_t i = 0; i < len; i++)
        v[i] += (float)(eps * dir[i]);
    double up = layer_loss(l, x, y, r, n);
    for (size_t i = 0; i < len; i++)
        v[i] -= (float)(2 * eps * dir[i]);
    double down = layer_loss(l, x, y, r, n);
    for (size_t i = 0; i < len; i++)
        v[i] += (float)(eps * dir[i]);
    return (up - down) / (2 * eps);
}

/* One layer alone: gradients of sum r . y with respect to the input and the parameters, along random
 * directions and for single coordinates (first and last of every tensor, and of the input). */
static void layer_gradcheck(const char *input, const char *spec, int n)
{
    char name[512];
    mt_config cfg;
    mt_model m;
    snprintf(name, sizeof name, "gradcheck %s on %s", spec, input);
    if (!build(name, input, spec, n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    const size_t in = n * l->in_size, out = n * l->out_size, np = m.n_params;
    mt_rng rng = mt_rng_make(mt_key(19, in * 1000 + out + np));
    for (size_t i = 0; i < np; i++)
        m.params[i] += 0.1f * mt_rng_normal(&rng);
    float *x = m.acts[0], *y = m.acts[1], *r = malloc(out * sizeof *r), *dy = malloc(out * sizeof *dy);
    float *dx = malloc(in * sizeof *dx), *g = malloc((np + 1) * sizeof *g), *dir = malloc((in + np + 1) * sizeof *dir);
    fill_normal(x, in, 1.0f, &rng);
    fill_normal(r, out, 1.0f, &rng);
    memcpy(dy, r, out * sizeof *dy);
    mt_pass pass = {.training = 1, .global_n = (uint64_t)n};
    mt_model_zero_grads(&m);
    LAYER_FORWARD(l, x, y, n, &pass);
    LAYER_BACKWARD(l, x, y, dy, dx, n, &pass);
    memcpy(g, m.grads, np * sizeof *g);
    const double eps = strstr(spec, "tanh") || strstr(spec, "sigmoid") ? 2e-3 : 1e-2;
    char what[640];
    for (int trial = 0; trial < 3; trial++) {
        fill_normal(dir, in, 1.0f, &rng);
        snprintf(what, sizeof what, "%s: input directional derivative %d", name, trial);
        CHECK_CLOSE(dot(dir, dx, in), layer_numeric(l, x, y, r, n, x, dir, in, eps), 5e-3, 2e-3, what);
        if (np) {
            fill_normal(dir, np, 1.0f, &rng);
            snprintf(what, sizeof what, "%s: parameter directional derivative %d", name, trial);
            CHECK_CLOSE(dot(dir, g, np), layer_numeric(l, x, y, r, n, m.params, dir, np, eps), 5e-3, 2e-3, what);
        }
    }
    size_t at[4] = {0, in - 1, (size_t)mt_rng_below(&rng, in), (size_t)mt_rng_below(&rng, in)};
    for (int e = 0; e < 4; e++) {
        memset(dir, 0, in * sizeof *dir);
        dir[at[e]] = 1;
        snprintf(what, sizeof what, "%s: input[%zu]", name, at[e]);
        CHECK_CLOSE(dx[at[e]], layer_numeric(l, x, y, r, n, x, dir, in, eps), 5e-3, 2e-3, what);
    }
    for (int t = 0; t < l->n_tensors; t++) {
        size_t idx[2] = {l->tensors[t].offset, l->tensors[t].offset + l->tensors[t].size - 1};
        for (int e = 0; e < 2; e++) {
            memset(dir, 0, np * sizeof *dir);
            dir[idx[e]] = 1;
            snprintf(what, sizeof what, "%s: %s[%zu]", name, l->tensors[t].name, idx[e]);
            CHECK_CLOSE(g[idx[e]], layer_numeric(l, x, y, r, n, m.params, dir, np, eps), 5e-3, 2e-3, what);
        }
    }
    free(r), free(dy), free(dx), free(g), free(dir);
    finish(&cfg, &m);
}

/* A generator-shaped model: noise -> dense -> reshape -> conv2d_transpose -> upsample2d ->
 * conv2d_transpose (tanh) -> conv2d -> dense; gradients of sum r . output with respect to all parameters. */
static void model_gradcheck(void)
{
    const char *name = "generator-shaped model",
               *layers =
                   "{dense: {units: 32, activation: tanh}}, {reshape: {shape: [2, 4, 4]}},"
                   " {conv2d_transpose: {filters: 3, kernel_size: 4, strides: 2, padding: same, activation: sigmoid}},"
                   " {upsample2d: {size: [1, 2]}},"
                   " {conv2d_transpose: {filters: 2, kernel_size: 3, strides: 1, padding: same, activation: tanh}},"
                   " {conv2d: {filters: 2, kernel_size: 3, strides: 2}}, {dense: {units: 3}}";
    enum { N = 3 };
    mt_config cfg;
    mt_model m;
    if (!build(name, "[5]", layers, N, &cfg, &m))
        return;
    const size_t np = m.n_params, out = N * m.output_size;
    mt_rng rng = mt_rng_make(mt_key(23, np));
    for (size_t i = 0; i < np; i++)
        m.params[i] += 0.1f * mt_rng_normal(&rng);
    float *x0 = malloc(N * m.input_size * sizeof *x0), *r = malloc(out * sizeof *r), *dy = malloc(out * sizeof *dy);
    float *g = malloc(np * sizeof *g), *dir = malloc(np * sizeof *dir);
    fill_normal(x0, N * m.input_size, 1.0f, &rng);
    fill_normal(r, out, 1.0f, &rng);
    mt_pass pass = {.training = 1, .global_n = N};
    memcpy(m.acts[0], x0, N * m.input_size * sizeof *x0);
    mt_model_zero_grads(&m);
    MODEL_FORWARD(&m, N, &pass);
    memcpy(dy, r, out * sizeof *dy);
    MODEL_BACKWARD(&m, dy, N, &pass, NULL);
    memcpy(g, m.grads, np * sizeof *g);
    const double eps = 2e-3;
    for (int trial = 0; trial < 4 + 2 * m.n_layers; trial++) {
        size_t lo = 0, hi = np;
        char what[160];
        if (trial < 4) {
            fill_normal(dir, np, 1.0f, &rng);
            snprintf(what, sizeof what, "%s: directional derivative %d", name, trial);
        } else { /* one coordinate: the first or last parameter of a layer */
            const mt_layer *l = &m.layers[(trial - 4) / 2];
            if (!l->n_params)
                continue;
            memset(dir, 0, np * sizeof *dir);
            lo = (size_t)(l->params - m.params) + (trial % 2 ? l->n_params - 1 : 0);
            dir[lo] = 1;
            snprintf(what, sizeof what, "%s: layer %d (%s) parameter %zu", name, (trial - 4) / 2, l->ops->name, lo);
            hi = lo + 1;
        }
        double analytic = dot(dir + lo, g + lo, hi - lo), num[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            for (size_t i = lo; i < hi; i++)
                m.params[i] += (float)((sgn ? -eps : eps) * dir[i]);
            memcpy(m.acts[0], x0, N * m.input_size * sizeof *x0);
            num[sgn] = dot(MODEL_FORWARD(&m, N, &pass), r, out);
            for (size_t i = lo; i < hi; i++)
                m.params[i] -= (float)((sgn ? -eps : eps) * dir[i]);
        }
        CHECK_CLOSE(analytic, (num[0] - num[1]) / (2 * eps), 1e-2, 1e-3, what);
    }
    free(x0), free(r), free(dy), free(g), free(dir);
    finish(&cfg, &m);
}

/* activation: tanh gives tanh of the linear layer's output (same parameters). */
static void tanh_activation(const char *input, const char *fmt)
{
    char lin[256], th[256];
    snprintf(lin, sizeof lin, fmt, "linear");
    snprintf(th, sizeof th, fmt, "tanh");
    mt_config c1, c2;
    mt_model m1, m2;
    if (!build(lin, input, lin, 2, &c1, &m1))
        return;
    if (!build(th, input, th, 2, &c2, &m2)) {
        finish(&c1, &m1);
        return;
    }
    CHECK(m2.layers[0].out_activation == MT_ACT_TANH, "%s: out_activation %d", th, m2.layers[0].out_activation);
    mt_rng rng = mt_rng_make(mt_key(29, m1.n_params));
    fill_normal(m1.params, m1.n_params, 0.7f, &rng);
    memcpy(m2.params, m1.params, m1.n_params * sizeof *m1.params);
    fill_normal(m1.acts[0], 2 * m1.input_size, 1.0f, &rng);
    memcpy(m2.acts[0], m1.acts[0], 2 * m1.input_size * sizeof *m1.acts[0]);
    const float *y1 = MODEL_FORWARD(&m1, 2, &(mt_pass){0}), *y2 = MODEL_FORWARD(&m2, 2, &(mt_pass){0});
    int bad = 0, saturated = 0;
    for (size_t i = 0; i < 2 * m1.output_size; i++) {
        saturated += fabsf(y1[i]) > 1.0f;
        if (!(fabs(y2[i] - tanh(y1[i])) <= 2e-6) && bad++ < 3)
            CHECK(0, "%s: output %zu = %.7g, expected tanh(%.7g) = %.7g", th, i, y2[i], y1[i], tanh(y1[i]));
    }
    CHECK(bad == 0 && saturated > 0, "%s: %d values differ, %d linear outputs beyond +-1", th, bad, saturated);
    finish(&c1, &m1);
    finish(&c2, &m2);
}

/* ---- config errors ---- */

static void config_error(const char *input, const char *layer, const char *want1, const char *want2)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: %s\n  layers:\n    - dense: {units: 24}\n    - %s\nloss: mse\noptimizer: sgd\n"
             "data: {file: none.h5}\n",
             input, layer);
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, "gan.yaml", NULL, 0, &cfg, &err) == MT_OK, "%s: %s", layer, err.msg))
        return;
    mt_status st = mt_model_build(&cfg, 0, &m, &err);
    CHECK(st == MT_ERR_CONFIG && strstr(err.msg, "gan.yaml:5: ") && strstr(err.msg, want1) && strstr(err.msg, want2),
          "%s: status %d, message '%s' (expected gan.yaml:5, '%s' and '%s')", layer, (int)st, err.msg, want1, want2);
    if (st == MT_OK)
        mt_model_free(&m);
    mt_config_free(&cfg);
}

static void config_errors(void)
{
    config_error("[3]", "reshape: {shape: [5, 5]}", "model.layers[1].reshape.shape: [5, 5] holds 25 values",
                 "the input [24] has 24");
    config_error("[3]", "reshape: {shape: [-1, 5]}", "model.layers[1].reshape.shape", "multiple of 5");
    config_error("[3]", "reshape: {shape: [-1, -1]}", "model.layers[1].reshape.shape", "at most one -1");
    config_error("[3]", "reshape: {shape: [0, 24]}", "model.layers[1].reshape.shape", "positive");
    config_error("[3]", "reshape: {}", "model.layers[1].reshape", "shape");
    config_error("[3]", "upsample2d: {size: 2}", "model.layers[1].upsample2d", "[channels, height, width]");
    config_error("[3]", "conv2d_transpose: {filters: 2, kernel_size: 3}", "model.layers[1].conv2d_transpose",
                 "[channels, height, width]");
}

static void config_errors_later(void)
{
    /* errors of the layer after the reshape are on line 6 */
    const char *cases[][3] = {
        {"conv2d_transpose: {filters: 2, kernel_size: 3, strides: 2, output_padding: 2}",
         "model.layers[2].conv2d_transpose.output_padding", "smaller than the stride"},
        {"conv2d_transpose: {filters: 2, kernel_size: 3, strides: 2, padding: same, output_padding: 1}",
         "model.layers[2].conv2d_transpose.output_padding", "not with padding: same"},
        {"conv2d_transpose: {filters: 2, kernel_size: 3, padding: 3}", "model.layers[2].conv2d_transpose.padding",
         "leaves no output"},
        {"conv2d_transpose: {filters: 2, kernel_size: 3, padding: full}", "model.layers[2].conv2d_transpose.padding",
         "'full'"},
        {"upsample2d: {size: [2, 2, 2]}", "model.layers[2].upsample2d.size", "[height, width]"},
        {"upsample2d: {size: 0}", "model.layers[2].upsample2d.size", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "model:\n  input: [3]\n  layers:\n    - dense: {units: 24}\n    - reshape: {shape: [6, 2, 2]}\n"
                 "    - %s\nloss: mse\noptimizer: sgd\ndata: {file: none.h5}\n",
                 cases[k][0]);
        mt_config cfg;
        mt_model m;
        mt_error err = {0};
        mt_status st = mt_config_load_string(yaml, "gan.yaml", NULL, 0, &cfg, &err);
        if (st == MT_OK) {
            st = mt_model_build(&cfg, 0, &m, &err);
            if (st == MT_OK)
                mt_model_free(&m);
            mt_config_free(&cfg);
        }
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, "gan.yaml:6") && strstr(err.msg, cases[k][1]) &&
                  strstr(err.msg, cases[k][2]),
              "%s: status %d, message '%s' (expected gan.yaml:6, '%s' and '%s')", cases[k][0], (int)st, err.msg,
              cases[k][1], cases[k][2]);
    }
}

/* ---- checkpoint ---- */

static void checkpoint_round_trip(void)
{
    const char *layers =
        "{dense: {units: 32, activation: relu}}, {reshape: {shape: [2, 4, 4]}},"
        " {conv2d_transpose: {filters: 3, kernel_size: 4, strides: 2, padding: same, activation: relu}},"
        " {upsample2d: {size: 2}},"
        " {conv2d_transpose: {filters: 1, kernel_size: 3, padding: same, activation: tanh}}";
    mt_config cfg, cfg2;
    mt_model m, m2;
    mt_optimizer opt, opt2;
    mt_error err = {0};
    if (mt_test_tmpdir_create("mt-gan-layers") != 0)
        return;
    if (!build("checkpoint", "[6]", layers, 4, &cfg, &m))
        return;
    if (!build("checkpoint 2", "[6]", layers, 4, &cfg2, &m2)) {
        finish(&cfg, &m);
        return;
    }
    CHECK(m.output_size == 16 * 16, "generator output %zu values, expected 16 x 16", m.output_size);
    int ok = CHECK(mt_optimizer_create(cfg.optimizer, m.n_params, &opt, &err) == MT_OK &&
                       mt_optimizer_create(cfg2.optimizer, m2.n_params, &opt2, &err) == MT_OK,
                   "optimizer: %s", err.msg);
    mt_model_init_params(&m2, 99); /* different from m's */
    mt_rng rng = mt_rng_make(mt_key(31, m.n_params));
    for (size_t i = 0; ok && i < m.n_params; i++)
        m.grads[i] = 0.1f * mt_rng_normal(&rng);
    if (ok) {
        mt_optimizer_step(&opt, m.params, m.grads, 0.01);
        mt_optimizer_step(&opt, m.params, m.grads, 0.01);
    }
    const char *path = mt_test_path("gan.h5");
    if (ok &&
        CHECK(mt_checkpoint_write(path, &(mt_checkpoint){.model = &m, .opt = &opt}, &err) == MT_OK, "write: %s",
              err.msg) &&
        CHECK(mt_checkpoint_read(path, &(mt_checkpoint){.model = &m2, .opt = &opt2}, &err) == MT_OK, "read: %s",
              err.msg)) {
        CHECK(!memcmp(m.params, m2.params, m.n_params * sizeof *m.params), "parameters differ after the round trip");
        for (int s = 0; s < opt.n_slots; s++)
            CHECK(!memcmp(opt.slots[s], opt2.slots[s], opt.n * sizeof(float)), "optimizer slot %d differs", s);
        fill_normal(m.acts[0], 4 * m.input_size, 1.0f, &rng);
        memcpy(m2.acts[0], m.acts[0], 4 * m.input_size * sizeof *m.acts[0]);
        const float *y = MODEL_FORWARD(&m, 4, &(mt_pass){0}), *y2 = MODEL_FORWARD(&m2, 4, &(mt_pass){0});
        CHECK(!memcmp(y, y2, 4 * m.output_size * sizeof *y), "outputs differ after the round trip");
        /* torch's shape [in, out, kh, kw] for conv2d_transpose's weight */
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d = f >= 0 ? H5Dopen2(f, "/params/002_conv2d_transpose/weight", H5P_DEFAULT) : -1;
        hsize_t dims[4] = {0};
        hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
        int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
        CHECK(rank == 4 && dims[0] == 2 && dims[1] == 3 && dims[2] == 4 && dims[3] == 4,
              "/params/002_conv2d_transpose/weight: rank %d, dims %llu %llu %llu %llu (expected 2 3 4 4)", rank,
              (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
              (unsigned long long)dims[3]);
        if (sp >= 0)
            H5Sclose(sp);
        if (d >= 0)
            H5Dclose(d);
        if (f >= 0)
            H5Fclose(f);
    }
    if (ok) {
        mt_optimizer_free(&opt);
        mt_optimizer_free(&opt2);
    }
    finish(&cfg, &m);
    finish(&cfg2, &m2);
    mt_test_tmpdir_remove();
}

int main(void)
{
    for (size_t i = 0; i < sizeof convt_cases / sizeof *convt_cases; i++) {
        convt_vs_reference(&convt_cases[i], 3);
        convt_adjoint(&convt_cases[i]);
    }
    convt_by_hand();

    upsample_case("[3, 4, 5]", 3, 4, 5, 2, 2, "2", 3);
    upsample_case("[2, 3]", 1, 2, 3, 2, 3, "[2, 3]", 2);
    upsample_case("[1, 1, 1]", 1, 1, 1, 3, 3, "3", 4);
    upsample_case("[2, 5, 7]", 2, 5, 7, 1, 2, "[1, 2]", 2);
    upsample_case("[4, 7, 9]", 4, 7, 9, 2, 2, "2", 2);
    reshape_cases();

    static const struct {
        const char *input, *spec;
    } grads[] = {
        {"[24]", "{reshape: {shape: [2, 3, 4]}}"},
        {"[2, 3, 4]", "{upsample2d: {size: 2}}"},
        {"[3, 5]", "{upsample2d: {size: [3, 2]}}"},
        {"[2, 4, 5]", "{conv2d_transpose: {filters: 3, kernel_size: 3, strides: 1, padding: valid}}"},
        {"[2, 4, 5]", "{conv2d_transpose: {filters: 3, kernel_size: 3, strides: 1, padding: same}}"},
        {"[2, 4, 5]", "{conv2d_transpose: {filters: 3, kernel_size: 3, strides: 2, padding: valid}}"},
        {"[2, 4, 5]", "{conv2d_transpose: {filters: 3, kernel_size: 3, strides: 2, padding: same}}"},
        {"[3, 4, 4]", "{conv2d_transpose: {filters: 2, kernel_size: 4, strides: 2, padding: same, activation: tanh}}"},
        {"[3, 3, 4]", "{conv2d_transpose: {filters: 2, kernel_size: [2, 3], strides: [2, 1], padding: valid, "
                      "activation: sigmoid}}"},
        {"[2, 3, 3]", "{conv2d_transpose: {filters: 2, kernel_size: 3, strides: 2, padding: 1, output_padding: 1, "
                      "activation: tanh}}"},
        {"[4, 4]", "{conv2d_transpose: {filters: 2, kernel_size: 5, strides: 2, padding: same, use_bias: false}}"},
        {"[7]", "{dense: {units: 5, activation: tanh}}"},
    };
    for (size_t i = 0; i < sizeof grads / sizeof *grads; i++)
        layer_gradcheck(grads[i].input, grads[i].spec, 3);
    model_gradcheck();

    tanh_activation("[6]", "{dense: {units: 9, activation: %s}}");
    tanh_activation("[3, 4, 4]",
                    "{conv2d_transpose: {filters: 2, kernel_size: 4, strides: 2, padding: same, activation: %s}}");

    config_errors();
    config_errors_later();
    checkpoint_round_trip();
    return mt_test_finish("gan_layers");
}
