/* 2-D convolution with a fused activation, as torch.nn.Conv2d computes it (cross-correlation), with Keras'
 * option names: per sample, input [C, H, W] (or [H, W] as one channel), weight [filters, C, kh, kw], bias
 * [filters], output [filters, OH, OW] with OH = floor((H + pad_top + pad_bottom - kh) / sh) + 1 (W alike).
 *
 * Padding: `valid` (none), a number p or [ph, pw] (that many zeros on each side, as torch's padding=p), or
 * `same`: OH = ceil(H / sh), total padding max((OH - 1) sh + kh - H, 0), of which floor(total / 2) goes on
 * top and the rest at the bottom (left / right alike). With stride 1 this is torch's padding='same' (the
 * extra row and column of even kernels at the bottom and right); torch has no 'same' for strides > 1, and
 * there it is Keras' / TensorFlow's rule.
 *
 * Activations apply element-wise; softmax applies over the whole output of a sample (so that it fuses with
 * cross-entropy like a dense layer's).
 *
 * Lowering: the batch is cut into tiles of whole samples (or of output rows, for large images) whose
 * im2col matrix cols[K = C kh kw, P positions] stays in the L2 cache. Per tile, three matrix products:
 *   forward   Y[F, P]      = W[F, K] cols[K, P]               then bias and activation on the copy out
 *   weights   dW^T[K, F]  += cols[K, P] dY^T[P, F]
 *   input     dcols[K, P]  = W^T[K, F] dY[F, P]               then col2im adds dcols into dx
 * With stride 1 and "same" width (OW == W) a row of cols is one shifted copy of an input plane, masked
 * where it wraps around the end of an image row; otherwise it is built row by row. The products run on
 * one register-blocked SIMD kernel (an MR x NR block of the result in registers, A broadcast from MR rows
 * read in sequence, B rows loaded as vectors) over buffers padded to whole blocks, allocated once in
 * setup. It replaces mt_sgemm here because OpenBLAS 0.3.21 (Debian 12), which runs its Haswell kernels on
 * the AVX-512 reference machine, reaches 35-55 GFLOP/s on one core for these shapes (M or N = 32..288,
 * K = 9..800), against 95-120 for this kernel: what it takes to keep up with PyTorch's oneDNN
 * convolutions. Without AVX-512 the same kernel runs on AVX (MR = 6) or 128-bit vectors (MR = 4). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/layer.h"

/* SIMD vector of VL floats; MR x NR = MR x 2VL accumulators fit in the register file. */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vf;
enum { VL = 16, MR = 8 };
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#elif defined(__AVX__)
#include <immintrin.h>
typedef __m256 vf;
enum { VL = 8, MR = 6 };
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#if defined(__FMA__)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#else
#define VFMA(a, b, c) _mm256_add_ps(_mm256_mul_ps((a), (b)), (c))
#endif
#else
typedef float vf __attribute__((vector_size(16)));
enum { VL = 4, MR = 4 };
static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v)
{
    memcpy(p, &v, sizeof v);
}
#define VLOAD(p) vload(p)
#define VSTORE(p, v) vstore((p), (v))
#define VSET1(x) ((vf){0} + (x))
#define VZERO() ((vf){0})
#define VFMA(a, b, c) ((a) * (b) + (c))
#endif
enum { NR = 2 * VL };

#define TILE_FLOATS (1 << 18) /* target size of one tile buffer (1 MiB) */

typedef struct conv_opts {
    int filters;
    mt_ints kernel_size, strides;
    const mt_node *padding;
    char activation[MT_NAME_MAX];
    char kernel_initializer[MT_NAME_MAX];
    char bias_initializer[MT_NAME_MAX];
    int use_bias;
    double l1, l2;
} conv_opts;

static const mt_option conv_options[] = {
    {"filters", MT_OPT_INT, offsetof(conv_opts, filters), NULL, 1, 1 << 20, NULL, "number of output channels"},
    {"kernel_size", MT_OPT_INTS, offsetof(conv_opts, kernel_size), NULL, 1, 1 << 16, NULL,
     "kernel height and width: k or [kh, kw]"},
    {"strides", MT_OPT_INTS, offsetof(conv_opts, strides), "1", 1, 1 << 16, NULL, "stride: s or [sh, sw]"},
    {"padding", MT_OPT_NODE, offsetof(conv_opts, padding), "valid", 0, 0, NULL,
     "valid (none), same (output size ceil(input / stride); extra row and column at the bottom and right), "
     "or zeros on each side: p or [ph, pw]"},
    {"activation", MT_OPT_NAME, offsetof(conv_opts, activation), "linear", 0, 0, mt_activation_names,
     "activation applied to the output (softmax: over the whole output of a sample)"},
    {"kernel_initializer", MT_OPT_NAME, offsetof(conv_opts, kernel_initializer), "auto", 0, 0, NULL,
     "weight initializer (as dense; fan_in = C kh kw, fan_out = filters kh kw): auto (he_uniform after relu, "
     "glorot_uniform otherwise), zeros, ones, constant(v), uniform(low, high), normal(mean, std), "
     "glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal"},
    {"bias_initializer", MT_OPT_NAME, offsetof(conv_opts, bias_initializer), "zeros", 0, 0, NULL,
     "bias initializer (same names)"},
    {"use_bias", MT_OPT_BOOL, offsetof(conv_opts, use_bias), "true", 0, 0, NULL, "add a learned bias per filter"},
    {"l1", MT_OPT_FLOAT, offsetof(conv_opts, l1), "0", 0, 1e6, NULL, "L1 penalty l1 * sum |W| added to the loss"},
    {"l2", MT_OPT_FLOAT, offsetof(conv_opts, l2), "0", 0, 1e6, NULL, "L2 penalty l2 * sum W^2 added to the loss"},
    MT_OPT_END,
};

/* Geometry and the tile buffers (one allocation, freed with the model). Rows of A operands and of products
 * are padded to multiples of MR, columns to multiples of NR; the padding rows of wp, wtp and cols stay 0. */
typedef struct conv_state {
    int C, H, W, F, kh, kw, sh, sw, pt, pl, OH, OW;
    int K, Kr, Fr, Fp;       /* K = C kh kw; padded: Kr, Fr to MR, Fp to NR */
    int tile_n, tile_rows;   /* samples per tile; output rows per tile (< OH only when tile_n == 1) */
    int Pc;                  /* positions per tile, padded to NR: the row length of cols and ybuf */
    float *cols;             /* [Kr, Pc] im2col of a tile; in backward also dcols */
    float *ybuf;             /* [Fr, Pc] forward product; in backward the tile's dY */
    float *dyt;              /* [Pc, Fp] dY^T */
    float *dwt;              /* [Kr, Fp] dW^T accumulated over the tiles of a batch */
    float *wp;               /* [Fr, K] weights */
    float *wtp;              /* [Kr, F] weights transposed */
    float *colmask;          /* [kw, tile_rows OW]: 1 where output column ow reads inside the image for kernel
                                column kj, else 0 (for the contiguous im2col, see shifted_range) */
} conv_state;

/* Output columns ow whose input column ow sw - pl + kj lies inside the image: [*lo, *hi). */
static void valid_columns(const conv_state *g, int kj, int *lo, int *hi)
{
    int a = g->pl - kj, b = g->W + g->pl - kj;
    *lo = a > 0 ? (a + g->sw - 1) / g->sw : 0;
    *hi = b > 0 ? (b + g->sw - 1) / g->sw : 0;
    *hi = *hi < g->OW ? *hi : g->OW;
    *lo = *lo < *hi ? *lo : *hi;
}

static mt_activation act_of(const mt_layer *l)
{
    mt_activation a = mt_activation_make(MT_ACT_LINEAR);
    mt_activation_find(((const conv_opts *)l->opts)->activation, &a);
    return a;
}

static int round_up(int x, int m)
{
    return (x + m - 1) / m * m;
}

/* Reads `k` or `[h, w]` (already range-checked) into v[2]. */
static mt_status pair(const mt_layer *l, const char *key, const mt_ints *in, int v[2], mt_error *err)
{
    if (in->n != 1 && in->n != 2)
        return mt_fail(err, MT_ERR_CONFIG, "%s.%s: expected one number or [height, width], got %d numbers",
                       l->section, key, in->n);
    v[0] = in->v[0];
    v[1] = in->v[in->n - 1];
    return MT_OK;
}

/* A non-negative padding amount from a scalar node. */
static int pad_number(const mt_node *n, int *out)
{
    char *end;
    if (n->kind != MT_NODE_SCALAR || !n->value[0] || strspn(n->value, "0123456789") != strlen(n->value))
        return -1;
    long v = strtol(n->value, &end, 10);
    if (*end || v < 0 || v > (1 << 16))
        return -1;
    *out = (int)v;
    return 0;
}

/* Padding into pad[4] = top, bottom, left, right. */
static mt_status parse_padding(const mt_layer *l, const int in[2], const int k[2], const int s[2], int pad[4],
                               mt_error *err)
{
    const mt_node *n = ((const conv_opts *)l->opts)->padding;
    int p[2] = {0, 0};
    if (!n || (n->kind == MT_NODE_SCALAR && !strcmp(n->value, "valid"))) {
        memset(pad, 0, 4 * sizeof *pad);
        return MT_OK;
    }
    if (n->kind == MT_NODE_SCALAR && !strcmp(n->value, "same")) {
        for (int d = 0; d < 2; d++) {
            long out = (in[d] + s[d] - 1) / s[d];
            long total = (out - 1) * s[d] + k[d] - in[d];
            total = total > 0 ? total : 0;
            pad[2 * d] = (int)(total / 2);
            pad[2 * d + 1] = (int)(total - total / 2);
        }
        return MT_OK;
    }
    int ok = n->kind == MT_NODE_SCALAR ? pad_number(n, &p[0]) == 0
             : n->kind == MT_NODE_SEQ && n->n_items == 2 ? pad_number(n->items[0], &p[0]) == 0 &&
                                                               pad_number(n->items[1], &p[1]) == 0
                                                         : 0;
    if (!ok)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s.padding: expected same, valid, a number of zeros per side in [0, 65536] or [ph, pw], "
                       "got %s%s%s", l->section, n->kind == MT_NODE_SCALAR ? "'" : "",
                       n->kind == MT_NODE_SCALAR ? n->value : n->kind == MT_NODE_SEQ ? "a list" : "a map",
                       n->kind == MT_NODE_SCALAR ? "'" : "");
    if (n->kind == MT_NODE_SCALAR)
        p[1] = p[0];
    pad[0] = pad[1] = p[0];
    pad[2] = pad[3] = p[1];
    return MT_OK;
}

/* Picks the tile size and allocates the buffers. */
static mt_status alloc_state(mt_layer *l, conv_state *g0, mt_error *err)
{
    conv_state g = *g0;
    g.Kr = round_up(g.K, MR);
    g.Fr = round_up(g.F, MR);
    g.Fp = round_up(g.F, NR);
    int widest = g.Kr > g.Fr ? g.Kr : g.Fr;
    widest = widest > g.Fp ? widest : g.Fp;
    long positions = TILE_FLOATS / widest, ohw = (long)g.OH * g.OW;
    if (ohw <= positions) {
        g.tile_n = (int)(positions / ohw);
        g.tile_rows = g.OH;
    } else {
        g.tile_n = 1;
        g.tile_rows = positions / g.OW > 0 ? (int)(positions / g.OW) : 1;
    }
    g.Pc = round_up(g.tile_n * g.tile_rows * g.OW, NR);
    size_t run = (size_t)g.tile_rows * g.OW;
    size_t sizes[7] = {(size_t)g.Kr * g.Pc, (size_t)g.Fr * g.Pc, (size_t)g.Pc * g.Fp, (size_t)g.Kr * g.Fp,
                       (size_t)g.Fr * g.K,  (size_t)g.Kr * g.F,  (size_t)g.kw * run};
    size_t total = 0;
    for (int i = 0; i < 7; i++)
        total += (sizes[i] + 15) / 16 * 16;
    if (total > ((size_t)1 << 28))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d filters of %dx%dx%d on a row of %d outputs need %zu MiB of "
                       "buffers; too large", l->section, g.F, g.C, g.kh, g.kw, g.OW, total >> 18);
    size_t head = (sizeof g + 63) / 64 * 64;
    char *mem = calloc(1, head + 64 + total * sizeof(float));
    if (!mem)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    float *p = (float *)(((uintptr_t)(mem + head) + 63) / 64 * 64);
    float **bufs[7] = {&g.cols, &g.ybuf, &g.dyt, &g.dwt, &g.wp, &g.wtp, &g.colmask};
    for (int i = 0; i < 7; i++) {
        *bufs[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    for (int kj = 0; kj < g.kw; kj++) {
        int lo, hi;
        valid_columns(&g, kj, &lo, &hi);
        for (size_t q = 0; q < run; q++)
            g.colmask[kj * run + q] = (int)(q % (size_t)g.OW) >= lo && (int)(q % (size_t)g.OW) < hi;
    }
    memcpy(mem, &g, sizeof g);
    l->state = mem;
    return MT_OK;
}

static mt_status conv_setup(mt_layer *l, mt_error *err)
{
    conv_opts *o = l->opts;
    conv_state g = {0};
    int k[2] = {0}, s[2] = {0}, in[2] = {0}, pad[4] = {0};
    if (l->in_shape.n != 2 && l->in_shape.n != 3)
        return mt_fail(err, MT_ERR_CONFIG, "%s: expects samples of shape [channels, height, width] or [height, "
                       "width], got %d dimensions", l->section, l->in_shape.n);
    int r = l->in_shape.n;
    g.C = r == 3 ? l->in_shape.v[0] : 1;
    g.H = in[0] = l->in_shape.v[r - 2];
    g.W = in[1] = l->in_shape.v[r - 1];
    mt_status st = pair(l, "kernel_size", &o->kernel_size, k, err);
    if (!st)
        st = pair(l, "strides", &o->strides, s, err);
    if (!st)
        st = parse_padding(l, in, k, s, pad, err);
    if (st)
        return st;
    for (int d = 0; d < 2; d++)
        if ((long)in[d] + pad[2 * d] + pad[2 * d + 1] < k[d])
            return mt_fail(err, MT_ERR_CONFIG, "%s.kernel_size: the kernel (%dx%d) is larger than the padded "
                           "input (%ldx%ld)", l->section, k[0], k[1], (long)in[0] + pad[0] + pad[1],
                           (long)in[1] + pad[2] + pad[3]);
    g.F = o->filters, g.kh = k[0], g.kw = k[1], g.sh = s[0], g.sw = s[1], g.pt = pad[0], g.pl = pad[2];
    g.OH = (int)(((long)g.H + pad[0] + pad[1] - g.kh) / g.sh + 1);
    g.OW = (int)(((long)g.W + pad[2] + pad[3] - g.kw) / g.sw + 1);
    size_t K = (size_t)g.C * g.kh * g.kw, out = (size_t)g.F * g.OH * g.OW;
    if (K > (1u << 24) || K * g.F > (1u << 28) || out > (1u << 28))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d filters of %zux%dx%d giving %dx%dx%d outputs is too large",
                       l->section, g.F, (size_t)g.C, g.kh, g.kw, g.F, g.OH, g.OW);
    g.K = (int)K;
    l->out_shape = (mt_ints){.n = 3, .v = {g.F, g.OH, g.OW}};
    l->out_size = out;
    mt_activation act = act_of(l);
    l->out_activation = (int)act.kind;

    const char *kinit = o->kernel_initializer, *binit = o->bias_initializer;
    if (!strcmp(kinit, "auto"))
        kinit = act.kind == MT_ACT_RELU ? "he_uniform" : "glorot_uniform";
    if (!strcmp(binit, "auto"))
        binit = "zeros";
    int fan_in = g.K, fan_out = g.F * g.kh * g.kw;
    mt_tensor_desc *w = &l->tensors[0];
    *w = (mt_tensor_desc){.name = "weight", .rank = 4, .shape = {g.F, g.C, g.kh, g.kw}, .offset = 0,
                          .size = (size_t)g.F * K, .fan_in = fan_in, .fan_out = fan_out,
                          .l1 = (float)o->l1, .l2 = (float)o->l2};
    if ((st = mt_layer_set_init(l, w, kinit, "kernel_initializer", err)))
        return st;
    l->n_tensors = 1;
    l->n_params = w->size;
    if (o->use_bias) {
        mt_tensor_desc *b = &l->tensors[1];
        *b = (mt_tensor_desc){.name = "bias", .rank = 1, .shape = {g.F}, .offset = w->size, .size = (size_t)g.F,
                              .fan_in = fan_in, .fan_out = fan_out};
        if ((st = mt_layer_set_init(l, b, binit, "bias_initializer", err)))
            return st;
        l->n_tensors = 2;
        l->n_params += b->size;
    }
    /* Pre-activations are kept where the loss fuses with the activation or its derivative needs them. */
    int keep = act.kind == MT_ACT_SOFTMAX || act.kind == MT_ACT_SIGMOID || mt_activation_needs_input(&act);
    l->scratch_per_sample = keep ? l->out_size : 0;
    return alloc_state(l, &g, err);
}

/* ---- the product kernel ---- */

/* c[i, j] = (acc ? c[i, j] : 0) + sum_{k < kn} a[i, k] b[k, j] for i < MR, j < NR (row strides lda, ldb, ldc). */
static void block(int kn, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, int acc)
{
    vf s0[MR], s1[MR];
    for (int i = 0; i < MR; i++) {
        s0[i] = acc ? VLOAD(c + i * ldc) : VZERO();
        s1[i] = acc ? VLOAD(c + i * ldc + VL) : VZERO();
    }
    for (int k = 0; k < kn; k++) {
        const vf b0 = VLOAD(b + k * ldb), b1 = VLOAD(b + k * ldb + VL);
        for (int i = 0; i < MR; i++) {
            const vf x = VSET1(a[i * lda + k]);
            s0[i] = VFMA(x, b0, s0[i]);
            s1[i] = VFMA(x, b1, s1[i]);
        }
    }
    for (int i = 0; i < MR; i++) {
        VSTORE(c + i * ldc, s0[i]);
        VSTORE(c + i * ldc + VL, s1[i]);
    }
}

/* C[m, n] (+)= A[m, k] B[k, n] for m a multiple of MR and n of NR (the buffers are padded to them). */
static void product(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                    size_t ldc, int acc)
{
    for (int j = 0; j < n; j += NR)
        for (int i = 0; i < m; i += MR)
            block(k, a + (size_t)i * lda, lda, b + j, ldb, c + (size_t)i * ldc + j, ldc, acc);
}

/* ---- tiles ---- */

typedef struct tile {
    int s0, ns, oh0, rows; /* samples s0 .. s0 + ns - 1, output rows oh0 .. oh0 + rows - 1 of each */
    int P;                 /* positions: ns * rows * OW */
} tile;

static int next_tile(const conv_state *g, int n, tile *t)
{
    if (t->ns == 0) {
        t->s0 = 0, t->oh0 = 0;
    } else if (t->oh0 + t->rows < g->OH) {
        t->oh0 += t->rows;
    } else {
        t->s0 += t->ns, t->oh0 = 0;
    }
    if (t->s0 >= n)
        return 0;
    t->ns = n - t->s0 < g->tile_n ? n - t->s0 : g->tile_n;
    t->rows = g->OH - t->oh0 < g->tile_rows ? g->OH - t->oh0 : g->tile_rows;
    t->P = t->ns * t->rows * g->OW;
    return 1;
}

/* Where the stride along rows is 1 and OW == W ("same" padding), the positions q = (oh - oh0) W + ow of a
 * sample's rows in a tile read input plane[q + shift] for one kernel offset (ki, kj), shift = (oh0 - pt +
 * ki) W + kj - pl: one contiguous run, except in the rows [0, *r0) and [*r1, rows) outside the image and the
 * columns outside [lo, hi). [*q0, *q1) is the part of the rows inside the image whose source lies in the
 * plane; its other positions are all in those columns. */
static long shifted_range(const conv_state *g, const tile *t, int ki, int kj, int *r0, int *r1, long *q0,
                          long *q1)
{
    const int W = g->W;
    int a = g->pt - ki - t->oh0, b = g->H + g->pt - ki - t->oh0;
    *r0 = a < 0 ? 0 : a < t->rows ? a : t->rows;
    *r1 = b < *r0 ? *r0 : b < t->rows ? b : t->rows;
    long shift = (long)(t->oh0 - g->pt + ki) * W + kj - g->pl, hw = (long)g->H * W;
    *q0 = (long)*r0 * W, *q1 = (long)*r1 * W;
    *q0 = *q0 + shift < 0 ? -shift : *q0;
    *q1 = *q1 + shift > hw ? hw - shift : *q1;
    *q1 = *q1 < *q0 ? *q0 : *q1;
    return shift;
}

/* cols[(c kh + ki) kw + kj, p] = x[s, c, oh sh - pt + ki, ow sw - pl + kj] (0 outside the image), for the
 * positions p = ((s - s0) rows + oh - oh0) OW + ow of the tile. */
static void im2col(const conv_state *g, const float *x, size_t in_size, const tile *t, float *cols)
{
    const int OW = g->OW, sw = g->sw;
    const size_t run = (size_t)t->rows * OW, hw = (size_t)g->H * g->W;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int lo, hi, r0 = 0, r1 = 0;
            long q0 = 0, q1 = 0, shift = 0;
            valid_columns(g, kj, &lo, &hi);
            const int contiguous = sw == 1 && OW == g->W;
            if (contiguous)
                shift = shifted_range(g, t, ki, kj, &r0, &r1, &q0, &q1);
            const float *mask = g->colmask + (size_t)kj * g->tile_rows * OW;
            for (int c = 0; c < g->C; c++) {
                float *row = cols + (size_t)((c * g->kh + ki) * g->kw + kj) * g->Pc;
                for (int s = 0; s < t->ns; s++) {
                    const float *plane = x + (size_t)(t->s0 + s) * in_size + (size_t)c * hw;
                    float *d = row + s * run;
                    if (contiguous) { /* one shifted copy, masked where it wraps around a row end */
                        for (long q = 0; q < q0; q++)
                            d[q] = 0;
                        for (long q = q0; q < q1; q++)
                            d[q] = mask[q] != 0.0f ? plane[q + shift] : 0.0f;
                        for (long q = q1; q < (long)run; q++)
                            d[q] = 0;
                        continue;
                    }
                    for (int r = 0; r < t->rows; r++, d += OW) {
                        int ih = (t->oh0 + r) * g->sh - g->pt + ki;
                        if (ih < 0 || ih >= g->H || lo == hi) {
                            for (int ow = 0; ow < OW; ow++)
                                d[ow] = 0;
                            continue;
                        }
                        const float *src = plane + (size_t)ih * g->W + (lo * sw - g->pl + kj);
                        for (int ow = 0; ow < lo; ow++)
                            d[ow] = 0;
                        if (sw == 1)
                            for (int i = 0; i < hi - lo; i++)
                                d[lo + i] = src[i];
                        else
                            for (int i = 0; i < hi - lo; i++)
                                d[lo + i] = src[i * sw];
                        for (int ow = hi; ow < OW; ow++)
                            d[ow] = 0;
                    }
                }
            }
        }
}

/* dx[s, c, ih, iw] += cols[k, p]: the adjoint of im2col. */
static void col2im(const conv_state *g, const float *cols, const tile *t, float *dx, size_t in_size)
{
    const int OW = g->OW, sw = g->sw;
    const size_t run = (size_t)t->rows * OW, hw = (size_t)g->H * g->W;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int lo, hi, r0 = 0, r1 = 0;
            long q0 = 0, q1 = 0, shift = 0;
            valid_columns(g, kj, &lo, &hi);
            const int contiguous = sw == 1 && OW == g->W;
            if (contiguous)
                shift = shifted_range(g, t, ki, kj, &r0, &r1, &q0, &q1);
            const float *mask = g->colmask + (size_t)kj * g->tile_rows * OW;
            for (int c = 0; c < g->C; c++) {
                const float *row = cols + (size_t)((c * g->kh + ki) * g->kw + kj) * g->Pc;
                for (int s = 0; s < t->ns; s++) {
                    float *plane = dx + (size_t)(t->s0 + s) * in_size + (size_t)c * hw;
                    const float *d = row + s * run;
                    if (contiguous) {
                        for (long q = q0; q < q1; q++)
                            plane[q + shift] += mask[q] != 0.0f ? d[q] : 0.0f;
                        continue;
                    }
                    for (int r = 0; r < t->rows; r++, d += OW) {
                        int ih = (t->oh0 + r) * g->sh - g->pt + ki;
                        if (ih < 0 || ih >= g->H || lo == hi)
                            continue;
                        float *dst = plane + (size_t)ih * g->W + (lo * sw - g->pl + kj);
                        if (sw == 1)
                            for (int i = 0; i < hi - lo; i++)
                                dst[i] += d[lo + i];
                        else
                            for (int i = 0; i < hi - lo; i++)
                                dst[i * sw] += d[lo + i];
                    }
                }
            }
        }
}

/* z[s, f, oh0 .. oh0 + rows) = ybuf[f, tile positions of s] + bias[f], with relu when asked. */
static void copy_out(const conv_state *g, const tile *t, const float *bias, int relu, float *z, size_t out_size)
{
    size_t run = (size_t)t->rows * g->OW, ohw = (size_t)g->OH * g->OW;
    for (int s = 0; s < t->ns; s++)
        for (int f = 0; f < g->F; f++) {
            const float *src = g->ybuf + (size_t)f * g->Pc + s * run;
            float *dst = z + (size_t)(t->s0 + s) * out_size + f * ohw + (size_t)t->oh0 * g->OW;
            const float b = bias ? bias[f] : 0.0f;
            if (relu)
                for (size_t i = 0; i < run; i++) {
                    float v = src[i] + b;
                    dst[i] = v > 0.0f ? v : 0.0f;
                }
            else
                for (size_t i = 0; i < run; i++)
                    dst[i] = src[i] + b;
        }
}

/* Sum of v[0 .. n) in 16 interleaved partial sums (so that the loop vectorizes). */
static float row_sum(const float *v, size_t n)
{
    float part[16] = {0}, s = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            part[j] += v[i + j];
    for (; i < n; i++)
        s += v[i];
    for (int j = 0; j < 16; j++)
        s += part[j];
    return s;
}

/* ybuf[f, positions] = dy of the tile (times relu'(y) when asked), dyt its transpose; gb[f] += sums. */
static void gather(const conv_state *g, const tile *t, const float *dy, const float *y, int relu, float *gb,
                   size_t out_size)
{
    size_t run = (size_t)t->rows * g->OW, ohw = (size_t)g->OH * g->OW;
    for (int f = 0; f < g->F; f++) {
        float *row = g->ybuf + (size_t)f * g->Pc;
        for (int s = 0; s < t->ns; s++) {
            size_t off = (size_t)(t->s0 + s) * out_size + f * ohw + (size_t)t->oh0 * g->OW;
            const float *src = dy + off, *ys = y + off;
            float *dst = row + s * run;
            if (relu)
                for (size_t i = 0; i < run; i++)
                    dst[i] = ys[i] > 0.0f ? src[i] : 0.0f;
            else
                memcpy(dst, src, run * sizeof *dst);
        }
        if (gb)
            gb[f] += row_sum(row, (size_t)t->P);
    }
    const int F = g->F, Fp = g->Fp, Pc = g->Pc;
    for (int p = 0; p < t->P; p++) {
        float *dst = g->dyt + (size_t)p * Fp;
        const float *src = g->ybuf + p;
        for (int f = 0; f < F; f++)
            dst[f] = src[(size_t)f * Pc];
    }
}

static void conv_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass)
{
    (void)pass;
    if (n == 0)
        return;
    const conv_opts *o = l->opts;
    conv_state *g = l->state;
    const float *w = l->params, *bias = o->use_bias ? l->params + (size_t)g->F * g->K : NULL;
    memcpy(g->wp, w, (size_t)g->F * g->K * sizeof *w);
    mt_activation act = act_of(l);
    int keep = l->scratch_per_sample != 0, relu = act.kind == MT_ACT_RELU && !keep;
    float *z = keep ? l->scratch : y;
    tile t = {0};
    while (next_tile(g, n, &t)) {
        im2col(g, x, l->in_size, &t, g->cols);
        product(g->Fr, round_up(t.P, NR), g->K, g->wp, (size_t)g->K, g->cols, (size_t)g->Pc, g->ybuf,
                (size_t)g->Pc, 0);
        copy_out(g, &t, bias, relu, z, l->out_size);
    }
    if (!relu)
        mt_activation_forward(&act, z, y, n, (int)l->out_size);
}

static void conv_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                          const mt_pass *pass)
{
    (void)pass;
    if (n == 0)
        return;
    const conv_opts *o = l->opts;
    conv_state *g = l->state;
    const int F = g->F, K = g->K;
    mt_activation act = act_of(l);
    int relu = 0;
    if (!l->fused_output && act.kind == MT_ACT_RELU)
        relu = 1;
    else if (!l->fused_output && act.kind != MT_ACT_LINEAR)
        mt_activation_backward(&act, l->scratch, y, dy, n, (int)l->out_size);
    float *gw = l->grads, *gb = o->use_bias ? l->grads + (size_t)F * K : NULL;
    if (dx) {
        for (int f = 0; f < F; f++)
            for (int k = 0; k < K; k++)
                g->wtp[(size_t)k * F + f] = l->params[(size_t)f * K + k];
        memset(dx, 0, (size_t)n * l->in_size * sizeof *dx);
    }
    memset(g->dwt, 0, (size_t)g->Kr * g->Fp * sizeof *g->dwt);
    tile t = {0};
    while (next_tile(g, n, &t)) {
        gather(g, &t, dy, y, relu, gb, l->out_size);
        im2col(g, x, l->in_size, &t, g->cols);
        product(g->Kr, g->Fp, t.P, g->cols, (size_t)g->Pc, g->dyt, (size_t)g->Fp, g->dwt, (size_t)g->Fp, 1);
        if (dx) {
            product(g->Kr, round_up(t.P, NR), F, g->wtp, (size_t)F, g->ybuf, (size_t)g->Pc, g->cols,
                    (size_t)g->Pc, 0);
            col2im(g, g->cols, &t, dx, l->in_size);
        }
    }
    for (int f = 0; f < F; f++)
        for (int k = 0; k < K; k++)
            gw[(size_t)f * K + k] += g->dwt[(size_t)k * g->Fp + f];
}

const mt_layer_ops mt_conv2d_layer = {
    .name = "conv2d",
    .options = conv_options,
    .options_size = sizeof(conv_opts),
    .doc = "2-D convolution y = f(W * x + b) on [C, H, W] samples (or [H, W]), W of shape [filters, C, kh, kw] "
           "as torch.nn.Conv2d",
    .setup = conv_setup,
    .forward = conv_forward,
    .backward = conv_backward,
};
