/* MPI wrappers: error-returning collectives on a duplicated world communicator, large counts split
 * into INT_MAX-sized pieces, and status agreement so that one failing rank stops all of them. */
#include "dist/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "core/bf16.h"
#include "core/error.h"

struct mt_comm {
    MPI_Comm comm;
    int rank, size;
};

static int initialized_here;
static MPI_Op bf16_sum_op = MPI_OP_NULL; /* created on first use */

int mt_dist_init(int *argc, char ***argv)
{
    int flag = 0;
    MPI_Initialized(&flag);
    if (flag)
        return 0;
    /* Open MPI's non-blocking allreduce (libnbc) picks by default an algorithm that took twice as long as
     * its blocking allreduce for 0.25-4 MiB between two ranks of one node here; Rabenseifner's
     * (reduce-scatter, then allgather) matched the blocking one. A choice of the user's (environment, or
     * mpirun --mca) wins; other MPI libraries ignore the variable. */
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", 0);
    int rc = MPI_Init(argc, argv);
    if (rc == MPI_SUCCESS) {
        initialized_here = 1;
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    return rc;
}

void mt_dist_finalize(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin && bf16_sum_op != MPI_OP_NULL)
        MPI_Op_free(&bf16_sum_op);
    if (init && !fin && initialized_here)
        MPI_Finalize();
}

int mt_dist_world_rank(void)
{
    int init = 0, r = 0;
    MPI_Initialized(&init);
    if (init)
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int mt_dist_world_size(void)
{
    int init = 0, s = 1;
    MPI_Initialized(&init);
    if (init)
        MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

static mt_status mpi_fail(mt_error *err, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return mt_fail(err, MT_ERR_MPI, "%s failed: %s", what, text);
}

static mt_status create(MPI_Comm base, mt_comm **out, mt_error *err)
{
    mt_comm *c = calloc(1, sizeof *c);
    if (!c)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    int rc = MPI_Comm_dup(base, &c->comm);
    if (rc != MPI_SUCCESS) {
        free(c);
        return mpi_fail(err, rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    *out = c;
    return MT_OK;
}

mt_status mt_comm_create_world(mt_comm **out, mt_error *err)
{
    return create(MPI_COMM_WORLD, out, err);
}

mt_status mt_comm_create_self(mt_comm **out, mt_error *err)
{
    return create(MPI_COMM_SELF, out, err);
}

void mt_comm_destroy(mt_comm *c)
{
    if (!c)
        return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Comm_free(&c->comm);
    free(c);
}

int mt_comm_rank(const mt_comm *c) { return c->rank; }
int mt_comm_size(const mt_comm *c) { return c->size; }

static mt_status allreduce(mt_comm *c, void *buf, size_t n, MPI_Datatype type, size_t elem, MPI_Op op,
                           mt_error *err)
{
    char *p = buf;
    while (n > 0) {
        int count = n > INT_MAX ? INT_MAX : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, count, type, op, c->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "MPI_Allreduce");
        p += (size_t)count * elem;
        n -= (size_t)count;
    }
    return MT_OK;
}

mt_status mt_comm_allreduce_sum_f32(mt_comm *c, float *buf, size_t n, mt_error *err)
{
    if (c->size == 1)
        return MT_OK;
    return allreduce(c, buf, n, MPI_FLOAT, sizeof(float), MPI_SUM, err);
}

mt_status mt_comm_allreduce_sum_f64(mt_comm *c, double *buf, size_t n, mt_error *err)
{
    return allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM, err);
}

mt_status mt_comm_allreduce_min_f64(mt_comm *c, double *buf, size_t n, mt_error *err)
{
    return allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_MIN, err);
}

mt_status mt_comm_allreduce_max_f64(mt_comm *c, double *buf, size_t n, mt_error *err)
{
    return allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_MAX, err);
}

_Static_assert(sizeof(MPI_Request) <= sizeof(((mt_request *)0)->opaque), "MPI_Request fits mt_request");

static void bf16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++)
        b[i] = mt_f32_to_bf16(mt_bf16_to_f32(a[i]) + mt_bf16_to_f32(b[i]));
}

void mt_comm_request_clear(mt_request *req)
{
    *(MPI_Request *)req->opaque = MPI_REQUEST_NULL;
}

mt_status mt_comm_iallreduce_sum(mt_comm *c, void *buf, size_t n, mt_dtype type, mt_request *req, mt_error *err)
{
    MPI_Request *r = (MPI_Request *)req->opaque;
    *r = MPI_REQUEST_NULL;
    if (c->size == 1 || n == 0)
        return MT_OK;
    if (n > INT_MAX)
        return mt_fail(err, MT_ERR_INTERNAL, "non-blocking allreduce of %zu elements: more than an MPI count", n);
    MPI_Datatype t = type == MT_DTYPE_F32 ? MPI_FLOAT : type == MT_DTYPE_I64 ? MPI_INT64_T : MPI_UINT16_T;
    MPI_Op op = MPI_SUM;
    if (type == MT_DTYPE_BF16) {
        if (bf16_sum_op == MPI_OP_NULL) {
            int rc = MPI_Op_create(bf16_sum, 1, &bf16_sum_op);
            if (rc != MPI_SUCCESS)
                return mpi_fail(err, rc, "MPI_Op_create");
        }
        op = bf16_sum_op;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, t, op, c->comm, r);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Iallreduce");
}

mt_status mt_comm_test(mt_request *req, int *done, mt_error *err)
{
    MPI_Request *r = (MPI_Request *)req->opaque;
    *done = 1;
    if (*r == MPI_REQUEST_NULL)
        return MT_OK;
    int rc = MPI_Test(r, done, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Test (allreduce)");
}

mt_status mt_comm_wait(mt_request *req, mt_error *err)
{
    MPI_Request *r = (MPI_Request *)req->opaque;
    if (*r == MPI_REQUEST_NULL)
        return MT_OK;
    int rc = MPI_Wait(r, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Wait (allreduce)");
}

mt_status mt_comm_bcast(mt_comm *c, void *buf, size_t bytes, int root, mt_error *err)
{
    char *p = buf;
    while (bytes > 0) {
        int count = bytes > INT_MAX ? INT_MAX : (int)bytes;
        int rc = MPI_Bcast(p, count, MPI_BYTE, root, c->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "MPI_Bcast");
        p += count;
        bytes -= (size_t)count;
    }
    return MT_OK;
}

mt_status mt_comm_allgather_f64(mt_comm *c, const double *in, size_t n, double *out, mt_error *err)
{
    int rc = MPI_Allgather(in, (int)n, MPI_DOUBLE, out, (int)n, MPI_DOUBLE, c->comm);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Allgather");
}

mt_status mt_comm_gather_bytes(mt_comm *c, const void *in, size_t n, void **out, size_t *counts, int root,
                               mt_error *err)
{
    unsigned long long mine = n, *all = c->rank == root ? calloc((size_t)c->size, sizeof *all) : NULL;
    int *cnt = c->rank == root ? calloc((size_t)c->size, sizeof *cnt) : NULL;
    int *disp = c->rank == root ? calloc((size_t)c->size, sizeof *disp) : NULL;
    *out = NULL;
    int rc = MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, root, c->comm);
    unsigned long long total = 0;
    for (int r = 0; rc == MPI_SUCCESS && c->rank == root && r < c->size; r++) {
        cnt[r] = (int)all[r], disp[r] = (int)total, counts[r] = (size_t)all[r];
        total += all[r];
    }
    int ok = c->rank != root || (rc == MPI_SUCCESS && total <= INT_MAX && (*out = malloc(total ? total : 1)));
    if (rc == MPI_SUCCESS)
        rc = MPI_Bcast(&ok, 1, MPI_INT, root, c->comm);
    if (rc == MPI_SUCCESS && ok)
        rc = MPI_Gatherv(in, (int)n, MPI_BYTE, *out, cnt, disp, MPI_BYTE, root, c->comm);
    free(all), free(cnt), free(disp);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Gatherv");
    return ok ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "gather: %llu bytes do not fit in memory or in an MPI count", total);
}

mt_status mt_comm_barrier(mt_comm *c, mt_error *err)
{
    int rc = MPI_Barrier(c->comm);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Barrier");
}

mt_status mt_comm_agree(mt_comm *c, mt_error *err)
{
    int mine[2] = {err->code != MT_OK ? c->rank : c->size, err->code != MT_OK};
    int first = mine[0], failed = mine[1];
    int rc = MPI_Allreduce(&mine[0], &first, 1, MPI_INT, MPI_MIN, c->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(&mine[1], &failed, 1, MPI_INT, MPI_SUM, c->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "status agreement (MPI_Allreduce)");
    if (failed == 0)
        return MT_OK;
    struct { int code; char msg[sizeof err->msg]; } packet;
    packet.code = err->code;
    memcpy(packet.msg, err->msg, sizeof packet.msg);
    rc = MPI_Bcast(&packet, (int)sizeof packet, MPI_BYTE, first, c->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "status agreement (MPI_Bcast)");
    err->code = (mt_status)packet.code;
    if (failed < c->size)
        snprintf(err->msg, sizeof err->msg, "rank %d: %.*s", first, (int)sizeof err->msg - 16, packet.msg);
    else
        memcpy(err->msg, packet.msg, sizeof err->msg);
    return err->code;
}

double mt_wtime(void)
{
    return MPI_Wtime();
}
