/* conv2d's lowering paths against a direct computation in double: forward output, weight, bias and input
 * gradients, for shapes chosen to reach every path of src/nn/conv2d.c:
 *   - the masked vector im2col (stride 1, OW == W, OH OW >= 16) with groups of 16 positions that cross
 *     sample boundaries (OH OW not a multiple of 16), C = 1 and C > 1;
 *   - the element-wise im2col (valid padding, strides, images of fewer than 16 positions);
 *   - dX as the transposed convolution (stride 1; also with padding wider than the kernel, where the
 *     transposed padding is negative) and dX by col2im (strides > 1);
 *   - several tiles per batch, products whose rows are taken in several passes (K > 200), filters that are
 *     no multiple of the kernel's blocks (F = 5, 37, 70), with and without bias, fused relu. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

typedef struct shape {
    int C, H, W, F, kh, kw, sh, sw, pt, pl, OH, OW;
} shape;

/* Input value at (c, ih, iw) of one sample, 0 outside the image. */
static double at(const shape *g, const float *x, int c, int ih, int iw)
{
    return ih < 0 || ih >= g->H || iw < 0 || iw >= g->W ? 0.0 : x[((size_t)c * g->H + ih) * g->W + iw];
}

/* Forward (pre-activation) of one sample and, given dz = dL/d(pre-activation), the gradients (added). */
static void direct(const shape *g, const float *x, const float *w, const float *b, double *z, const double *dz,
                   double *dw, double *db, double *dx)
{
    for (int f = 0; f < g->F; f++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                size_t o = ((size_t)f * g->OH + oh) * g->OW + ow;
                double s = b ? b[f] : 0;
                for (int c = 0; c < g->C; c++)
                    for (int i = 0; i < g->kh; i++)
                        for (int j = 0; j < g->kw; j++) {
                            int ih = oh * g->sh - g->pt + i, iw = ow * g->sw - g->pl + j;
                            size_t wi = (((size_t)f * g->C + c) * g->kh + i) * g->kw + j;
                            double v = at(g, x, c, ih, iw);
                            if (z)
                                s += w[wi] * v;
                            if (dz) {
                                dw[wi] += dz[o] * v;
                                if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                                    dx[((size_t)c * g->H + ih) * g->W + iw] += dz[o] * w[wi];
                            }
                        }
                if (z)
                    z[o] = s;
                if (dz)
                    db[f] += dz[o];
            }
}

/* Largest |got - want| relative to max(1, max |want|); prints the first value that differed by more than
 * tol. Returns 1 when all agree. */
static int agree(const char *name, const char *what, const float *got, const double *want, size_t n, double tol)
{
    double mag = 1;
    for (size_t i = 0; i < n; i++)
        mag = fabs(want[i]) > mag ? fabs(want[i]) : mag;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * mag))
            return CHECK(0, "%s: %s[%zu] = %.7g, direct computation %.7g (scale %g)", name, what, i, got[i], want[i],
                         mag);
    return 1;
}

/* One conv2d layer with `opts` on n samples of [C, H, W] against the direct computation; g gives the
 * geometry worked out by hand (pt, pl: top and left padding). */
static void check(const char *name, const char *opts, shape g, int n, int bias, int relu)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model: {input: [%d, %d, %d], layers: [{conv2d: {%s}}, flatten, {dense: {units: 2}}]}\nloss: mse\n"
             "optimizer: sgd\ndata: {file: none.h5}\n",
             g.C, g.H, g.W, opts);
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, &cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return;
    if (!CHECK(mt_model_build(&cfg, 0, &m, &err) == MT_OK && mt_model_reserve(&m, n, &err) == MT_OK, "%s: %s", name,
               err.msg)) {
        mt_config_free(&cfg);
        return;
    }
    mt_layer *l = &m.layers[0];
    size_t in = (size_t)g.C * g.H * g.W, out = (size_t)g.F * g.OH * g.OW, nw = (size_t)g.F * g.C * g.kh * g.kw;
    if (!CHECK(l->out_size == out && l->n_params == nw + (bias ? (size_t)g.F : 0),
               "%s: %zu outputs, %zu parameters; expected %zu, %zu", name, l->out_size, l->n_params, out,
               nw + (bias ? (size_t)g.F : 0)))
        goto done;
    mt_rng rng = mt_rng_make(mt_key(11, (uint64_t)strlen(name)));
    for (size_t i = 0; i < l->n_params; i++)
        l->params[i] = mt_rng_normal(&rng) * 0.3f;
    for (size_t i = 0; i < (size_t)n * in; i++)
        m.acts[0][i] = mt_rng_normal(&rng);
    mt_pass pass = {.training = 1, .seed = 1, .global_n = (uint64_t)n};
    LAYER_FORWARD(l, m.acts[0], m.acts[1], n, &pass);
    const float *w = l->params, *b = bias ? l->params + nw : NULL;
    double *z = malloc((size_t)n * out * sizeof *z), *dz = malloc((size_t)n * out * sizeof *dz);
    double *dw = calloc(nw + (size_t)g.F, sizeof *dw), *dx = calloc((size_t)n * in, sizeof *dx);
    float *dy = malloc((size_t)n * out * sizeof *dy), *dxl = malloc((size_t)n * in * sizeof *dxl);
    for (int s = 0; s < n; s++)
        direct(&g, m.acts[0] + s * in, w, b, z + s * out, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < (size_t)n * out; i++)
        z[i] = relu && z[i] < 0 ? 0 : z[i];
    int ok = agree(name, "output", m.acts[1], z, (size_t)n * out, 2e-6);
    for (size_t i = 0; i < (size_t)n * out; i++) {
        dy[i] = mt_rng_normal(&rng);
        dz[i] = relu && m.acts[1][i] <= 0 ? 0 : dy[i];
    }
    for (int s = 0; s < n; s++)
        direct(&g, m.acts[0] + s * in, w, b, NULL, dz + s * out, dw, dw + nw, dx + s * in);
    mt_model_zero_grads(&m);
    for (size_t i = 0; i < (size_t)n * in; i++)
        dxl[i] = NAN; /* every input gradient must be written */
    LAYER_BACKWARD(l, m.acts[0], m.acts[1], dy, dxl, n, &pass);
    ok &= agree(name, "weight gradient", l->grads, dw, nw, 2e-6);
    if (bias)
        ok &= agree(name, "bias gradient", l->grads + nw, dw + nw, (size_t)g.F, 2e-6);
    ok &= agree(name, "input gradient", dxl, dx, (size_t)n * in, 2e-6);
    if (ok)
        printf("ok   %s\n", name);
    free(z), free(dz), free(dw), free(dx), free(dy), free(dxl);
done:
    mt_model_free(&m);
    mt_config_free(&cfg);
}

int main(void)
{
    /*            C   H   W   F  kh kw sh sw pt pl  OH  OW */
    check("C = 1, 28x28 same 3x3, 32 filters (the first layer of fashion_cnn)",
          "filters: 32, kernel_size: 3, padding: same", (shape){1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 28, 28}, 5, 1, 0);
    check("C = 1, 7x9 same: groups of 16 positions across samples", "filters: 5, kernel_size: 3, padding: same",
          (shape){1, 7, 9, 5, 3, 3, 1, 1, 1, 1, 7, 9}, 7, 1, 0);
    check("C = 3, 5x5 same, relu: groups across up to two samples",
          "filters: 37, kernel_size: 3, padding: same, activation: relu", (shape){3, 5, 5, 37, 3, 3, 1, 1, 1, 1, 5, 5},
          9, 1, 1);
    check("C = 32, 14x14 same, 64 filters (the second layer of fashion_cnn), several tiles",
          "filters: 64, kernel_size: 3, padding: same", (shape){32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 14, 14}, 6, 1, 0);
    check("C = 40, K = 360 and transposed K = 630 in passes, 70 filters, no bias",
          "filters: 70, kernel_size: 3, padding: same, use_bias: false", (shape){40, 6, 5, 70, 3, 3, 1, 1, 1, 1, 6, 5},
          3, 0, 0);
    check("even kernel 4x2 same (padding 1 top, 2 bottom, 0 left, 1 right)",
          "filters: 6, kernel_size: [4, 2], padding: same", (shape){2, 6, 5, 6, 4, 2, 1, 1, 1, 0, 6, 5}, 4, 1, 0);
    check("valid 3x3: element-wise im2col, transposed convolution with padding 2", "filters: 4, kernel_size: 3",
          (shape){3, 9, 8, 4, 3, 3, 1, 1, 0, 0, 7, 6}, 5, 1, 0);
    check("padding 3 with a 3x3 kernel: negative transposed padding", "filters: 3, kernel_size: 3, padding: 3",
          (shape){2, 5, 6, 3, 3, 3, 1, 1, 3, 3, 9, 10}, 3, 1, 0);
    check("image of 12 positions (< 16): element-wise im2col", "filters: 9, kernel_size: 3, padding: same",
          (shape){2, 3, 4, 9, 3, 3, 1, 1, 1, 1, 3, 4}, 11, 1, 0);
    check("stride 2 same: dX by col2im", "filters: 5, kernel_size: 3, strides: 2, padding: same",
          (shape){3, 9, 10, 5, 3, 3, 2, 2, 1, 0, 5, 5}, 4, 1, 0);
    check("strides [1, 3], padding [2, 1], kernel [3, 5]",
          "filters: 4, kernel_size: [3, 5], strides: [1, 3], padding: [2, 1]",
          (shape){2, 6, 11, 4, 3, 5, 1, 3, 2, 1, 8, 3}, 3, 1, 0);
    check("strides [2, 1] with the width kept", "filters: 3, kernel_size: 3, strides: [2, 1], padding: 1",
          (shape){2, 7, 6, 3, 3, 3, 2, 1, 1, 1, 4, 6}, 3, 1, 0);
    check("1x1 kernel, C = 17", "filters: 33, kernel_size: 1", (shape){17, 4, 5, 33, 1, 1, 1, 1, 0, 0, 4, 5}, 3, 1, 0);
    fflush(stdout);
    return mt_test_finish("conv_paths");
}
