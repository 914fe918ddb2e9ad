/* MPI wrappers: error-returning collectives on a duplicated world communicator, large counts split
 * into INT_MAX-sized pieces, status agreement so that one failing rank stops all of them, and the stall
 * watchdog: with a limit set, every collective is started non-blocking and polled; a rank that has waited
 * half the limit tells the others (a "stall notice" on a second communicator), and at the limit the lowest
 * waiting rank returns MT_ERR_STALL naming the ranks that sent no notice, i.e. never arrived. */
#include "comm/comm.h"

#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "core/bf16.h"
#include "core/error.h"

struct mt_comm {
    MPI_Comm comm;
    MPI_Comm notices; /* stall notices (a duplicate, so they never match a collective's messages) */
    int rank, size;
    double stall_after;             /* watchdog limit in seconds; 0 = plain blocking calls */
    uint64_t seq;                   /* collectives started so far (the same count on every rank) */
    uint64_t *seen;                 /* per rank: the latest collective number it sent a stall notice from */
    uint64_t notice_out;            /* the value of this rank's outgoing notices (must outlive the sends) */
    char phase[128];                /* what the program is doing, for the stall message */
    char (*host)[MT_COMM_HOST_MAX]; /* per rank: the host it runs on (MPI_Get_processor_name, truncated) */
    int *world;                     /* per rank: its rank in MPI_COMM_WORLD, which messages name */
};

/* A pending non-blocking collective, inside mt_request. */
typedef struct pending {
    MPI_Request req;
    mt_comm *comm;
    uint64_t seq;
} pending;

static int initialized_here;
static MPI_Op bf16_sum_op = MPI_OP_NULL; /* created on first use */

int mt_comm_init(int *argc, char ***argv)
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

void mt_comm_finalize(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin && bf16_sum_op != MPI_OP_NULL)
        MPI_Op_free(&bf16_sum_op);
    if (init && !fin && initialized_here)
        MPI_Finalize();
}

int mt_comm_world_rank(void)
{
    int init = 0, r = 0;
    MPI_Initialized(&init);
    if (init)
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
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
    rc = MPI_Comm_dup(c->comm, &c->notices);
    c->seen = calloc((size_t)c->size, sizeof *c->seen);
    c->host = calloc((size_t)c->size, sizeof *c->host);
    c->world = calloc((size_t)c->size, sizeof *c->world);
    const char *what = "MPI_Comm_dup";
    if (rc == MPI_SUCCESS && c->world) { /* the part of the world a split communicator holds */
        MPI_Group mine, all;
        MPI_Comm_group(c->comm, &mine);
        MPI_Comm_group(MPI_COMM_WORLD, &all);
        for (int r = 0; r < c->size; r++)
            c->world[r] = r;
        MPI_Group_translate_ranks(mine, c->size, c->world, all, c->world);
        MPI_Group_free(&mine), MPI_Group_free(&all);
    }
    if (rc == MPI_SUCCESS && c->seen && c->host && c->world) {
        char name[MPI_MAX_PROCESSOR_NAME + 1] = "";
        int len = 0;
        MPI_Get_processor_name(name, &len);
        snprintf(c->host[c->rank], sizeof c->host[c->rank], "%s", name);
        rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, c->host, MT_COMM_HOST_MAX, MPI_CHAR, c->comm);
        what = "MPI_Allgather (host names)";
        if (rc != MPI_SUCCESS)
            MPI_Comm_free(&c->notices);
    }
    if (rc != MPI_SUCCESS || !c->seen || !c->host || !c->world) {
        if (rc == MPI_SUCCESS)
            MPI_Comm_free(&c->notices);
        MPI_Comm_free(&c->comm);
        free(c->seen);
        free(c->host);
        free(c->world);
        free(c);
        return rc != MPI_SUCCESS ? mpi_fail(err, rc, what) : mt_fail(err, MT_ERR_NOMEM, "out of memory");
    }
    MPI_Comm_set_errhandler(c->notices, MPI_ERRORS_RETURN);
    snprintf(c->phase, sizeof c->phase, "setup");
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

mt_status mt_comm_create_from_f(int fcomm, mt_comm **out, mt_error *err)
{
    _Static_assert(sizeof(MPI_Fint) == sizeof(int), "MPI_Fint is not an int");
    int init = 0, fin = 0, inter = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return mt_fail(err, MT_ERR_USAGE, "MPI is %s: initialize it (MPI_Init) before creating a trainer",
                       fin ? "finalized" : "not initialized");
    MPI_Comm base = MPI_Comm_f2c((MPI_Fint)fcomm);
    if (base == MPI_COMM_NULL || MPI_Comm_test_inter(base, &inter) != MPI_SUCCESS || inter)
        return mt_fail(err, MT_ERR_USAGE, "communicator handle %d is %s", fcomm,
                       base == MPI_COMM_NULL ? "MPI_COMM_NULL"
                       : inter               ? "an inter-communicator"
                                             : "not valid");
    return create(base, out, err);
}

void mt_comm_destroy(mt_comm *c)
{
    if (!c)
        return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        int flag = 1;
        while (flag) { /* notices of waits that ended after all: received, so none is left pending */
            MPI_Status status;
            uint64_t v;
            flag = 0;
            if (MPI_Iprobe(MPI_ANY_SOURCE, 0, c->notices, &flag, &status) != MPI_SUCCESS)
                break;
            if (flag)
                MPI_Recv(&v, 1, MPI_UINT64_T, status.MPI_SOURCE, 0, c->notices, MPI_STATUS_IGNORE);
        }
        MPI_Comm_free(&c->notices);
        MPI_Comm_free(&c->comm);
    }
    free(c->seen);
    free(c->host);
    free(c->world);
    free(c);
}

int mt_comm_rank(const mt_comm *c)
{
    return c->rank;
}
int mt_comm_size(const mt_comm *c)
{
    return c->size;
}

void mt_comm_set_stall_timeout(mt_comm *c, double seconds)
{
    c->stall_after = c->size > 1 && seconds > 0 ? seconds : 0;
}

double mt_comm_stall_timeout(const mt_comm *c)
{
    return c->stall_after;
}

void mt_comm_set_phase(mt_comm *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->phase, sizeof c->phase, fmt, ap);
    va_end(ap);
}

/* ---- the stall watchdog ---- */

/* Tells every other rank that this one waits in a collective and has started collectives up to c->seq.
 * The sends are eager (8 bytes) and their requests are freed; the receivers take them in their own
 * waits, or when the communicator is destroyed. */
static void send_notices(mt_comm *c)
{
    c->notice_out = c->seq;
    c->seen[c->rank] = c->seq;
    for (int r = 0; r < c->size; r++) {
        MPI_Request req;
        if (r != c->rank && MPI_Isend(&c->notice_out, 1, MPI_UINT64_T, r, 0, c->notices, &req) == MPI_SUCCESS)
            MPI_Request_free(&req);
    }
}

/* Takes the notices that have arrived; returns 1 when one says its rank waits at collective seq or later. */
static int receive_notices(mt_comm *c, uint64_t seq)
{
    int flag = 1, waiting_here = 0;
    while (flag) {
        MPI_Status status;
        uint64_t v;
        flag = 0;
        if (MPI_Iprobe(MPI_ANY_SOURCE, 0, c->notices, &flag, &status) != MPI_SUCCESS || !flag)
            break;
        if (MPI_Recv(&v, 1, MPI_UINT64_T, status.MPI_SOURCE, 0, c->notices, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            break;
        if (v > c->seen[status.MPI_SOURCE])
            c->seen[status.MPI_SOURCE] = v;
        waiting_here |= v >= seq;
    }
    return waiting_here;
}

/* Which ranks a list names: those whose arrival at collective `seq` equals `arrived`, or (host set) those
 * on `host`. */
typedef struct rank_set {
    uint64_t seq;
    int arrived;
    const char *host;
} rank_set;

static int in_set(const mt_comm *c, const rank_set *s, int r)
{
    return s->host ? strcmp(c->host[r], s->host) == 0 : (c->seen[r] >= s->seq) == s->arrived;
}

/* Writes the ranks of the set as ranges ("1, 3-5") to buf; returns how many there are. */
static int list_ranks(const mt_comm *c, const rank_set *s, char *buf, size_t size)
{
    size_t len = 0;
    int count = 0;
    buf[0] = '\0';
    for (int r = 0; r < c->size; r++) {
        if (!in_set(c, s, r))
            continue;
        int end = r; /* a run of ranks whose world ranks follow each other */
        while (end + 1 < c->size && in_set(c, s, end + 1) && c->world[end + 1] == c->world[end] + 1)
            end++;
        count += end - r + 1;
        if (len + 32 < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%d", len ? ", " : "", c->world[r]);
        if (end > r && len + 32 < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%d", end > r + 1 ? "-" : ", ", c->world[end]);
        r = end;
    }
    return count;
}

/* Whether rank r is the lowest rank of the set on its host (so that each host is named once). */
static int first_on_host(const mt_comm *c, const rank_set *s, int r)
{
    for (int q = 0; q < r; q++)
        if (in_set(c, s, q) && strcmp(c->host[q], c->host[r]) == 0)
            return 0;
    return 1;
}

/* Writes the hosts of the set's ranks ("node2, node3") to buf; returns how many there are. */
static int list_hosts(const mt_comm *c, const rank_set *s, char *buf, size_t size)
{
    size_t len = 0;
    int count = 0;
    buf[0] = '\0';
    for (int r = 0; r < c->size; r++) {
        if (!in_set(c, s, r) || !first_on_host(c, s, r))
            continue;
        count++;
        if (len + MT_COMM_HOST_MAX + 8 < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", c->host[r]);
        else if (len + 8 < size && buf[len - 1] != '.')
            len += (size_t)snprintf(buf + len, size - len, ", ...");
    }
    return count;
}

const char *mt_comm_host(const mt_comm *c, int rank)
{
    return rank >= 0 && rank < c->size ? c->host[rank] : "";
}

int mt_comm_describe_hosts(const mt_comm *c, int max_hosts, char *buf, size_t size)
{
    const rank_set all = {0, 1, NULL}; /* every rank has reached collective 0 */
    int n = 0;
    size_t len = 0;
    buf[0] = '\0';
    for (int r = 0; r < c->size; r++) {
        if (!first_on_host(c, &all, r))
            continue;
        if (++n > max_hosts || len + MT_COMM_HOST_MAX + 16 >= size)
            continue;
        char ranks[256];
        const rank_set on = {0, 0, c->host[r]};
        list_ranks(c, &on, ranks, sizeof ranks);
        len += (size_t)snprintf(buf + len, size - len, "%s%s: %s", len ? "; " : "", c->host[r], ranks);
    }
    if (n > max_hosts)
        buf[0] = '\0';
    return n;
}

double mt_comm_stall_grace(double limit)
{
    return limit < 40 ? 5 + 0.25 * limit : 15;
}

static mt_status stalled(mt_comm *c, uint64_t seq, const char *call, double waited, mt_error *err)
{
    char missing[400], present[400], hosts[200];
    const rank_set absent = {seq, 0, NULL}, here = {seq, 1, NULL};
    int n_missing = list_ranks(c, &absent, missing, sizeof missing);
    int n_hosts = list_hosts(c, &absent, hosts, sizeof hosts);
    list_ranks(c, &here, present, sizeof present);
    return mt_fail(err, MT_ERR_STALL,
                   "rank %d (%s): stalled during %s: rank(s) %s (%d of %d, on %s %s) did not reach %s "
                   "(collective #%llu) within %.0f s, while rank(s) %s waited there (watchdog limit %.0f s: "
                   "training.stall_timeout)",
                   c->world[c->rank], c->host[c->rank], c->phase, n_missing ? missing : "?", n_missing, c->size,
                   n_hosts == 1 ? "host" : "hosts", n_hosts ? hosts : "?", call, (unsigned long long)seq, waited,
                   present, c->stall_after);
}

/* Completes *r, the collective number seq of c, started by `call`. Without a watchdog this is MPI_Wait.
 * With one it polls: from 1 ms on it also takes stall notices; past half the limit (or as soon as another
 * rank's notice shows it waits here too) it sends its own; past the limit the lowest rank that is known
 * to wait here returns MT_ERR_STALL, the others after a grace period (in case that rank cannot report). */
static mt_status complete(mt_comm *c, MPI_Request *r, uint64_t seq, const char *call, mt_error *err)
{
    if (*r == MPI_REQUEST_NULL)
        return MT_OK;
    if (c->stall_after <= 0) {
        int rc = MPI_Wait(r, MPI_STATUS_IGNORE);
        return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, call);
    }
    const double t0 = MPI_Wtime(), limit = c->stall_after;
    int noticed = 0;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, call);
        if (done)
            return MT_OK;
        const double waited = MPI_Wtime() - t0;
        if (waited < 1e-3)
            continue;
        int others_wait = receive_notices(c, seq);
        if (!noticed && (others_wait || waited > 0.5 * limit)) {
            send_notices(c);
            noticed = 1;
        }
        if (waited > limit) {
            int lowest = 0;
            while (lowest < c->rank && c->seen[lowest] < seq)
                lowest++;
            if (lowest == c->rank || waited > limit + mt_comm_stall_grace(limit))
                return stalled(c, seq, call, waited, err);
        }
        if (waited > 0.05)
            sched_yield(); /* a long wait (a checkpoint being written, a stall) leaves the core to others */
    }
}

/* Whether collectives are started non-blocking and polled by the watchdog. */
static int watched(const mt_comm *c)
{
    return c->stall_after > 0;
}

/* After a collective was called (rc) as number c->seq: its error, or with the watchdog its completion. */
static mt_status finish_call(mt_comm *c, int rc, MPI_Request *r, const char *call, mt_error *err)
{
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, call);
    return watched(c) ? complete(c, r, c->seq, call, err) : MT_OK;
}

static mt_status allreduce(mt_comm *c, void *buf, size_t n, MPI_Datatype type, size_t elem, MPI_Op op, mt_error *err)
{
    char *p = buf;
    while (n > 0) {
        int count = n > INT_MAX ? INT_MAX : (int)n;
        MPI_Request r = MPI_REQUEST_NULL;
        c->seq++;
        int rc = watched(c) ? MPI_Iallreduce(MPI_IN_PLACE, p, count, type, op, c->comm, &r)
                            : MPI_Allreduce(MPI_IN_PLACE, p, count, type, op, c->comm);
        mt_status st = finish_call(c, rc, &r, "MPI_Allreduce", err);
        if (st)
            return st;
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

mt_status mt_comm_sum_hook(void *comm, double *buf, size_t n, mt_error *err)
{
    return mt_comm_allreduce_sum_f64(comm, buf, n, err);
}

mt_status mt_comm_allreduce_min_f64(mt_comm *c, double *buf, size_t n, mt_error *err)
{
    return allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_MIN, err);
}

mt_status mt_comm_allreduce_max_f64(mt_comm *c, double *buf, size_t n, mt_error *err)
{
    return allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_MAX, err);
}

_Static_assert(sizeof(pending) <= sizeof(((mt_request *)0)->opaque), "a pending collective fits mt_request");

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
    *(pending *)req->opaque = (pending){MPI_REQUEST_NULL, NULL, 0};
}

/* The MPI type and sum of an element type; *started = 0 when there is nothing to start (one rank, no
 * elements). Sets up req as a request with nothing pending. */
static mt_status sum_of(mt_comm *c, size_t n, mt_dtype type, mt_request *req, MPI_Datatype *t, MPI_Op *op, int *started,
                        mt_error *err)
{
    *(pending *)req->opaque = (pending){MPI_REQUEST_NULL, c, 0};
    *started = 0;
    if (c->size == 1 || n == 0)
        return MT_OK;
    if (n > INT_MAX)
        return mt_fail(err, MT_ERR_INTERNAL, "non-blocking sum of %zu elements: more than an MPI count", n);
    *t = type == MT_DTYPE_F32   ? MPI_FLOAT
         : type == MT_DTYPE_I64 ? MPI_INT64_T
         : type == MT_DTYPE_F64 ? MPI_DOUBLE
                                : MPI_UINT16_T;
    *op = MPI_SUM;
    if (type == MT_DTYPE_BF16) {
        if (bf16_sum_op == MPI_OP_NULL) {
            int rc = MPI_Op_create(bf16_sum, 1, &bf16_sum_op);
            if (rc != MPI_SUCCESS)
                return mpi_fail(err, rc, "MPI_Op_create");
        }
        *op = bf16_sum_op;
    }
    *started = 1;
    ((pending *)req->opaque)->seq = ++c->seq;
    return MT_OK;
}

/* The non-blocking collectives of the gradient sums. */
typedef enum start_kind { START_ALLREDUCE, START_REDUCE, START_BCAST } start_kind;

/* Starts a non-blocking collective of n elements of buf (root for a reduce or broadcast). */
static mt_status start(mt_comm *c, start_kind kind, void *buf, size_t n, mt_dtype type, int root, mt_request *req,
                       mt_error *err)
{
    MPI_Datatype t;
    MPI_Op op;
    int go;
    mt_status st = sum_of(c, n, type, req, &t, &op, &go, err);
    if (st || !go)
        return st;
    MPI_Request *r = &((pending *)req->opaque)->req;
    int rc;
    switch (kind) {
    case START_ALLREDUCE:
        rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, t, op, c->comm, r);
        return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Iallreduce");
    case START_REDUCE:
        rc = c->rank == root ? MPI_Ireduce(MPI_IN_PLACE, buf, (int)n, t, op, root, c->comm, r)
                             : MPI_Ireduce(buf, NULL, (int)n, t, op, root, c->comm, r);
        return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Ireduce");
    case START_BCAST:
        rc = MPI_Ibcast(buf, (int)n, t, root, c->comm, r);
        return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Ibcast");
    }
    return mt_fail(err, MT_ERR_INTERNAL, "unknown collective %d", (int)kind);
}

mt_status mt_comm_iallreduce_sum(mt_comm *c, void *buf, size_t n, mt_dtype type, mt_request *req, mt_error *err)
{
    return start(c, START_ALLREDUCE, buf, n, type, 0, req, err);
}

mt_status mt_comm_ireduce_sum(mt_comm *c, void *buf, size_t n, mt_dtype type, int root, mt_request *req, mt_error *err)
{
    return start(c, START_REDUCE, buf, n, type, root, req, err);
}

mt_status mt_comm_ibcast(mt_comm *c, void *buf, size_t n, mt_dtype type, int root, mt_request *req, mt_error *err)
{
    return start(c, START_BCAST, buf, n, type, root, req, err);
}

mt_status mt_comm_test(mt_request *req, int *done, mt_error *err)
{
    pending *pd = (pending *)req->opaque;
    *done = 1;
    if (pd->req == MPI_REQUEST_NULL)
        return MT_OK;
    int rc = MPI_Test(&pd->req, done, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? MT_OK : mpi_fail(err, rc, "MPI_Test (allreduce)");
}

mt_status mt_comm_wait(mt_request *req, mt_error *err)
{
    pending *pd = (pending *)req->opaque;
    if (pd->req == MPI_REQUEST_NULL)
        return MT_OK;
    return complete(pd->comm, &pd->req, pd->seq, "MPI_Iallreduce (gradient sums)", err);
}

mt_status mt_comm_bcast(mt_comm *c, void *buf, size_t bytes, int root, mt_error *err)
{
    char *p = buf;
    while (bytes > 0) {
        int count = bytes > INT_MAX ? INT_MAX : (int)bytes;
        MPI_Request r = MPI_REQUEST_NULL;
        c->seq++;
        int rc = watched(c) ? MPI_Ibcast(p, count, MPI_BYTE, root, c->comm, &r)
                            : MPI_Bcast(p, count, MPI_BYTE, root, c->comm);
        mt_status st = finish_call(c, rc, &r, "MPI_Bcast", err);
        if (st)
            return st;
        p += count;
        bytes -= (size_t)count;
    }
    return MT_OK;
}

mt_status mt_comm_allgather_f64(mt_comm *c, const double *in, size_t n, double *out, mt_error *err)
{
    MPI_Request r = MPI_REQUEST_NULL;
    c->seq++;
    int rc = watched(c) ? MPI_Iallgather(in, (int)n, MPI_DOUBLE, out, (int)n, MPI_DOUBLE, c->comm, &r)
                        : MPI_Allgather(in, (int)n, MPI_DOUBLE, out, (int)n, MPI_DOUBLE, c->comm);
    return finish_call(c, rc, &r, "MPI_Allgather", err);
}

mt_status mt_comm_allgatherv_f32(mt_comm *c, float *buf, const int *counts, const int *displs, mt_error *err)
{
    MPI_Request r = MPI_REQUEST_NULL;
    c->seq++;
    int rc = watched(c)
                 ? MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, c->comm, &r)
                 : MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, c->comm);
    return finish_call(c, rc, &r, "MPI_Allgatherv", err);
}

mt_status mt_comm_gather_bytes(mt_comm *c, const void *in, size_t n, void **out, size_t *counts, int root,
                               mt_error *err)
{
    unsigned long long mine = n, *all = c->rank == root ? calloc((size_t)c->size, sizeof *all) : NULL;
    int *cnt = c->rank == root ? calloc((size_t)c->size, sizeof *cnt) : NULL;
    int *disp = c->rank == root ? calloc((size_t)c->size, sizeof *disp) : NULL;
    *out = NULL;
    MPI_Request r = MPI_REQUEST_NULL;
    c->seq++;
    int rc = watched(c)
                 ? MPI_Igather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, root, c->comm, &r)
                 : MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, root, c->comm);
    mt_status st = finish_call(c, rc, &r, "MPI_Gather", err);
    unsigned long long total = 0;
    for (int k = 0; !st && c->rank == root && k < c->size; k++) {
        cnt[k] = (int)all[k], disp[k] = (int)total, counts[k] = (size_t)all[k];
        total += all[k];
    }
    int ok = c->rank != root || (!st && total <= INT_MAX && (*out = malloc(total ? total : 1)));
    if (!st)
        st = mt_comm_bcast(c, &ok, sizeof ok, root, err);
    if (!st && ok) {
        c->seq++;
        rc = watched(c) ? MPI_Igatherv(in, (int)n, MPI_BYTE, *out, cnt, disp, MPI_BYTE, root, c->comm, &r)
                        : MPI_Gatherv(in, (int)n, MPI_BYTE, *out, cnt, disp, MPI_BYTE, root, c->comm);
        st = finish_call(c, rc, &r, "MPI_Gatherv", err);
    }
    free(all), free(cnt), free(disp);
    if (st)
        return st;
    return ok ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "gather: %llu bytes do not fit in memory or in an MPI count", total);
}

mt_status mt_comm_barrier(mt_comm *c, mt_error *err)
{
    MPI_Request r = MPI_REQUEST_NULL;
    c->seq++;
    int rc = watched(c) ? MPI_Ibarrier(c->comm, &r) : MPI_Barrier(c->comm);
    return finish_call(c, rc, &r, "MPI_Barrier", err);
}

mt_status mt_comm_agree(mt_comm *c, mt_error *err)
{
    /* A rank whose communication broke (a stall, a failed MPI call) cannot agree: it returns at once, and
     * the command line ends the job (MPI_Abort in cli_abort). */
    if (mt_status_breaks_comm(err->code))
        return err->code;
    int status[2] = {err->code != MT_OK ? c->rank : c->size, err->code != MT_OK};
    int first = status[0];
    mt_status st = MT_OK;
    mt_error e;
    mt_error_clear(&e);
    st = allreduce(c, &first, 1, MPI_INT, sizeof(int), MPI_MIN, &e);
    int failed = status[1];
    if (!st)
        st = allreduce(c, &failed, 1, MPI_INT, sizeof(int), MPI_SUM, &e);
    if (st) {
        *err = e;
        return st;
    }
    if (failed == 0)
        return MT_OK;
    struct {
        int code;
        char msg[sizeof err->msg];
    } packet;
    packet.code = err->code;
    memcpy(packet.msg, err->msg, sizeof packet.msg);
    st = mt_comm_bcast(c, &packet, sizeof packet, first, &e);
    if (st) {
        *err = e;
        return st;
    }
    err->code = (mt_status)packet.code;
    if (failed < c->size)
        snprintf(err->msg, sizeof err->msg, "rank %d: %.*s", first, (int)sizeof err->msg - 16, packet.msg);
    else
        memcpy(err->msg, packet.msg, sizeof err->msg);
    return err->code;
}

int mt_status_breaks_comm(mt_status code)
{
    return code == MT_ERR_STALL || code == MT_ERR_MPI;
}

/* A node is a host name (c->host, gathered when c was made): Open MPI's MPI_COMM_TYPE_SHARED can disagree
 * between ranks on hosts that share a kernel (the emulated cluster), and then never returns. */
int mt_comm_node_id(const mt_comm *c)
{
    const char *testing = getenv("MPITRAIN_RANKS_PER_NODE"); /* tests: nodes of k consecutive ranks */
    const int k = testing ? atoi(testing) : 0;
    if (k > 0)
        return c->rank / k * k;
    int first = 0;
    while (strcmp(c->host[first], c->host[c->rank]) != 0)
        first++;
    return first;
}

int mt_comm_world_rank_of(const mt_comm *c, int rank)
{
    return c->world[rank];
}

const char *mt_comm_phase(const mt_comm *c)
{
    return c->phase;
}

mt_status mt_comm_split(mt_comm *c, int color, int key, mt_comm **out, mt_error *err)
{
    *out = NULL;
    MPI_Comm part = MPI_COMM_NULL;
    int rc = MPI_Comm_split(c->comm, color < 0 ? MPI_UNDEFINED : color, key, &part);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_split");
    if (part == MPI_COMM_NULL)
        return MT_OK;
    mt_status st = create(part, out, err);
    MPI_Comm_free(&part);
    if (!st)
        (*out)->stall_after = c->stall_after > 0 && (*out)->size > 1 ? c->stall_after : 0;
    return st;
}

struct mt_shm {
    MPI_Win win;
    int size;
    void **segment; /* per node rank */
};

mt_status mt_shm_create(mt_comm *node, size_t bytes, mt_shm **out, mt_error *err)
{
    *out = NULL;
    mt_shm *s = calloc(1, sizeof *s);
    if (s)
        s->segment = calloc((size_t)node->size, sizeof *s->segment);
    if (!s || !s->segment) {
        free(s);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    }
    s->size = node->size;
    bytes = (bytes + 4095) / 4096 * 4096;
    /* Each rank's segment on its own pages (noncontiguous), so that a rank's writes never share a page
     * with another's. */
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    void *mine = NULL;
    int rc = MPI_Win_allocate_shared((MPI_Aint)(bytes ? bytes : 4096), 1, info, node->comm, &mine, &s->win);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        free(s->segment), free(s);
        return mpi_fail(err, rc, "MPI_Win_allocate_shared");
    }
    for (int r = 0; r < node->size && rc == MPI_SUCCESS; r++) {
        MPI_Aint size;
        int unit;
        rc = MPI_Win_shared_query(s->win, r, &size, &unit, &s->segment[r]);
    }
    if (rc != MPI_SUCCESS) {
        mt_shm_destroy(s);
        return mpi_fail(err, rc, "MPI_Win_shared_query");
    }
    *out = s;
    return MT_OK;
}

void *mt_shm_segment(const mt_shm *s, int rank)
{
    return s->segment[rank];
}

void mt_shm_destroy(mt_shm *s)
{
    if (!s)
        return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Win_free(&s->win);
    free(s->segment);
    free(s);
}

mt_status mt_comm_split_nodes(mt_comm *c, mt_comm **node_in, mt_comm **node_out, mt_comm **leaders, int *nodes,
                              mt_error *err)
{
    *node_in = *node_out = *leaders = NULL;
    const int first = mt_comm_node_id(c);
    MPI_Comm shared = MPI_COMM_NULL, lead = MPI_COMM_NULL;
    int rc = MPI_Comm_split(c->comm, first, c->rank, &shared);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_split");
    int node_rank = 0;
    MPI_Comm_rank(shared, &node_rank);
    rc = MPI_Comm_split(c->comm, node_rank == 0 ? 0 : MPI_UNDEFINED, c->rank, &lead);
    mt_status st = rc == MPI_SUCCESS ? create(shared, node_in, err) : mpi_fail(err, rc, "MPI_Comm_split");
    if (!st)
        st = create(shared, node_out, err);
    if (!st && lead != MPI_COMM_NULL)
        st = create(lead, leaders, err);
    *nodes = node_rank == 0;
    if (!st)
        st = allreduce(c, nodes, 1, MPI_INT, sizeof(int), MPI_SUM, err);
    MPI_Comm_free(&shared);
    if (lead != MPI_COMM_NULL)
        MPI_Comm_free(&lead);
    if (st) {
        mt_comm_destroy(*node_in), mt_comm_destroy(*node_out), mt_comm_destroy(*leaders);
        *node_in = *node_out = *leaders = NULL;
    }
    return st;
}
