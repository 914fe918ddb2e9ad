/* Which rows each rank trains on: one shuffle permutation per (seed, epoch), identical on all ranks,
 * cut into global batches, each batch cut into per-rank slices by arithmetic alone. */
#ifndef MT_TRAIN_SAMPLER_H
#define MT_TRAIN_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* Global batches in an epoch of n rows: ceil(n / batch); the last one may be partial. */
uint64_t mt_sampler_steps(uint64_t n, uint64_t batch);

/* Size of global batch `step` (0-based) of an epoch of n rows. */
uint64_t mt_sampler_batch_size(uint64_t n, uint64_t batch, uint64_t step);

/* Rank `rank` of `nranks` takes positions [start, start + count) of a global batch of size b:
 * start = floor(b * rank / nranks). Slices differ by at most one row; some may be empty when b < nranks. */
void mt_sampler_slice(uint64_t b, int nranks, int rank, uint64_t *start, uint64_t *count);

/* Slices in proportion to weights (load balancing): with cum[r] the sum of the weights of ranks
 * 0 .. r-1 (cum[nranks] the total), rank r takes [floor(b cum[r] / cum[nranks]), floor(b cum[r + 1] /
 * cum[nranks])). Every position of the batch goes to exactly one rank. */
void mt_sampler_slice_weighted(uint64_t b, const double *cum, int nranks, int rank, uint64_t *start, uint64_t *count);

/* Largest slice any rank gets from a global batch of size b. */
uint64_t mt_sampler_max_slice(uint64_t b, int nranks);

/* perm[0..n) = the permutation of epoch `epoch` for `seed` (Fisher-Yates on a counter-based stream). */
void mt_sampler_permutation(uint64_t seed, uint64_t epoch, uint64_t n, uint64_t *perm);

#endif
