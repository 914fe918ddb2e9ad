/* What the benchmark programs share besides the library's clock (core/clock.h, mt_wtime): the
 * comparison qsort needs to sort their timings. Header-only (each program is one file). */
#ifndef MT_BENCH_TIME_H
#define MT_BENCH_TIME_H

#include "core/clock.h"

static inline int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
