/* sgemm microbenchmark: GFLOP/s of OpenBLAS sgemm (through mt_sgemm: row-major cblas) and of mpitrain's own
 * GEMM (mt_gemm, core/gemm.h, which the dense layers run) at given matrix shapes, on one thread (export
 * OPENBLAS_NUM_THREADS=1). Each shape and implementation is timed over enough calls to take about
 * SECONDS / 5, five times; the median per-call time is printed with 2 m n k / time. Before timing, two
 * entries of each product are checked against a direct dot product.
 *
 * Usage: sgemm_shapes [-t SECONDS] [SHAPE...]     (default SECONDS 0.25, SHAPE 2048^3 NN)
 *   SHAPE = NAME:M:N:K[:TA:TB], TA/TB = N or T: C[M, N] = op(A) op(B), op(A) [M, K], op(B) [K, N]
 * Prints CSV: name,m,n,k,transa,transb,seconds,gflops,mt_gemm_seconds,mt_gemm_gflops
 * (seconds and gflops: OpenBLAS; mt_gemm_*: mpitrain's GEMM, kernel named on stderr) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/gemm.h"

#include "bench_time.h"

typedef void (*gemm_fn)(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                        int ldb, float beta, float *c, int ldc);

typedef struct {
    char name[64];
    int m, n, k, ta, tb;
} shape;

/* Parses NAME:M:N:K[:TA:TB]; returns 0 on success. */
static int parse_shape(const char *arg, shape *s)
{
    char ta = 'N', tb = 'N', tail;
    int name_len = (int)strcspn(arg, ":");
    if (name_len == 0 || name_len >= (int)sizeof s->name || arg[name_len] != ':')
        return -1;
    memcpy(s->name, arg, (size_t)name_len);
    s->name[name_len] = '\0';
    int got = sscanf(arg + name_len + 1, "%d:%d:%d:%c:%c%c", &s->m, &s->n, &s->k, &ta, &tb, &tail);
    if ((got != 3 && got != 5) || s->m < 1 || s->n < 1 || s->k < 1)
        return -1;
    if ((ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T'))
        return -1;
    s->ta = ta == 'T';
    s->tb = tb == 'T';
    return 0;
}

/* Element (i, j) of op(A) op(B) computed directly, in double. */
static double direct(const shape *s, const float *a, const float *b, int i, int j)
{
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double sum = 0;
    for (int p = 0; p < s->k; p++) {
        double x = s->ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        double y = s->tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        sum += x * y;
    }
    return sum;
}

/* Times one shape with gemm; returns the median seconds per call, or a negative value when the check fails. */
static double time_shape(gemm_fn gemm, const char *impl, const shape *s, double seconds)
{
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return -1;
    }
    unsigned x = 12345u; /* small pseudo-random values in [-0.5, 0.5): no denormals, no overflow */
    for (size_t i = 0; i < na; i++) {
        x = x * 1664525u + 1013904223u;
        a[i] = (float)(x >> 8) / 16777216.0f - 0.5f;
    }
    for (size_t i = 0; i < nb; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (float)(x >> 8) / 16777216.0f - 0.5f;
    }
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
    int probe[2][2] = {{0, 0}, {s->m - 1, s->n - 1}};
    for (int q = 0; q < 2; q++) {
        int i = probe[q][0], j = probe[q][1];
        double want = direct(s, a, b, i, j), got = c[(size_t)i * s->n + j];
        if (fabs(got - want) > 1e-4 * s->k + 1e-3) {
            fprintf(stderr, "sgemm_shapes: %s, %s: C[%d, %d] = %g, direct sum %g\n", impl, s->name, i, j, got, want);
            free(a);
            free(b);
            free(c);
            return -1;
        }
    }
    double t0 = mt_wtime();
    gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
    double one = mt_wtime() - t0;
    long reps = one > 0 ? (long)fmax(1, fmin(1e6, seconds / 5 / one)) : 1000;
    double times[5];
    for (int r = 0; r < 5; r++) {
        t0 = mt_wtime();
        for (long i = 0; i < reps; i++)
            gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
        times[r] = (mt_wtime() - t0) / (double)reps;
    }
    qsort(times, 5, sizeof times[0], cmp);
    free(a);
    free(b);
    free(c);
    return times[2];
}

int main(int argc, char **argv)
{
    double seconds = 0.25;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "-t")) {
        char *end;
        seconds = strtod(argv[2], &end);
        if (*end || !(seconds > 0)) {
            fprintf(stderr, "sgemm_shapes: -t needs a positive number of seconds, not '%s'\n", argv[2]);
            return 2;
        }
        first = 3;
    }
    const char *deflt[] = {"square2048:2048:2048:2048:N:N"};
    const char **list = first < argc ? (const char **)(argv + first) : deflt;
    int count = first < argc ? argc - first : 1;
    fprintf(stderr, "sgemm_shapes: mt_gemm kernel %s\n", mt_gemm_kernel_name());
    printf("name,m,n,k,transa,transb,seconds,gflops,mt_gemm_seconds,mt_gemm_gflops\n");
    for (int i = 0; i < count; i++) {
        shape s;
        if (parse_shape(list[i], &s)) {
            fprintf(stderr, "sgemm_shapes: bad shape '%s' (want NAME:M:N:K[:TA:TB], TA/TB = N or T)\n", list[i]);
            return 2;
        }
        double t = time_shape(mt_sgemm, "openblas", &s, seconds), u = time_shape(mt_gemm, "mt_gemm", &s, seconds);
        if (t < 0 || u < 0) {
            fprintf(stderr, "sgemm_shapes: %s: out of memory or wrong result\n", s.name);
            return 1;
        }
        double flops = 2.0 * s.m * s.n * s.k;
        printf("%s,%d,%d,%d,%c,%c,%.4e,%.2f,%.4e,%.2f\n", s.name, s.m, s.n, s.k, s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', t,
               flops / t / 1e9, u, flops / u / 1e9);
        fflush(stdout);
    }
    return 0;
}
