/* mt_gemm (core/gemm.c) against a naive triple loop in double precision: every transpose combination,
 * odd shapes around the tile sizes (1, 3, 8, 17, 31, 33, 64, 129), the dense layers' shapes (784, 256,
 * 10 with batches 128 and 32), k longer than one k block and more rows than one row block, leading
 * dimensions larger than the matrices (the padding must stay untouched), beta 0 over NaN, 1 and 0.5,
 * alpha 1 and -0.75; the epilogue (mt_gemm_ex: bias, relu, relu-gradient mask) bit for bit against mt_gemm
 * followed by the same steps as separate passes. The same checks run on the portable C kernel, compiled
 * here a second time from gemm.c, so that the fallback is tested on a machine with AVX-512 too.
 * mt_gemm_fixed (exact sums by chunks) against mt_gemm over each chunk alone converted by mt_fixed_add, bit
 * for bit, with values out of range and NaN among the inputs, and mt_fixed_add_colsums against per-chunk
 * column sums. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The portable build of gemm.c, under other names. */
#define MT_GEMM_PORTABLE 1
#define mt_gemm portable_gemm
#define mt_gemm_kernel_name portable_gemm_kernel_name
#define mt_gemm_ex portable_gemm_ex
#define mt_gemm_fixed portable_gemm_fixed
#include "core/gemm.c"
#undef mt_gemm
#undef mt_gemm_kernel_name
#undef mt_gemm_ex
#undef mt_gemm_fixed
#undef MT_GEMM_PORTABLE
#undef MT_CORE_GEMM_H
#include "core/gemm.h"

#include "core/fixed_point.h"
#include "testlib.h"

/* A failed check; after the first 40, failures are counted but not printed. */
static int reported;
#define FAIL(...)                  \
    do {                           \
        if (++reported <= 40)      \
            CHECK(0, __VA_ARGS__); \
        else                       \
            mt_test_failures++;    \
    } while (0)

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*gemm_ex_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int,
                           const mt_gemm_epilogue *);

static unsigned rng_state = 12345u;

static float uniform(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* A rows x cols matrix with leading dimension ld, padding filled with a sentinel. */
static float *matrix(int rows, int cols, int ld)
{
    float *x = malloc(((size_t)rows * ld + 1) * sizeof *x);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < ld; j++)
            x[(size_t)i * ld + j] = j < cols ? uniform() : 1234.5f;
    x[(size_t)rows * ld] = 1234.5f;
    return x;
}

/* One product checked element by element; returns 1 when all agree. */
static int check(gemm_fn gemm, const char *kernel, int ta, int tb, int m, int n, int k, float alpha, float beta,
                 int pad)
{
    const int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    const int lda = ac + pad, ldb = bc + pad, ldc = n + 2 * pad;
    float *a = matrix(ar, ac, lda), *b = matrix(br, bc, ldb), *c = matrix(m, n, ldc);
    float *c0 = malloc(((size_t)m * ldc + 1) * sizeof *c0);
    if (beta == 0.0f) /* beta 0 must not read C */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = NAN;
    memcpy(c0, c, ((size_t)m * ldc + 1) * sizeof *c0);
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    int bad = 0;
    for (int i = 0; i < m && bad < 3; i++)
        for (int j = 0; j < ldc && bad < 3; j++) {
            const float got = c[(size_t)i * ldc + j];
            if (j >= n) {
                if (got != c0[(size_t)i * ldc + j]) {
                    bad++;
                    FAIL("%s ta %d tb %d m %d n %d k %d: padding C[%d, %d] changed to %g", kernel, ta, tb, m, n, k, i,
                         j, got);
                }
                continue;
            }
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                const double x = a[ta ? (size_t)p * lda + i : (size_t)i * lda + p];
                const double y = b[tb ? (size_t)j * ldb + p : (size_t)p * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double want = alpha * s, tol = FLT_EPSILON * (k + 4) * (fabs(alpha) * mag) + 1e-30;
            if (beta != 0.0f) {
                want += beta * (double)c0[(size_t)i * ldc + j];
                tol += FLT_EPSILON * fabs(beta * (double)c0[(size_t)i * ldc + j]);
            }
            if (!(fabs(got - want) <= tol)) {
                bad++;
                FAIL("%s ta %d tb %d m %d n %d k %d alpha %g beta %g ld +%d: C[%d, %d] = %.9g, expected %.9g", kernel,
                     ta, tb, m, n, k, alpha, beta, pad, i, j, got, want);
            }
        }
    if (c[(size_t)m * ldc] != c0[(size_t)m * ldc]) {
        bad++;
        FAIL("%s ta %d tb %d m %d n %d k %d: wrote past the end of C", kernel, ta, tb, m, n, k);
    }
    free(a), free(b), free(c), free(c0);
    return bad == 0;
}

static void suite(gemm_fn gemm, const char *kernel)
{
    static const int sizes[] = {1, 3, 8, 17, 31, 33, 64, 129};
    const int ns = (int)(sizeof sizes / sizeof *sizes);
    int count = 0, ok = 0;
    /* every shape from the odd sizes, all four transposes, a few alpha / beta / padding variants */
    for (int t = 0; t < 4; t++)
        for (int x = 0; x < ns; x++)
            for (int y = 0; y < ns; y++)
                for (int z = 0; z < ns; z++) {
                    const int v = (x + y + z + t) % 4;
                    const float alpha = v == 3 ? -0.75f : 1.0f, beta = v == 1 ? 1.0f : v == 2 ? 0.5f : 0.0f;
                    ok += check(gemm, kernel, t >> 1, t & 1, sizes[x], sizes[y], sizes[z], alpha, beta, v % 3 * 3);
                    count++;
                }
    /* the dense layers of the Fashion-MNIST MLP (784-256-256-10) at batch 128 and 32:
     * forward X W^T, dX = dY W, dW += dY^T X */
    static const int dense[3][2] = {{784, 256}, {256, 256}, {256, 10}};
    static const int batches[] = {128, 32, 96};
    for (int l = 0; l < 3; l++)
        for (int bi = 0; bi < 3; bi++) {
            const int in = dense[l][0], out = dense[l][1], nb = batches[bi];
            ok += check(gemm, kernel, 0, 1, nb, out, in, 1.0f, 1.0f, 0);
            ok += check(gemm, kernel, 0, 0, nb, in, out, 1.0f, 0.0f, 0);
            ok += check(gemm, kernel, 1, 0, out, in, nb, 1.0f, 1.0f, 0);
            count += 3;
        }
    /* long k (several k blocks), many rows (several row blocks), 784 in every position */
    static const int big[][3] = {{5, 7, 300}, {40, 33, 513}, {17, 784, 31}, {784, 17, 31},
                                 {3, 5, 784}, {600, 40, 20}, {40, 600, 20}, {1100, 9, 260}};
    for (size_t s = 0; s < sizeof big / sizeof *big; s++)
        for (int t = 0; t < 4; t++) {
            ok += check(gemm, kernel, t >> 1, t & 1, big[s][0], big[s][1], big[s][2], 1.0f, t % 2 ? 1.0f : 0.0f, 1);
            count++;
        }
    /* degenerate: k = 0 scales C by beta; m = 0 and n = 0 do nothing */
    for (int t = 0; t < 4; t++) {
        ok += check(gemm, kernel, t >> 1, t & 1, 5, 9, 0, 1.0f, t % 2 ? 0.5f : 0.0f, 2);
        ok += check(gemm, kernel, t >> 1, t & 1, 0, 9, 4, 1.0f, 0.0f, 2);
        ok += check(gemm, kernel, t >> 1, t & 1, 5, 0, 4, 1.0f, 0.0f, 2);
        count += 3;
    }
    printf("%s kernel: %d of %d products agree with the naive loop\n", kernel, ok, count);
}

/* Same inputs, same bits on every call; and each element of C depends only on its row of op(A), its
 * column of op(B), k, alpha, beta and its old value, not on m, n or where it sits in a tile: a product over
 * a slice of the rows (a rank's share of a batch) or of the columns gives the same bits. */
static void deterministic(gemm_fn gemm, const char *kernel)
{
    for (int t = 0; t < 4; t++) {
        const int ta = t >> 1, tb = t & 1, m = 37, n = 70, k = 300, i0 = 5, mi = 13, j0 = 33, nj = 19;
        const int lda = ta ? m : k, ldb = tb ? k : n;
        float *a = matrix(ta ? k : m, lda, lda), *b = matrix(tb ? n : k, ldb, ldb);
        float *c1 = malloc((size_t)m * n * sizeof *c1), *c2 = malloc((size_t)m * n * sizeof *c2);
        float *rows = malloc((size_t)mi * n * sizeof *rows), *cols = malloc((size_t)m * nj * sizeof *cols);
        gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c1, n);
        gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c2, n);
        CHECK(memcmp(c1, c2, (size_t)m * n * sizeof *c1) == 0, "%s ta %d tb %d: two identical calls differ", kernel, ta,
              tb);
        /* rows i0 .. i0 + mi of op(A), columns j0 .. j0 + nj of op(B) */
        gemm(ta, tb, mi, n, k, 1.0f, ta ? a + i0 : a + (size_t)i0 * lda, lda, b, ldb, 0.0f, rows, n);
        gemm(ta, tb, m, nj, k, 1.0f, a, lda, tb ? b + (size_t)j0 * ldb : b + j0, ldb, 0.0f, cols, nj);
        int same_rows = 1, same_cols = 1;
        for (int i = 0; i < mi; i++)
            for (int j = 0; j < n; j++)
                same_rows &= memcmp(&rows[(size_t)i * n + j], &c1[(size_t)(i0 + i) * n + j], sizeof(float)) == 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < nj; j++)
                same_cols &= memcmp(&cols[(size_t)i * nj + j], &c1[(size_t)i * n + j0 + j], sizeof(float)) == 0;
        CHECK(same_rows, "%s ta %d tb %d: a slice of %d rows differs from the same rows of the whole product", kernel,
              ta, tb, mi);
        CHECK(same_cols, "%s ta %d tb %d: a slice of %d columns differs from the same columns of the whole product",
              kernel, ta, tb, nj);
        free(a), free(b), free(c1), free(c2), free(rows), free(cols);
    }
}

/* mt_gemm_ex with bias, relu and mask (each alone and all together, beta 0 over NaN) gives the bits of
 * copying the bias into C, mt_gemm with beta 1 (beta 0 without bias), then relu and the mask as passes; the
 * mask holds zeros and negative values, C's padding stays untouched. */
static void epilogue(gemm_fn gemm, gemm_ex_fn gemm_ex, const char *kernel)
{
    static const int shapes[][3] = {{128, 256, 784}, {32, 256, 256}, {128, 10, 256},
                                    {37, 70, 300},   {5, 33, 10},    {70, 9, 513}};
    int count = 0, ok = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int parts = 1; parts < 8; parts++) {
                const int ta = t >> 1, tb = t & 1, m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                const int lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3, ldm = n + 1;
                float *a = matrix(ta ? k : m, lda, lda), *b = matrix(tb ? n : k, ldb, ldb);
                float *bias = matrix(1, n, n), *mask = matrix(m, n, ldm);
                float *want = matrix(m, n, ldc), *got = malloc(((size_t)m * ldc + 1) * sizeof *got);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        float *x = &mask[(size_t)i * ldm + j];
                        *x = (i + j) % 5 == 0 ? 0.0f : *x; /* zeros, negatives and positives */
                        want[(size_t)i * ldc + j] = parts & 1 ? bias[j] : NAN;
                    }
                memcpy(got, want, ((size_t)m * ldc + 1) * sizeof *got);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        got[(size_t)i * ldc + j] = NAN;
                gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, parts & 1 ? 1.0f : 0.0f, want, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        float *x = &want[(size_t)i * ldc + j];
                        if (parts & 2)
                            *x = *x > 0.0f ? *x : 0.0f;
                        if (parts & 4)
                            *x = mask[(size_t)i * ldm + j] > 0.0f ? *x : 0.0f;
                    }
                const mt_gemm_epilogue ep = {.bias = parts & 1 ? bias : NULL,
                                             .relu = (parts & 2) != 0,
                                             .mask = parts & 4 ? mask : NULL,
                                             .ldmask = ldm};
                gemm_ex(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, got, ldc, &ep);
                const int same = memcmp(got, want, ((size_t)m * ldc + 1) * sizeof *got) == 0;
                if (!same)
                    FAIL("%s epilogue (bias %d relu %d mask %d) ta %d tb %d m %d n %d k %d: not the bits of the "
                         "separate passes",
                         kernel, parts & 1, (parts & 2) != 0, (parts & 4) != 0, ta, tb, m, n, k);
                ok += same;
                count++;
                free(a), free(b), free(bias), free(mask), free(want), free(got);
            }
    printf("%s kernel: %d of %d products with an epilogue equal the separate passes bit for bit\n", kernel, ok, count);
}

typedef size_t (*gemm_fixed_fn)(int, int, int, int, int, int, const float *, int, const float *, int, double, double,
                                int, int64_t *, int, float *, int);

/* One mt_gemm_fixed call (added to acc, or `fresh`) against the reference, bitwise: acc and the count of
 * values out of range; the padding of acc (ldacc > n) untouched. */
static void check_fixed(gemm_fixed_fn fixed, gemm_fn gemm, const char *kernel, int ta, int tb, int m, int n, int k,
                        int chunk, int fresh)
{
    const int lda = ta ? m : k, ldb = tb ? k : n, ldacc = n + 3;
    float *a = matrix(ta ? k : m, lda > 0 ? lda : 1, lda > 0 ? lda : 1),
          *b = matrix(tb ? n : k, ldb > 0 ? ldb : 1, ldb > 0 ? ldb : 1);
    if (m * k > 8) { /* a few values that overflow the fixed point, and a NaN */
        a[3] = 3e6f;
        a[(size_t)(m * k) / 2] = NAN;
    }
    const size_t size = (size_t)m * ldacc;
    int64_t *got = malloc(size * sizeof *got), *want = malloc(size * sizeof *want);
    float *c = malloc(((size_t)m * n + 1) * sizeof *c);
    for (size_t i = 0; i < size; i++)
        got[i] = want[i] = (int64_t)(i * 7919u) - 1000;
    size_t bad_want = 0;
    for (int i = 0; i < m && k == 0 && fresh; i++)
        memset(want + (size_t)i * ldacc, 0, (size_t)n * sizeof *want);
    for (int k0 = 0; k0 < k; k0 += chunk) {
        const int kc = k - k0 < chunk ? k - k0 : chunk;
        gemm(ta, tb, m, n, kc, 1.0f, ta ? a + (size_t)k0 * lda : a + k0, lda, tb ? b + k0 : b + (size_t)k0 * ldb, ldb,
             0.0f, c, n);
        for (int i = 0; i < m; i++)
            bad_want += mt_fixed_add(want + (size_t)i * ldacc, c + (size_t)i * n, (size_t)n, 4294967296.0, 1048576.0,
                                     fresh && k0 == 0);
    }
    size_t bad_got = fixed(ta, tb, m, n, k, chunk, a, lda, b, ldb, 4294967296.0, 1048576.0, fresh, got, ldacc, c, n);
    CHECK(memcmp(got, want, size * sizeof *got) == 0 && bad_got == bad_want,
          "%s mt_gemm_fixed ta %d tb %d m %d n %d k %d chunk %d fresh %d: differs from the chunks summed one by one "
          "(%zu values out of range, expected %zu)",
          kernel, ta, tb, m, n, k, chunk, fresh, bad_got, bad_want);
    free(a), free(b), free(c), free(got), free(want);
}

static void fixed_suite(gemm_fixed_fn fixed, gemm_fn gemm, const char *kernel)
{
    static const int shapes[][4] = {{1, 1, 1, 1},      {3, 17, 16, 4},    {8, 32, 64, 16},   {17, 33, 30, 4},
                                    {10, 256, 64, 16}, {256, 10, 48, 16}, {9, 40, 600, 16},  {9, 40, 600, 300},
                                    {33, 31, 129, 5},  {5, 7, 0, 4},      {31, 65, 70, 256}, {12, 20, 520, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 8; t++)
            check_fixed(fixed, gemm, kernel, t >> 2 & 1, t >> 1 & 1, shapes[s][0], shapes[s][1], shapes[s][2],
                        shapes[s][3], t & 1);
    /* column sums: chunk by chunk in row order, as a bias gradient over each chunk alone */
    enum { K = 37, N = 21, CH = 8 };
    float *a = matrix(K, N, N + 2), tmp[N], s[N];
    a[5] = NAN;
    int64_t got[N], want[N];
    for (int j = 0; j < N; j++)
        got[j] = want[j] = 77;
    size_t bad_want = 0;
    for (int r0 = 0; r0 < K; r0 += CH) {
        for (int j = 0; j < N; j++)
            s[j] = 0;
        for (int r = r0; r < r0 + CH && r < K; r++)
            for (int j = 0; j < N; j++)
                s[j] += a[r * (N + 2) + j];
        bad_want += mt_fixed_add(want, s, N, 4294967296.0, 1048576.0, 0);
    }
    size_t bad_got = mt_fixed_add_colsums(K, N, CH, a, N + 2, 4294967296.0, 1048576.0, 0, got, tmp);
    CHECK(memcmp(got, want, sizeof got) == 0 && bad_got == bad_want && bad_got == 1,
          "%s mt_fixed_add_colsums differs from per-chunk sums", kernel);
    free(a);
}

int main(void)
{
    suite(mt_gemm, mt_gemm_kernel_name());
    suite(portable_gemm, portable_gemm_kernel_name());
    deterministic(mt_gemm, mt_gemm_kernel_name());
    deterministic(portable_gemm, portable_gemm_kernel_name());
    epilogue(mt_gemm, mt_gemm_ex, mt_gemm_kernel_name());
    epilogue(portable_gemm, portable_gemm_ex, portable_gemm_kernel_name());
    fixed_suite(mt_gemm_fixed, mt_gemm, mt_gemm_kernel_name());
    fixed_suite(portable_gemm_fixed, portable_gemm, portable_gemm_kernel_name());
    return mt_test_finish("gemm");
}
