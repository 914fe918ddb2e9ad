/* Shared-memory allreduce for the ranks of one node (MPI-3 shared windows). Each rank has two sets of
 * (input, result) buffers used alternately, so a rank may start the next call while a slower one still
 * copies results out of the previous one; two barriers per call order the phases. */
#include "dist/shm_allreduce.h"

#include <stdlib.h>
#include <string.h>

struct mt_shm {
    MPI_Comm comm;        /* duplicate of the node's ranks (all ranks of the job) */
    int rank, size;
    MPI_Win win;
    size_t cap;           /* floats per buffer */
    float **seg;          /* [size] base of each rank's buffers: input, result, input, result */
    unsigned long calls;
};

mt_shm *mt_shm_create(MPI_Comm comm)
{
    int size, node_size;
    MPI_Comm node;
    MPI_Comm_size(comm, &size);
    if (size == 1 || getenv("MT_NO_SHM_ALLREDUCE"))
        return NULL;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return NULL;
    MPI_Comm_size(node, &node_size);
    int all_local = node_size == size, everywhere;
    MPI_Allreduce(&all_local, &everywhere, 1, MPI_INT, MPI_LAND, comm);
    mt_shm *s = everywhere ? calloc(1, sizeof *s) : NULL;
    int ok = s != NULL, all_ok;
    if (s && !(s->seg = calloc((size_t)size, sizeof *s->seg)))
        ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, comm);
    if (!all_ok) {
        if (s)
            free(s->seg);
        free(s);
        MPI_Comm_free(&node);
        return NULL;
    }
    s->comm = node;
    s->win = MPI_WIN_NULL;
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    MPI_Comm_rank(node, &s->rank);
    s->size = size;
    return s;
}

static void release(mt_shm *s)
{
    if (s->win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    s->cap = 0;
}

/* Collective: makes each rank's two buffers hold at least n floats. */
static int reserve(mt_shm *s, size_t n)
{
    if (n <= s->cap)
        return MPI_SUCCESS;
    release(s);
    size_t cap = n + n / 4;
    float *base;
    int rc = MPI_Win_allocate_shared((MPI_Aint)(4 * cap * sizeof(float)), sizeof(float), MPI_INFO_NULL, s->comm, &base,
                                     &s->win);
    if (rc != MPI_SUCCESS) {
        s->win = MPI_WIN_NULL;
        return rc;
    }
    for (int r = 0; r < s->size; r++) {
        MPI_Aint bytes;
        int unit;
        rc = MPI_Win_shared_query(s->win, r, &bytes, &unit, &s->seg[r]);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
    s->cap = cap;
    return MPI_SUCCESS;
}

/* Makes every rank's stores visible to the others (the MPI-3 shared-memory pattern). */
static int fence(mt_shm *s)
{
    MPI_Win_sync(s->win);
    int rc = MPI_Barrier(s->comm);
    MPI_Win_sync(s->win);
    return rc;
}

static void chunk(size_t n, int size, int r, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)r / (size_t)size;
    *hi = n * (size_t)(r + 1) / (size_t)size;
}

int mt_shm_allreduce_f32(mt_shm *s, float *buf, size_t n)
{
    int rc = reserve(s, n);
    if (rc != MPI_SUCCESS)
        return rc;
    const size_t in = (s->calls++ & 1) * 2 * s->cap, out = in + s->cap;
    size_t lo, hi;
    memcpy(s->seg[s->rank] + in, buf, n * sizeof *buf);
    if ((rc = fence(s)) != MPI_SUCCESS)
        return rc;
    /* This rank's chunk, summed over the ranks in rank order into its result buffer. */
    chunk(n, s->size, s->rank, &lo, &hi);
    float *restrict sum = s->seg[s->rank] + out;
    const float *restrict a = s->seg[0] + in, *restrict b = s->seg[1] + in;
    for (size_t i = lo; i < hi; i++)
        sum[i] = a[i] + b[i];
    for (int r = 2; r < s->size; r++) {
        const float *restrict c = s->seg[r] + in;
        for (size_t i = lo; i < hi; i++)
            sum[i] += c[i];
    }
    if ((rc = fence(s)) != MPI_SUCCESS)
        return rc;
    for (int r = 0; r < s->size; r++) {
        size_t from, to;
        chunk(n, s->size, r, &from, &to);
        memcpy(buf + from, s->seg[r] + out + from, (to - from) * sizeof *buf);
    }
    return MPI_SUCCESS;
}

void mt_shm_destroy(mt_shm *s)
{
    if (!s)
        return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        release(s);
        MPI_Comm_free(&s->comm);
    }
    free(s->seg);
    free(s);
}
