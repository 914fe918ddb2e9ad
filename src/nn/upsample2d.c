/* 2-D nearest-neighbour upsampling on [C, H, W] samples (or [H, W] as one channel), as
 * torch.nn.Upsample(scale_factor=(sh, sw), mode='nearest') and Keras' UpSampling2D: every value becomes an
 * sh x sw block, y[c, oh, ow] = x[c, floor(oh / sh), floor(ow / sw)], output [C, H sh, W sw]. The input
 * gradient of a value is the sum of the output gradients of its block. No parameters.
 * Each output row is built once and copied sh - 1 times; the common factor 2 along the width has its own
 * loops (interleaving stores and pairwise sums the compiler vectorizes). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct upsample_opts {
    mt_ints size;
} upsample_opts;

static const mt_option upsample_options[] = {
    {"size", MT_OPT_INTS, offsetof(upsample_opts, size), "2", 1, 1 << 16, NULL, "upsampling factors: s or [sh, sw]"},
    MT_OPT_END,
};

typedef struct upsample_state {
    int C, H, W, sh, sw;
} upsample_state;

static mt_status upsample_setup(mt_layer *l, mt_error *err)
{
    const upsample_opts *o = l->opts;
    int r = l->in_shape.n, s[2] = {0};
    if (r != 2 && r != 3)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: expects samples of shape [channels, height, width] or [height, "
                       "width], got %d dimensions",
                       l->section, r);
    mt_status st = mt_layer_pair(l, "size", &o->size, s, err);
    if (st)
        return st;
    upsample_state g = {.C = r == 3 ? l->in_shape.v[0] : 1,
                        .H = l->in_shape.v[r - 2],
                        .W = l->in_shape.v[r - 1],
                        .sh = s[0],
                        .sw = s[1]};
    long oh = (long)g.H * g.sh, ow = (long)g.W * g.sw;
    if (oh > (1 << 24) || ow > (1 << 24) || (double)g.C * oh * ow > (double)(1 << 28))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s.size: %dx%d upsampling of %dx%dx%d gives %dx%ldx%ld outputs; too "
                       "large",
                       l->section, g.sh, g.sw, g.C, g.H, g.W, g.C, oh, ow);
    upsample_state *state = malloc(sizeof g);
    if (!state)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    *state = g;
    l->state = state;
    l->out_shape = l->in_shape;
    l->out_shape.v[r - 2] = (int)oh;
    l->out_shape.v[r - 1] = (int)ow;
    l->out_size = (size_t)g.C * oh * ow;
    return MT_OK;
}

/* o[w sw + j] = x[w] for j < sw. */
static inline void widen(const float *restrict x, float *restrict o, int W, int sw)
{
    if (sw == 1) {
        memcpy(o, x, (size_t)W * sizeof *o);
    } else if (sw == 2) {
        for (int w = 0; w < W; w++)
            o[2 * w] = o[2 * w + 1] = x[w];
    } else {
        for (int w = 0; w < W; w++)
            for (int j = 0; j < sw; j++)
                o[(size_t)w * sw + j] = x[w];
    }
}

/* d[w] (+)= sum_j g[w sw + j] for j < sw; add selects += over =. */
static inline void narrow(const float *restrict g, float *restrict d, int W, int sw, int add)
{
    if (sw == 2) {
        if (add)
            for (int w = 0; w < W; w++)
                d[w] += g[2 * w] + g[2 * w + 1];
        else
            for (int w = 0; w < W; w++)
                d[w] = g[2 * w] + g[2 * w + 1];
        return;
    }
    for (int w = 0; w < W; w++) {
        float s = add ? d[w] : 0.0f;
        for (int j = 0; j < sw; j++)
            s += g[(size_t)w * sw + j];
        d[w] = s;
    }
}

static mt_status upsample_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const upsample_state *g = l->state;
    const size_t ow = (size_t)g->W * g->sw, rows = (size_t)n * g->C * g->H;
    for (size_t r = 0; r < rows; r++) {
        float *o = y + r * g->sh * ow;
        widen(x + r * g->W, o, g->W, g->sw);
        for (int i = 1; i < g->sh; i++)
            memcpy(o + i * ow, o, ow * sizeof *o);
    }
    return MT_OK;
}

static mt_status upsample_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                   const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)pass, (void)err;
    if (!dx)
        return MT_OK;
    const upsample_state *g = l->state;
    const size_t ow = (size_t)g->W * g->sw, rows = (size_t)n * g->C * g->H;
    for (size_t r = 0; r < rows; r++) {
        const float *d = dy + r * g->sh * ow;
        for (int i = 0; i < g->sh; i++)
            narrow(d + i * ow, dx + r * g->W, g->W, g->sw, i > 0);
    }
    return MT_OK;
}

const mt_layer_ops mt_upsample2d_layer = {
    .name = "upsample2d",
    .options = upsample_options,
    .options_size = sizeof(upsample_opts),
    .doc = "nearest-neighbour upsampling of [C, H, W] samples (or [H, W]) by [sh, sw], as "
           "torch.nn.Upsample(mode='nearest')",
    .setup = upsample_setup,
    .forward = upsample_forward,
    .backward = upsample_backward,
};
