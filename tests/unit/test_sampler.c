/* Sharding arithmetic in one process: slices of every global batch cover it exactly once, in order,
 * differ by at most one row (uneven splits), and the per-epoch permutation is a permutation that
 * depends only on (seed, epoch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "train/sampler.h"

static void check_slices(uint64_t b, int np)
{
    uint64_t next = 0, lo = UINT64_MAX, hi = 0;
    for (int r = 0; r < np; r++) {
        uint64_t start, count;
        mt_sampler_slice(b, np, r, &start, &count);
        CHECK(start == next, "b=%llu np=%d rank %d starts at %llu, expected %llu", (unsigned long long)b, np, r,
              (unsigned long long)start, (unsigned long long)next);
        next = start + count;
        lo = count < lo ? count : lo;
        hi = count > hi ? count : hi;
        CHECK(count <= mt_sampler_max_slice(b, np), "slice larger than max_slice");
    }
    CHECK(next == b, "b=%llu np=%d: slices cover %llu rows", (unsigned long long)b, np, (unsigned long long)next);
    CHECK(hi - lo <= 1, "b=%llu np=%d: uneven by %llu", (unsigned long long)b, np, (unsigned long long)(hi - lo));
}

/* Weighted slices: contiguous, covering the batch once, each within one row of b * w_r / sum w. */
static void check_weighted(uint64_t b, const double *w, int np)
{
    double cum[9] = {0};
    for (int r = 0; r < np; r++)
        cum[r + 1] = cum[r] + w[r];
    uint64_t next = 0;
    for (int r = 0; r < np; r++) {
        uint64_t start, count;
        mt_sampler_slice_weighted(b, cum, np, r, &start, &count);
        CHECK(start == next, "weighted b=%llu np=%d rank %d starts at %llu, expected %llu", (unsigned long long)b, np,
              r, (unsigned long long)start, (unsigned long long)next);
        double want = (double)b * w[r] / cum[np];
        CHECK(fabs((double)count - want) <= 1.0, "weighted b=%llu rank %d: %llu rows for a share of %.2f",
              (unsigned long long)b, r, (unsigned long long)count, want);
        next = start + count;
    }
    CHECK(next == b, "weighted b=%llu np=%d: slices cover %llu rows", (unsigned long long)b, np,
          (unsigned long long)next);
}

int main(void)
{
    const uint64_t batches[] = {1, 2, 3, 7, 64, 100, 127, 128, 129, 1000};
    const int ranks[] = {1, 2, 3, 4, 5, 8};
    for (size_t i = 0; i < sizeof batches / sizeof *batches; i++)
        for (size_t j = 0; j < sizeof ranks / sizeof *ranks; j++)
            check_slices(batches[i], ranks[j]);

    /* Steps and the last partial batch: (N, B) -> steps, last size. */
    const double even[4] = {1, 1, 1, 1}, skew[4] = {1.5, 0.5, 1.2, 0.8}, two[2] = {1.3, 0.7};
    check_weighted(128, even, 4);
    check_weighted(128, skew, 4);
    check_weighted(7, skew, 4);
    check_weighted(1, two, 2);
    check_weighted(256, two, 2);
    uint64_t ws, wc;
    double cum2[3] = {0, 1.3, 2.0};
    mt_sampler_slice_weighted(100, cum2, 2, 0, &ws, &wc);
    CHECK(ws == 0 && wc == 65, "100 rows at weights 1.3 : 0.7: rank 0 takes [0, 65), got [%llu, +%llu)",
          (unsigned long long)ws, (unsigned long long)wc);
    CHECK(mt_sampler_steps(60000, 128) == 469, "60000/128 steps");
    CHECK(mt_sampler_batch_size(60000, 128, 468) == 96, "last batch of 60000/128 is 96");
    CHECK(mt_sampler_batch_size(60000, 128, 0) == 128, "first batch");
    CHECK(mt_sampler_steps(10, 3) == 4 && mt_sampler_batch_size(10, 3, 3) == 1, "10 rows, batch 3");
    uint64_t s, c;
    mt_sampler_slice(3, 4, 0, &s, &c);
    CHECK(c == 0, "batch 3 on 4 ranks: rank 0 gets 0 rows (got %llu)", (unsigned long long)c);
    mt_sampler_slice(1, 2, 1, &s, &c);
    CHECK(s == 0 && c == 1, "batch 1 on 2 ranks: rank 1 takes the row");

    enum { N = 1000 };
    uint64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    char *seen = calloc(N, 1);
    mt_sampler_permutation(7, 3, N, a);
    int dup = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] >= N || seen[a[i]])
            dup++;
        else
            seen[a[i]] = 1;
    }
    CHECK(dup == 0, "permutation has %d repeated or out-of-range entries", dup);
    mt_sampler_permutation(7, 3, N, b);
    CHECK(memcmp(a, b, N * sizeof *a) == 0, "same (seed, epoch) gives the same permutation");
    mt_sampler_permutation(7, 4, N, b);
    CHECK(memcmp(a, b, N * sizeof *a) != 0, "another epoch gives another permutation");
    mt_sampler_permutation(8, 3, N, b);
    CHECK(memcmp(a, b, N * sizeof *a) != 0, "another seed gives another permutation");
    int fixed = 0;
    for (int i = 0; i < N; i++)
        fixed += a[i] == (uint64_t)i;
    CHECK(fixed < 20, "permutation leaves %d of %d rows in place", fixed, N);
    free(a), free(b), free(seen);
    return mt_test_finish("sampler");
}
