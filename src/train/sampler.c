/* Sharding arithmetic and the per-epoch shuffle shared by all ranks. */
#include "train/sampler.h"

#include <math.h>

#include "core/rng.h"

uint64_t mt_sampler_steps(uint64_t n, uint64_t batch)
{
    return (n + batch - 1) / batch;
}

uint64_t mt_sampler_batch_size(uint64_t n, uint64_t batch, uint64_t step)
{
    uint64_t first = step * batch;
    if (first >= n)
        return 0;
    return n - first < batch ? n - first : batch;
}

void mt_sampler_slice(uint64_t b, int nranks, int rank, uint64_t *start, uint64_t *count)
{
    /* b * rank fits: b < 2^40 and rank < 2^23 in any realistic run; use 128-bit to be safe. */
    unsigned __int128 s = (unsigned __int128)b * (unsigned)rank / (unsigned)nranks;
    unsigned __int128 e = (unsigned __int128)b * (unsigned)(rank + 1) / (unsigned)nranks;
    *start = (uint64_t)s;
    *count = (uint64_t)(e - s);
}

static uint64_t boundary(uint64_t b, const double *cum, int nranks, int r)
{
    if (r == 0)
        return 0;
    if (r == nranks)
        return b;
    double x = floor((double)b * cum[r] / cum[nranks]);
    return x < 0 ? 0 : x > (double)b ? b : (uint64_t)x;
}

void mt_sampler_slice_weighted(uint64_t b, const double *cum, int nranks, int rank, uint64_t *start, uint64_t *count)
{
    uint64_t s = boundary(b, cum, nranks, rank), e = boundary(b, cum, nranks, rank + 1);
    *start = s;
    *count = e > s ? e - s : 0;
}

uint64_t mt_sampler_max_slice(uint64_t b, int nranks)
{
    return (b + (uint64_t)nranks - 1) / (uint64_t)nranks;
}

void mt_sampler_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t *perm)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    mt_rng rng = mt_rng_make(mt_key(mt_key(seed, 0x5eed), epoch));
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = mt_rng_below(&rng, i);
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
