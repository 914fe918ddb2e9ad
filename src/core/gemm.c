/* Our single-precision GEMM (core/gemm.h).
 *
 * The result is computed in tiles of MR rows x NR columns held in registers. Of the two operands, the
 * "vector" one V[k, c] is read NR columns at a time from a panel packed contiguously ([kc][NR], padded
 * with zeros), and the "broadcast" one U[r, k] one scalar at a time straight from the caller's matrix
 * (U[r, k] = u[r rs + k cs], one of rs, cs being 1): only V is copied, and V is the operand whose copy
 * is cheap or small.
 * Orientation: either C = U V with U = op(A), V = op(B), or C^T = U V with U = op(B)^T, V = op(A)^T and
 * the tiles stored transposed. V is a plain copy in the first case when tb == 0, in the second when
 * ta != 0, and a transposition otherwise; each call takes the orientation with less work, counting the
 * tiles' padding and the packing (orientation_cost). The dense layer's forward X W^T (ta = 0, tb = 1)
 * thus transposes the batch X (V = X^T) rather than the larger weight matrix, dX = dY W and
 * dW += dY^T X copy only.
 * Loops: k in blocks of at most KC, so that the V panel (KC x NR floats, 32 KB) stays in the L1 cache
 * while it meets every row tile; rows in blocks of RB, so that the U block stays in L2 across the
 * column panels. Row tiles at the bottom edge repeat their last row of U (when U lies in rows) or read
 * U from a zero-padded copy (when it lies in columns); column panels at the right edge are zero-padded
 * when packed; the stores are masked.
 *
 * With AVX-512 (MR = 8, NR = 32): 16 accumulators, two vector loads and eight broadcasts per k. Tiles
 * stored transposed go through a three-stage permutation network (vpermt2ps / vpermt2pd), 48 shuffles
 * per tile. Without AVX-512, a plain C kernel (MR = 4, NR = 16) that the compiler vectorizes. */
#include "core/gemm.h"

#include <stddef.h>
#include <string.h>

#include "core/fixed_point.h"

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && !defined(MT_GEMM_PORTABLE)
#define USE_AVX512 1
#include <immintrin.h>
enum { MR = 8, NR = 32 };
#else
#define USE_AVX512 0
enum { MR = 4, NR = 16 };
#endif
enum { KC = 256, RB = 512 };

/* Per-thread packing buffers: the V panel and the zero-padded U rows of an edge tile. */
static _Thread_local _Alignas(64) float vbuf[KC * NR];
static _Thread_local _Alignas(64) float ubuf[KC * MR];

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

#if USE_AVX512

/* dst[k * MR + r] = u[k cs + r] for r < mr, 0 for mr <= r < MR; k < kc (the rows of an edge tile whose
 * U lies in columns, which cannot be read past row mr). */
static void pack_u(int kc, int mr, const float *u, ptrdiff_t cs, float *dst)
{
    const __mmask8 m = (__mmask8)((1u << mr) - 1);
    for (int k = 0; k < kc; k++)
        _mm256_store_ps(dst + k * MR, _mm256_maskz_loadu_ps(m, u + k * cs));
}

static __mmask16 mask16(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* dst[k * NR + c] = v[k ld + c] for c < nc (0 beyond); k < kc. */
static void pack_v_rows(int kc, int nc, const float *v, ptrdiff_t ld, float *dst)
{
    const __mmask16 m0 = mask16(nc), m1 = mask16(nc - 16);
    if (nc == NR) {
        for (int k = 0; k < kc; k++) {
            _mm512_store_ps(dst + k * NR, _mm512_loadu_ps(v + k * ld));
            _mm512_store_ps(dst + k * NR + 16, _mm512_loadu_ps(v + k * ld + 16));
        }
        return;
    }
    for (int k = 0; k < kc; k++) {
        _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, v + k * ld));
        _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, v + k * ld + 16));
    }
}

/* Transposes the 16 x 16 block r[i][j] in place: afterwards r[j] holds column j. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + q], lane L: rows 4g..4g+3 of column 4L + q */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m512 va = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), vb = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
        __m512 wa = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
        __m512 wb = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
        r[q] = _mm512_shuffle_f32x4(va, wa, 0x88);
        r[8 + q] = _mm512_shuffle_f32x4(va, wa, 0xdd);
        r[4 + q] = _mm512_shuffle_f32x4(vb, wb, 0x88);
        r[12 + q] = _mm512_shuffle_f32x4(vb, wb, 0xdd);
    }
}

/* dst[k * NR + c] = v[c ld + k] for c < nc (0 beyond); k < kc: 16 x 16 blocks transposed in registers. */
static void pack_v_cols(int kc, int nc, const float *v, ptrdiff_t ld, float *dst)
{
    for (int g = 0; g < NR / 16; g++) {
        int rows = min_int(16, nc - 16 * g);
        for (int k = 0; k < kc; k += 16) {
            const int kn = min_int(16, kc - k);
            const __mmask16 m = mask16(kn);
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_ps(m, v + (ptrdiff_t)(16 * g + i) * ld + k) : _mm512_setzero_ps();
            transpose16(r);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                if (j < kn)
                    _mm512_store_ps(dst + (k + j) * NR + 16 * g, r[j]);
        }
    }
}

/* The MR x NR tile U[0:MR, 0:kc] V[0:kc, 0:NR] into acc; U[r, k] = u[r rs + k cs] where cs == 1 if
 * rows_contiguous (then only rows r < mr are read), else rs == 1 (all MR rows are read). */
static inline __attribute__((always_inline)) void kernel(int kc, int mr, const float *u, ptrdiff_t rs, ptrdiff_t cs,
                                                         const float *v, __m512 acc[MR][2], const int rows_contiguous)
{
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    if (rows_contiguous) {
        const float *p[MR]; /* rows past mr repeat row mr - 1: read, computed, not stored */
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++)
            p[r] = u + (r < mr ? r : mr - 1) * rs;
        for (int k = 0; k < kc; k++) {
            const __m512 v0 = _mm512_load_ps(v + k * NR), v1 = _mm512_load_ps(v + k * NR + 16);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                const __m512 x = _mm512_set1_ps(p[r][k]);
                acc[r][0] = _mm512_fmadd_ps(x, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(x, v1, acc[r][1]);
            }
        }
    } else {
        for (int k = 0; k < kc; k++) {
            const float *p = u + k * cs;
            const __m512 v0 = _mm512_load_ps(v + k * NR), v1 = _mm512_load_ps(v + k * NR + 16);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                const __m512 x = _mm512_set1_ps(p[r]);
                acc[r][0] = _mm512_fmadd_ps(x, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(x, v1, acc[r][1]);
            }
        }
    }
}

/* C[r, c] = alpha acc + beta C for r < mr, c < nc (C[r, c] = c[r ldc + c]); beta == 0 reads nothing. */
static inline __attribute__((always_inline)) void store_rows(__m512 acc[MR][2], float *c, ptrdiff_t ldc, int mr, int nc,
                                                             float alpha, float beta)
{
    const __mmask16 m0 = mask16(nc), m1 = mask16(nc - 16);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (r >= mr)
            continue;
        float *cr = c + r * ldc;
        __m512 x0 = _mm512_mul_ps(acc[r][0], va), x1 = _mm512_mul_ps(acc[r][1], va);
        if (nc == NR) {
            if (beta != 0.0f) {
                x0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), x0);
                x1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), x1);
            }
            _mm512_storeu_ps(cr, x0);
            _mm512_storeu_ps(cr + 16, x1);
        } else {
            if (beta != 0.0f) {
                x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
                x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
            }
            _mm512_mask_storeu_ps(cr, m0, x0);
            _mm512_mask_storeu_ps(cr + 16, m1, x1);
        }
    }
}

/* One row of C^T: c[0:mr] = alpha x + beta c[0:mr] (x already scaled by alpha). */
static inline __attribute__((always_inline)) void store8(float *c, __m256 x, int mr, float beta)
{
    if (mr == MR) {
        if (beta != 0.0f)
            x = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), x);
        _mm256_storeu_ps(c, x);
    } else {
        const __mmask8 m = (__mmask8)((1u << mr) - 1);
        if (beta != 0.0f)
            x = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskz_loadu_ps(m, c), x);
        _mm256_mask_storeu_ps(c, m, x);
    }
}

/* C[c, r] = alpha acc[r][c] + beta C[c, r] for r < mr, c < nc (C[c, r] = c[c ldc + r]): the tile is
 * transposed in registers, each output vector holding two columns of acc (rows of C) of 8 values. */
static inline __attribute__((always_inline)) void store_cols(__m512 acc[MR][2], float *c, ptrdiff_t ldc, int mr, int nc,
                                                             float alpha, float beta)
{
    static const int i1[2][16] = {{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23},
                                  {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}};
    static const long long i2[2][8] = {{0, 8, 1, 9, 2, 10, 3, 11}, {4, 12, 5, 13, 6, 14, 7, 15}};
    static const long long i3[2][8] = {{0, 1, 8, 9, 2, 3, 10, 11}, {4, 5, 12, 13, 6, 7, 14, 15}};
    const __m512i j1[2] = {_mm512_loadu_si512(i1[0]), _mm512_loadu_si512(i1[1])};
    const __m512i j2[2] = {_mm512_loadu_si512(i2[0]), _mm512_loadu_si512(i2[1])};
    const __m512i j3[2] = {_mm512_loadu_si512(i3[0]), _mm512_loadu_si512(i3[1])};
    const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        if (16 * h >= nc)
            continue;
        /* s1[p][q], 64-bit element j: rows 2p, 2p+1 at column 16h + 8q + j */
        __m512 s1[4][2];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
#pragma GCC unroll 2
            for (int q = 0; q < 2; q++)
                s1[p][q] = _mm512_permutex2var_ps(_mm512_mul_ps(acc[2 * p][h], va), j1[q],
                                                  _mm512_mul_ps(acc[2 * p + 1][h], va));
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
            /* s2[g][e], 128-bit unit j: rows 4g..4g+3 at column 16h + 8q + 4e + j */
            __m512d s2[2][2];
#pragma GCC unroll 2
            for (int g = 0; g < 2; g++)
#pragma GCC unroll 2
                for (int e = 0; e < 2; e++)
                    s2[g][e] = _mm512_permutex2var_pd(_mm512_castps_pd(s1[2 * g][q]), j2[e],
                                                      _mm512_castps_pd(s1[2 * g + 1][q]));
#pragma GCC unroll 2
            for (int e = 0; e < 2; e++)
#pragma GCC unroll 2
                for (int f = 0; f < 2; f++) {
                    /* rows 0..7 at columns col, col + 1 */
                    const int col = 16 * h + 8 * q + 4 * e + 2 * f;
                    const __m512 o = _mm512_castpd_ps(_mm512_permutex2var_pd(s2[0][e], j3[f], s2[1][e]));
                    if (col < nc)
                        store8(c + col * ldc, _mm512_castps512_ps256(o), mr, beta);
                    if (col + 1 < nc)
                        store8(c + (col + 1) * ldc, _mm512_extractf32x8_ps(o, 1), mr, beta);
                }
        }
    }
}

/* Kernel and store, inlined with constant flags so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void tile_with(int kc, const float *u, ptrdiff_t rs, ptrdiff_t cs,
                                                            const float *v, float *c, ptrdiff_t ldc, int mr, int nc,
                                                            float alpha, float beta, const int rows_contiguous,
                                                            const int transposed)
{
    __m512 acc[MR][2];
    kernel(kc, mr, u, rs, cs, v, acc, rows_contiguous);
    if (transposed)
        store_cols(acc, c, ldc, mr, nc, alpha, beta);
    else
        store_rows(acc, c, ldc, mr, nc, alpha, beta);
}

/* One tile: kernel, then the store the orientation asks for. */
static void tile(int kc, const float *u, ptrdiff_t rs, ptrdiff_t cs, const float *v, float *c, ptrdiff_t ldc,
                 int transposed, int mr, int nc, float alpha, float beta)
{
    if (cs == 1 && transposed)
        tile_with(kc, u, rs, cs, v, c, ldc, mr, nc, alpha, beta, 1, 1);
    else if (cs == 1)
        tile_with(kc, u, rs, cs, v, c, ldc, mr, nc, alpha, beta, 1, 0);
    else if (transposed)
        tile_with(kc, u, rs, cs, v, c, ldc, mr, nc, alpha, beta, 0, 1);
    else
        tile_with(kc, u, rs, cs, v, c, ldc, mr, nc, alpha, beta, 0, 0);
}

const char *mt_gemm_kernel_name(void)
{
    return "avx512";
}

#else /* portable C */

/* dst[k * MR + r] = u[k cs + r] for r < mr, 0 for mr <= r < MR; k < kc. */
static void pack_u(int kc, int mr, const float *u, ptrdiff_t cs, float *dst)
{
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            dst[k * MR + r] = r < mr ? u[k * cs + r] : 0.0f;
}

/* dst[k * NR + c] = v[k ld + c] for c < nc (0 beyond); k < kc. */
static void pack_v_rows(int kc, int nc, const float *v, ptrdiff_t ld, float *dst)
{
    for (int k = 0; k < kc; k++)
        for (int c = 0; c < NR; c++)
            dst[k * NR + c] = c < nc ? v[k * ld + c] : 0.0f;
}

/* dst[k * NR + c] = v[c ld + k] for c < nc (0 beyond); k < kc. */
static void pack_v_cols(int kc, int nc, const float *v, ptrdiff_t ld, float *dst)
{
    for (int k = 0; k < kc; k++)
        for (int c = 0; c < NR; c++)
            dst[k * NR + c] = c < nc ? v[c * ld + k] : 0.0f;
}

static void tile(int kc, const float *u, ptrdiff_t rs, ptrdiff_t cs, const float *v, float *c, ptrdiff_t ldc,
                 int transposed, int mr, int nc, float alpha, float beta)
{
    float acc[MR][NR];
    ptrdiff_t row[MR]; /* rows past mr repeat row mr - 1 (computed, not stored) */
    memset(acc, 0, sizeof acc);
    for (int r = 0; r < MR; r++)
        row[r] = (r < mr ? r : mr - 1) * rs;
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++) {
            const float x = u[row[r] + k * cs];
            for (int j = 0; j < NR; j++)
                acc[r][j] += x * v[k * NR + j];
        }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++) {
            float *p = transposed ? c + j * ldc + r : c + r * ldc + j;
            *p = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * *p;
        }
}

const char *mt_gemm_kernel_name(void)
{
    return "portable";
}

#endif

/* The epilogue ep (core/gemm.h) over the rows x cols block of C at c (leading dimension ldc), right after
 * its tile was stored (still in the L1 cache): bias, relu, mask as given, the bias and mask pointers at the
 * block's first column and element. The same operations on each element as a separate pass would do. */
static void apply_epilogue(float *c, ptrdiff_t ldc, int rows, int cols, const mt_gemm_epilogue *ep)
{
    const float *bias = ep->bias;
    for (int i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *mi = ep->mask ? ep->mask + (ptrdiff_t)i * ep->ldmask : NULL;
        if (bias)
            for (int j = 0; j < cols; j++)
                ci[j] = ci[j] + bias[j];
        if (ep->relu)
            for (int j = 0; j < cols; j++)
                ci[j] = ci[j] > 0.0f ? ci[j] : 0.0f;
        if (mi)
            for (int j = 0; j < cols; j++)
                ci[j] = mi[j] > 0.0f ? ci[j] : 0.0f;
    }
}

static int round_up(int x, int to)
{
    return (x + to - 1) / to * to;
}

/* Work of one orientation, in units of one padded result element per k: the tiles (R and NCOL rounded
 * up to whole tiles) plus the packing of V, which costs about 2 units per column when copied and 10
 * when transposed (measured roughly: a tile does 16 FMAs per k, a 16 x 16 transpose 64 shuffles). */
static long orientation_cost(int rows, int cols, int v_transposed)
{
    return (long)round_up(rows, MR) * round_up(cols, NR) + (long)round_up(cols, NR) * (v_transposed ? 10 : 2);
}

/* Whether to compute C^T = op(B)^T op(A)^T (V = op(A)^T, transposed in the panel unless ta) rather than
 * C = op(A) op(B) (V = op(B), transposed unless tb). */
static int prefer_transposed(int ta, int tb, int m, int n)
{
    return orientation_cost(n, m, !ta) < orientation_cost(m, n, tb);
}

/* C = beta C (beta == 0: zeros, whatever C held). */
static void scale_c(int m, int n, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + (ptrdiff_t)i * ldc;
        if (beta == 0.0f)
            memset(ci, 0, (size_t)n * sizeof *ci);
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++)
                ci[j] *= beta;
    }
}

void mt_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
             float beta, float *c, int ldc)
{
    mt_gemm_ex(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

void mt_gemm_ex(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                float beta, float *c, int ldc, const mt_gemm_epilogue *ep)
{
    if (m <= 0 || n <= 0)
        return;
    if (ep && !ep->bias && !ep->relu && !ep->mask)
        ep = NULL;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        if (ep)
            apply_epilogue(c, ldc, m, n, ep);
        return;
    }
    /* Result R rows x NCOL columns (C, or C^T when transposed); U[r, k] = u[r urs + k ucs];
     * V[k, j] = v[k vk + j vc] with vc == 1 (rows, copied when packed) or vk == 1 (transposed). */
    const int transposed = prefer_transposed(ta, tb, m, n);
    const int R = transposed ? n : m, NCOL = transposed ? m : n;
    const float *u, *v;
    ptrdiff_t urs, ucs, vk, vc;
    if (!transposed) { /* C = U V with U = op(A), V = op(B) */
        u = a, urs = ta ? 1 : lda, ucs = ta ? lda : 1;
        v = b, vk = tb ? 1 : ldb, vc = tb ? ldb : 1;
    } else { /* C^T = U V with U = op(B)^T, V = op(A)^T */
        u = b, urs = tb ? ldb : 1, ucs = tb ? 1 : ldb;
        v = a, vk = ta ? lda : 1, vc = ta ? 1 : lda;
    }
    const int kblocks = (k + KC - 1) / KC, kc_even = (k + kblocks - 1) / kblocks;
    for (int r0 = 0; r0 < R; r0 += RB) {
        const int rb = min_int(RB, R - r0);
        for (int k0 = 0; k0 < k; k0 += kc_even) {
            const int kc = min_int(kc_even, k - k0);
            const float beta_k = k0 == 0 ? beta : 1.0f;
            const int ep_first = ep && ep->bias && k0 == 0, ep_last = ep && (ep->relu || ep->mask) && k0 + kc == k;
            for (int c0 = 0; c0 < NCOL; c0 += NR) {
                const int nc = min_int(NR, NCOL - c0);
                if (vc == 1)
                    pack_v_rows(kc, nc, v + k0 * vk + c0, vk, vbuf);
                else
                    pack_v_cols(kc, nc, v + k0 + c0 * vc, vc, vbuf);
                for (int i = r0; i < r0 + rb; i += MR) {
                    const int mr = min_int(MR, r0 + rb - i);
                    const float *ui = u + i * urs + k0 * ucs;
                    ptrdiff_t rs = urs, cs = ucs;
                    if (mr < MR && cs != 1) { /* an edge tile with U in columns */
                        pack_u(kc, mr, ui, cs, ubuf);
                        ui = ubuf, cs = MR;
                    }
                    float *ct = transposed ? c + (ptrdiff_t)c0 * ldc + i : c + (ptrdiff_t)i * ldc + c0;
                    tile(kc, ui, rs, cs, vbuf, ct, ldc, transposed, mr, nc, alpha, beta_k);
                    if (ep_first || ep_last) { /* the epilogue parts of this k block, on the tile just stored */
                        const ptrdiff_t ci = transposed ? c0 : i, cj = transposed ? i : c0; /* its C corner */
                        const mt_gemm_epilogue et = {.bias = ep_first ? ep->bias + cj : NULL,
                                                     .relu = ep_last && ep->relu,
                                                     .mask = ep_last && ep->mask ? ep->mask + ci * ep->ldmask + cj
                                                                                 : NULL,
                                                     .ldmask = ep->ldmask};
                        apply_epilogue(ct, ldc, transposed ? nc : mr, transposed ? mr : nc, &et);
                    }
                }
            }
        }
    }
}

/* ---- exact sums by chunks (mt_gemm_fixed) ---------------------------------------------------------- */

/* Chunk by chunk through C: each chunk's product with mt_gemm, then its conversion. */
static size_t fixed_through_c(int ta, int tb, int m, int n, int k, int chunk, const float *a, int lda, const float *b,
                              int ldb, double scale, double limit, int fresh, int64_t *acc, int ldacc, float *c,
                              int ldc)
{
    size_t bad = 0;
    for (int i = 0; i < m && k <= 0 && fresh; i++)
        memset(acc + (ptrdiff_t)i * ldacc, 0, (size_t)n * sizeof *acc);
    for (int k0 = 0; k0 < k; k0 += chunk) {
        const int kc = min_int(chunk, k - k0);
        const float *ak = ta ? a + (ptrdiff_t)k0 * lda : a + k0, *bk = tb ? b + k0 : b + (ptrdiff_t)k0 * ldb;
        mt_gemm(ta, tb, m, n, kc, 1.0f, ak, lda, bk, ldb, 0.0f, c, ldc);
        for (int i = 0; i < m; i++)
            bad += mt_fixed_add(acc + (ptrdiff_t)i * ldacc, c + (ptrdiff_t)i * ldc, (size_t)n, scale, limit,
                                fresh && k0 == 0);
    }
    return bad;
}

#if USE_AVX512

/* acc[r, c] (+)= fixed(tile[r][c]) for r < mr, c < nc (acc[r, c] = acc[r ldacc + c]); returns the count
 * of values out of range. The products by scale are exact, and vcvttps2qq truncates as the C cast. */
static inline __attribute__((always_inline)) size_t store_fixed(__m512 t[MR][2], int64_t *acc, ptrdiff_t ldacc, int mr,
                                                                int nc, __m512 vscale, __m512 vlimit, int fresh)
{
    size_t bad = 0;
    const __mmask16 cols[2] = {mask16(nc), mask16(nc - 16)};
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (r >= mr)
            continue;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(t[r][h]), vlimit, _CMP_LE_OQ) & cols[h];
            bad += (size_t)__builtin_popcount((unsigned)(cols[h] & ~ok));
            const __m512 x = _mm512_mul_ps(t[r][h], vscale);
            __m512i lo = _mm512_maskz_cvttps_epi64((__mmask8)ok, _mm512_castps512_ps256(x));
            __m512i hi = _mm512_maskz_cvttps_epi64((__mmask8)(ok >> 8), _mm512_extractf32x8_ps(x, 1));
            int64_t *p = acc + r * ldacc + 16 * h;
            const __mmask8 c0 = (__mmask8)cols[h], c1 = (__mmask8)(cols[h] >> 8);
            if (!fresh) {
                lo = _mm512_add_epi64(lo, _mm512_maskz_loadu_epi64(c0, p));
                hi = _mm512_add_epi64(hi, _mm512_maskz_loadu_epi64(c1, p + 8));
            }
            _mm512_mask_storeu_epi64(p, c0, lo);
            _mm512_mask_storeu_epi64(p + 8, c1, hi);
        }
    }
    return bad;
}

/* One chunk of one tile: the kernel over kc values of k, then into acc. */
static size_t tile_fixed(int kc, const float *u, ptrdiff_t rs, ptrdiff_t cs, const float *v, int64_t *acc,
                         ptrdiff_t ldacc, int mr, int nc, __m512 vscale, __m512 vlimit, int fresh)
{
    __m512 t[MR][2];
    if (cs == 1)
        kernel(kc, mr, u, rs, cs, v, t, 1);
    else
        kernel(kc, mr, u, rs, cs, v, t, 0);
    return fresh ? store_fixed(t, acc, ldacc, mr, nc, vscale, vlimit, 1)
                 : store_fixed(t, acc, ldacc, mr, nc, vscale, vlimit, 0);
}

size_t mt_gemm_fixed(int ta, int tb, int m, int n, int k, int chunk, const float *a, int lda, const float *b, int ldb,
                     double scale, double limit, int fresh, int64_t *acc, int ldacc, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0 || chunk > KC)
        return fixed_through_c(ta, tb, m, n, k, chunk, a, lda, b, ldb, scale, limit, fresh, acc, ldacc, c, ldc);
    /* C = U V with U = op(A) (U[r, k] = u[r urs + k ucs]) and V = op(B) packed a column panel at a time
     * over a group of whole chunks (at most KC values of k); every chunk of the group then meets each row
     * tile in turn, so the tile's accumulator stays in the L1 cache between chunks. */
    const ptrdiff_t urs = ta ? 1 : lda, ucs = ta ? lda : 1;
    const int group = KC / chunk * chunk;
    const __m512 vscale = _mm512_set1_ps((float)scale), vlimit = _mm512_set1_ps((float)limit);
    size_t bad = 0;
    for (int c0 = 0; c0 < n; c0 += NR) {
        const int nc = min_int(NR, n - c0);
        for (int g0 = 0; g0 < k; g0 += group) {
            const int kg = min_int(group, k - g0);
            if (!tb)
                pack_v_rows(kg, nc, b + (ptrdiff_t)g0 * ldb + c0, ldb, vbuf);
            else
                pack_v_cols(kg, nc, b + g0 + (ptrdiff_t)c0 * ldb, ldb, vbuf);
            for (int i = 0; i < m; i += MR) {
                const int mr = min_int(MR, m - i);
                for (int q0 = g0; q0 < g0 + kg; q0 += chunk) {
                    const int kc = min_int(chunk, k - q0);
                    const float *ui = a + i * urs + q0 * ucs;
                    ptrdiff_t cs = ucs;
                    if (mr < MR && cs != 1) { /* an edge tile with U in columns */
                        pack_u(kc, mr, ui, cs, ubuf);
                        ui = ubuf, cs = MR;
                    }
                    bad += tile_fixed(kc, ui, urs, cs, vbuf + (q0 - g0) * NR, acc + (ptrdiff_t)i * ldacc + c0, ldacc,
                                      mr, nc, vscale, vlimit, fresh && q0 == 0);
                }
            }
        }
    }
    return bad;
}

#else

size_t mt_gemm_fixed(int ta, int tb, int m, int n, int k, int chunk, const float *a, int lda, const float *b, int ldb,
                     double scale, double limit, int fresh, int64_t *acc, int ldacc, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return 0;
    return fixed_through_c(ta, tb, m, n, k, chunk, a, lda, b, ldb, scale, limit, fresh, acc, ldacc, c, ldc);
}

#endif
