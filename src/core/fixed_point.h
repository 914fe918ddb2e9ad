/* 64-bit fixed-point accumulation of floats, the exact sums of deterministic mode: a float v counts as the
 * integer v * scale truncated toward zero (scale a power of two, so v * scale is exact in float and in
 * double alike); values with |v| > limit, and NaN, add nothing and are counted instead. Integer sums are
 * exact and associative, so a total does not depend on the order in which its parts were added. */
#ifndef MT_CORE_FIXED_POINT_H
#define MT_CORE_FIXED_POINT_H

#include <stddef.h>
#include <stdint.h>

/* acc[i] += fixed(g[i]) for i < n (acc[i] = fixed(g[i]) when `fresh`: acc's old contents are ignored);
 * returns the number of values out of range. */
size_t mt_fixed_add(int64_t *restrict acc, const float *restrict g, size_t n, double scale, double limit, int fresh);

/* Column sums of a[k, n] (row r at a + r lda) by chunks of `chunk` rows: for each chunk, s[j] = 0 + a[r0, j]
 * + a[r0 + 1, j] + ... in float, in row order (the bias gradient of a layer run on that chunk alone), and
 * acc[j] += fixed(s[j]) (the first chunk writes acc[j] when `fresh`; k == 0 and fresh zeroes acc). tmp
 * holds n floats of scratch. Returns the number of values out of range. */
size_t mt_fixed_add_colsums(int k, int n, int chunk, const float *a, int lda, double scale, double limit, int fresh,
                            int64_t *acc, float *tmp);

#endif
