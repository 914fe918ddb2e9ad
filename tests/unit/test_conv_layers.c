/* The fast paths of the layers around convolutions, against direct computations in double:
 *   - max_pool2d / min_pool2d with 2x2 windows and stride 2 (vector path: 16 outputs per step, masked row
 *     ends): rows of 1 .. 37 outputs, odd heights and widths (a last row or column no window covers gets a
 *     zero gradient), ties (the first of the window in row-major order wins), and the gradient routed to
 *     the winner with every input gradient written;
 *   - batch_norm in training on feature maps (spatial sizes 1, 7, 16, 40, 49: vector loops and their tails)
 *     and on flat features: outputs, running statistics, and the gradients of gamma, beta and the input
 *     from the closed form;
 *   - relu and leaky_relu layers' one-pass backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

static int build(const char *name, const char *input, const char *layer, int n, mt_config *cfg, mt_model *m)
{
    char yaml[1024];
    mt_error err = {0};
    snprintf(yaml, sizeof yaml,
             "model: {input: %s, layers: [%s, flatten, {dense: {units: 2}}]}\nloss: mse\noptimizer: sgd\n"
             "data: {file: none.h5}\n",
             input, layer);
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return 0;
    if (!CHECK(mt_model_build(cfg, 0, m, &err) == MT_OK && mt_model_reserve(m, n, &err) == MT_OK, "%s: %s", name,
               err.msg)) {
        mt_config_free(cfg);
        return 0;
    }
    mt_model_init_params(m, 1); /* batch norm's running statistics: mean 0, variance 1 */
    return 1;
}

static void finish(mt_config *cfg, mt_model *m)
{
    mt_model_free(m);
    mt_config_free(cfg);
}

/* 2x2 stride-2 pooling of n samples of [C, H, W]; values drawn from a few levels so that ties are common. */
static void pool_case(const char *layer, int sign, int C, int H, int W, int n)
{
    char input[64], name[160];
    mt_config cfg;
    mt_model m;
    snprintf(input, sizeof input, "[%d, %d, %d]", C, H, W);
    snprintf(name, sizeof name, "%s on %s", layer, input);
    if (!build(name, input, layer, n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    const int OH = H / 2, OW = W / 2;
    size_t in = (size_t)C * H * W, out = (size_t)C * OH * OW;
    mt_rng rng = mt_rng_make(mt_key(5, (uint64_t)(H * 100 + W)));
    float *x = m.acts[0], *dy = malloc(n * out * sizeof *dy), *dx = malloc(n * in * sizeof *dx);
    for (size_t i = 0; i < n * in; i++)
        x[i] = (float)mt_rng_below(&rng, 5) - 2.0f;
    for (size_t i = 0; i < n * out; i++)
        dy[i] = 1.0f + (float)i;
    for (size_t i = 0; i < n * in; i++)
        dx[i] = NAN;
    mt_pass pass = {.training = 1};
    LAYER_FORWARD(l, x, m.acts[1], n, &pass);
    LAYER_BACKWARD(l, x, m.acts[1], dy, dx, n, &pass);
    int bad = 0;
    float *want = calloc(n * in, sizeof *want);
    for (size_t c = 0; c < (size_t)n * C; c++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                size_t o = c * OH * OW + (size_t)oh * OW + ow, best = 0;
                float v = 0;
                for (int k = 0; k < 4; k++) { /* row-major window order; strictly better replaces */
                    size_t at = c * H * W + (size_t)(2 * oh + k / 2) * W + 2 * ow + k % 2;
                    if (k == 0 || sign * x[at] > sign * v)
                        v = x[at], best = at;
                }
                want[best] = dy[o];
                if (m.acts[1][o] != v && bad++ < 3)
                    CHECK(0, "%s: output %zu = %g, expected %g", name, o, m.acts[1][o], v);
            }
    for (size_t i = 0; i < n * in; i++)
        if (dx[i] != want[i] && bad++ < 3)
            CHECK(0, "%s: input gradient %zu = %g, expected %g", name, i, dx[i], want[i]);
    CHECK(bad == 0, "%s: %d values differ", name, bad);
    free(dy), free(dx), free(want);
    finish(&cfg, &m);
}

static void pool_tests(void)
{
    static const int hw[][2] = {{2, 2}, {4, 6}, {5, 7}, {28, 28}, {14, 14}, {7, 33}, {3, 64}, {6, 74}, {9, 3}};
    for (size_t i = 0; i < sizeof hw / sizeof *hw; i++) {
        pool_case("max_pool2d", 1, 3, hw[i][0], hw[i][1], 3);
        pool_case("min_pool2d", -1, 2, hw[i][0], hw[i][1], 2);
    }
    pool_case("{max_pool2d: {pool_size: 2, strides: 2, padding: same}}", 1, 2, 6, 10, 2);
}

/* Batch norm in training over n samples of `input` (C channels of P values each) against double sums. */
static void bn_case(const char *input, int C, int P, int n)
{
    char name[96];
    mt_config cfg;
    mt_model m;
    snprintf(name, sizeof name, "batch_norm on %s", input);
    if (!build(name, input, "{batch_norm: {momentum: 0.25}}", n, &cfg, &m))
        return;
    mt_layer *l = &m.layers[0];
    size_t in = (size_t)C * P;
    mt_rng rng = mt_rng_make(mt_key(9, in));
    float *x = m.acts[0], *dy = malloc(n * in * sizeof *dy), *dx = malloc(n * in * sizeof *dx);
    for (int c = 0; c < C; c++)
        l->params[c] = 0.5f + 0.1f * c, l->params[C + c] = 0.2f * c - 0.3f;
    for (size_t i = 0; i < n * in; i++) {
        int c = (int)(i / P % C);
        x[i] = 3.0f + c + (1.0f + 0.5f * c) * mt_rng_normal(&rng);
        dy[i] = mt_rng_normal(&rng);
    }
    mt_pass pass = {.training = 1, .global_n = (uint64_t)n};
    mt_model_zero_grads(&m);
    LAYER_FORWARD(l, x, m.acts[1], n, &pass);
    LAYER_BACKWARD(l, x, m.acts[1], dy, dx, n, &pass);
    int bad = 0;
    for (int c = 0; c < C; c++) {
        double cnt = (double)n * P, s = 0, ss = 0, sd = 0, sdx = 0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < P; p++)
                s += x[((size_t)i * C + c) * P + p];
        double mean = s / cnt;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < P; p++) {
                double d = x[((size_t)i * C + c) * P + p] - mean;
                ss += d * d;
            }
        double var = ss / cnt, is = 1 / sqrt(var + 1e-5), g = l->params[c], b = l->params[C + c];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < P; p++) {
                size_t k = ((size_t)i * C + c) * P + p;
                double h = (x[k] - mean) * is;
                sd += dy[k], sdx += dy[k] * h;
                if (fabs(m.acts[1][k] - (g * h + b)) > 2e-5 && bad++ < 3)
                    CHECK(0, "%s: output %zu = %.7g, expected %.7g", name, k, m.acts[1][k], g * h + b);
            }
        for (int i = 0; i < n; i++)
            for (int p = 0; p < P; p++) {
                size_t k = ((size_t)i * C + c) * P + p;
                double h = (x[k] - mean) * is, want = g * is * (dy[k] - sd / cnt - h * sdx / cnt);
                if (fabs(dx[k] - want) > 2e-5 * (1 + fabs(want)) && bad++ < 3)
                    CHECK(0, "%s: input gradient %zu = %.7g, expected %.7g", name, k, dx[k], want);
            }
        if ((fabs(l->grads[c] - sdx) > 1e-4 * (1 + fabs(sdx)) || fabs(l->grads[C + c] - sd) > 1e-4 * (1 + fabs(sd))) &&
            bad++ < 3)
            CHECK(0, "%s: channel %d: dgamma %.7g, dbeta %.7g; expected %.7g, %.7g", name, c, l->grads[c],
                  l->grads[C + c], sdx, sd);
        double rm = 0.25 * mean, rv = 0.75 + 0.25 * ss / (cnt - 1);
        if ((fabs(l->buffers[c] - rm) > 1e-5 * (1 + fabs(rm)) || fabs(l->buffers[C + c] - rv) > 1e-5 * (1 + rv)) &&
            bad++ < 3)
            CHECK(0, "%s: channel %d: running mean %.7g, var %.7g; expected %.7g, %.7g", name, c, l->buffers[c],
                  l->buffers[C + c], rm, rv);
    }
    CHECK(bad == 0, "%s: %d values differ", name, bad);
    free(dy), free(dx);
    finish(&cfg, &m);
}

static void bn_tests(void)
{
    bn_case("[3, 1, 1]", 3, 1, 5);
    bn_case("[6]", 6, 1, 9);
    bn_case("[4, 7]", 4, 7, 3);
    bn_case("[2, 4, 4]", 2, 16, 4);
    bn_case("[3, 5, 8]", 3, 40, 3);
    bn_case("[5, 7, 7]", 5, 49, 6);
}

/* relu and leaky_relu: dx = dy where the output is positive, else 0 (relu) or alpha dy. */
static void act_tests(void)
{
    const char *layers[] = {"relu", "{leaky_relu: {alpha: 0.2}}"};
    const float slope[] = {0.0f, 0.2f};
    for (int a = 0; a < 2; a++) {
        mt_config cfg;
        mt_model m;
        if (!build(layers[a], "[37]", layers[a], 3, &cfg, &m))
            continue;
        mt_layer *l = &m.layers[0];
        float x[111], dy[111], dx[111];
        for (int i = 0; i < 111; i++)
            x[i] = (float)(i % 7) - 3.0f, dy[i] = 0.5f + (float)i;
        memcpy(m.acts[0], x, sizeof x);
        mt_pass pass = {.training = 1};
        LAYER_FORWARD(l, m.acts[0], m.acts[1], 3, &pass);
        LAYER_BACKWARD(l, m.acts[0], m.acts[1], dy, dx, 3, &pass);
        int bad = 0;
        for (int i = 0; i < 111; i++) {
            float want = x[i] > 0 ? dy[i] : slope[a] * dy[i];
            if (dx[i] != want && bad++ < 3)
                CHECK(0, "%s: input gradient %d = %g, expected %g", layers[a], i, dx[i], want);
        }
        CHECK(bad == 0, "%s: %d values differ", layers[a], bad);
        finish(&cfg, &m);
    }
}

int main(void)
{
    pool_tests();
    bn_tests();
    act_tests();
    return mt_test_finish("conv_layers");
}
