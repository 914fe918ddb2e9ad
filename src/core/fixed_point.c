/* Fixed-point accumulation of floats (core/fixed_point.h). */
#include "core/fixed_point.h"

#include <math.h>
#include <string.h>

size_t mt_fixed_add(int64_t *restrict acc, const float *restrict g, size_t n, double scale, double limit, int fresh)
{
    size_t bad = 0;
    if (fresh) {
        for (size_t i = 0; i < n; i++) {
            double v = (double)g[i];
            int ok = fabs(v) <= limit; /* false for NaN */
            acc[i] = ok ? (int64_t)(v * scale) : 0;
            bad += (size_t)!ok;
        }
        return bad;
    }
    for (size_t i = 0; i < n; i++) {
        double v = (double)g[i];
        int ok = fabs(v) <= limit;
        acc[i] += ok ? (int64_t)(v * scale) : 0;
        bad += (size_t)!ok;
    }
    return bad;
}

size_t mt_fixed_add_colsums(int k, int n, int chunk, const float *a, int lda, double scale, double limit, int fresh,
                            int64_t *acc, float *tmp)
{
    size_t bad = 0;
    if (k <= 0 && fresh)
        memset(acc, 0, (size_t)(n > 0 ? n : 0) * sizeof *acc);
    for (int r0 = 0; r0 < k; r0 += chunk) {
        const int r1 = r0 + chunk < k ? r0 + chunk : k;
        memset(tmp, 0, (size_t)n * sizeof *tmp);
        for (int r = r0; r < r1; r++) {
            const float *ar = a + (size_t)r * (size_t)lda;
            for (int j = 0; j < n; j++)
                tmp[j] += ar[j];
        }
        bad += mt_fixed_add(acc, tmp, (size_t)n, scale, limit, fresh && r0 == 0);
    }
    return bad;
}
