/* 2-D transposed convolution with a fused activation, as torch.nn.ConvTranspose2d computes it: per sample,
 * input [C, H, W] (or [H, W] as one channel), weight [C, filters, kh, kw] (torch's [in, out, kh, kw]), bias
 * [filters], output [filters, OH, OW] with
 *     y[f, ih sh - pt + ki, iw sw - pl + kj] += x[c, ih, iw] w[c, f, ki, kj]   (then + b[f], activation),
 * keeping the output positions 0 <= oh < OH, 0 <= ow < OW. It is the adjoint of conv2d with the same kernel,
 * strides and padding (the input gradient of that convolution), which is how it upsamples.
 *
 * Padding:
 *   valid (default): pt = 0, OH = (H - 1) sh + kh + output_padding                   (torch padding=0)
 *   p or [ph, pw]:   pt = p, OH = (H - 1) sh - 2 p + kh + output_padding            (torch padding=p)
 *   same:            OH = H sh (Keras' Conv2DTranspose), pt = floor(max(kh - sh, 0) / 2): the adjoint of
 *                    conv2d's `same` from [OH] to [H]. When kh - sh is even this is torch's padding =
 *                    (kh - sh) / 2, output_padding = 0 (e.g. k 4, s 2: padding 1); when it is odd the extra
 *                    row is cropped at the bottom, as TensorFlow does (torch cannot express it).
 * output_padding (torch's; smaller than the stride) adds rows and columns at the bottom and right.
 * Widths alike. Initializer fans follow torch and Keras: fan_in = filters kh kw, fan_out = C kh kw.
 *
 * Lowering, per sample (the buffer is allocated in setup; nothing is allocated in a pass):
 *   forward   cols[F kh kw, H W] = W^T[F kh kw, C] X[C, H W]  (mt_gemm), then col2im adds each row of cols
 *             into the output plane of its (f, ki, kj) at the strided positions inside the output;
 *   backward  dcols = im2col(dY) (the same positions read, zeros outside), then
 *             dW[C, F kh kw] += X[C, H W] dcols^T   and   dX[C, H W] = W[C, F kh kw] dcols   (mt_gemm).
 * col2im and im2col run along rows of the input with the valid column range of each kernel offset
 * precomputed (no test per element); strides 1 and 2 have their own loops, which the compiler vectorizes.
 * Each output element receives its terms in a fixed order (kernel offsets in row-major order), so results
 * do not depend on the batch size or on a sample's place in the batch. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/gemm.h"
#include "nn/activation.h"
#include "nn/affine_params.h"
#include "nn/init.h"
#include "nn/layer.h"

typedef struct convt_opts {
    int filters;
    mt_ints kernel_size, strides, output_padding;
    const mt_node *padding;
    mt_affine_opts affine;
} convt_opts;

static const mt_option convt_options[] = {
    {"filters", MT_OPT_INT, offsetof(convt_opts, filters), NULL, 1, 1 << 20, NULL, "number of output channels"},
    {"kernel_size", MT_OPT_INTS, offsetof(convt_opts, kernel_size), NULL, 1, 1 << 16, NULL,
     "kernel height and width: k or [kh, kw]"},
    {"strides", MT_OPT_INTS, offsetof(convt_opts, strides), "1", 1, 1 << 16, NULL,
     "stride (upsampling factor): s or [sh, sw]"},
    {"padding", MT_OPT_NODE, offsetof(convt_opts, padding), "valid", 0, 0, NULL,
     "valid (output (H - 1) s + k), same (output H s, as Keras), or rows and columns cropped from each side: "
     "p or [ph, pw] (torch's padding)"},
    {"output_padding", MT_OPT_INTS, offsetof(convt_opts, output_padding), "0", 0, 1 << 16, NULL,
     "rows and columns added at the bottom and right (torch's output_padding; smaller than the stride; not "
     "with same): op or [oph, opw]"},
    MT_AFFINE_OPTIONS(
        convt_opts, affine, "activation applied to the output (softmax: over the whole output of a sample)",
        "weight initializer (as conv2d; fan_in = filters kh kw, fan_out = C kh kw)", "add a learned bias per filter"),
    MT_OPT_END,
};

/* The geometry and the column buffer (one allocation, freed with the model). */
typedef struct convt_state {
    int C, H, W, F, kh, kw, sh, sw, pt, pl, OH, OW;
    int K;            /* F kh kw: rows of cols */
    float *cols;      /* [K][H W] */
    int *h_lo, *h_hi; /* [kh]: input rows ih with 0 <= ih sh - pt + ki < OH are [h_lo, h_hi) */
    int *w_lo, *w_hi; /* [kw]: input columns alike */
} convt_state;

/* [lo, hi): the inputs i < in with 0 <= i s - pad + k < out. */
static void valid_range(int in, int s, int pad, int k, int out, int *lo, int *hi)
{
    long a = (long)pad - k, b = (long)out - 1 + pad - k; /* need a <= i s <= b */
    long l0 = a > 0 ? (a + s - 1) / s : 0, h0 = b >= 0 ? b / s + 1 : 0;
    h0 = h0 < in ? h0 : in;
    *lo = (int)(l0 < h0 ? l0 : h0);
    *hi = (int)h0;
}

static mt_status alloc_state(mt_layer *l, const convt_state *g0, mt_error *err)
{
    size_t ncols = (size_t)g0->K * g0->H * g0->W;
    if (ncols > ((size_t)1 << 28))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: %d filters of %dx%d on %dx%dx%d inputs need %zu MiB of buffers; "
                       "too large",
                       l->section, g0->F, g0->kh, g0->kw, g0->C, g0->H, g0->W, ncols >> 18);
    size_t head = (sizeof *g0 + 63) / 64 * 64, ints = 2 * ((size_t)g0->kh + g0->kw);
    char *mem = aligned_alloc(64, (head + ncols * sizeof(float) + ints * sizeof(int) + 63) / 64 * 64);
    if (!mem)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    convt_state *s = (convt_state *)mem;
    *s = *g0;
    s->cols = (float *)(mem + head);
    s->h_lo = (int *)(s->cols + ncols);
    s->h_hi = s->h_lo + s->kh;
    s->w_lo = s->h_hi + s->kh;
    s->w_hi = s->w_lo + s->kw;
    for (int k = 0; k < s->kh; k++)
        valid_range(s->H, s->sh, s->pt, k, s->OH, &s->h_lo[k], &s->h_hi[k]);
    for (int k = 0; k < s->kw; k++)
        valid_range(s->W, s->sw, s->pl, k, s->OW, &s->w_lo[k], &s->w_hi[k]);
    l->state = s;
    return MT_OK;
}

static mt_status convt_setup(mt_layer *l, mt_error *err)
{
    convt_opts *o = l->opts;
    convt_state g = {0};
    int k[2] = {0}, s[2] = {0}, op[2] = {0}, p[2] = {0}, same = 0;
    if (l->in_shape.n != 2 && l->in_shape.n != 3)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: expects samples of shape [channels, height, width] or [height, "
                       "width], got %d dimensions",
                       l->section, l->in_shape.n);
    int r = l->in_shape.n;
    g.C = r == 3 ? l->in_shape.v[0] : 1;
    g.H = l->in_shape.v[r - 2];
    g.W = l->in_shape.v[r - 1];
    mt_status st = mt_layer_pair(l, "kernel_size", &o->kernel_size, k, err);
    if (!st)
        st = mt_layer_pair(l, "strides", &o->strides, s, err);
    if (!st)
        st = mt_layer_pair(l, "output_padding", &o->output_padding, op, err);
    if (!st)
        st = mt_layer_padding(l, o->padding, "a number of rows cropped per side", &same, p, err);
    if (st)
        return st;
    if (same && (op[0] || op[1]))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s.output_padding: not with padding: same (its output is input * "
                       "stride already)",
                       l->section);
    for (int d = 0; d < 2; d++)
        if (op[d] >= s[d])
            return mt_fail(err, MT_ERR_CONFIG, "%s.output_padding: %d must be smaller than the stride %d", l->section,
                           op[d], s[d]);
    g.F = o->filters, g.kh = k[0], g.kw = k[1], g.sh = s[0], g.sw = s[1];
    long oh, ow;
    if (same) {
        oh = (long)g.H * g.sh;
        ow = (long)g.W * g.sw;
        g.pt = g.kh > g.sh ? (g.kh - g.sh) / 2 : 0;
        g.pl = g.kw > g.sw ? (g.kw - g.sw) / 2 : 0;
    } else {
        oh = (long)(g.H - 1) * g.sh - 2L * p[0] + g.kh + op[0];
        ow = (long)(g.W - 1) * g.sw - 2L * p[1] + g.kw + op[1];
        g.pt = p[0], g.pl = p[1];
        if (oh < 1 || ow < 1)
            return mt_fail(err, MT_ERR_CONFIG,
                           "%s.padding: cropping %d rows and %d columns per side leaves no "
                           "output (%ldx%ld)",
                           l->section, p[0], p[1], oh, ow);
    }
    size_t K = (size_t)g.F * g.kh * g.kw;
    if (oh > (1 << 24) || ow > (1 << 24) || K > (1u << 24) || K * g.C > (1u << 28) ||
        (double)g.F * oh * ow > (double)(1 << 28))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: %d filters of %dx%d on %dx%dx%d inputs giving %dx%ldx%ld outputs is "
                       "too large",
                       l->section, g.F, g.kh, g.kw, g.C, g.H, g.W, g.F, oh, ow);
    g.OH = (int)oh, g.OW = (int)ow, g.K = (int)K;
    l->out_shape = (mt_ints){.n = 3, .v = {g.F, g.OH, g.OW}};
    l->out_size = (size_t)g.F * g.OH * g.OW;
    st = mt_affine_params(l,
                          &(mt_affine_spec){.rank = 4,
                                            .shape = {g.C, g.F, g.kh, g.kw},
                                            .units = g.F,
                                            .fan_in = g.F * g.kh * g.kw,
                                            .fan_out = g.C * g.kh * g.kw,
                                            .opts = &o->affine},
                          err);
    return st ? st : alloc_state(l, &g, err);
}

/* y[f, ih sh - pt + ki, iw sw - pl + kj] += cols[(f kh + ki) kw + kj, ih W + iw] over the positions inside
 * the output; y is one sample [F, OH, OW]. */
static void col2im(const convt_state *s, const float *cols, float *y)
{
    const size_t hw = (size_t)s->H * s->W, ohw = (size_t)s->OH * s->OW;
    for (int f = 0; f < s->F; f++)
        for (int ki = 0; ki < s->kh; ki++)
            for (int kj = 0; kj < s->kw; kj++) {
                const float *row = cols + (size_t)((f * s->kh + ki) * s->kw + kj) * hw;
                const int w0 = s->w_lo[kj], w1 = s->w_hi[kj], sw = s->sw, off = kj - s->pl;
                for (int ih = s->h_lo[ki]; ih < s->h_hi[ki]; ih++) {
                    const float *restrict src = row + (size_t)ih * s->W;
                    float *restrict dst = y + f * ohw + (size_t)(ih * s->sh - s->pt + ki) * s->OW;
                    if (sw == 1)
                        for (int iw = w0; iw < w1; iw++)
                            dst[iw + off] += src[iw];
                    else if (sw == 2)
                        for (int iw = w0; iw < w1; iw++)
                            dst[2 * iw + off] += src[iw];
                    else
                        for (int iw = w0; iw < w1; iw++)
                            dst[iw * sw + off] += src[iw];
                }
            }
}

/* dcols[(f kh + ki) kw + kj, ih W + iw] = dy[f, ih sh - pt + ki, iw sw - pl + kj], 0 where that is outside
 * the output; dy is one sample [F, OH, OW]. */
static void im2col(const convt_state *s, const float *dy, float *dcols)
{
    const size_t hw = (size_t)s->H * s->W, ohw = (size_t)s->OH * s->OW;
    for (int f = 0; f < s->F; f++)
        for (int ki = 0; ki < s->kh; ki++)
            for (int kj = 0; kj < s->kw; kj++) {
                float *row = dcols + (size_t)((f * s->kh + ki) * s->kw + kj) * hw;
                const int h0 = s->h_lo[ki], h1 = s->h_hi[ki], w0 = s->w_lo[kj], w1 = s->w_hi[kj], sw = s->sw;
                const int off = kj - s->pl;
                memset(row, 0, (size_t)h0 * s->W * sizeof *row);
                for (int ih = h0; ih < h1; ih++) {
                    float *restrict dst = row + (size_t)ih * s->W;
                    const float *restrict src = dy + f * ohw + (size_t)(ih * s->sh - s->pt + ki) * s->OW;
                    for (int iw = 0; iw < w0; iw++)
                        dst[iw] = 0.0f;
                    if (sw == 1)
                        for (int iw = w0; iw < w1; iw++)
                            dst[iw] = src[iw + off];
                    else if (sw == 2)
                        for (int iw = w0; iw < w1; iw++)
                            dst[iw] = src[2 * iw + off];
                    else
                        for (int iw = w0; iw < w1; iw++)
                            dst[iw] = src[iw * sw + off];
                    for (int iw = w1; iw < s->W; iw++)
                        dst[iw] = 0.0f;
                }
                memset(row + (size_t)h1 * s->W, 0, (size_t)(s->H - h1) * s->W * sizeof *row);
            }
}

static mt_status convt_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    if (n == 0)
        return MT_OK;
    const convt_opts *o = l->opts;
    const convt_state *s = l->state;
    const int hw = s->H * s->W;
    const size_t ohw = (size_t)s->OH * s->OW;
    const float *bias = o->affine.use_bias ? l->params + (size_t)s->C * s->K : NULL;
    float *z = l->scratch_per_sample ? l->scratch : y;
    for (int i = 0; i < n; i++) {
        float *zi = z + (size_t)i * l->out_size;
        for (int f = 0; f < s->F; f++) {
            const float b = bias ? bias[f] : 0.0f;
            float *p = zi + f * ohw;
            for (size_t q = 0; q < ohw; q++)
                p[q] = b;
        }
        mt_gemm(1, 0, s->K, hw, s->C, 1.0f, l->params, s->K, x + (size_t)i * l->in_size, hw, 0.0f, s->cols, hw);
        col2im(s, s->cols, zi);
    }
    mt_activation act = mt_affine_activation(&o->affine);
    if (act.kind != MT_ACT_LINEAR || z != y)
        mt_activation_forward(&act, z, y, n, (int)l->out_size);
    return MT_OK;
}

static mt_status convt_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    if (n == 0)
        return MT_OK;
    const convt_opts *o = l->opts;
    const convt_state *s = l->state;
    const int hw = s->H * s->W;
    const size_t ohw = (size_t)s->OH * s->OW;
    mt_activation act = mt_affine_activation(&o->affine);
    if (!l->fused_output && act.kind != MT_ACT_LINEAR)
        mt_activation_backward(&act, l->scratch, y, dy, n, (int)l->out_size);
    float *gw = l->grads, *gb = o->affine.use_bias ? l->grads + (size_t)s->C * s->K : NULL;
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * l->out_size, *xi = x + (size_t)i * l->in_size;
        if (gb)
            for (int f = 0; f < s->F; f++)
                gb[f] += mt_affine_row_sum(dyi + f * ohw, ohw);
        im2col(s, dyi, s->cols);
        mt_gemm(0, 1, s->C, s->K, hw, 1.0f, xi, hw, s->cols, hw, 1.0f, gw, s->K);
        if (dx)
            mt_gemm(0, 0, s->C, hw, s->K, 1.0f, l->params, s->K, s->cols, hw, 0.0f, dx + (size_t)i * l->in_size, hw);
    }
    return MT_OK;
}

const mt_layer_ops mt_conv2d_transpose_layer = {
    .name = "conv2d_transpose",
    .options = convt_options,
    .options_size = sizeof(convt_opts),
    .doc = "2-D transposed convolution y = f(W^T * x + b) on [C, H, W] samples (or [H, W]), W of shape "
           "[C, filters, kh, kw] as torch.nn.ConvTranspose2d",
    .torch = "torch.nn.ConvTranspose2d state_dict: weight [in_channels, out_channels, kh, kw], bias "
             "[out_channels]",
    .setup = convt_setup,
    .forward = convt_forward,
    .backward = convt_backward,
};
