/* The bucketed gradient exchange (comm/grad_exchange), run at np = 1, 2, 4:
 * - bucket layout: whole layers in reverse order, a bucket closes at the size limit, the trailer rides
 *   with layer 0's bucket, 0 bytes gives one bucket;
 * - sums: every rank fills the block with values depending on (rank, index); after the layer hooks (in
 *   backward order, with some buckets started by the hooks and the rest by finish) the block holds the
 *   sum over ranks, checked exactly with values that every mode represents exactly (float32, bfloat16,
 *   fixed64), and within bfloat16 rounding for arbitrary values;
 * - fixed64: chunks accumulated one by one then summed over ranks give exactly the integer-valued sum,
 *   and the same bits for every split of the same chunks over the ranks; NaN and huge values are
 *   counted in the trailer's bad slot instead of being summed; both with values small enough for the
 *   pairs of 32-bit sums on the wire (every bucket's count of values too large is 0) and with values
 *   that need the plain int64 sum again (some count is not 0);
 * - a rank whose hooks never ran (no backward pass) still takes part through finish. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "comm/grad_exchange.h"
#include "testlib.h"

enum { T = 16, LAYERS = 4 };
static const size_t offsets[LAYERS + 1] = {0, 100, 100, 150, 160}; /* sizes 100, 0, 50, 10 */
#define N (T + 160)

static void layout(mt_comm *c)
{
    float block[N];
    mt_grad_exchange x;
    mt_error err = {0};
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, 200, MT_GRAD_FLOAT32, &err) == MT_OK, "%s", err.msg);
    CHECK(x.n_buckets == 2, "buckets at 200 bytes: %d, expected 2", x.n_buckets);
    CHECK(x.buckets[0].lo == T + 100 && x.buckets[0].hi == N && x.buckets[0].first_layer == 2 &&
              x.buckets[0].last_layer == 3,
          "bucket 0 = [%zu, %zu) layers %d-%d, expected [116, 176) layers 2-3", x.buckets[0].lo, x.buckets[0].hi,
          x.buckets[0].first_layer, x.buckets[0].last_layer);
    CHECK(x.buckets[1].lo == 0 && x.buckets[1].hi == T + 100 && x.buckets[1].first_layer == 0 &&
              x.buckets[1].last_layer == 1,
          "bucket 1 = [%zu, %zu) layers %d-%d, expected [0, 116) layers 0-1", x.buckets[1].lo, x.buckets[1].hi,
          x.buckets[1].first_layer, x.buckets[1].last_layer);
    CHECK(x.starts_at[2] == 0 && x.starts_at[0] == 1 && x.starts_at[1] == -1 && x.starts_at[3] == -1,
          "starts_at = {%d, %d, %d, %d}", x.starts_at[0], x.starts_at[1], x.starts_at[2], x.starts_at[3]);
    mt_grad_exchange_free(&x);
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, 0, MT_GRAD_FLOAT32, &err) == MT_OK, "%s", err.msg);
    CHECK(x.n_buckets == 1 && x.buckets[0].lo == 0 && x.buckets[0].hi == N, "0 bytes: %d bucket(s)", x.n_buckets);
    mt_grad_exchange_free(&x);
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, 1, MT_GRAD_FLOAT32, &err) == MT_OK, "%s", err.msg);
    CHECK(x.n_buckets == 3, "1 byte: %d buckets, expected 3 (the empty layer joins layer 0's)", x.n_buckets);
    mt_grad_exchange_free(&x);
}

/* What the backward pass does: each layer's hook in reverse order (unless skipped), then finish. */
static void backward_then_finish(mt_grad_exchange *x, int hooks)
{
    mt_error err = {0};
    for (int l = LAYERS - 1; hooks && l >= 0; l--)
        mt_grad_exchange_layer_done(x, l);
    CHECK(mt_grad_exchange_finish(x, &err) == MT_OK, "finish: %s", err.msg);
}

/* Small integers times 1/8: exact in float32, bfloat16 (8 significant bits) and fixed point. */
static float value(int rank, size_t i)
{
    return (float)((int)((i * 7 + (size_t)rank * 3) % 41) - 20) * 0.125f;
}

static void sums(mt_comm *c, mt_grad_mode mode, double bytes, int skip_hooks, float scale)
{
    const int rank = mt_comm_rank(c), size = mt_comm_size(c);
    float block[N];
    mt_grad_exchange x;
    mt_error err = {0};
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, bytes, mode, &err) == MT_OK, "%s", err.msg);
    for (int round = 0; round < 2; round++) { /* twice: state is reset between steps */
        for (size_t i = 0; i < N; i++)
            block[i] = value(rank, i + (size_t)round) * (i < T ? 1.0f : scale);
        backward_then_finish(&x, !(skip_hooks && rank == size - 1));
        int bad = 0;
        for (size_t i = 0; i < N && !bad; i++) {
            double want = 0;
            for (int r = 0; r < size; r++)
                want += value(r, i + (size_t)round) * (i < T ? 1.0f : scale);
            if (mode == MT_GRAD_FIXED64 && i == MT_GRAD_BAD_SLOT)
                continue; /* the bad-value count is added there */
            bad = !CHECK(block[i] == want, "mode %d, %g bytes, round %d: block[%zu] = %g, expected %g", (int)mode,
                         bytes, round, i, (double)block[i], want);
        }
    }
    mt_grad_exchange_free(&x);
}

/* Arbitrary values in bfloat16: each pairwise sum rounds once (relative 2^-8), the trailer stays float32. */
static void bf16_rounding(mt_comm *c)
{
    const int rank = mt_comm_rank(c), size = mt_comm_size(c);
    float block[N];
    mt_grad_exchange x;
    mt_error err = {0};
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, 200, MT_GRAD_BFLOAT16, &err) == MT_OK, "%s", err.msg);
    for (size_t i = 0; i < N; i++)
        block[i] = 1.0f + 0.001f * (float)i + 0.0001f * (float)rank;
    backward_then_finish(&x, 1);
    int bad = 0;
    for (size_t i = 0; i < N && !bad; i++) {
        double want = 0;
        for (int r = 0; r < size; r++)
            want += 1.0 + 0.001 * (double)i + 0.0001 * r;
        double tol = i < T ? 1e-6 * want : (size + 1) * 0.0079 * want; /* float32 trailer; 2^-7 per rounding */
        bad = !CHECK(fabs(block[i] - want) <= tol, "bfloat16: block[%zu] = %.7g, expected %.7g +- %.2g", i,
                     (double)block[i], want, tol);
    }
    mt_grad_exchange_free(&x);
}

/* Twelve chunks of awkward values (not multiples of 2^-32), split over the ranks as the trainer does:
 * the same bits whatever the number of ranks. Rank 0 recomputes the sum of all chunks alone. */
static float chunk_value(int chunk, size_t i, float scale)
{
    return sinf((float)(chunk * 131 + (int)i)) * powf(10.0f, (float)((int)(i % 7) - 4)) * scale;
}

/* The counts of values too large for a pair, summed: 0 in every bucket, or not. */
static int pairs_used(const mt_grad_exchange *x)
{
    int used = 1;
    for (int b = 0; b < x->n_buckets; b++) {
        const mt_grad_bucket *k = &x->buckets[b];
        const size_t g = k->lo > x->trailer ? k->lo : x->trailer;
        if (k->hi > g)
            used &= x->packed[k->packed_at + (k->hi - g + 1) / 2] == 0;
    }
    return used;
}

static void fixed_chunks(mt_comm *c, mt_comm *self, float scale)
{
    enum { CHUNKS = 12, HUGE_AT = T + 3 };
    const int rank = mt_comm_rank(c), size = mt_comm_size(c);
    float block[N], alone[N];
    mt_grad_exchange x, y;
    mt_error err = {0};
    CHECK(mt_grad_exchange_init(&x, c, block, T, offsets, LAYERS, 200, MT_GRAD_FIXED64, &err) == MT_OK, "%s", err.msg);
    CHECK(mt_grad_exchange_init(&y, self, alone, T, offsets, LAYERS, 0, MT_GRAD_FIXED64, &err) == MT_OK, "%s", err.msg);
    int first = CHUNKS * rank / size, last = CHUNKS * (rank + 1) / size;
    for (int k = first; k < last; k++) {
        for (size_t i = 0; i < N; i++)
            block[i] = i < T ? 0.0f : chunk_value(k, i, scale);
        if (k + 1 < last) {
            mt_grad_exchange_accumulate(&x);
            continue;
        }
        block[HUGE_AT] = 3e6f;             /* beyond 2^20: counted, not summed */
        block[4] = rank == 0 ? NAN : 0.0f; /* a NaN in the trailer is counted too */
        for (int l = LAYERS - 1; l >= 0; l--)
            mt_grad_exchange_layer_done(&x, l);
    }
    CHECK(mt_grad_exchange_finish(&x, &err) == MT_OK, "finish: %s", err.msg);
    for (int k = 0; k < CHUNKS; k++) {
        for (size_t i = 0; i < N; i++)
            alone[i] = i < T ? 0.0f : chunk_value(k, i, scale);
        if (k + 1 < CHUNKS) /* the last chunk is added when finish starts the bucket, as in the trainer */
            mt_grad_exchange_accumulate(&y);
    }
    CHECK(mt_grad_exchange_finish(&y, &err) == MT_OK, "finish alone: %s", err.msg);
    int bad = 0;
    for (size_t i = T; i < N && !bad; i++)
        if (i != HUGE_AT)
            bad = !CHECK(memcmp(&block[i], &alone[i], sizeof(float)) == 0,
                         "np %d: fixed-point sum [%zu] = %.9g, one "
                         "rank alone %.9g",
                         size, i, (double)block[i], (double)alone[i]);
    double want = 0;
    for (int k = 0; k < CHUNKS; k++)
        want += chunk_value(k, T + 10, scale);
    CHECK(fabs(block[T + 10] - want) <= 1e-6 * fabs(want) + 1e-9, "fixed-point sum %.9g, double sum %.9g",
          (double)block[T + 10], want);
    CHECK(block[MT_GRAD_BAD_SLOT] == size + 1, "bad values counted %g, expected %d", (double)block[MT_GRAD_BAD_SLOT],
          size + 1);
    CHECK(alone[MT_GRAD_BAD_SLOT] == 0, "no bad values alone, counted %g", (double)alone[MT_GRAD_BAD_SLOT]);
    CHECK(pairs_used(&x) == (scale < 1e-3f), "scale %g: the pairs were%s used", (double)scale,
          pairs_used(&x) ? "" : " not");
    mt_grad_exchange_free(&x), mt_grad_exchange_free(&y);
}

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_comm *world = NULL, *self = NULL;
    mt_error err = {0};
    mt_comm_create_world(&world, &err);
    mt_comm_create_self(&self, &err);
    layout(world);
    const mt_grad_mode modes[] = {MT_GRAD_FLOAT32, MT_GRAD_BFLOAT16, MT_GRAD_FIXED64};
    for (int m = 0; m < 3; m++) {
        sums(world, modes[m], 0, 0, 1.0f);
        sums(world, modes[m], 200, 0, 1.0f);
        sums(world, modes[m], 1, 1, 1.0f);
        sums(world, modes[m], 200, 0, 0x1p-10f); /* fixed64: small enough for pairs */
    }
    bf16_rounding(world);
    fixed_chunks(world, self, 1.0f);
    fixed_chunks(world, self, 1e-5f);
    int rc = mt_test_mpi_finish(world, "grad_exchange");
    mt_comm_destroy(self);
    mt_comm_destroy(world);
    mt_comm_finalize();
    return rc;
}
