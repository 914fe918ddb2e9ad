/* Convolution, pooling and flatten layers: outputs and gradients against a direct-loop reference written
 * here (independent of the layers' im2col lowering), a few values worked by hand, finite-difference
 * gradient checks of whole models (conv2d with strides, paddings, rectangular kernels, channels, with and
 * without bias, with activations; every pooling type; stacks with batch norm and dense layers), output
 * shapes, parameter shapes, empty batches and configuration errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

/* Builds a model from "model: {input: INPUT, layers: LAYERS}" with the given loss. */
static int build(const char *name, const char *input, const char *layers, const char *loss, int capacity,
                 mt_config *cfg, mt_model *m)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "model: {input: %s, layers: %s}\nloss: %s\noptimizer: sgd\ndata: {file: none.h5}\n",
             input, layers, loss);
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return 0;
    if (!CHECK(mt_model_build(cfg, 0, m, &err) == MT_OK && mt_model_reserve(m, capacity, &err) == MT_OK, "%s: %s", name,
               err.msg)) {
        mt_config_free(cfg);
        return 0;
    }
    return 1;
}

/* Compares count values: |got - want| <= tol max(1, mag), mag = |want| or, for sums, the sum of the absolute
 * values of their terms (float rounding grows with it). Prints the first few that differ; returns how many. */
static int compare(const char *what, const float *got, const double *want, const double *mag, size_t count, double tol)
{
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        double m = mag ? mag[i] : fabs(want[i]);
        if (!(fabs(got[i] - want[i]) <= tol * (m > 1 ? m : 1))) {
            if (bad < 3)
                CHECK(0, "%s[%zu]: got %.7g, expected %.7g", what, i, got[i], want[i]);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d of %zu values differ", what, bad, count);
    return bad;
}

/* ---- direct-loop reference convolution (one sample at a time, zero padding by bounds checks) ---- */

typedef struct geom {
    int C, H, W, F, kh, kw, sh, sw, pt, pb, pl, pr; /* pb, pr: padding at the bottom and right */
    int OH, OW;
} geom;

static void geom_finish(geom *g)
{
    g->OH = (g->H + g->pt + g->pb - g->kh) / g->sh + 1;
    g->OW = (g->W + g->pl + g->pr - g->kw) / g->sw + 1;
}

/* Input value at (c, ih, iw) of the padded image, 0 in the padding. */
static double at(const geom *g, const float *x, int c, int ih, int iw)
{
    return ih < 0 || ih >= g->H || iw < 0 || iw >= g->W ? 0.0 : x[((size_t)c * g->H + ih) * g->W + iw];
}

static void ref_forward(const geom *g, const float *x, const float *w, const float *b, int relu, double *y)
{
    for (int f = 0; f < g->F; f++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                double s = b ? b[f] : 0;
                for (int c = 0; c < g->C; c++)
                    for (int i = 0; i < g->kh; i++)
                        for (int j = 0; j < g->kw; j++)
                            s += w[(((size_t)f * g->C + c) * g->kh + i) * g->kw + j] *
                                 at(g, x, c, oh * g->sh - g->pt + i, ow * g->sw - g->pl + j);
                y[((size_t)f * g->OH + oh) * g->OW + ow] = relu && s < 0 ? 0 : s;
            }
}

/* dW += dy (x) x, db += sum dy, dx += W^T dy, for one sample (dy already through the activation); the
 * same sums of absolute values of the terms into the *a arrays. */
static void ref_backward(const geom *g, const float *x, const float *w, const double *dy, double *dw, double *db,
                         double *dx, double *dwa, double *dba, double *dxa)
{
    for (int f = 0; f < g->F; f++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                double d = dy[((size_t)f * g->OH + oh) * g->OW + ow];
                db[f] += d;
                dba[f] += fabs(d);
                for (int c = 0; c < g->C; c++)
                    for (int i = 0; i < g->kh; i++)
                        for (int j = 0; j < g->kw; j++) {
                            int ih = oh * g->sh - g->pt + i, iw = ow * g->sw - g->pl + j;
                            size_t wi = (((size_t)f * g->C + c) * g->kh + i) * g->kw + j;
                            double v = at(g, x, c, ih, iw);
                            dw[wi] += d * v;
                            dwa[wi] += fabs(d * v);
                            if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W) {
                                size_t xi = ((size_t)c * g->H + ih) * g->W + iw;
                                dx[xi] += d * w[wi];
                                dxa[xi] += fabs(d * w[wi]);
                            }
                        }
            }
}

/* One conv2d layer (options opts) on n samples of input shape `input` against the reference with geometry
 * g (paddings worked out by hand at the call site): output shape, values, and the gradients of the weights,
 * the bias and the input for a random output gradient. */
static void reference_case(const char *name, const char *input, const char *opts, const int d[12], int n, int use_bias,
                           int relu)
{
    geom g = {d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], 0, 0};
    char layers[512];
    mt_config cfg;
    mt_model m;
    geom_finish(&g);
    snprintf(layers, sizeof layers, "[{conv2d: {%s}}]", opts);
    if (!build(name, input, layers, "mse", n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    size_t in = (size_t)g.C * g.H * g.W, out = (size_t)g.F * g.OH * g.OW, nw = (size_t)g.F * g.C * g.kh * g.kw;
    CHECK(l->out_shape.n == 3 && l->out_shape.v[0] == g.F && l->out_shape.v[1] == g.OH && l->out_shape.v[2] == g.OW,
          "%s: output shape [%d, %d, %d], expected [%d, %d, %d]", name, l->out_shape.v[0], l->out_shape.v[1],
          l->out_shape.v[2], g.F, g.OH, g.OW);
    CHECK(l->n_params == nw + (use_bias ? (size_t)g.F : 0), "%s: %zu parameters", name, l->n_params);
    if (l->out_size != out || l->n_params != nw + (use_bias ? (size_t)g.F : 0)) {
        mt_model_free(&m);
        mt_config_free(&cfg);
        return;
    }
    for (size_t i = 0; i < l->n_params; i++)
        l->params[i] = (float)(0.5 * sin(0.7 * (double)i + 0.3));
    const float *w = l->params, *b = use_bias ? l->params + nw : NULL;
    float *x = m.acts[0];
    for (size_t i = 0; i < (size_t)n * in; i++)
        x[i] = (float)cos(1.3 * (double)i);
    mt_pass pass = {.training = 1, .seed = 1, .global_n = (uint64_t)n};
    const float *y = MODEL_FORWARD(&m, n, &pass);
    double *want = calloc((size_t)n * out, sizeof *want), *dyd = malloc((size_t)n * out * sizeof *dyd);
    double *dw = calloc(nw + (size_t)g.F, sizeof *dw), *dx = calloc((size_t)n * in, sizeof *dx);
    double *dwa = calloc(nw + (size_t)g.F, sizeof *dwa), *dxa = calloc((size_t)n * in, sizeof *dxa);
    float *dy = malloc((size_t)n * out * sizeof *dy), *dxl = malloc((size_t)n * in * sizeof *dxl);
    for (int s = 0; s < n; s++)
        ref_forward(&g, x + s * in, w, b, relu, want + s * out);
    char what[160];
    snprintf(what, sizeof what, "%s: forward", name);
    compare(what, y, want, NULL, (size_t)n * out, 1e-5);

    mt_rng rng = mt_rng_make(mt_key(3, (uint64_t)strlen(name)));
    for (size_t i = 0; i < (size_t)n * out; i++) {
        dy[i] = mt_rng_normal(&rng);
        dyd[i] = relu && y[i] <= 0 ? 0 : dy[i];
    }
    for (int s = 0; s < n; s++)
        ref_backward(&g, x + s * in, w, dyd + s * out, dw, dw + nw, dx + s * in, dwa, dwa + nw, dxa + s * in);
    mt_model_zero_grads(&m);
    LAYER_BACKWARD(l, x, y, dy, dxl, n, &pass);
    snprintf(what, sizeof what, "%s: weight gradient", name);
    compare(what, l->grads, dw, dwa, nw, 1e-6);
    if (use_bias) {
        snprintf(what, sizeof what, "%s: bias gradient", name);
        compare(what, l->grads + nw, dw + nw, dwa + nw, (size_t)g.F, 1e-6);
    }
    snprintf(what, sizeof what, "%s: input gradient", name);
    compare(what, dxl, dx, dxa, (size_t)n * in, 1e-6);
    free(want), free(dyd), free(dw), free(dx), free(dwa), free(dxa), free(dy), free(dxl);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void reference_tests(void)
{
    /* C, H, W, F, kh, kw, sh, sw, pt, pb, pl, pr */
    reference_case("valid 3x3", "[2, 7, 6]", "filters: 3, kernel_size: 3",
                   (const int[]){2, 7, 6, 3, 3, 3, 1, 1, 0, 0, 0, 0}, 2, 1, 0);
    /* same, stride 1, 3x3: one zero on every side */
    reference_case("same 3x3 relu", "[3, 5, 6]", "filters: 4, kernel_size: 3, padding: same, activation: relu",
                   (const int[]){3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1}, 3, 1, 1);
    /* same, stride 1, even 4x2 kernel: total padding 3 rows (1 top, 2 bottom) and 1 column (0 left, 1 right) */
    reference_case("same even kernel", "[2, 6, 5]", "filters: 2, kernel_size: [4, 2], padding: same",
                   (const int[]){2, 6, 5, 2, 4, 2, 1, 1, 1, 2, 0, 1}, 2, 1, 0);
    /* same, stride 2 on 7x6, 3x3: OH = 4 (total rows 3 * 2 + 3 - 7 = 2: 1 + 1), OW = 3 (2 * 2 + 3 - 6 = 1: 0 + 1) */
    reference_case("same stride 2", "[2, 7, 6]", "filters: 3, kernel_size: 3, strides: 2, padding: same",
                   (const int[]){2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 0, 1}, 2, 1, 0);
    reference_case("stride [2, 1], padding [1, 2], kernel [2, 3], no bias", "[3, 6, 5]",
                   "filters: 5, kernel_size: [2, 3], strides: [2, 1], padding: [1, 2], use_bias: false",
                   (const int[]){3, 6, 5, 5, 2, 3, 2, 1, 1, 1, 2, 2}, 2, 0, 0);
    reference_case("stride 3, padding 2, on [H, W]", "[8, 9]", "filters: 2, kernel_size: 4, strides: 3, padding: 2",
                   (const int[]){1, 8, 9, 2, 4, 4, 3, 3, 2, 2, 2, 2}, 3, 1, 0);
    reference_case("1x1", "[4, 3, 3]", "filters: 6, kernel_size: 1", (const int[]){4, 3, 3, 6, 1, 1, 1, 1, 0, 0, 0, 0},
                   2, 1, 0);
    reference_case("kernel = whole input", "[2, 4, 3]", "filters: 3, kernel_size: [4, 3]",
                   (const int[]){2, 4, 3, 3, 4, 3, 1, 1, 0, 0, 0, 0}, 2, 1, 0);
    /* several tiles of whole samples: 40 filters on 20x20 make tiles of a few samples, 23 is no multiple */
    reference_case("tiles of samples", "[3, 20, 20]", "filters: 40, kernel_size: 3, padding: same",
                   (const int[]){3, 20, 20, 40, 3, 3, 1, 1, 1, 1, 1, 1}, 23, 1, 0);
    /* padding [2, 1] keeps the width of a [5, 3] kernel's output: the shifted-copy path without `same` */
    reference_case("kernel [5, 3], padding [2, 1]", "[2, 6, 7]", "filters: 3, kernel_size: [5, 3], padding: [2, 1]",
                   (const int[]){2, 6, 7, 3, 5, 3, 1, 1, 2, 2, 1, 1}, 3, 1, 0);
    /* tall images: tiles of output rows (128 and 22) on the shifted-copy path */
    reference_case("tiles of rows, same", "[2, 150, 64]", "filters: 8, kernel_size: 3, padding: same",
                   (const int[]){2, 150, 64, 8, 3, 3, 1, 1, 1, 1, 1, 1}, 2, 1, 0);
    /* one large image: tiles of output rows */
    reference_case("tiles of rows", "[1, 300, 290]", "filters: 8, kernel_size: 3, padding: 1, strides: [1, 2]",
                   (const int[]){1, 300, 290, 8, 3, 3, 1, 2, 1, 1, 1, 1}, 1, 1, 0);
}

/* Values worked by hand on x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]. */
static void hand_values(void)
{
    static const struct {
        const char *opts;
        float w[9], b;
        int oh, ow;
        float y[9];
    } cases[] = {
        /* 2x2 kernel [[1, 0], [0, -1]], bias 0.5: every output is x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 */
        {"kernel_size: 2", {1, 0, 0, -1}, 0.5f, 2, 2, {-3.5f, -3.5f, -3.5f, -3.5f}},
        /* 3x3 ones, same: corner 1+2+4+5 = 12, edge 1+2+3+4+5+6 = 21, centre 45 */
        {"kernel_size: 3, padding: same", {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 3, 3, {12, 21, 16, 27, 45, 33, 24, 39, 28}},
        /* 3x3 ones, stride 2, padding 1: OH = (3 + 2 - 3) / 2 + 1 = 2; windows 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9 */
        {"kernel_size: 3, strides: 2, padding: 1", {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 2, 2, {12, 16, 24, 28}},
        /* 2x2 ones, same: the extra row and column at the bottom and right (torch's padding='same'):
         * y[0][0] = 1+2+4+5 = 12, y[0][2] = 3+6 = 9, y[2][0] = 7+8 = 15, y[2][2] = 9 */
        {"kernel_size: 2, padding: same", {1, 1, 1, 1}, 0, 3, 3, {12, 16, 9, 24, 28, 15, 15, 17, 9}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char layers[256];
        mt_config cfg;
        mt_model m;
        snprintf(layers, sizeof layers, "[{conv2d: {filters: 1, %s}}]", cases[c].opts);
        if (!build(cases[c].opts, "[3, 3]", layers, "mse", 1, &cfg, &m))
            continue;
        mt_layer *l = &m.layers[0];
        size_t nw = l->tensors[0].size;
        memcpy(l->params, cases[c].w, nw * sizeof(float));
        l->params[nw] = cases[c].b;
        for (int i = 0; i < 9; i++)
            m.acts[0][i] = (float)(i + 1);
        mt_pass pass = {.training = 1};
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        CHECK(l->out_shape.v[1] == cases[c].oh && l->out_shape.v[2] == cases[c].ow, "%s: output %dx%d", cases[c].opts,
              l->out_shape.v[1], l->out_shape.v[2]);
        for (int i = 0; i < cases[c].oh * cases[c].ow; i++)
            CHECK_CLOSE(y[i], cases[c].y[i], 1e-6, 1e-6, cases[c].opts);
        if (c == 0) {
            /* dy = 1: dW[i][j] = sum over the 4 windows of x[oh+i][ow+j]: dW[0][0] = 1+2+4+5 = 12,
             * dW[1][1] = 5+6+8+9 = 28; db = 4; dx[0][0] = w[0][0] = 1, dx[1][1] = sum w = 0, dx[2][2] = -1 */
            float dy[4] = {1, 1, 1, 1}, dx[9];
            mt_model_zero_grads(&m);
            LAYER_BACKWARD(l, m.acts[0], y, dy, dx, 1, &pass);
            CHECK_CLOSE(l->grads[0], 12, 1e-6, 1e-6, "hand dW[0][0]");
            CHECK_CLOSE(l->grads[3], 28, 1e-6, 1e-6, "hand dW[1][1]");
            CHECK_CLOSE(l->grads[4], 4, 1e-6, 1e-6, "hand db");
            CHECK_CLOSE(dx[0], 1, 1e-6, 1e-6, "hand dx[0][0]");
            CHECK_CLOSE(dx[4], 0, 1e-6, 1e-6, "hand dx[1][1]");
            CHECK_CLOSE(dx[8], -1, 1e-6, 1e-6, "hand dx[2][2]");
        }
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

/* Pooling by hand on a 4x4 channel without ties inside any 2x2 window, and its negation as a second channel:
 *   1 5 | 2 0
 *   3 4 | 8 6       max 2x2: 5 8 / 9 4   min: 1 0 / 0 1   avg: 3.25 4 / 5.25 2.5
 *   ----+----
 *   7 0 | 1 2
 *   9 5 | 3 4
 * 3x3 windows with stride 2 and same padding (OH = 2, total 1: none on top, one row at the bottom):
 * windows rows 0-2 / 2-3, columns 0-2 / 2-3: max 8 8 / 9 4; avg 31/9, 19/6, 25/6, 10/4 (over the values
 * inside the input only). Global average: 60 / 16 = 3.75. */
static void pool_hand_values(void)
{
    static const float x[16] = {1, 5, 2, 0, 3, 4, 8, 6, 7, 0, 1, 2, 9, 5, 3, 4};
    static const struct {
        const char *layer;
        int out;
        float y[4];
    } cases[] = {
        {"max_pool2d", 4, {5, 8, 9, 4}},
        {"{max_pool2d: {pool_size: 2, strides: 2, padding: valid}}", 4, {5, 8, 9, 4}},
        {"{min_pool2d: {pool_size: [2, 2]}}", 4, {1, 0, 0, 1}},
        {"avg_pool2d", 4, {3.25f, 4, 5.25f, 2.5f}},
        {"{max_pool2d: {pool_size: 3, strides: 2, padding: same}}", 4, {8, 8, 9, 4}},
        {"{avg_pool2d: {pool_size: 3, strides: 2, padding: same}}", 4, {31.0f / 9, 19.0f / 6, 25.0f / 6, 2.5f}},
        {"global_avg_pool", 1, {3.75f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char layers[256];
        mt_config cfg;
        mt_model m;
        snprintf(layers, sizeof layers, "[%s]", cases[c].layer);
        if (!build(cases[c].layer, "[2, 4, 4]", layers, "mse", 1, &cfg, &m))
            continue;
        mt_layer *l = &m.layers[0];
        for (int i = 0; i < 16; i++)
            m.acts[0][i] = x[i], m.acts[0][16 + i] = -x[i];
        mt_pass pass = {.training = 1};
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        int k = cases[c].out;
        CHECK(l->out_size == 2 * (size_t)k, "%s: %zu outputs", cases[c].layer, l->out_size);
        for (int i = 0; i < k; i++) {
            char what[160];
            snprintf(what, sizeof what, "%s: output %d", cases[c].layer, i);
            CHECK_CLOSE(y[i], cases[c].y[i], 1e-6, 1e-6, what);
        }
        /* The negated channel: max of -x is -(min of x), the averages negate. */
        if (strstr(cases[c].layer, "avg")) {
            for (int i = 0; i < k; i++)
                CHECK_CLOSE(y[k + i], -cases[c].y[i], 1e-6, 1e-6, "negated channel average");
        }
        if (!strcmp(cases[c].layer, "avg_pool2d") || !strcmp(cases[c].layer, "global_avg_pool")) {
            /* Each input receives its window's gradient over the window size: dy = 1, 2, 3, 4 per 2x2
             * window (and 5, 6, 7, 8 on the second channel) gives dx = dy / 4; global: dx = dy / 16. */
            float dy[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dx[32];
            LAYER_BACKWARD(l, m.acts[0], y, dy, dx, 1, &pass);
            for (int i = 0; i < 32; i++) {
                int ch = i / 16, row = i % 16 / 4, col = i % 4;
                float want = k == 1 ? (ch + 1) / 16.0f : (1 + ch * 4 + row / 2 * 2 + col / 2) / 4.0f;
                CHECK(dx[i] == want, "%s gradient at %d: got %g, expected %g", cases[c].layer, i, dx[i], want);
            }
        }
        if (c == 0) {
            /* The gradient goes to the winners: 5 at (0,1), 8 at (1,2), 9 at (3,0), 4 at (3,3); for the
             * negated channel to the minima of x: 1 at (0,0), 0 at (0,3), 0 at (2,1), 1 at (2,2). */
            float dy[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dx[32];
            float want[32] = {0};
            want[1] = 1, want[6] = 2, want[12] = 3, want[15] = 4;
            want[16 + 0] = 5, want[16 + 3] = 6, want[16 + 9] = 7, want[16 + 10] = 8;
            CHECK(y[4] == -1 && y[5] == 0 && y[6] == 0 && y[7] == -1, "max of the negated channel: %g %g %g %g", y[4],
                  y[5], y[6], y[7]);
            LAYER_BACKWARD(l, m.acts[0], y, dy, dx, 1, &pass);
            for (int i = 0; i < 32; i++)
                CHECK(dx[i] == want[i], "max_pool2d gradient at %d: got %g, expected %g", i, dx[i], want[i]);
        }
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

/* Ties: the first position in row-major window order wins (as torch's max_pool2d), for max and min. */
static void pool_ties(void)
{
    const char *layers[] = {"[max_pool2d]", "[min_pool2d]"};
    for (int c = 0; c < 2; c++) {
        mt_config cfg;
        mt_model m;
        if (!build(layers[c], "[2, 4]", layers[c], "mse", 1, &cfg, &m))
            continue;
        /* windows {1, 3 / 3, 3} and {2, 2 / 0, 2}: max 3 first at (0,1), 2 first at (0,2);
         * windows for min: {1, 3 / 3, 3} -> 1 at (0,0); {2, 2 / 0, 2} -> 0 at (1,2) */
        static const float x[8] = {1, 3, 2, 2, 3, 3, 0, 2};
        memcpy(m.acts[0], x, sizeof x);
        mt_pass pass = {.training = 1};
        mt_layer *l = &m.layers[0];
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        float dy[2] = {1, 2}, dx[8];
        LAYER_BACKWARD(l, m.acts[0], y, dy, dx, 1, &pass);
        int want_at[2][2] = {{1, 2}, {0, 6}};
        for (int i = 0; i < 8; i++) {
            float want = i == want_at[c][0] ? 1 : i == want_at[c][1] ? 2 : 0;
            CHECK(dx[i] == want, "%s with ties: gradient at %d is %g, expected %g", layers[c], i, dx[i], want);
        }
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

/* ---- finite-difference gradient checks of whole models ---- */

enum { N = 3 };

typedef struct fixture {
    mt_config cfg;
    mt_model m;
    mt_loss loss;
    int32_t y[N];
    float *t;
    int use_targets;
    mt_pass pass;
} fixture;

static double batch_loss(fixture *f)
{
    const float *out = MODEL_FORWARD(&f->m, N, &f->pass);
    return mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->use_targets ? NULL : f->y,
                           f->use_targets ? f->t : NULL, NULL, N, NULL, 0, NULL) /
           N;
}

/* Signs of the outputs of every relu and leaky_relu (in conv, dense or activation layers) after a forward
 * pass, one byte each, into buf (NULL: only counted). Returns the count. Where a sign differs between the
 * two sides of a central difference, the step crossed a kink and the difference is no derivative. */
static size_t kink_signs(const fixture *f, unsigned char *buf)
{
    size_t count = 0;
    for (int li = 0; li < f->m.n_layers; li++) {
        const mt_layer *l = &f->m.layers[li];
        if (l->out_activation != MT_ACT_RELU && l->out_activation != MT_ACT_LEAKY_RELU)
            continue;
        const float *y = f->m.acts[li + 1];
        for (size_t i = 0; i < N * l->out_size; i++, count++)
            if (buf)
                buf[count] = y[i] > 0;
    }
    return count;
}

/* Smallest |pre-activation| of the relu and leaky_relu outputs (default slope) of the latest forward pass;
 * for relu only the positive side is seen (the sign comparison in numeric_dir catches the other). */
static double kink_margin(const fixture *f)
{
    double margin = INFINITY;
    for (int li = 0; li < f->m.n_layers; li++) {
        const mt_layer *l = &f->m.layers[li];
        int leaky = l->out_activation == MT_ACT_LEAKY_RELU;
        if (l->out_activation != MT_ACT_RELU && !leaky)
            continue;
        const float *y = f->m.acts[li + 1];
        for (size_t i = 0; i < N * l->out_size; i++) {
            double z = y[i] > 0 ? y[i] : leaky ? -y[i] / MT_LEAKY_RELU_ALPHA : INFINITY;
            margin = z < margin ? z : margin;
        }
    }
    return margin;
}

/* Central difference of the loss along dir; *valid = 0 when the step crossed a relu kink. */
static double numeric_dir(fixture *f, const float *dir, double eps, const unsigned char *signs, unsigned char *tmp,
                          int *valid)
{
    float *p = f->m.params;
    size_t n = f->m.n_params, ns = kink_signs(f, NULL);
    *valid = 1;
    for (size_t i = 0; i < n; i++)
        p[i] += (float)(eps * dir[i]);
    double up = batch_loss(f);
    kink_signs(f, tmp);
    *valid &= !memcmp(tmp, signs, ns);
    for (size_t i = 0; i < n; i++)
        p[i] -= (float)(2 * eps * dir[i]);
    double down = batch_loss(f);
    kink_signs(f, tmp);
    *valid &= !memcmp(tmp, signs, ns);
    for (size_t i = 0; i < n; i++)
        p[i] += (float)(eps * dir[i]);
    return (up - down) / (2 * eps);
}

/* Smallest difference between two values of one 2x2 window (stride 2) of the input of layer li: max and
 * min pooling are smooth only where the winner does not change within the finite-difference step. */
static double window_gap(const mt_model *m, int li)
{
    const mt_layer *l = &m->layers[li];
    int r = l->in_shape.n, C = r == 3 ? l->in_shape.v[0] : 1, H = l->in_shape.v[r - 2], W = l->in_shape.v[r - 1];
    double gap = INFINITY;
    for (int s = 0; s < N; s++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh + 1 < H; oh += 2)
                for (int ow = 0; ow + 1 < W; ow += 2) {
                    const float *x = m->acts[li] + ((size_t)(s * C + c) * H + oh) * W + ow;
                    float v[4] = {x[0], x[1], x[W], x[W + 1]};
                    for (int a = 0; a < 4; a++)
                        for (int b = a + 1; b < 4; b++)
                            gap = fabs(v[a] - v[b]) < gap ? fabs(v[a] - v[b]) : gap;
                }
    return gap;
}

/* Input modes: random normal values; or, per sample and channel, a permutation of 0.05 k (k = 0, 1, ...)
 * with a leading 1x1 conv set to the identity, so that pooling windows never hold near-equal values. */
enum { RANDOM_INPUT, SPACED_INPUT };

/* Draws parameters (init plus noise, so that biases are not zero), inputs and targets. */
static void draw(fixture *f, int mode, uint64_t attempt, int loss_is_mse, mt_rng *rng)
{
    size_t k = f->m.output_size, in = f->m.input_size;
    mt_model_init_params(&f->m, 42 + attempt);
    size_t first = mode == SPACED_INPUT ? f->m.layers[0].n_params : 0;
    for (size_t i = first; i < f->m.n_params; i++)
        f->m.params[i] += 0.1f * mt_rng_normal(rng);
    if (mode == SPACED_INPUT) { /* identity 1x1 conv (bias 0.1 c); inputs: shuffled multiples of 0.05 */
        const mt_layer *l0 = &f->m.layers[0];
        int C = l0->out_shape.v[0], C0 = l0->in_shape.n == 3 ? l0->in_shape.v[0] : 1;
        memset(f->m.params, 0, l0->n_params * sizeof *f->m.params);
        for (int c = 0; c < C; c++)
            f->m.params[c * C + c] = 1, f->m.params[C * C + c] = 0.1f * (float)c;
        size_t hw = in / (size_t)C0;
        for (size_t sc = 0; sc < (size_t)N * C0; sc++) {
            float *x = f->m.acts[0] + sc * hw;
            for (size_t i = 0; i < hw; i++)
                x[i] = 0.05f * (float)i;
            for (size_t i = hw - 1; i > 0; i--) {
                size_t j = (size_t)mt_rng_below(rng, i + 1);
                float tmp = x[i];
                x[i] = x[j], x[j] = tmp;
            }
        }
    } else {
        for (size_t i = 0; i < N * in; i++)
            f->m.acts[0][i] = mt_rng_normal(rng);
    }
    for (int i = 0; i < N; i++) { /* class labels, and targets (distributions for cross-entropies) */
        f->y[i] = (int32_t)mt_rng_below(rng, (uint64_t)k);
        float sum = 0;
        for (size_t j = 0; j < k; j++)
            sum += f->t[i * k + j] = 0.1f + mt_rng_uniform(rng);
        for (size_t j = 0; j < k && !loss_is_mse; j++)
            f->t[i * k + j] /= sum;
    }
}

/* Compares the gradient g with central differences: along three random directions over all parameters,
 * and for the first, middle and last element of every tensor (or the next ones whose steps cross no kink). */
static void compare_gradients(fixture *f, const char *name, const float *g, mt_rng *rng)
{
    size_t np = f->m.n_params, ns = kink_signs(f, NULL);
    float *dir = malloc(np * sizeof *dir);
    unsigned char *signs = malloc(ns + 1), *tmp = malloc(ns + 1);
    MODEL_FORWARD(&f->m, N, &f->pass);
    kink_signs(f, signs);
    int trial = 0;
    for (int tries = 0; trial < 3 && tries < 20; tries++) {
        double dot = 0;
        int valid;
        for (size_t i = 0; i < np; i++) {
            dir[i] = mt_rng_normal(rng);
            dot += (double)dir[i] * g[i];
        }
        double num = numeric_dir(f, dir, 1e-3, signs, tmp, &valid);
        if (!valid)
            continue;
        char what[200];
        snprintf(what, sizeof what, "%s: directional derivative %d", name, trial++);
        CHECK_CLOSE(dot, num, 2e-2, 2e-4, what);
    }
    CHECK(trial == 3, "%s: only %d directions without kinks", name, trial);
    for (int li = 0; li < f->m.n_layers; li++) {
        const mt_layer *l = &f->m.layers[li];
        for (int t = 0; t < l->n_tensors; t++) {
            const mt_tensor_desc *d = &l->tensors[t];
            size_t idx[3] = {0, d->size / 2, d->size - 1};
            for (int e = 0; e < 3; e++) {
                int valid = 0;
                for (size_t tries = 0; tries < d->size && !valid; tries++) {
                    size_t at = (idx[e] + tries) % d->size, pos = (size_t)(l->params - f->m.params) + d->offset + at;
                    memset(dir, 0, np * sizeof *dir);
                    dir[pos] = 1;
                    double num = numeric_dir(f, dir, 1e-3, signs, tmp, &valid);
                    char what[200];
                    snprintf(what, sizeof what, "%s: layer %d %s[%zu]", name, li, d->name, at);
                    if (valid)
                        CHECK_CLOSE(g[pos], num, 2e-2, 2e-4, what);
                }
                CHECK(valid, "%s: layer %d %s: every step crosses a kink", name, li, d->name);
            }
        }
    }
    free(dir), free(signs), free(tmp);
}

/* Checks d(loss)/d(params) of a model against central differences. Parameters and inputs are redrawn until
 * no relu pre-activation lies near its kink and, if pool_layer >= 0 names a max or min pooling layer, no
 * window of it holds near-equal values (where the loss is not differentiable within the step). */
static void check_model(const char *name, const char *input, const char *layers, const char *loss, int use_targets,
                        int mode, int pool_layer)
{
    fixture f = {.use_targets = use_targets, .pass = {.training = 1, .seed = 1, .global_n = N}};
    mt_error err = {0};
    if (!build(name, input, layers, loss, N, &f.cfg, &f.m))
        return;
    if (!CHECK(mt_loss_setup(&f.loss, f.cfg.loss, &f.m, &err) == MT_OK, "%s: %s", name, err.msg)) {
        mt_model_free(&f.m);
        mt_config_free(&f.cfg);
        return;
    }
    size_t k = f.m.output_size;
    f.t = malloc(N * k * sizeof *f.t);
    float *dout = malloc(N * k * sizeof *dout), *g = malloc(f.m.n_params * sizeof *g);
    mt_rng rng = mt_rng_make(mt_key(7, (uint64_t)strlen(name)));
    int ready = 0;
    for (int attempt = 0; attempt < 40 && !ready; attempt++) {
        draw(&f, mode, (uint64_t)attempt, strstr(loss, "mse") != NULL, &rng);
        MODEL_FORWARD(&f.m, N, &f.pass);
        ready = (pool_layer < 0 || window_gap(&f.m, pool_layer) > 0.02) && kink_margin(&f) > 0.003;
    }
    if (CHECK(ready, "%s: no draw without near ties in the pooling windows or pre-activations near kinks", name)) {
        mt_model_zero_grads(&f.m);
        const float *out = MODEL_FORWARD(&f.m, N, &f.pass);
        mt_loss_compute(&f.loss, out, mt_model_logits(&f.m), use_targets ? NULL : f.y, use_targets ? f.t : NULL, NULL,
                        N, dout, 1.0f / N, NULL);
        MODEL_BACKWARD(&f.m, dout, N, &f.pass, NULL);
        memcpy(g, f.m.grads, f.m.n_params * sizeof *g);
        compare_gradients(&f, name, g, &rng);
    }
    free(g), free(dout), free(f.t);
    mt_model_free(&f.m);
    mt_config_free(&f.cfg);
}

static void gradient_checks(void)
{
    check_model("conv2d same 3x3 tanh, 2 channels", "[2, 6, 5]",
                "[{conv2d: {filters: 3, kernel_size: 3, padding: same, activation: tanh}}]", "mse", 1, RANDOM_INPUT,
                -1);
    check_model("conv2d valid stride 2, rectangular, no bias", "[3, 7, 6]",
                "[{conv2d: {filters: 2, kernel_size: [3, 2], strides: 2, use_bias: false}}, {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("conv2d padding [1, 2], strides [2, 1], relu", "[2, 5, 5]",
                "[{conv2d: {filters: 3, kernel_size: [2, 3], strides: [2, 1], padding: [1, 2], activation: relu}},"
                " {dense: {units: 2}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("conv2d same even kernel, stride 2, sigmoid, on [H, W]", "[6, 7]",
                "[{conv2d: {filters: 2, kernel_size: 4, strides: 2, padding: same, activation: sigmoid}},"
                " {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("two conv2d layers (input gradient), gelu and leaky_relu", "[2, 6, 6]",
                "[{conv2d: {filters: 3, kernel_size: 3, activation: gelu}},"
                " {conv2d: {filters: 2, kernel_size: 2, padding: 1, activation: leaky_relu}}, flatten,"
                " {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("conv2d softmax output + categorical_crossentropy (fused)", "[1, 4, 4]",
                "[{conv2d: {filters: 2, kernel_size: 3, activation: softmax}}]", "categorical_crossentropy", 0,
                RANDOM_INPUT, -1);
    check_model("max_pool2d after identity conv", "[2, 6, 6]",
                "[{conv2d: {filters: 2, kernel_size: 1}}, max_pool2d, flatten, {dense: {units: 3}}]", "mse", 1,
                SPACED_INPUT, -1);
    check_model("min_pool2d 3x3 stride 2 same after identity conv", "[2, 7, 6]",
                "[{conv2d: {filters: 2, kernel_size: 1}}, {min_pool2d: {pool_size: 3, strides: 2, padding: same}},"
                " {dense: {units: 3}}]",
                "mse", 1, SPACED_INPUT, -1);
    check_model("max_pool2d [2, 3] stride 1 after identity conv", "[1, 5, 6]",
                "[{conv2d: {filters: 1, kernel_size: 1}}, {max_pool2d: {pool_size: [2, 3], strides: 1}},"
                " {dense: {units: 2}}]",
                "mse", 1, SPACED_INPUT, -1);
    check_model("avg_pool2d valid and same", "[2, 7, 6]",
                "[{conv2d: {filters: 3, kernel_size: 3, padding: same, activation: tanh}}, avg_pool2d,"
                " {avg_pool2d: {pool_size: 2, strides: 1, padding: same}}, {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("global_avg_pool", "[2, 5, 4]",
                "[{conv2d: {filters: 4, kernel_size: 3, activation: tanh}}, global_avg_pool, {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
    check_model("conv + batch_norm + max_pool + relu + dense, softmax cross-entropy", "[1, 5, 5]",
                "[{conv2d: {filters: 2, kernel_size: 3, padding: same}}, batch_norm, max_pool2d, relu, flatten,"
                " {dense: {units: 4, activation: tanh}}, {dense: {units: 3, activation: softmax}}]",
                "categorical_crossentropy", 0, RANDOM_INPUT, 2);
    check_model("conv + batch_norm + avg_pool + conv + global_avg_pool + dense", "[2, 8, 8]",
                "[{conv2d: {filters: 3, kernel_size: 3, padding: same, activation: gelu}}, {batch_norm: {}},"
                " avg_pool2d, {conv2d: {filters: 4, kernel_size: 3, padding: same, activation: tanh}},"
                " global_avg_pool, {dense: {units: 3}}]",
                "mse", 1, RANDOM_INPUT, -1);
}

/* ---- shapes, tensors, empty batches ---- */

static void shapes_and_tensors(void)
{
    mt_config cfg;
    mt_model m;
    if (!build("shapes", "[28, 28]",
               "[{conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu}}, max_pool2d,"
               " {conv2d: {filters: 64, kernel_size: [3, 5], use_bias: false}}, {max_pool2d: {pool_size: 2,"
               " strides: 1}}, {avg_pool2d: {pool_size: 3, strides: 2, padding: same}}, global_avg_pool, flatten,"
               " {dense: {units: 10}}]",
               "mse", 4, &cfg, &m))
        return;
    /* [28, 28] -> [32, 28, 28] -> [32, 14, 14] -> [64, 12, 10] -> [64, 11, 9] -> [64, 6, 5] -> [64] -> [64] */
    static const int want[][4] = {{3, 32, 28, 28}, {3, 32, 14, 14}, {3, 64, 12, 10}, {3, 64, 11, 9},
                                  {3, 64, 6, 5},   {1, 64, 0, 0},   {1, 64, 0, 0}};
    for (int i = 0; i < 7; i++) {
        const mt_ints *s = &m.layers[i].out_shape;
        int ok = s->n == want[i][0];
        for (int d = 0; ok && d < s->n; d++)
            ok = s->v[d] == want[i][1 + d];
        CHECK(ok, "layer %d (%s): output shape rank %d [%d, %d, %d]", i, m.layers[i].ops->name, s->n, s->v[0],
              s->n > 1 ? s->v[1] : 0, s->n > 2 ? s->v[2] : 0);
    }
    const mt_layer *c0 = &m.layers[0], *c1 = &m.layers[2];
    const mt_tensor_desc *w = &c0->tensors[0];
    CHECK(c0->n_tensors == 2 && w->rank == 4 && w->shape[0] == 32 && w->shape[1] == 1 && w->shape[2] == 3 &&
              w->shape[3] == 3 && !strcmp(w->name, "weight") && !strcmp(c0->tensors[1].name, "bias") &&
              c0->tensors[1].shape[0] == 32,
          "conv2d tensors: weight rank %d [%lld, %lld, %lld, %lld]", w->rank, (long long)w->shape[0],
          (long long)w->shape[1], (long long)w->shape[2], (long long)w->shape[3]);
    CHECK(w->fan_in == 9 && w->fan_out == 32 * 9 && !strcmp(w->init, "he_uniform"),
          "conv2d fans %d, %d (expected 9, 288), init %s (expected he_uniform after relu)", w->fan_in, w->fan_out,
          w->init);
    CHECK(c1->n_tensors == 1 && c1->tensors[0].shape[1] == 32 && c1->tensors[0].fan_in == 32 * 15 &&
              c1->tensors[0].fan_out == 64 * 15 && !strcmp(c1->tensors[0].init, "glorot_uniform"),
          "second conv2d: %d tensors, fan_in %d, init %s", c1->n_tensors, c1->tensors[0].fan_in, c1->tensors[0].init);
    CHECK(c0->out_activation == 1 && m.layers[1].out_activation == -1 && m.layers[5].out_activation == -1 &&
              m.layers[6].out_activation == -1,
          "out_activation: conv2d relu %d, pools and flatten -1", c0->out_activation);
    /* Empty batches do nothing (and do not crash). */
    mt_pass pass = {.training = 1};
    mt_model_zero_grads(&m);
    MODEL_FORWARD(&m, 0, &pass);
    MODEL_BACKWARD(&m, m.dbuf[0], 0, &pass, NULL);
    double sum = 0;
    for (size_t i = 0; i < m.n_params; i++)
        sum += fabs(m.grads[i]);
    CHECK(sum == 0, "an empty batch changed the gradients (sum |g| = %g)", sum);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

/* ---- configuration errors: MT_ERR_CONFIG naming file:line and the key ---- */

static void config_errors(void)
{
    static const struct {
        const char *input, *layer, *key;
    } cases[] = {
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 7}}", "conv2d.kernel_size: the kernel (7x7) is larger"},
        {"[5, 5]", "{conv2d: {filters: 0, kernel_size: 3}}", "conv2d.filters: 0 is out of range"},
        {"[5, 5]", "{conv2d: {filters: -2, kernel_size: 3}}", "conv2d.filters"},
        {"[5, 5]", "{conv2d: {filters: 1e12, kernel_size: 3}}", "conv2d.filters: 1e12 is out of range"},
        {"[5, 5]", "{conv2d: {filters: 2.5, kernel_size: 3}}", "conv2d.filters"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 0}}", "conv2d.kernel_size"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: [3, 3, 3]}}", "conv2d.kernel_size: expected one number or"},
        {"[5, 5]", "{conv2d: {filters: 4}}", "conv2d: missing required key 'kernel_size'"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, strides: 0}}", "conv2d.strides"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, strides: [1, 2, 3]}}", "conv2d.strides"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, padding: -1}}", "conv2d.padding: expected same, valid"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, padding: full}}", "conv2d.padding"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, padding: [1, 2, 3]}}", "conv2d.padding"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, padding: 1000000}}", "conv2d.padding"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, activation: swish}}", "conv2d.activation"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, kernel_initializer: bogus}}", "conv2d.kernel_initializer"},
        {"[5, 5]", "{conv2d: {filters: 4, kernel_size: 3, units: 3}}", "conv2d: unknown key 'units'"},
        {"[28, 28]", "{conv2d: {filters: 1000000, kernel_size: 3}}", "too large"},
        {"[10]", "{conv2d: {filters: 4, kernel_size: 3}}", "conv2d: expects samples of shape"},
        {"[2, 3, 4, 5]", "{conv2d: {filters: 4, kernel_size: 3}}", "conv2d: expects samples of shape"},
        {"[5, 5]", "{max_pool2d: {pool_size: 6}}", "max_pool2d.pool_size: the window (6x6) is larger"},
        {"[5, 5]", "{min_pool2d: {pool_size: 0}}", "min_pool2d.pool_size"},
        {"[5, 5]", "{avg_pool2d: {pool_size: 2, strides: 0}}", "avg_pool2d.strides"},
        {"[5, 5]", "{avg_pool2d: {pool_size: [2, 2, 2]}}", "avg_pool2d.pool_size"},
        {"[5, 5]", "{max_pool2d: {padding: full}}", "max_pool2d.padding: unknown name 'full'"},
        {"[5]", "max_pool2d", "max_pool2d: expects samples of shape"},
        {"[5]", "global_avg_pool", "global_avg_pool: expects samples of shape"},
        {"[5, 5]", "{flatten: {axis: 1}}", "flatten: unknown key 'axis'"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char yaml[1024], where[32];
        snprintf(yaml, sizeof yaml,
                 "model:\n  input: %s\n  layers:\n    - %s\nloss: mse\noptimizer: sgd\ndata: {file: none.h5}\n",
                 cases[c].input, cases[c].layer);
        mt_config cfg;
        mt_model m;
        mt_error err = {0};
        mt_status st = mt_config_load_string(yaml, "layers.yaml", NULL, 0, &cfg, &err);
        if (st == MT_OK) {
            st = mt_model_build(&cfg, 0, &m, &err);
            if (st == MT_OK)
                mt_model_free(&m);
            mt_config_free(&cfg);
        }
        snprintf(where, sizeof where, "layers.yaml:4:");
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, where) && strstr(err.msg, cases[c].key),
              "%s on %s: status %d, message '%s' (expected '%s' and '%s')", cases[c].layer, cases[c].input, (int)st,
              err.msg, where, cases[c].key);
    }
}

int main(void)
{
    hand_values();
    pool_hand_values();
    pool_ties();
    reference_tests();
    shapes_and_tensors();
    config_errors();
    gradient_checks();
    return mt_test_finish("conv");
}
