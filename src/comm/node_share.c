/* The memory of one network shared by the ranks of a node, and the counters they meet on (node_share.h). */
#include "comm/node_share.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"

#define LINE 64                              /* bytes of a cache line */
#define FLAG_WORDS (LINE / sizeof(uint64_t)) /* counters of one place, on their own line */
#define NONFINITE MT_SHARE_FLAGS             /* the word after the counters */
#define SPIN_SECONDS 200e-6                  /* a wait spins this long before it yields the core */

static size_t aligned(size_t bytes)
{
    return (bytes + LINE - 1) / LINE * LINE;
}

void mt_node_share_destroy(mt_node_share *sh)
{
    mt_shm_destroy(sh->shm);
    mt_comm_destroy(sh->node), mt_comm_destroy(sh->peers), mt_comm_destroy(sh->leaders);
    free(sh->block), free(sh->acc);
    memset(sh, 0, sizeof *sh);
}

/* The node communicator and the check that every node has the same number of ranks, at least 2. */
static mt_status split(mt_node_share *sh, mt_comm *world, int *fits, mt_error *err)
{
    const int rank = mt_comm_rank(world);
    mt_status st = mt_comm_split(world, mt_comm_node_id(world), rank, &sh->node, err);
    if (st)
        return st;
    sh->k = mt_comm_size(sh->node), sh->me = mt_comm_rank(sh->node);
    double lo = sh->k, hi = sh->k, first = sh->me == 0;
    st = mt_comm_allreduce_min_f64(world, &lo, 1, err);
    if (!st)
        st = mt_comm_allreduce_max_f64(world, &hi, 1, err);
    if (!st)
        st = mt_comm_allreduce_sum_f64(world, &first, 1, err);
    sh->nodes = (int)first;
    *fits = !st && lo == hi && lo >= 2;
    if (!st && !*fits && hi >= 2)
        snprintf(sh->why, sizeof sh->why, "the nodes hold %g to %g ranks (sharing needs the same number on each)", lo,
                 hi);
    if (st || !*fits || sh->nodes == 1)
        return st;
    st = mt_comm_split(world, sh->me, rank, &sh->peers, err);
    if (!st)
        st = mt_comm_split(world, sh->me == 0 ? 0 : -1, rank, &sh->leaders, err);
    return st;
}

mt_status mt_node_share_create(mt_node_share *sh, mt_comm *world, size_t n, size_t trailer, int slots, int fixed,
                               mt_error *err)
{
    memset(sh, 0, sizeof *sh);
    sh->world = world, sh->n = n, sh->trailer = trailer;
    int fits = 0;
    mt_status st = split(sh, world, &fits, err);
    if (st || !fits) {
        char why[sizeof sh->why];
        memcpy(why, sh->why, sizeof why);
        mt_node_share_destroy(sh);
        memcpy(sh->why, why, sizeof why);
        return st;
    }
    const size_t k = (size_t)sh->k, slab = aligned(n * sizeof(float)), block = trailer + n;
    const size_t common = k * LINE + slab * (1 + (size_t)slots) + aligned(block * sizeof(float));
    const size_t own = block * (fixed ? sizeof(int64_t) : sizeof(float));
    sh->block = calloc(k, sizeof *sh->block);
    sh->acc = calloc(k, sizeof *sh->acc);
    if (!sh->block || !sh->acc)
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    /* MPI may refuse to share memory (ranks it does not see as local): every rank then goes without */
    mt_error why = {0};
    double refused = !st && mt_shm_create(sh->node, sh->me == 0 ? common + own : own, &sh->shm, &why) != MT_OK;
    if (!st)
        st = mt_comm_allreduce_max_f64(world, &refused, 1, err);
    if (st || refused) {
        char text[sizeof sh->why];
        snprintf(text, sizeof text, "%.190s", why.msg[0] ? why.msg : "MPI_Win_allocate_shared failed on another node");
        mt_node_share_destroy(sh); /* a window made on this node is freed by all its ranks together */
        if (!st)
            snprintf(sh->why, sizeof sh->why, "%s", text);
        return st;
    }
    char *base = mt_shm_segment(sh->shm, 0);
    sh->flags = (uint64_t *)base;
    sh->params = (float *)(base + k * LINE);
    for (int s = 0; s < slots; s++)
        sh->slots[s] = (float *)(base + k * LINE + slab * (size_t)(1 + s));
    sh->summed = (float *)(base + k * LINE + slab * (1 + (size_t)slots));
    for (size_t r = 0; r < k; r++) {
        char *seg = (char *)mt_shm_segment(sh->shm, (int)r) + (r == 0 ? common : 0);
        if (fixed)
            sh->acc[r] = (int64_t *)seg;
        else
            sh->block[r] = (float *)seg;
    }
    if (sh->me == 0)
        memset(sh->flags, 0, k * LINE);
    st = mt_node_share_barrier(sh, err);
    if (st)
        mt_node_share_destroy(sh);
    return st;
}

void mt_node_share_publish(mt_node_share *sh, mt_share_flag f, uint64_t value)
{
    __atomic_store_n(&sh->flags[(size_t)sh->me * FLAG_WORDS + f], value, __ATOMIC_RELEASE);
}

int mt_node_share_has(const mt_node_share *sh, int r, mt_share_flag f, uint64_t value)
{
    return __atomic_load_n(&sh->flags[(size_t)r * FLAG_WORDS + f], __ATOMIC_ACQUIRE) >= value;
}

void mt_node_share_put_count(mt_node_share *sh, uint64_t count)
{
    sh->flags[(size_t)sh->me * FLAG_WORDS + NONFINITE] = count;
}

uint64_t mt_node_share_total(const mt_node_share *sh)
{
    uint64_t total = 0;
    for (int r = 0; r < sh->k; r++)
        total += __atomic_load_n(&sh->flags[(size_t)r * FLAG_WORDS + NONFINITE], __ATOMIC_ACQUIRE);
    return total;
}

static mt_status stalled(mt_node_share *sh, mt_share_flag f, uint64_t value, const char *what, double waited,
                         double limit, mt_error *err)
{
    char missing[300] = "";
    size_t len = 0;
    int n = 0;
    for (int r = 0; r < sh->k; r++)
        if (!mt_node_share_has(sh, r, f, value) && len < sizeof missing - 16) {
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%d", len ? "," : "",
                                    mt_comm_world_rank_of(sh->node, r));
            n++;
        }
    const int me = mt_comm_rank(sh->world);
    const char *host = mt_comm_host(sh->world, me);
    return mt_fail(err, MT_ERR_STALL,
                   "rank %d (%s): stalled during %s: rank(s) %s (%d of %d, on host %s) did not reach %s within %.0f s "
                   "(watchdog limit %.0f s: training.stall_timeout)",
                   me, host, mt_comm_phase(sh->world), missing, n, mt_comm_size(sh->world), host, what, waited, limit);
}

mt_status mt_node_share_wait(mt_node_share *sh, mt_share_flag f, uint64_t value, const char *what, void (*poll)(void *),
                             void *user, mt_error *err)
{
    const double limit = mt_comm_stall_timeout(sh->world);
    double t0 = 0;
    for (unsigned spin = 0;; spin++) {
        int all = 1;
        for (int r = 0; r < sh->k && all; r++)
            all = mt_node_share_has(sh, r, f, value);
        if (all)
            return MT_OK;
        if (poll)
            poll(user);
        __builtin_ia32_pause();
        if (spin % 64)
            continue;
        /* Spinning is the fastest answer while the others are a few microseconds away; past SPIN_SECONDS
         * the core goes to whoever else wants it (more ranks than cores, a checkpoint being written), and
         * the watchdog looks at the clock. */
        const double now = mt_wtime();
        if (t0 == 0)
            t0 = now;
        if (now - t0 < SPIN_SECONDS)
            continue;
        /* a rank of the node that is itself waiting on another node reports first, at the limit */
        if (limit > 0 && now - t0 > limit + mt_comm_stall_grace(limit))
            return stalled(sh, f, value, what, now - t0, limit, err);
        sched_yield();
    }
}

mt_status mt_node_share_bcast(mt_node_share *sh, void *buf, size_t bytes, mt_error *err)
{
    mt_status st = MT_OK;
    if (sh->leaders) {
        mt_comm_set_stall_timeout(sh->leaders, mt_comm_stall_timeout(sh->world));
        st = mt_comm_bcast(sh->leaders, buf, bytes, 0, err);
    }
    /* a failed broadcast between nodes breaks the job (the caller aborts); the node's barrier is skipped */
    return st ? st : mt_node_share_barrier(sh, err);
}

mt_status mt_node_share_barrier(mt_node_share *sh, mt_error *err)
{
    mt_comm_set_stall_timeout(sh->node, mt_comm_stall_timeout(sh->world));
    return mt_comm_barrier(sh->node, err);
}
