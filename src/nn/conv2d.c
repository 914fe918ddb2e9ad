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
 * Lowering: the output positions of the whole batch (sample by sample, row-major in each) are cut into
 * tiles of `ptile` positions, a multiple of NR, small enough for the L2 cache. Per tile:
 *   forward  Y[F, P] = W[F, K] cols[K, P], K = C kh kw; bias and activation on the copy into the output
 *   weights dW^T[K, F] += cols[K, P] dY^T[P, F]          (dY^T by 16 x 16 block transposes)
 *   input    stride 1: dX is itself a convolution, of dY with the weights flipped in space and swapped in
 *            channels (padding kh - 1 - pt, kw - 1 - pl), computed by the forward path: no scatter;
 *            other strides: dcols[K, P] = W^T[K, F] dY[F, P], then col2im adds dcols into dX.
 * im2col writes cols straight into the layout the product reads: panels of NR positions, [K][NR] each, so
 * that the register-blocked kernel (an MR x NR block of the result in registers, A broadcast from a packed
 * [K][MR] panel of the weights, B rows loaded as vectors) streams both operands in order. With stride 1
 * and OW == W ("same" width) position r of a sample reads plane[r + shift] for each kernel offset; on
 * AVX-512 im2col then loads 16 positions at a time with a mask of the reads inside the image (precomputed
 * bits per kernel offset), otherwise it gathers element by element. All buffers are allocated in setup.
 * The products run on this kernel rather than mt_sgemm because OpenBLAS 0.3.21 (Debian 12), which runs
 * its Haswell kernels on the AVX-512 reference machine, reaches 35-55 GFLOP/s on one core for these shapes
 * (M or N = 32..288, K = 9..800) against 85-105 for this one. Without AVX-512 the same kernel runs on AVX
 * (MR = 6) or 128-bit vectors (MR = 4). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/activation.h"
#include "nn/affine_params.h"
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

#define TILE_FLOATS (1 << 16) /* target size of one tile buffer (256 KiB) */
#define MAX_PTILE 4096        /* positions per tile at most */
#define KC 200                /* rows of a B panel per pass of the product (25 KiB with NR = 32) */

/* One lowering: input [C, H, W] per sample, F output channels, kernel kh x kw, strides, top and left
 * padding, output [OH, OW]. */
typedef struct geom {
    int C, H, W, F, kh, kw, sh, sw, pt, pl, OH, OW, K; /* K = C kh kw */
    int ptile;                                         /* positions per tile, a multiple of NR */
    int shifted;    /* stride 1, OW == W, OH OW >= 16: the masked vector im2col (AVX-512 only) */
    size_t words;   /* per kernel offset in bits */
    uint64_t *bits; /* [kh kw][words]: bit r set where output position r of a sample reads inside the
                           image at that kernel offset */
} geom;

/* The layer's geometry and its buffers (one allocation, freed with the model). A operands and products
 * have their rows padded to multiples of MR, dY^T and dW^T their columns to multiples of NR. */
typedef struct conv_state {
    geom g;      /* the convolution */
    geom t;      /* with stride 1: its transpose, dY [F, OH, OW] -> dX [C, H, W] */
    int by_conv; /* stride 1: dX = t(dY); else dcols and col2im */
    int Kr, Fr, Fp, Cr;
    float *cols;     /* panels [ptile / NR][K][NR] of a tile (also of t); col2im: dcols [Kr][g.ptile] */
    float *ybuf;     /* [Fr][ptile] product of a tile (also of t: [Cr]); in backward dY [F][g.ptile] */
    float *wp;       /* forward weights, packed [Fr / MR][K][MR] */
    float *wtp;      /* by_conv: t's weights packed [Cr / MR][F kh kw][MR]; else W^T [Kr][F] */
    float *dyt;      /* [g.ptile][Fp] dY^T of a tile */
    float *dwt;      /* [Kr][Fp] dW^T summed over the tiles of a batch */
    long *lane_base; /* [ptile] generic im2col and col2im: per position of a tile, the offset of its */
    int *lane_ih;    /* sample and the top-left input row and column of its window */
    int *lane_iw;
} conv_state;

typedef struct conv_opts {
    int filters;
    mt_ints kernel_size, strides;
    const mt_node *padding;
    mt_affine_opts affine;
} conv_opts;

static const mt_option conv_options[] = {
    {"filters", MT_OPT_INT, offsetof(conv_opts, filters), NULL, 1, 1 << 20, NULL, "number of output channels"},
    {"kernel_size", MT_OPT_INTS, offsetof(conv_opts, kernel_size), NULL, 1, 1 << 16, NULL,
     "kernel height and width: k or [kh, kw]"},
    {"strides", MT_OPT_INTS, offsetof(conv_opts, strides), "1", 1, 1 << 16, NULL, "stride: s or [sh, sw]"},
    {"padding", MT_OPT_NODE, offsetof(conv_opts, padding), "valid", 0, 0, NULL,
     "valid (none), same (output size ceil(input / stride); extra row and column at the bottom and right), "
     "or zeros on each side: p or [ph, pw]"},
    MT_AFFINE_OPTIONS(
        conv_opts, affine, "activation applied to the output (softmax: over the whole output of a sample)",
        "weight initializer (as dense; fan_in = C kh kw, fan_out = filters kh kw): " MT_AFFINE_INITIALIZERS,
        "add a learned bias per filter"),
    MT_OPT_END,
};

static int round_up(int x, int m)
{
    return (x + m - 1) / m * m;
}

/* Padding into pad[4] = top, bottom, left, right. */
static mt_status parse_padding(const mt_layer *l, const int in[2], const int k[2], const int s[2], int pad[4],
                               mt_error *err)
{
    int same, p[2];
    mt_status st = mt_layer_padding(l, ((const conv_opts *)l->opts)->padding, "a number of zeros per side", &same, p,
                                    err);
    if (st)
        return st;
    if (same) {
        for (int d = 0; d < 2; d++) {
            long out = (in[d] + s[d] - 1) / s[d];
            long total = (out - 1) * s[d] + k[d] - in[d];
            total = total > 0 ? total : 0;
            pad[2 * d] = (int)(total / 2);
            pad[2 * d + 1] = (int)(total - total / 2);
        }
        return MT_OK;
    }
    pad[0] = pad[1] = p[0];
    pad[2] = pad[3] = p[1];
    return MT_OK;
}

/* Positions per tile: a multiple of NR with rows * ptile <= TILE_FLOATS for each buffer of `rows` rows. */
static int tile_positions(int rows)
{
    long p = TILE_FLOATS / (rows > 0 ? rows : 1) / NR * NR;
    return p < NR ? NR : p > MAX_PTILE ? MAX_PTILE : (int)p;
}

/* Fills g's derived fields; the bits go to `bits` when not NULL (count with NULL first). */
static size_t geom_bits(geom *g, uint64_t *bits)
{
    long ohw = (long)g->OH * g->OW;
    g->words = (size_t)(ohw + 63) / 64 + 1; /* one more: reads of 64 bits from any position */
    if (bits) {
        g->bits = bits;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                uint64_t *b = bits + (size_t)(ki * g->kw + kj) * g->words;
                for (long r = 0; r < ohw; r++) {
                    long ih = r / g->OW * g->sh - g->pt + ki, iw = r % g->OW * g->sw - g->pl + kj;
                    if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                        b[r / 64] |= (uint64_t)1 << (r % 64);
                }
            }
    }
    return (size_t)g->kh * g->kw * g->words;
}

/* Picks the tile sizes and allocates the buffers (zeroed: padding rows and columns stay 0). */
static mt_status alloc_state(mt_layer *l, const geom *g0, mt_error *err)
{
    conv_state s = {.g = *g0};
    geom *g = &s.g, *t = &s.t;
    s.Kr = round_up(g->K, MR);
    s.Fr = round_up(g->F, MR);
    s.Fp = round_up(g->F, NR);
    s.Cr = round_up(g->C, MR);
    s.by_conv = g->sh == 1 && g->sw == 1;
    int rows = s.Kr > s.Fp ? s.Kr : s.Fp;
    g->ptile = tile_positions(rows > s.Fr ? rows : s.Fr);
    g->shifted = g->sh == 1 && g->sw == 1 && g->OW == g->W && (long)g->OH * g->OW >= 16;
    size_t nbits = geom_bits(g, NULL), ncols = (size_t)rows * g->ptile, nybuf = (size_t)s.Fr * g->ptile;
    size_t nwt = (size_t)s.Kr * g->F, lanes = (size_t)g->ptile;
    if (s.by_conv) {
        *t = (geom){.C = g->F,
                    .H = g->OH,
                    .W = g->OW,
                    .F = g->C,
                    .kh = g->kh,
                    .kw = g->kw,
                    .sh = 1,
                    .sw = 1,
                    .pt = g->kh - 1 - g->pt,
                    .pl = g->kw - 1 - g->pl,
                    .OH = g->H,
                    .OW = g->W,
                    .K = g->F * g->kh * g->kw};
        t->ptile = tile_positions(t->K > s.Cr ? t->K : s.Cr);
        t->shifted = t->OW == t->W && (long)t->OH * t->OW >= 16;
        nbits += geom_bits(t, NULL);
        ncols = ncols > (size_t)t->K * t->ptile ? ncols : (size_t)t->K * t->ptile;
        nybuf = nybuf > (size_t)s.Cr * t->ptile ? nybuf : (size_t)s.Cr * t->ptile;
        nwt = (size_t)s.Cr * t->K;
        lanes = lanes > (size_t)t->ptile ? lanes : (size_t)t->ptile;
    }
    ncols += (size_t)MR * NR; /* the dW kernel reads rows up to Kr of the last panel */
    size_t sizes[6] = {ncols, nybuf, (size_t)s.Fr * g->K, nwt, (size_t)g->ptile * s.Fp, (size_t)s.Kr * s.Fp};
    size_t total = 0;
    for (int i = 0; i < 6; i++)
        total += (sizes[i] + 15) / 16 * 16;
    if (total > ((size_t)1 << 28))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d filters of %dx%dx%d need %zu MiB of buffers; too large", l->section,
                       g->F, g->C, g->kh, g->kw, total >> 18);
    size_t head = (sizeof s + 63) / 64 * 64;
    size_t bytes = head + 64 + total * sizeof(float) + nbits * sizeof(uint64_t) +
                   lanes * (sizeof(long) + 2 * sizeof(int));
    char *mem = calloc(1, bytes);
    if (!mem)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    float *p = (float *)(((uintptr_t)(mem + head) + 63) / 64 * 64);
    float **bufs[6] = {&s.cols, &s.ybuf, &s.wp, &s.wtp, &s.dyt, &s.dwt};
    for (int i = 0; i < 6; i++) {
        *bufs[i] = p;
        p += (sizes[i] + 15) / 16 * 16;
    }
    uint64_t *bits = (uint64_t *)p;
    bits += geom_bits(g, bits);
    if (s.by_conv)
        bits += geom_bits(t, bits);
    s.lane_base = (long *)bits;
    s.lane_ih = (int *)(s.lane_base + lanes);
    s.lane_iw = s.lane_ih + lanes;
    memcpy(mem, &s, sizeof s);
    l->state = mem;
    return MT_OK;
}

static mt_status conv_setup(mt_layer *l, mt_error *err)
{
    conv_opts *o = l->opts;
    geom g = {0};
    int k[2] = {0}, s[2] = {0}, in[2] = {0}, pad[4] = {0};
    if (l->in_shape.n != 2 && l->in_shape.n != 3)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: expects samples of shape [channels, height, width] or [height, "
                       "width], got %d dimensions",
                       l->section, l->in_shape.n);
    int r = l->in_shape.n;
    g.C = r == 3 ? l->in_shape.v[0] : 1;
    g.H = in[0] = l->in_shape.v[r - 2];
    g.W = in[1] = l->in_shape.v[r - 1];
    mt_status st = mt_layer_pair(l, "kernel_size", &o->kernel_size, k, err);
    if (!st)
        st = mt_layer_pair(l, "strides", &o->strides, s, err);
    if (!st)
        st = parse_padding(l, in, k, s, pad, err);
    if (st)
        return st;
    for (int d = 0; d < 2; d++)
        if ((long)in[d] + pad[2 * d] + pad[2 * d + 1] < k[d])
            return mt_fail(err, MT_ERR_CONFIG,
                           "%s.kernel_size: the kernel (%dx%d) is larger than the padded "
                           "input (%ldx%ld)",
                           l->section, k[0], k[1], (long)in[0] + pad[0] + pad[1], (long)in[1] + pad[2] + pad[3]);
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
    st = mt_affine_params(l,
                          &(mt_affine_spec){.rank = 4,
                                            .shape = {g.F, g.C, g.kh, g.kw},
                                            .units = g.F,
                                            .fan_in = g.K,
                                            .fan_out = g.F * g.kh * g.kw,
                                            .opts = &o->affine},
                          err);
    return st ? st : alloc_state(l, &g, err);
}

/* ---- the product kernels ---- */

/* c[i, j] = (acc ? c[i, j] : 0) + sum_{k < kn} a[k, i] b[k, j] for i < MR, j < NR: a packed [kn][MR], b a
 * panel [kn][NR]. */
static void block_packed(int kn, const float *restrict a, const float *restrict b, float *c, size_t ldc, int acc)
{
    vf s0[MR], s1[MR];
    for (int i = 0; i < MR; i++) {
        s0[i] = acc ? VLOAD(c + i * ldc) : VZERO();
        s1[i] = acc ? VLOAD(c + i * ldc + VL) : VZERO();
    }
    for (int k = 0; k < kn; k++, a += MR, b += NR) {
        const vf b0 = VLOAD(b), b1 = VLOAD(b + VL);
        for (int i = 0; i < MR; i++) {
            const vf x = VSET1(a[i]);
            s0[i] = VFMA(x, b0, s0[i]);
            s1[i] = VFMA(x, b1, s1[i]);
        }
    }
    for (int i = 0; i < MR; i++) {
        VSTORE(c + i * ldc, s0[i]);
        VSTORE(c + i * ldc + VL, s1[i]);
    }
}

/* C[m, positions 0 .. P rounded up to NR) = A[m, K] cols[K, positions]: A packed by pack_rows (m a multiple
 * of MR), cols in panels. A panel's rows are taken KC at a time, so that they stay in the L1 cache while
 * the blocks of rows of A pass over them. */
static void product_packed(int m, int P, int K, const float *ap, const float *cols, float *c, size_t ldc)
{
    for (int j = 0; j * NR < P; j++)
        for (int k0 = 0, kc = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC); k0 < K; k0 += kc) {
            const int kn = K - k0 < kc ? K - k0 : kc; /* equal parts of at most KC rows */
            const float *b = cols + (size_t)j * K * NR + (size_t)k0 * NR;
            for (int i = 0; i < m; i += MR)
                block_packed(kn, ap + (size_t)i * K + (size_t)k0 * MR, b, c + (size_t)i * ldc + (size_t)j * NR, ldc,
                             k0 > 0);
        }
}

/* c[i, j] += sum_p a[k0 + i, p] b[p, j] for i < MR, j < NR over the kn positions of a tile: a the tile's
 * panels [.][K][NR] from row k0, b = dY^T rows of stride ldb. */
static void block_dw(int kn, const float *a, size_t K, const float *restrict b, size_t ldb, float *c, size_t ldc)
{
    vf s0[MR], s1[MR];
    for (int i = 0; i < MR; i++) {
        s0[i] = VLOAD(c + i * ldc);
        s1[i] = VLOAD(c + i * ldc + VL);
    }
    for (int p0 = 0; p0 < kn; p0 += NR) {
        const float *restrict ap = a + (size_t)p0 * K;
        const int ln = kn - p0 < NR ? kn - p0 : NR;
        for (int q = 0; q < ln; q++, b += ldb) {
            const vf b0 = VLOAD(b), b1 = VLOAD(b + VL);
            for (int i = 0; i < MR; i++) {
                const vf x = VSET1(ap[i * NR + q]);
                s0[i] = VFMA(x, b0, s0[i]);
                s1[i] = VFMA(x, b1, s1[i]);
            }
        }
    }
    for (int i = 0; i < MR; i++) {
        VSTORE(c + i * ldc, s0[i]);
        VSTORE(c + i * ldc + VL, s1[i]);
    }
}

/* C[m, n] = A[m, k] B[k, n] (row strides lda, ldb, ldc) for m a multiple of MR and n of NR: unpacked. */
static void block(int kn, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc)
{
    vf s0[MR], s1[MR];
    for (int i = 0; i < MR; i++)
        s0[i] = VZERO(), s1[i] = VZERO();
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

static void product(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc)
{
    for (int j = 0; j < n; j += NR)
        for (int i = 0; i < m; i += MR)
            block(k, a + (size_t)i * lda, lda, b + j, ldb, c + (size_t)i * ldc + j, ldc);
}

/* ap[i / MR][k][i % MR] = w(i, k) for i < m, 0 for the rows up to a multiple of MR; w(i, k) = w[i * K + k],
 * or with flip the transposed convolution's weight: w[f, c, kh - 1 - ki, kw - 1 - kj] for i = c and
 * k = (f kh + ki) kw + kj (w [F, C, kh, kw]). */
static void pack_rows(const float *w, int m, int K, const geom *flip, float *ap)
{
    for (int i = 0; i < m; i++) {
        float *dst = ap + (size_t)(i / MR) * K * MR + i % MR;
        if (!flip) {
            for (int k = 0; k < K; k++)
                dst[(size_t)k * MR] = w[(size_t)i * K + k];
            continue;
        }
        const int kh = flip->kh, kw = flip->kw, C = flip->F; /* flip is t: its F is the layer's C */
        for (int k = 0; k < K; k++) {
            int f = k / (kh * kw), ki = k / kw % kh, kj = k % kw;
            dst[(size_t)k * MR] = w[(((size_t)f * C + i) * kh + (kh - 1 - ki)) * kw + (kw - 1 - kj)];
        }
    }
}

/* ---- tiles ---- */

/* Per position t < P of the tile starting at global position q0: the offset of its sample's input and the
 * top-left input row and column of its window. */
static void tile_lanes(const conv_state *s, const geom *g, size_t in_size, long q0, int P)
{
    long ohw = (long)g->OH * g->OW, smp = q0 / ohw, r = q0 % ohw;
    int oh = (int)(r / g->OW), ow = (int)(r % g->OW);
    for (int t = 0; t < P; t++) {
        s->lane_base[t] = smp * (long)in_size;
        s->lane_ih[t] = oh * g->sh - g->pt;
        s->lane_iw[t] = ow * g->sw - g->pl;
        if (++ow == g->OW) {
            ow = 0;
            if (++oh == g->OH)
                oh = 0, smp++;
        }
    }
}

/* 32 bits of a kernel offset's mask from output position r on. */
static inline uint32_t bits_at(const uint64_t *b, long r)
{
    uint64_t v = b[r >> 6] >> (r & 63);
    if (r & 63)
        v |= b[(r >> 6) + 1] << (64 - (r & 63));
    return (uint32_t)v;
}

/* cols = im2col of positions q0 .. q0 + P of x (samples of in_size values) for geometry g, in panels
 * [K][NR]: cols[t / NR][(c kh + ki) kw + kj][t % NR] = x[sample, c, ih + ki, iw + kj], 0 outside the image.
 * Positions from P up to the end of the last panel are left as they are. */
static void im2col(const conv_state *s, const geom *g, const float *x, size_t in_size, long q0, int P, float *cols)
{
    const size_t hw = (size_t)g->H * g->W;
    const int K = g->K;
#if defined(__AVX512F__)
    const int kk = g->kh * g->kw;
    if (g->shifted) {     /* groups of 16 positions, each in at most two samples (OH OW >= 16) */
        enum { OC = 16 }; /* kernel offsets per pass */
        const long ohw = (long)g->OH * g->OW;
        const int groups = (P + 15) / 16;
        __mmask16 k1[MAX_PTILE / 16][OC], k2[MAX_PTILE / 16][OC];
        long shift[OC];
        for (int o0 = 0; o0 < kk; o0 += OC) {
            const int on = kk - o0 < OC ? kk - o0 : OC;
            for (int o = 0; o < on; o++)
                shift[o] = (long)((o0 + o) / g->kw - g->pt) * g->W + (o0 + o) % g->kw - g->pl;
            for (int j = 0; j < groups; j++) {
                const long q = q0 + 16 * j, r = q % ohw;
                const int want = P - 16 * j < 16 ? P - 16 * j : 16, n1 = ohw - r < want ? (int)(ohw - r) : want;
                const uint32_t m1 = (1u << n1) - 1, all = (1u << want) - 1;
                for (int o = 0; o < on; o++) {
                    const uint64_t *b = g->bits + (size_t)(o0 + o) * g->words;
                    k1[j][o] = (__mmask16)(bits_at(b, r) & m1);
                    k2[j][o] = (__mmask16)((bits_at(b, 0) << n1) & all & ~m1);
                }
            }
            /* plane by plane, in order along it: one stream of reads at a time */
            for (int c = 0; c < g->C; c++)
                for (int j = 0; j < groups; j++) {
                    const long q = q0 + 16 * j, smp = q / ohw, r = q % ohw;
                    const int n1 = ohw - r < 16 ? (int)(ohw - r) : 16;
                    const float *p1 = x + smp * (long)in_size + (long)c * (long)hw + r;
                    const float *p2 = x + (smp + 1) * (long)in_size + (long)c * (long)hw - n1;
                    float *d = cols + (size_t)(j / 2) * K * NR + (j % 2) * 16 + (size_t)(c * kk + o0) * NR; /* NR 32 */
                    for (int o = 0; o < on; o++, d += NR) {
                        __m512 v = _mm512_maskz_loadu_ps(k1[j][o], p1 + shift[o]);
                        if (k2[j][o])
                            v = _mm512_mask_loadu_ps(v, k2[j][o], p2 + shift[o]);
                        _mm512_storeu_ps(d, v);
                    }
                }
        }
        return;
    }
#endif
    tile_lanes(s, g, in_size, q0, P);
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = cols + (size_t)((c * g->kh + ki) * g->kw + kj) * NR;
                for (int t = 0; t < P; t++) {
                    const int ih = s->lane_ih[t] + ki, iw = s->lane_iw[t] + kj;
                    const int in = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
                    row[(size_t)(t / NR) * K * NR + t % NR] =
                        in ? x[s->lane_base[t] + (long)(c * hw) + (long)ih * g->W + iw] : 0.0f;
                }
            }
}

/* dx[sample, c, ih + ki, iw + kj] += dcols[(c kh + ki) kw + kj, t] (rows of stride ld): the adjoint of
 * im2col, for positions q0 .. q0 + P. */
static void col2im(const conv_state *s, const geom *g, const float *dcols, size_t ld, long q0, int P, float *dx,
                   size_t in_size)
{
    const size_t hw = (size_t)g->H * g->W;
    tile_lanes(s, g, in_size, q0, P);
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = dcols + (size_t)((c * g->kh + ki) * g->kw + kj) * ld;
                for (int t = 0; t < P; t++) {
                    const int ih = s->lane_ih[t] + ki, iw = s->lane_iw[t] + kj;
                    if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                        dx[s->lane_base[t] + (long)(c * hw) + (long)ih * g->W + iw] += row[t];
                }
            }
}

/* out[sample, f, position] = ybuf[f, t] + bias[f] (relu when asked) for the tile's positions t < P. */
static void copy_out(const geom *g, const float *ybuf, size_t ld, long q0, int P, const float *bias, int relu,
                     float *out, size_t out_size)
{
    const long ohw = (long)g->OH * g->OW;
    for (int t = 0; t < P;) {
        const long q = q0 + t, smp = q / ohw, r = q % ohw;
        const int len = ohw - r < P - t ? (int)(ohw - r) : P - t;
        for (int f = 0; f < g->F; f++) {
            const float *src = ybuf + (size_t)f * ld + t;
            float *dst = out + smp * (long)out_size + f * ohw + r;
            const float b = bias ? bias[f] : 0.0f;
            if (relu)
                for (int i = 0; i < len; i++) {
                    float v = src[i] + b;
                    dst[i] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int i = 0; i < len; i++)
                    dst[i] = src[i] + b;
        }
        t += len;
    }
}

/* ybuf[f, t] = dy of the tile's positions t < P, 0 up to the end of the last panel; gb[f] += the row sums. */
static void gather(const geom *g, const float *dy, size_t out_size, long q0, int P, float *ybuf, size_t ld, float *gb)
{
    const long ohw = (long)g->OH * g->OW;
    const int Pr = round_up(P, NR);
    for (int t = 0; t < P;) {
        const long q = q0 + t, smp = q / ohw, r = q % ohw;
        const int len = ohw - r < P - t ? (int)(ohw - r) : P - t;
        for (int f = 0; f < g->F; f++)
            memcpy(ybuf + (size_t)f * ld + t, dy + smp * (long)out_size + f * ohw + r, (size_t)len * sizeof *dy);
        t += len;
    }
    for (int f = 0; f < g->F; f++) {
        float *row = ybuf + (size_t)f * ld;
        memset(row + P, 0, (size_t)(Pr - P) * sizeof *row);
        if (gb)
            gb[f] += mt_affine_row_sum(row, (size_t)P);
    }
}

/* dyt[t, f] = ybuf[f, t] for t < P rounded up to 16, f < F (rows of stride ld, dyt rows of stride Fp; its
 * columns from F on stay 0). */
static void transpose(const float *ybuf, size_t ld, int F, int P, float *dyt, size_t Fp)
{
#if defined(__AVX512F__)
    /* 16 x 16 blocks: four rounds of swapping the off-diagonal b x b blocks (b = 8, 4, 2, 1) */
    __m512i lo[4], hi[4];
    for (int s = 0, b = 8; s < 4; s++, b /= 2) {
        int il[16], ih[16];
        for (int j = 0; j < 16; j++) {
            il[j] = (j & b) ? 16 + j - b : j;
            ih[j] = (j & b) ? 16 + j : j + b;
        }
        lo[s] = _mm512_loadu_si512(il);
        hi[s] = _mm512_loadu_si512(ih);
    }
    for (int f0 = 0; f0 < F; f0 += 16)
        for (int p0 = 0; p0 < P; p0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = f0 + i < F ? _mm512_loadu_ps(ybuf + (size_t)(f0 + i) * ld + p0) : _mm512_setzero_ps();
            for (int s = 0, b = 8; s < 4; s++, b /= 2)
                for (int i = 0; i < 16; i++)
                    if (!(i & b)) {
                        __m512 u = _mm512_permutex2var_ps(r[i], lo[s], r[i + b]);
                        __m512 v = _mm512_permutex2var_ps(r[i], hi[s], r[i + b]);
                        r[i] = u, r[i + b] = v;
                    }
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps(dyt + (size_t)(p0 + i) * Fp + f0, r[i]);
        }
#else
    for (int p = 0; p < round_up(P, 16); p++)
        for (int f = 0; f < F; f++)
            dyt[(size_t)p * Fp + f] = ybuf[(size_t)f * ld + p];
#endif
}

static mt_status conv_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    if (n == 0)
        return MT_OK;
    const conv_opts *o = l->opts;
    conv_state *s = l->state;
    const geom *g = &s->g;
    const float *bias = o->affine.use_bias ? l->params + (size_t)g->F * g->K : NULL;
    pack_rows(l->params, g->F, g->K, NULL, s->wp);
    mt_activation act = mt_affine_activation(&o->affine);
    int keep = l->scratch_per_sample != 0, relu = act.kind == MT_ACT_RELU && !keep;
    float *z = keep ? l->scratch : y;
    const long total = (long)n * g->OH * g->OW;
    for (long q0 = 0; q0 < total; q0 += g->ptile) {
        const int P = total - q0 < g->ptile ? (int)(total - q0) : g->ptile;
        im2col(s, g, x, l->in_size, q0, P, s->cols);
        product_packed(s->Fr, P, g->K, s->wp, s->cols, s->ybuf, (size_t)g->ptile);
        copy_out(g, s->ybuf, (size_t)g->ptile, q0, P, bias, relu, z, l->out_size);
    }
    if (!relu)
        mt_activation_forward(&act, z, y, n, (int)l->out_size);
    return MT_OK;
}

/* dx = the transposed convolution of dy (stride 1): dy's tiles through the forward path of s->t. */
static void input_gradient_by_conv(mt_layer *l, const float *dy, float *dx, int n)
{
    conv_state *s = l->state;
    const geom *t = &s->t;
    pack_rows(l->params, t->F, t->K, t, s->wtp);
    const long total = (long)n * t->OH * t->OW;
    for (long q0 = 0; q0 < total; q0 += t->ptile) {
        const int P = total - q0 < t->ptile ? (int)(total - q0) : t->ptile;
        im2col(s, t, dy, l->out_size, q0, P, s->cols);
        product_packed(s->Cr, P, t->K, s->wtp, s->cols, s->ybuf, (size_t)t->ptile);
        copy_out(t, s->ybuf, (size_t)t->ptile, q0, P, NULL, 0, dx, l->in_size);
    }
}

static mt_status conv_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                               const mt_pass *pass, mt_error *err)
{
    (void)err;
    if (n == 0)
        return MT_OK;
    const conv_opts *o = l->opts;
    conv_state *s = l->state;
    const geom *g = &s->g;
    const int F = g->F, K = g->K;
    const size_t total_out = (size_t)n * l->out_size;
    mt_activation act = mt_affine_activation(&o->affine);
    if (!l->fused_output && act.kind == MT_ACT_RELU) {
        for (size_t i = 0; i < total_out; i++)
            dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    } else if (!l->fused_output && act.kind != MT_ACT_LINEAR) {
        mt_activation_backward(&act, l->scratch, y, dy, n, (int)l->out_size);
    }
    float *gw = l->grads, *gb = o->affine.use_bias ? l->grads + (size_t)F * K : NULL;
    const size_t ld = (size_t)g->ptile;
    if (dx && !s->by_conv) {
        for (int f = 0; f < F; f++)
            for (int k = 0; k < K; k++)
                s->wtp[(size_t)k * F + f] = l->params[(size_t)f * K + k];
        memset(dx, 0, (size_t)n * l->in_size * sizeof *dx);
    }
    memset(s->dwt, 0, (size_t)s->Kr * s->Fp * sizeof *s->dwt);
    const long total = (long)n * g->OH * g->OW;
    for (long q0 = 0; q0 < total; q0 += g->ptile) {
        const int P = total - q0 < g->ptile ? (int)(total - q0) : g->ptile;
        gather(g, dy, l->out_size, q0, P, s->ybuf, ld, gb);
        transpose(s->ybuf, ld, F, P, s->dyt, (size_t)s->Fp);
        im2col(s, g, x, l->in_size, q0, P, s->cols);
        for (int f0 = 0; f0 < s->Fp; f0 += NR)
            for (int k0 = 0; k0 < s->Kr; k0 += MR)
                block_dw(P, s->cols + (size_t)k0 * NR, (size_t)K, s->dyt + f0, (size_t)s->Fp,
                         s->dwt + (size_t)k0 * s->Fp + f0, (size_t)s->Fp);
        if (dx && !s->by_conv) {
            product(s->Kr, round_up(P, NR), F, s->wtp, (size_t)F, s->ybuf, ld, s->cols, ld);
            col2im(s, g, s->cols, ld, q0, P, dx, l->in_size);
        }
        if (pass->poll)
            pass->poll(pass->hook_user);
    }
    for (int f = 0; f < F; f++)
        for (int k = 0; k < K; k++)
            gw[(size_t)f * K + k] += s->dwt[(size_t)k * s->Fp + f];
    if (dx && s->by_conv)
        input_gradient_by_conv(l, dy, dx, n);
    return MT_OK;
}

const mt_layer_ops mt_conv2d_layer = {
    .name = "conv2d",
    .options = conv_options,
    .options_size = sizeof(conv_opts),
    .doc = "2-D convolution y = f(W * x + b) on [C, H, W] samples (or [H, W]), W of shape [filters, C, kh, kw] "
           "as torch.nn.Conv2d",
    .torch = "torch.nn.Conv2d state_dict: weight [out_channels, in_channels, kh, kw], bias [out_channels]",
    .setup = conv_setup,
    .forward = conv_forward,
    .backward = conv_backward,
};
