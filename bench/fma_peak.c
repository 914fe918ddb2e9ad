/* FMA peak microbenchmark: one core's single-precision fused multiply-add throughput in GFLOP/s, the
 * ceiling against which bench/mlp_peak.sh measures the training step. CHAINS independent accumulator
 * chains (default 12, at most 32) of vfmadd on the widest vectors compiled in (AVX-512: 16 floats, AVX2 with
 * FMA: 8), enough of them to cover the FMA latency times the FMA units; each FMA counts 2 flops per lane.
 * The loop is timed over enough iterations to take about SECONDS / 5, five times; the best of the five is
 * the peak (the machine can do at least that), the median is printed beside it.
 *
 * Usage: fma_peak [-t SECONDS] [-c CHAINS]     (default SECONDS 0.5, CHAINS 12)
 * Prints a human line, then one machine-readable line:
 *   fma_peak gflops=G median_gflops=M chains=C lanes=L isa=ISA
 * (bench scripts read gflops: `fma_peak | sed -n 's/^fma_peak gflops=\([0-9.]*\).*$/\1/p'`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_time.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define ISA "avx512"
#define LANES 16
typedef __m512 vec;
#define VSET(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUM(a) _mm512_reduce_add_ps(a)
#elif defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define ISA "avx2-fma"
#define LANES 8
typedef __m256 vec;
#define VSET(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
static float VSUM(__m256 a)
{
    float t[8];
    _mm256_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
#define ISA "none"
#define LANES 0
#endif

enum { MAX_CHAINS = 32, INNER = 64 };

#if LANES
/* Runs iters x INNER steps of C chains acc[c] = acc[c] * x + y; returns a sum of the chains (printed, so
 * that the work cannot be optimized away). C is a compile-time constant in each instance. */
#define DEFINE_RUN(C)                                                                               \
    static float run_##C(long iters, float x, float y)                                              \
    {                                                                                               \
        vec acc[C];                                                                                 \
        const vec vx = VSET(x), vy = VSET(y);                                                       \
        for (int c = 0; c < C; c++)                                                                 \
            acc[c] = VSET((float)c);                                                                \
        for (long i = 0; i < iters; i++) {                                                          \
            for (int s = 0; s < INNER; s++) {                                                       \
                _Pragma("GCC unroll 32") for (int c = 0; c < C; c++) acc[c] = VFMA(acc[c], vx, vy); \
            }                                                                                       \
            __asm__ volatile("" : "+m"(acc)); /* keep every chain in the loop */                    \
        }                                                                                           \
        vec s = acc[0];                                                                             \
        for (int c = 1; c < C; c++)                                                                 \
            s = VADD(s, acc[c]);                                                                    \
        return VSUM(s);                                                                             \
    }
DEFINE_RUN(8)
DEFINE_RUN(10)
DEFINE_RUN(12)
DEFINE_RUN(16)
DEFINE_RUN(20)
DEFINE_RUN(24)
DEFINE_RUN(32)

typedef float (*run_fn)(long, float, float);
static const struct {
    int chains;
    run_fn fn;
} runs[] = {{8, run_8}, {10, run_10}, {12, run_12}, {16, run_16}, {20, run_20}, {24, run_24}, {32, run_32}};
#endif

int main(int argc, char **argv)
{
    double seconds = 0.5;
    int chains = 12;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 600)) {
                fprintf(stderr, "fma_peak: -t: expected seconds in (0, 600], got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            chains = (int)strtol(argv[++i], &end, 10);
            if (*end || chains < 1) {
                fprintf(stderr, "fma_peak: -c: expected 8, 10, 12, 16, 20, 24 or 32, got '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: fma_peak [-t SECONDS] [-c CHAINS]\n");
            return 2;
        }
    }
#if !LANES
    (void)seconds, (void)chains, (void)cmp, (void)now;
    fprintf(stderr, "fma_peak: built without FMA vector instructions (configure with MT_NATIVE on an FMA machine)\n");
    return 1;
#else
    run_fn fn = NULL;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        if (runs[i].chains == chains)
            fn = runs[i].fn;
    if (!fn) {
        fprintf(stderr, "fma_peak: -c: expected 8, 10, 12, 16, 20, 24 or 32, got '%d'\n", chains);
        return 2;
    }
    const float x = 0.999999f, y = 1e-7f;
    /* calibrate: double the iterations until one call takes SECONDS / 5 */
    long iters = 1000;
    float sink = 0;
    double t;
    for (;;) {
        double t0 = mt_wtime();
        sink += fn(iters, x, y);
        t = mt_wtime() - t0;
        if (t >= seconds / 5 || iters > (1L << 40))
            break;
        iters = t > 1e-4 ? (long)((double)iters * (seconds / 5) / t * 1.05) + 1 : iters * 8;
    }
    double g[5];
    for (int r = 0; r < 5; r++) {
        double t0 = mt_wtime();
        sink += fn(iters, x, y);
        t = mt_wtime() - t0;
        g[r] = 2.0 * LANES * chains * (double)INNER * (double)iters / t * 1e-9;
    }
    qsort(g, 5, sizeof g[0], cmp);
    printf("FMA peak of one core: %.1f GFLOP/s (best of 5; median %.1f), %d independent %s FMA chains of %d floats "
           "(checksum %g)\n",
           g[4], g[2], chains, ISA, LANES, (double)sink);
    printf("fma_peak gflops=%.1f median_gflops=%.1f chains=%d lanes=%d isa=%s\n", g[4], g[2], chains, LANES, ISA);
    return 0;
#endif
}
