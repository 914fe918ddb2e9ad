/* Bucketed, overlapped gradient sums over the ranks (see grad_exchange.h): bucket layout, the hooks the
 * backward pass calls, and the float32 / bfloat16 / 64-bit fixed-point encodings. */
#include "comm/grad_exchange.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fixed_point.h"
#include "core/timeline.h"

/* Fixed point: gradients as MT_GRAD_FIXED_SCALE and _LIMIT say (grad_exchange.h). Trailer values (flags,
 * loss sums) carry 16 fractional bits and may reach 2^40. */
#define GRAD_SCALE MT_GRAD_FIXED_SCALE
#define GRAD_LIMIT MT_GRAD_FIXED_LIMIT
#define TRAILER_SCALE 65536.0
#define TRAILER_LIMIT 1099511627776.0

mt_status mt_grad_exchange_init(mt_grad_exchange *x, mt_comm *comm, float *block, size_t trailer,
                                const size_t *layer_offset, int n_layers, double bucket_bytes, mt_grad_mode mode,
                                mt_error *err)
{
    memset(x, 0, sizeof *x);
    x->comm = comm, x->mode = mode, x->block = block, x->trailer = trailer;
    x->n = trailer + layer_offset[n_layers];
    x->buckets = calloc((size_t)n_layers + 1, sizeof *x->buckets);
    x->starts_at = malloc(((size_t)n_layers + 1) * sizeof *x->starts_at);
    x->fresh = 1;
    if (mode == MT_GRAD_FIXED64) {
        x->acc = calloc(x->n, sizeof *x->acc);
        x->packed = calloc(x->n / 2 + 2 * ((size_t)n_layers + 1) + trailer, sizeof *x->packed);
        x->pair_bound = INT32_MAX / (comm ? mt_comm_size(comm) : 1);
    }
    if (mode == MT_GRAD_BFLOAT16)
        x->half = calloc(x->n, sizeof *x->half);
    if (!x->buckets || !x->starts_at || (mode == MT_GRAD_FIXED64 && (!x->acc || !x->packed)) ||
        (mode == MT_GRAD_BFLOAT16 && !x->half)) {
        mt_grad_exchange_free(x);
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate the gradient exchange (%zu values)", x->n);
    }
    /* Walk the layers from the last: a bucket closes once it holds bucket_bytes of gradients; the bucket
     * that reaches layer 0 takes the trailer too. */
    size_t hi = x->n, bytes = 0;
    int last = n_layers - 1;
    for (int i = n_layers - 1; i >= 0; i--) {
        x->starts_at[i] = -1;
        bytes += (layer_offset[i + 1] - layer_offset[i]) * sizeof(float);
        if (i > 0 && !(bucket_bytes > 0 && (double)bytes >= bucket_bytes))
            continue;
        size_t lo = i == 0 ? 0 : trailer + layer_offset[i];
        x->buckets[x->n_buckets] = (mt_grad_bucket){.lo = lo, .hi = hi, .first_layer = i, .last_layer = last};
        x->starts_at[i] = x->n_buckets++;
        hi = lo, last = i - 1, bytes = 0;
    }
    size_t at = 0; /* each bucket's message: its pairs, their count of values too large, its trailer */
    for (int b = 0; b < x->n_buckets; b++) {
        mt_grad_bucket *k = &x->buckets[b];
        const size_t g = k->lo > trailer ? k->lo : trailer;
        k->packed_at = at;
        at += (k->hi - g + 1) / 2 + 1 + (g - k->lo);
    }
    return MT_OK;
}

void mt_grad_exchange_free(mt_grad_exchange *x)
{
    if (!x->share)
        free(x->acc);
    free(x->buckets), free(x->starts_at), free(x->packed), free(x->half);
    memset(x, 0, sizeof *x);
}

static void from_fixed(float *restrict g, const int64_t *restrict acc, size_t n, double inv_scale)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (float)((double)acc[i] * inv_scale);
}

/* p[i] = v[2i] + 2^32 v[2i + 1] (v[n] taken as 0), computed modulo 2^64; p[(n + 1) / 2] = the count of
 * values beyond +-bound. */
static void to_pairs(int64_t *restrict p, const int64_t *restrict v, size_t n, int64_t bound)
{
    int64_t big = 0;
    for (size_t i = 0; i < n / 2; i++) {
        const int64_t a = v[2 * i], b = v[2 * i + 1];
        big += (a < -bound) + (a > bound) + (b < -bound) + (b > bound);
        p[i] = (int64_t)((uint64_t)a + ((uint64_t)b << 32));
    }
    if (n % 2) {
        const int64_t a = v[n - 1];
        big += (a < -bound) + (a > bound);
        p[n / 2] = a;
    }
    p[(n + 1) / 2] = big;
}

/* The summed pairs back to floats: s0 = the low 32 bits of the pair as a signed number (|s0| < 2^31),
 * s1 = (pair - s0) / 2^32, exactly. */
static void from_pairs(float *restrict g, const int64_t *restrict p, size_t n, double inv_scale)
{
    for (size_t i = 0; i < n / 2; i++) {
        const int64_t s0 = (int32_t)(uint32_t)(uint64_t)p[i], s1 = (p[i] - s0) / 4294967296LL;
        g[2 * i] = (float)((double)s0 * inv_scale);
        g[2 * i + 1] = (float)((double)s1 * inv_scale);
    }
    if (n % 2)
        g[n - 1] = (float)((double)p[n / 2] * inv_scale);
}

/* Adds block[lo, hi) into the accumulator: gradients first, so that the count of bad values they add to
 * the trailer is itself summed when the trailer is. */
static void accumulate_range(mt_grad_exchange *x, size_t lo, size_t hi)
{
    size_t g = lo > x->trailer ? lo : x->trailer;
    if (hi > g && x->direct && !x->direct_filled) /* no layer ran here this step: nothing to add */
        memset(x->acc + g, 0, (hi - g) * sizeof *x->acc);
    else if (hi > g && !x->direct)
        x->block[MT_GRAD_BAD_SLOT] += (float)mt_fixed_add(x->acc + g, x->block + g, hi - g, GRAD_SCALE, GRAD_LIMIT,
                                                          x->fresh);
    if (lo < x->trailer) {
        float bad = 0; /* counted before the bad slot itself is converted */
        for (size_t i = lo; i < x->trailer; i++)
            bad += !(fabsf(x->block[i]) <= (float)TRAILER_LIMIT);
        x->block[MT_GRAD_BAD_SLOT] += bad;
        mt_fixed_add(x->acc + lo, x->block + lo, x->trailer - lo, TRAILER_SCALE, TRAILER_LIMIT, x->fresh);
    }
}

void mt_grad_exchange_accumulate(mt_grad_exchange *x)
{
    accumulate_range(x, 0, x->direct ? x->trailer : x->n);
    x->fresh = 0;
}

static void to_bf16(uint16_t *restrict h, const float *restrict g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = mt_f32_to_bf16(g[i]);
}

static void from_bf16(float *restrict g, const uint16_t *restrict h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = mt_bf16_to_f32(h[i]);
}

void mt_grad_exchange_use_nodes(mt_grad_exchange *x, const mt_node_comms *nodes)
{
    x->nodes = nodes;
}

/* ---- sums by slice owners ---------------------------------------------------------------------------- */

void mt_grad_exchange_use_share(mt_grad_exchange *x, mt_node_share *share)
{
    x->share = share;
    if (x->mode == MT_GRAD_FIXED64) {
        free(x->acc);
        x->acc = share->acc[share->me];
    } else {
        x->block = share->block[share->me];
    }
}

void mt_grad_exchange_split(size_t lo, size_t hi, int i, int n, size_t *a, size_t *b)
{
    const size_t len = hi - lo, nn = (size_t)n, p = (size_t)i;
    *a = p == 0 ? lo : lo + ((len * p / nn) & ~(size_t)15); /* whole cache lines where it can */
    *b = p + 1 == nn ? hi : lo + ((len * (p + 1) / nn) & ~(size_t)15);
}

void mt_grad_exchange_part(const mt_grad_exchange *x, int b, int place, size_t *lo, size_t *hi)
{
    mt_grad_exchange_split(x->buckets[b].lo, x->buckets[b].hi, place, x->share->k, lo, hi);
}

float *mt_grad_exchange_result(const mt_grad_exchange *x)
{
    return x->share ? x->share->summed : x->block;
}

/* out[lo, hi) = the sum of the node's blocks there, in place order; a few thousand floats at a time, so
 * that the partial sums stay in the L1 cache. */
static void sum_blocks(float *restrict out, float *const *in, int k, size_t lo, size_t hi)
{
    for (size_t a = lo; a < hi; a += 2048) {
        const size_t b = a + 2048 < hi ? a + 2048 : hi;
        const float *restrict first = in[0];
        for (size_t i = a; i < b; i++)
            out[i] = first[i];
        for (int r = 1; r < k; r++) {
            const float *restrict src = in[r];
            for (size_t i = a; i < b; i++)
                out[i] += src[i];
        }
    }
}

/* acc[me][lo, hi) += the other accumulators of the node there (integers: the order does not matter). */
static void add_accumulators(int64_t *const *acc, int k, int me, size_t lo, size_t hi)
{
    int64_t *restrict out = acc[me];
    for (int r = 0; r < k; r++) {
        const int64_t *restrict src = acc[r];
        if (r != me)
            for (size_t i = lo; i < hi; i++)
                out[i] += src[i];
    }
}

static uint64_t count_nonfinite(const float *restrict g, size_t n)
{
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !isfinite(g[i]);
    return bad;
}

static void record(mt_grad_exchange *x, int i);

/* This rank's part of bucket i is summed over every rank: fixed64 converts it into the summed block; float32
 * counts its non-finite gradients. */
static void part_summed(mt_grad_exchange *x, int i, size_t lo, size_t hi)
{
    mt_node_share *sh = x->share;
    if (x->mode == MT_GRAD_FIXED64) {
        const size_t t = x->trailer, g = lo > t ? lo : t;
        if (lo < t)
            from_fixed(sh->summed + lo, sh->acc[sh->me] + lo, t - lo, 1.0 / TRAILER_SCALE);
        if (hi > g)
            from_fixed(sh->summed + g, sh->acc[sh->me] + g, hi - g, 1.0 / GRAD_SCALE);
    } else {
        const size_t g = lo > x->trailer ? lo : x->trailer;
        x->nonfinite_mine += hi > g ? count_nonfinite(sh->summed + g, hi - g) : 0;
    }
    x->buckets[i].part = 2;
    x->parts_done++;
    record(x, i);
}

/* Sums this rank's part of bucket i, complete on every rank of the node (float32: into the node's summed
 * block; fixed64: into this rank's accumulator), and with several nodes starts its sum across them. */
static mt_status sum_part(mt_grad_exchange *x, int i)
{
    mt_node_share *sh = x->share;
    size_t lo, hi;
    mt_grad_exchange_part(x, i, sh->me, &lo, &hi);
    const double t0 = mt_wtime();
    if (x->mode == MT_GRAD_FIXED64)
        add_accumulators(sh->acc, sh->k, sh->me, lo, hi);
    else
        sum_blocks(sh->summed, sh->block, sh->k, lo, hi);
    x->summing_now += mt_wtime() - t0;
    if (sh->peers && hi > lo) {
        x->buckets[i].part = 1;
        if (i == 0) { /* the watchdog of the sums across nodes: the world's limit and phase */
            mt_comm_set_stall_timeout(sh->peers, mt_comm_stall_timeout(x->comm));
            mt_comm_set_phase(sh->peers, "%s", mt_comm_phase(x->comm));
        }
        return x->mode == MT_GRAD_FIXED64 ? mt_comm_iallreduce_sum(sh->peers, sh->acc[sh->me] + lo, hi - lo,
                                                                   MT_DTYPE_I64, &x->buckets[i].across, &x->err)
                                          : mt_comm_iallreduce_sum(sh->peers, sh->summed + lo, hi - lo, MT_DTYPE_F32,
                                                                   &x->buckets[i].across, &x->err);
    }
    part_summed(x, i, lo, hi);
    return MT_OK;
}

/* The value of the READY counters once bucket i of this step is complete on a rank. */
static uint64_t ready_mark(const mt_grad_exchange *x, int i)
{
    return x->steps * (uint64_t)x->n_buckets + (uint64_t)i + 1;
}

/* Sums the parts whose buckets are complete on every rank of the node, in bucket order (the sums across
 * nodes start in the same order on every node), and completes those summing across the nodes. */
static void advance(mt_grad_exchange *x)
{
    for (int i = 0; i < x->next && !x->failed; i++) {
        mt_grad_bucket *b = &x->buckets[i];
        if (b->part == 1) {
            int done = 0;
            x->failed = mt_comm_test(&b->across, &done, &x->err);
            if (done && !x->failed) {
                size_t lo, hi;
                mt_grad_exchange_part(x, i, x->share->me, &lo, &hi);
                part_summed(x, i, lo, hi);
            }
        }
        if (b->part != 0)
            continue;
        for (int r = 0; r < x->share->k; r++)
            if (!mt_node_share_has(x->share, r, MT_SHARE_READY, ready_mark(x, i)))
                return;
        x->failed = sum_part(x, i);
    }
}

static void advance_hook(void *x)
{
    advance(x);
}

/* finish with sums by slice owners: this rank's parts as their buckets complete, then the meeting of the
 * node once every part is summed. */
static void finish_shared(mt_grad_exchange *x)
{
    mt_node_share *sh = x->share;
    if (!x->failed)
        x->failed = mt_node_share_wait(sh, MT_SHARE_READY, ready_mark(x, x->n_buckets - 1),
                                       "the gradient sums in the node's shared memory", advance_hook, x, &x->err);
    for (int i = 0; i < x->n_buckets && !x->failed; i++) {
        mt_grad_bucket *b = &x->buckets[i];
        if (b->part == 0)
            x->failed = sum_part(x, i);
        if (!x->failed && b->part == 1) {
            x->failed = mt_comm_wait(&b->across, &x->err);
            size_t lo, hi;
            mt_grad_exchange_part(x, i, sh->me, &lo, &hi);
            if (!x->failed)
                part_summed(x, i, lo, hi);
        }
    }
    if (x->failed)
        return; /* the caller ends the job: the others cannot go on without this rank's parts */
    mt_node_share_put_count(sh, x->nonfinite_mine);
    x->nonfinite_mine = 0;
    mt_node_share_publish(sh, MT_SHARE_SUMMED, x->steps + 1);
    x->failed = mt_node_share_wait(sh, MT_SHARE_SUMMED, x->steps + 1, "the gradient sums in the node's shared memory",
                                   NULL, NULL, &x->err);
    x->nonfinite = x->failed ? 0 : mt_node_share_total(sh);
}

/* ---- the sums of a step ------------------------------------------------------------------------------ */

static mt_status start(mt_grad_exchange *x, mt_grad_bucket *b, mt_error *err)
{
    b->started = 1;
    b->start = mt_wtime();
    size_t lo = b->lo, n = b->hi - b->lo;
    if (x->share) {
        if (x->mode == MT_GRAD_FIXED64)
            accumulate_range(x, lo, b->hi);
        mt_node_share_publish(x->share, MT_SHARE_READY, ready_mark(x, (int)(b - x->buckets)));
        return MT_OK;
    }
    switch (x->mode) {
    case MT_GRAD_FLOAT32:
        return mt_node_sum_start(&b->sum[0], x->comm, x->nodes, x->block + lo, n, MT_DTYPE_F32, err);
    case MT_GRAD_FIXED64: { /* one message: the pairs, their count, the trailer's values as they are */
        accumulate_range(x, lo, b->hi);
        const size_t g = lo > x->trailer ? lo : x->trailer, pairs = (b->hi - g + 1) / 2;
        int64_t *p = x->packed + b->packed_at;
        to_pairs(p, x->acc + g, b->hi - g, x->pair_bound);
        if (g > lo)
            memcpy(p + pairs + 1, x->acc + lo, (g - lo) * sizeof *p);
        return mt_node_sum_start(&b->sum[0], x->comm, x->nodes, p, pairs + 1 + (g - lo), MT_DTYPE_I64, err);
    }
    case MT_GRAD_BFLOAT16: {
        size_t g = lo > x->trailer ? lo : x->trailer;
        to_bf16(x->half + g, x->block + g, b->hi - g);
        mt_status st = mt_node_sum_start(&b->sum[0], x->comm, x->nodes, x->half + g, b->hi - g, MT_DTYPE_BF16, err);
        if (!st && lo < x->trailer)
            st = mt_node_sum_start(&b->sum[1], x->comm, x->nodes, x->block + lo, x->trailer - lo, MT_DTYPE_F32, err);
        return st;
    }
    }
    return MT_OK;
}

static void record(mt_grad_exchange *x, int i)
{
    mt_grad_bucket *b = &x->buckets[i];
    b->done = 1;
    b->end = mt_wtime();
    mt_timeline_add(x->timeline, MT_TL_BUCKET, x->timeline_bucket0 + i, b->start, b->end);
}

/* Lets the sums in flight advance (MPI moves data only inside its calls) and notes those completed. Sums
 * in two levels advance in the order they started: none to a level an earlier one has not reached. */
static void progress(mt_grad_exchange *x)
{
    if (x->share) {
        advance(x);
        return;
    }
    int reached = 3;
    for (int i = 0; i < x->next && !x->failed; i++) {
        mt_grad_bucket *b = &x->buckets[i];
        int done0 = 1, done1 = 1;
        if (b->done)
            continue;
        x->failed = mt_node_sum_test(&b->sum[0], reached, &done0, &x->err);
        reached = b->sum[0].level < reached ? b->sum[0].level : reached;
        if (!x->failed)
            x->failed = mt_node_sum_test(&b->sum[1], reached, &done1, &x->err);
        reached = b->sum[1].level < reached ? b->sum[1].level : reached;
        if (done0 && done1)
            record(x, i);
    }
}

static void start_through(mt_grad_exchange *x, int last)
{
    while (x->next <= last && !x->failed) {
        mt_grad_bucket *b = &x->buckets[x->next++];
        mt_node_sum_clear(&b->sum[0]);
        mt_node_sum_clear(&b->sum[1]);
        b->done = 0, b->part = 0;
        x->failed = start(x, b, &x->err);
    }
}

void mt_grad_exchange_layer_done(mt_grad_exchange *x, int layer)
{
    if (x->next == 0 && x->starts_at[layer] < 0)
        return;
    double t0 = mt_wtime();
    if (x->starts_at[layer] >= 0)
        start_through(x, x->starts_at[layer]);
    progress(x);
    x->busy += mt_wtime() - t0;
}

void mt_grad_exchange_poll(mt_grad_exchange *x)
{
    if (x->next == 0)
        return;
    double t0 = mt_wtime();
    if (t0 - x->polled < 100e-6)
        return;
    progress(x);
    x->polled = mt_wtime();
    x->busy += x->polled - t0;
}

/* fixed64: the trailer's sums back into acc, and each bucket's gradients from its summed pairs, or from a
 * plain int64 sum when some rank's values did not fit a pair (the count is the same on every rank, so all
 * take the same path). */
static mt_status unpack(mt_grad_exchange *x, mt_error *err)
{
    for (int i = 0; i < x->n_buckets; i++) {
        mt_grad_bucket *b = &x->buckets[i];
        const size_t g = b->lo > x->trailer ? b->lo : x->trailer, n = b->hi - g;
        const int64_t *p = x->packed + b->packed_at;
        if (g > b->lo)
            memcpy(x->acc + b->lo, p + (n + 1) / 2 + 1, (g - b->lo) * sizeof *p);
        if (n == 0)
            continue;
        if (p[(n + 1) / 2] == 0) {
            from_pairs(x->block + g, p, n, 1.0 / GRAD_SCALE);
            continue;
        }
        mt_node_sum_clear(&b->sum[0]);
        mt_status st = mt_node_sum_start(&b->sum[0], x->comm, x->nodes, x->acc + g, n, MT_DTYPE_I64, err);
        if (!st)
            st = mt_node_sum_wait(&b->sum[0], err);
        if (st)
            return st;
        from_fixed(x->block + g, x->acc + g, n, 1.0 / GRAD_SCALE);
    }
    return MT_OK;
}

mt_status mt_grad_exchange_finish(mt_grad_exchange *x, mt_error *err)
{
    double t0 = mt_wtime();
    start_through(x, x->n_buckets - 1);
    if (x->share)
        finish_shared(x);
    for (int i = 0; i < x->n_buckets && !x->failed && !x->share; i++) {
        mt_grad_bucket *b = &x->buckets[i];
        if (b->done)
            continue;
        x->failed = mt_node_sum_wait(&b->sum[0], &x->err);
        if (!x->failed)
            x->failed = mt_node_sum_wait(&b->sum[1], &x->err);
        record(x, i);
    }
    double t1 = mt_wtime();
    x->wait = t1 - t0;
    x->in_flight = 0; /* first start to the last completion (buckets may complete out of order) */
    for (int i = 0; i < x->n_buckets; i++)
        if (x->buckets[i].end - x->buckets[0].start > x->in_flight)
            x->in_flight = x->buckets[i].end - x->buckets[0].start;
    mt_timeline_add(x->timeline, MT_TL_WAIT, -1, t0, t1);
    x->next = 0, x->parts_done = 0;
    x->summing = x->summing_now, x->summing_now = 0;
    x->steps++;
    x->fresh = 1;
    x->direct = x->direct_filled = 0;
    x->busy_step = x->busy;
    x->busy = 0;
    mt_status st = x->failed;
    if (st) {
        *err = x->err;
        x->failed = MT_OK;
        mt_error_clear(&x->err);
        return st;
    }
    if (x->share)
        return MT_OK; /* the owners have converted their parts */
    if (x->mode == MT_GRAD_FIXED64) {
        st = unpack(x, err);
        from_fixed(x->block, x->acc, x->trailer, 1.0 / TRAILER_SCALE);
        return st;
    } else if (x->mode == MT_GRAD_BFLOAT16) {
        from_bf16(x->block + x->trailer, x->half + x->trailer, x->n - x->trailer);
    }
    return MT_OK;
}

const char *mt_grad_exchange_describe(const mt_grad_exchange *x, int b, const char *net, char *buf, size_t size)
{
    const mt_grad_bucket *k = &x->buckets[b];
    const char *sp = net[0] ? " " : "";
    if (k->first_layer == k->last_layer)
        snprintf(buf, size, "bucket %d (%s%slayer %d)", x->timeline_bucket0 + b, net, sp, k->first_layer);
    else
        snprintf(buf, size, "bucket %d (%s%slayers %d-%d)", x->timeline_bucket0 + b, net, sp, k->first_layer,
                 k->last_layer);
    return buf;
}
