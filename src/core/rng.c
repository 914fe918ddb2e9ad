/* Counter-based random numbers: bounded integers and normal deviates on top of mt_rng_u64. */
#include "core/rng.h"

#include <math.h>

uint64_t mt_rng_below(mt_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = mt_rng_u64(r);
    while (x >= limit);
    return x % n;
}

float mt_rng_normal(mt_rng *r)
{
    double u1 = ((double)(mt_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(mt_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
