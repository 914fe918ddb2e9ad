/* 2-D pooling layers on [C, H, W] samples (or [H, W] as one channel), as torch.nn.MaxPool2d / AvgPool2d
 * compute them, with Keras' option names: `max_pool2d`, `min_pool2d` (the minimum, for symmetry), and
 * `avg_pool2d` take pool_size (k or [kh, kw], default 2), strides (default pool_size) and padding (`valid`,
 * default, or `same`); `global_avg_pool` averages each channel to one value ([C, H, W] -> [C]).
 *
 * Output OH = floor((H - kh) / sh) + 1 with `valid`; with `same`, OH = ceil(H / sh) and the window is
 * shifted as by a convolution's `same` padding (floor(total / 2) on top). Padded positions never win a
 * max or min, and an average with `same` divides by the number of input values inside the window
 * (Keras' / TensorFlow's rule; torch has no `same` pooling). Max and min keep the position of the winner
 * (the first in row-major window order on ties, as torch) and route the gradient to it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct pool_opts {
    mt_ints pool_size, strides;
    char padding[MT_NAME_MAX];
} pool_opts;

static const char *const padding_names[] = {"valid", "same", NULL};

static const mt_option pool_options[] = {
    {"pool_size", MT_OPT_INTS, offsetof(pool_opts, pool_size), "2", 1, 1 << 16, NULL,
     "window height and width: k or [kh, kw]"},
    {"strides", MT_OPT_INTS, offsetof(pool_opts, strides), "", 1, 1 << 16, NULL,
     "step between windows: s or [sh, sw] (default: pool_size)"},
    {"padding", MT_OPT_NAME, offsetof(pool_opts, padding), "valid", 0, 0, padding_names,
     "valid (windows inside the input) or same (output ceil(input / stride); padding ignored)"},
    MT_OPT_END,
};

static const mt_option no_options[] = {MT_OPT_END};

enum { POOL_MAX, POOL_MIN, POOL_AVG };

typedef struct pool_state {
    int kind;
    int C, H, W, kh, kw, sh, sw, pt, pl, OH, OW;
    int inside2x2; /* 2x2 windows, all inside the input */
    int tiled2x2;  /* and stride 2: the windows tile the input (no overlap), the fastest path */
    int range[];   /* [kw][2]: the output columns [lo, hi) whose window column j lies inside the input */
} pool_state;

/* Channels, height and width of a [C, H, W] or [H, W] sample. */
static mt_status image_shape(const mt_layer *l, int *c, int *h, int *w, mt_error *err)
{
    int r = l->in_shape.n;
    if (r != 2 && r != 3)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: expects samples of shape [channels, height, width] or [height, "
                       "width], got %d dimensions",
                       l->section, r);
    *c = r == 3 ? l->in_shape.v[0] : 1;
    *h = l->in_shape.v[r - 2];
    *w = l->in_shape.v[r - 1];
    return MT_OK;
}

static mt_status pool_setup(mt_layer *l, int kind, mt_error *err)
{
    const pool_opts *o = l->opts;
    pool_state g = {.kind = kind};
    int k[2] = {0}, s[2] = {0};
    mt_status st = image_shape(l, &g.C, &g.H, &g.W, err);
    if (!st)
        st = mt_layer_pair(l, "pool_size", &o->pool_size, k, err);
    if (!st && o->strides.n == 0)
        s[0] = k[0], s[1] = k[1];
    else if (!st)
        st = mt_layer_pair(l, "strides", &o->strides, s, err);
    if (st)
        return st;
    g.kh = k[0], g.kw = k[1], g.sh = s[0], g.sw = s[1];
    if ((long)g.H * g.W > INT32_MAX)
        return mt_fail(err, MT_ERR_CONFIG, "%s: images of %dx%d are too large", l->section, g.H, g.W);
    if (!strcmp(o->padding, "same")) {
        g.OH = (g.H + g.sh - 1) / g.sh;
        g.OW = (g.W + g.sw - 1) / g.sw;
        long th = (long)(g.OH - 1) * g.sh + g.kh - g.H, tw = (long)(g.OW - 1) * g.sw + g.kw - g.W;
        g.pt = th > 0 ? (int)(th / 2) : 0;
        g.pl = tw > 0 ? (int)(tw / 2) : 0;
    } else {
        if (g.kh > g.H || g.kw > g.W)
            return mt_fail(err, MT_ERR_CONFIG, "%s.pool_size: the window (%dx%d) is larger than the input (%dx%d)",
                           l->section, g.kh, g.kw, g.H, g.W);
        g.OH = (g.H - g.kh) / g.sh + 1;
        g.OW = (g.W - g.kw) / g.sw + 1;
    }
    g.inside2x2 = g.kh == 2 && g.kw == 2 && g.pt == 0 && g.pl == 0 && (long)(g.OH - 1) * g.sh + 2 <= g.H &&
                  (long)(g.OW - 1) * g.sw + 2 <= g.W && g.W < (1 << 24);
    g.tiled2x2 = g.inside2x2 && g.sh == 2 && g.sw == 2;
    pool_state *state = malloc(sizeof g + 2 * (size_t)g.kw * sizeof(int));
    if (!state)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    memcpy(state, &g, sizeof g);
    for (int j = 0; j < g.kw; j++) { /* output columns ow with 0 <= ow sw - pl + j < W */
        int a = g.pl - j, b = g.W + g.pl - j;
        int lo = a > 0 ? (a + g.sw - 1) / g.sw : 0, hi = b > 0 ? (b + g.sw - 1) / g.sw : 0;
        hi = hi < g.OW ? hi : g.OW;
        state->range[2 * j] = lo < hi ? lo : hi;
        state->range[2 * j + 1] = hi;
    }
    l->state = state;
    l->out_shape = l->in_shape;
    l->out_shape.v[l->in_shape.n - 2] = g.OH;
    l->out_shape.v[l->in_shape.n - 1] = g.OW;
    l->out_size = (size_t)g.C * g.OH * g.OW;
    /* max, min: the winner's position per output (int32; for tiled 2x2 windows its code 0..3) */
    l->scratch_per_sample = kind == POOL_AVG ? 0 : l->out_size;
    return MT_OK;
}

static mt_status max_setup(mt_layer *l, mt_error *err)
{
    return pool_setup(l, POOL_MAX, err);
}

static mt_status min_setup(mt_layer *l, mt_error *err)
{
    return pool_setup(l, POOL_MIN, err);
}

static mt_status avg_setup(mt_layer *l, mt_error *err)
{
    return pool_setup(l, POOL_AVG, err);
}

/* Input rows of the window of output row oh: [*r0, *r1). */
static void window_rows(const pool_state *g, int oh, int *r0, int *r1)
{
    int top = oh * g->sh - g->pt;
    *r0 = top > 0 ? top : 0;
    *r1 = top + g->kh < g->H ? top + g->kh : g->H;
}

/* Max (sign 1) or min (sign -1) over each window of one channel: y = sign * max(sign * x); idx = ih W + iw
 * of the winner. */
static void extreme_channel(const pool_state *g, float sign, const float *x, float *y, int32_t *idx)
{
    for (int oh = 0; oh < g->OH; oh++) {
        float *best = y + (size_t)oh * g->OW;
        int32_t *at = idx + (size_t)oh * g->OW;
        int r0, r1;
        window_rows(g, oh, &r0, &r1);
        for (int ow = 0; ow < g->OW; ow++) {
            int left = ow * g->sw - g->pl;
            best[ow] = -INFINITY;
            at[ow] = r0 * g->W + (left > 0 ? left : 0); /* a valid position even if every value is -inf */
        }
        for (int ih = r0; ih < r1; ih++)
            for (int j = 0; j < g->kw; j++) {
                const int lo = g->range[2 * j], hi = g->range[2 * j + 1];
                const int base = ih * g->W - g->pl + j, sw = g->sw; /* base + lo sw >= 0 */
                for (int ow = lo; ow < hi; ow++) {
                    float v = sign * x[base + ow * sw];
                    int better = v > best[ow];
                    best[ow] = better ? v : best[ow];
                    at[ow] = better ? base + ow * sw : at[ow];
                }
            }
        for (int ow = 0; ow < g->OW; ow++)
            best[ow] *= sign;
    }
}

/* The same for 2x2 windows inside the image, without branches (the first in row-major order wins ties);
 * stride 2, the usual pooling, separately so that it vectorizes. The winner's offset (0, 1, W, W + 1) is
 * chosen as a float: selects between floats vectorize under the default -ftrapping-math, mixed ones not. */
#define BEST_OF_4(i)                                                                                    \
    do {                                                                                                \
        const float a = sign * r0[i], b = sign * r0[(i) + 1], c = sign * r1[i], d = sign * r1[(i) + 1]; \
        const float ab = b > a ? b : a, kab = b > a ? 1.0f : 0.0f;                                      \
        const float cd = d > c ? d : c, kcd = d > c ? wf + 1.0f : wf;                                   \
        yo[ow] = sign * (cd > ab ? cd : ab);                                                            \
        io[ow] = top + (i) + (int32_t)(cd > ab ? kcd : kab);                                            \
    } while (0)

static void extreme_2x2(const pool_state *g, float sign, const float *x, float *y, int32_t *idx)
{
    const int W = g->W, sw = g->sw, OH = g->OH, OW = g->OW, sh = g->sh;
    const float wf = (float)W; /* exact: inside2x2 needs W < 2^24 */
    for (int oh = 0; oh < OH; oh++) {
        const int top = oh * sh * W;
        const float *r0 = x + top, *r1 = r0 + W;
        float *yo = y + (size_t)oh * OW;
        int32_t *io = idx + (size_t)oh * OW;
        if (sw == 2)
            for (int ow = 0; ow < OW; ow++)
                BEST_OF_4(2 * ow);
        else
            for (int ow = 0; ow < OW; ow++)
                BEST_OF_4(ow * sw);
    }
}

/* ---- 2x2 windows with stride 2: each input value in at most one window ----
 * Forward keeps, per output, which of the window's four values won (0, 1: top row left, right; 2, 3:
 * bottom row), first in that order on ties; backward writes every input gradient directly (the winner's
 * dy, else 0) instead of clearing dx and scattering into it. One output row of a channel at a time: with
 * AVX-512, 16 outputs per step, the two input rows' even and odd columns separated by permutes and the
 * row ends handled by masks; otherwise plain loops. */
#if defined(__AVX512F__)
#include <immintrin.h>

static __mmask16 first_lanes(int k)
{
    return k >= 16 ? (__mmask16)0xffff : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1);
}

/* Max (sign 1) or min (sign -1) of OW windows: rows r0, r1; winners' codes into code. */
static void tiled_row(float sign, const float *r0, const float *r1, int OW, float *y, int32_t *code)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 s = _mm512_set1_ps(sign);
    for (int o = 0; o < OW; o += 16) {
        const int cnt = OW - o < 16 ? OW - o : 16;
        const __mmask16 lo = first_lanes(2 * cnt), hi = first_lanes(2 * cnt - 16), out = first_lanes(cnt);
        const float *p0 = r0 + 2 * o, *p1 = r1 + 2 * o;
        __m512 a0 = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(lo, p0));
        __m512 a1 = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(hi, p0 + 16));
        __m512 b0 = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(lo, p1));
        __m512 b1 = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(hi, p1 + 16));
        __m512 a = _mm512_permutex2var_ps(a0, even, a1), b = _mm512_permutex2var_ps(a0, odd, a1);
        __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        __mmask16 kb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), kd = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
        __m512 ab = _mm512_mask_blend_ps(kb, a, b), cd = _mm512_mask_blend_ps(kd, c, d);
        __m512i iab = _mm512_maskz_mov_epi32(kb, _mm512_set1_epi32(1));
        __m512i icd = _mm512_mask_blend_epi32(kd, _mm512_set1_epi32(2), _mm512_set1_epi32(3));
        __mmask16 k = _mm512_cmp_ps_mask(cd, ab, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(y + o, out, _mm512_mul_ps(s, _mm512_mask_blend_ps(k, ab, cd)));
        _mm512_mask_storeu_epi32(code + o, out, _mm512_mask_blend_epi32(k, iab, icd));
    }
}

/* Input gradients of one output row: rows d0, d1 (2 OW values each) from dy and the codes. */
static void tiled_row_backward(const float *dy, const int32_t *code, int OW, float *d0, float *d1)
{
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(8));
    for (int o = 0; o < OW; o += 16) {
        const int cnt = OW - o < 16 ? OW - o : 16;
        const __mmask16 lo = first_lanes(2 * cnt), hi = first_lanes(2 * cnt - 16), in = first_lanes(cnt);
        __m512 g = _mm512_maskz_loadu_ps(in, dy + o);
        __m512i k = _mm512_maskz_loadu_epi32(in, code + o);
        __m512 a = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(0)), g);
        __m512 b = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(1)), g);
        __m512 c = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(2)), g);
        __m512 d = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(3)), g);
        _mm512_mask_storeu_ps(d0 + 2 * o, lo, _mm512_permutex2var_ps(a, lo_idx, b));
        _mm512_mask_storeu_ps(d0 + 2 * o + 16, hi, _mm512_permutex2var_ps(a, hi_idx, b));
        _mm512_mask_storeu_ps(d1 + 2 * o, lo, _mm512_permutex2var_ps(c, lo_idx, d));
        _mm512_mask_storeu_ps(d1 + 2 * o + 16, hi, _mm512_permutex2var_ps(c, hi_idx, d));
    }
}
#else
static void tiled_row(float sign, const float *r0, const float *r1, int OW, float *y, int32_t *code)
{
    for (int o = 0; o < OW; o++) {
        const float a = sign * r0[2 * o], b = sign * r0[2 * o + 1], c = sign * r1[2 * o], d = sign * r1[2 * o + 1];
        const float ab = b > a ? b : a, cd = d > c ? d : c;
        const int32_t iab = b > a ? 1 : 0, icd = d > c ? 3 : 2;
        y[o] = sign * (cd > ab ? cd : ab);
        code[o] = cd > ab ? icd : iab;
    }
}

static void tiled_row_backward(const float *dy, const int32_t *code, int OW, float *d0, float *d1)
{
    for (int o = 0; o < OW; o++) {
        const int32_t k = code[o];
        d0[2 * o] = k == 0 ? dy[o] : 0.0f;
        d0[2 * o + 1] = k == 1 ? dy[o] : 0.0f;
        d1[2 * o] = k == 2 ? dy[o] : 0.0f;
        d1[2 * o + 1] = k == 3 ? dy[o] : 0.0f;
    }
}
#endif

static mt_status extreme_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const pool_state *g = l->state;
    const float sign = g->kind == POOL_MIN ? -1.0f : 1.0f;
    size_t hw = (size_t)g->H * g->W, ohw = (size_t)g->OH * g->OW;
    int32_t *idx = (int32_t *)l->scratch;
    for (size_t c = 0; c < (size_t)n * g->C; c++) {
        if (g->tiled2x2)
            for (int oh = 0; oh < g->OH; oh++) {
                const float *r0 = x + c * hw + (size_t)2 * oh * g->W;
                tiled_row(sign, r0, r0 + g->W, g->OW, y + c * ohw + (size_t)oh * g->OW,
                          idx + c * ohw + (size_t)oh * g->OW);
            }
        else if (g->inside2x2)
            extreme_2x2(g, sign, x + c * hw, y + c * ohw, idx + c * ohw);
        else
            extreme_channel(g, sign, x + c * hw, y + c * ohw, idx + c * ohw);
    }
    return MT_OK;
}

/* Tiled 2x2: every input gradient written once; the columns and row the windows leave out get 0. */
static void tiled_backward(const pool_state *g, const float *dy, const int32_t *code, float *dx, int n)
{
    size_t hw = (size_t)g->H * g->W, ohw = (size_t)g->OH * g->OW;
    const int W = g->W, rest = g->W - 2 * g->OW;
    for (size_t c = 0; c < (size_t)n * g->C; c++) {
        float *d = dx + c * hw;
        for (int oh = 0; oh < g->OH; oh++) {
            float *d0 = d + (size_t)2 * oh * W, *d1 = d0 + W;
            tiled_row_backward(dy + c * ohw + (size_t)oh * g->OW, code + c * ohw + (size_t)oh * g->OW, g->OW, d0, d1);
            if (rest) {
                memset(d0 + 2 * g->OW, 0, (size_t)rest * sizeof *d0);
                memset(d1 + 2 * g->OW, 0, (size_t)rest * sizeof *d1);
            }
        }
        if (2 * g->OH < g->H)
            memset(d + (size_t)2 * g->OH * W, 0, (size_t)(g->H - 2 * g->OH) * W * sizeof *d);
    }
}

static mt_status extreme_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                  const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)pass, (void)err;
    const pool_state *g = l->state;
    if (!dx)
        return MT_OK;
    size_t hw = (size_t)g->H * g->W, ohw = (size_t)g->OH * g->OW;
    const int32_t *idx = (const int32_t *)l->scratch;
    if (g->tiled2x2) {
        tiled_backward(g, dy, idx, dx, n);
        return MT_OK;
    }
    memset(dx, 0, (size_t)n * l->in_size * sizeof *dx);
    for (size_t c = 0; c < (size_t)n * g->C; c++) {
        float *d = dx + c * hw;
        const float *dyc = dy + c * ohw;
        const int32_t *at = idx + c * ohw;
        for (size_t i = 0; i < ohw; i++)
            d[at[i]] += dyc[i];
    }
    return MT_OK;
}

/* Number of input values in the window of output column ow. */
static int window_width(const pool_state *g, int ow)
{
    int left = ow * g->sw - g->pl, right = left + g->kw;
    return (right < g->W ? right : g->W) - (left > 0 ? left : 0);
}

static mt_status avg_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const pool_state *g = l->state;
    size_t hw = (size_t)g->H * g->W, ohw = (size_t)g->OH * g->OW;
    for (size_t c = 0; c < (size_t)n * g->C; c++) {
        const float *xc = x + c * hw;
        for (int oh = 0; oh < g->OH && g->inside2x2; oh++) { /* 2x2 windows inside the image */
            const float *r0 = xc + (size_t)oh * g->sh * g->W, *r1 = r0 + g->W;
            float *out = y + c * ohw + (size_t)oh * g->OW;
            const int sw = g->sw;
            if (sw == 2)
                for (int ow = 0; ow < g->OW; ow++)
                    out[ow] = (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]) * 0.25f;
            else
                for (int ow = 0; ow < g->OW; ow++)
                    out[ow] = (r0[ow * sw] + r0[ow * sw + 1] + r1[ow * sw] + r1[ow * sw + 1]) * 0.25f;
        }
        for (int oh = 0; oh < g->OH && !g->inside2x2; oh++) {
            float *out = y + c * ohw + (size_t)oh * g->OW;
            int r0, r1;
            window_rows(g, oh, &r0, &r1);
            memset(out, 0, (size_t)g->OW * sizeof *out);
            for (int ih = r0; ih < r1; ih++)
                for (int j = 0; j < g->kw; j++) {
                    const int lo = g->range[2 * j], hi = g->range[2 * j + 1];
                    const int base = ih * g->W - g->pl + j, sw = g->sw;
                    for (int ow = lo; ow < hi; ow++)
                        out[ow] += xc[base + ow * sw];
                }
            for (int ow = 0; ow < g->OW; ow++)
                out[ow] /= (float)((r1 - r0) * window_width(g, ow));
        }
    }
    return MT_OK;
}

static mt_status avg_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                              const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)pass, (void)err;
    const pool_state *g = l->state;
    if (!dx)
        return MT_OK;
    size_t hw = (size_t)g->H * g->W, ohw = (size_t)g->OH * g->OW;
    memset(dx, 0, (size_t)n * l->in_size * sizeof *dx);
    for (size_t c = 0; c < (size_t)n * g->C; c++) {
        float *dxc = dx + c * hw;
        for (int oh = 0; oh < g->OH; oh++) {
            float *d = dy + c * ohw + (size_t)oh * g->OW; /* dy may be overwritten: scaled in place */
            int r0, r1;
            window_rows(g, oh, &r0, &r1);
            for (int ow = 0; ow < g->OW; ow++)
                d[ow] /= (float)((r1 - r0) * window_width(g, ow));
            for (int ih = r0; ih < r1; ih++)
                for (int j = 0; j < g->kw; j++) {
                    const int lo = g->range[2 * j], hi = g->range[2 * j + 1];
                    const int base = ih * g->W - g->pl + j, sw = g->sw;
                    for (int ow = lo; ow < hi; ow++)
                        dxc[base + ow * sw] += d[ow];
                }
        }
    }
    return MT_OK;
}

/* ---- global average pooling: [C, H, W] -> [C] ---- */

static mt_status gap_setup(mt_layer *l, mt_error *err)
{
    int c = 0, h = 0, w = 0;
    mt_status st = image_shape(l, &c, &h, &w, err);
    if (st)
        return st;
    l->out_shape = (mt_ints){.n = 1, .v = {c}};
    l->out_size = (size_t)c;
    return MT_OK;
}

static mt_status gap_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    size_t hw = l->in_size / l->out_size;
    const float inv = 1.0f / (float)hw;
    for (size_t c = 0; c < (size_t)n * l->out_size; c++) {
        const float *xc = x + c * hw;
        float s = 0;
        for (size_t i = 0; i < hw; i++)
            s += xc[i];
        y[c] = s * inv;
    }
    return MT_OK;
}

static mt_status gap_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                              const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)pass, (void)err;
    if (!dx)
        return MT_OK;
    size_t hw = l->in_size / l->out_size;
    const float inv = 1.0f / (float)hw;
    for (size_t c = 0; c < (size_t)n * l->out_size; c++) {
        const float d = dy[c] * inv;
        float *dxc = dx + c * hw;
        for (size_t i = 0; i < hw; i++)
            dxc[i] = d;
    }
    return MT_OK;
}

const mt_layer_ops mt_max_pool2d_layer = {
    .name = "max_pool2d",
    .options = pool_options,
    .options_size = sizeof(pool_opts),
    .doc = "maximum over each pool_size window of each channel, as torch.nn.MaxPool2d",
    .setup = max_setup,
    .forward = extreme_forward,
    .backward = extreme_backward,
};

const mt_layer_ops mt_min_pool2d_layer = {
    .name = "min_pool2d",
    .options = pool_options,
    .options_size = sizeof(pool_opts),
    .doc = "minimum over each pool_size window of each channel",
    .setup = min_setup,
    .forward = extreme_forward,
    .backward = extreme_backward,
};

const mt_layer_ops mt_avg_pool2d_layer = {
    .name = "avg_pool2d",
    .options = pool_options,
    .options_size = sizeof(pool_opts),
    .doc = "mean over each pool_size window of each channel, as torch.nn.AvgPool2d",
    .setup = avg_setup,
    .forward = avg_forward,
    .backward = avg_backward,
};

const mt_layer_ops mt_global_avg_pool_layer = {
    .name = "global_avg_pool",
    .options = no_options,
    .options_size = 0,
    .doc = "mean of each channel: [C, H, W] -> [C], as torch.nn.AdaptiveAvgPool2d(1) then flatten",
    .setup = gap_setup,
    .forward = gap_forward,
    .backward = gap_backward,
};
