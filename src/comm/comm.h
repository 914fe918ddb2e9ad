/* The MPI layer: every MPI call of the library goes through it (the command line's cli_abort calls
 * MPI_Abort itself). Errors are returned (MPI_ERRORS_RETURN on the communicator), and ranks agree on status
 * before the collectives that follow fallible steps. */
#ifndef MT_COMM_COMM_H
#define MT_COMM_COMM_H

#include <stddef.h>
#include <stdint.h>
#include <mpitrain/mpitrain.h>

typedef struct mt_comm mt_comm;

/* MPI_Init (if not yet initialized); returns 0 or an MPI error code. */
int mt_comm_init(int *argc, char ***argv);
/* MPI_Finalize if this process initialized MPI and it is not finalized. */
void mt_comm_finalize(void);
/* Rank in the world without a communicator object (0 before init). */
int mt_comm_world_rank(void);

/* The world communicator, duplicated, with errors returned instead of aborting. Caller destroys. */
mt_status mt_comm_create_world(mt_comm **out, mt_error *err);
/* A communicator of this rank alone (for single-rank reference runs inside an MPI job). */
mt_status mt_comm_create_self(mt_comm **out, mt_error *err);
/* A duplicate of the caller's communicator, given by its Fortran handle (MPI_Comm_c2f), for the public
 * API, whose header does not include mpi.h. MPI must be initialized; MPI_COMM_NULL and an
 * inter-communicator are MT_ERR_USAGE. Collective over that communicator. Caller destroys. */
mt_status mt_comm_create_from_f(int fcomm, mt_comm **out, mt_error *err);
void mt_comm_destroy(mt_comm *c);
int mt_comm_rank(const mt_comm *c);
int mt_comm_size(const mt_comm *c);

/* Host names are kept to this many bytes, with the terminating NUL. */
#define MT_COMM_HOST_MAX 64
/* The host rank `rank` runs on (its MPI processor name); "" for a rank outside the communicator. */
const char *mt_comm_host(const mt_comm *c, int rank);
/* Writes the hosts and their ranks, "node1: 0-1; node2: 2-3", to buf (empty if there are more than
 * max_hosts of them); returns the number of hosts. */
int mt_comm_describe_hosts(const mt_comm *c, int max_hosts, char *buf, size_t size);

/* The stall watchdog (training.stall_timeout): with seconds > 0, a collective that has waited that long
 * returns MT_ERR_STALL on the lowest rank waiting in it, with a message naming the ranks that never
 * arrived (the others return it after a grace period). 0 (the default) waits forever. */
void mt_comm_set_stall_timeout(mt_comm *c, double seconds);
double mt_comm_stall_timeout(const mt_comm *c);
/* Seconds a rank that is not the first to see a stall gives that rank to report it, beyond the limit. */
double mt_comm_stall_grace(double limit);
/* What the program is doing ("step 12 of epoch 3"), named in a stall message. */
void mt_comm_set_phase(mt_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Collectives (in place, every rank must call them in the same order). */
mt_status mt_comm_allreduce_sum_f32(mt_comm *c, float *buf, size_t n, mt_error *err);
mt_status mt_comm_allreduce_sum_f64(mt_comm *c, double *buf, size_t n, mt_error *err);
/* The same with the communicator as a void pointer: the form of mt_pass's sum_over_ranks hook. */
mt_status mt_comm_sum_hook(void *comm, double *buf, size_t n, mt_error *err);
mt_status mt_comm_allreduce_min_f64(mt_comm *c, double *buf, size_t n, mt_error *err);
mt_status mt_comm_allreduce_max_f64(mt_comm *c, double *buf, size_t n, mt_error *err);
mt_status mt_comm_bcast(mt_comm *c, void *buf, size_t bytes, int root, mt_error *err);
/* Gathers n doubles from every rank into out[size * n] on every rank. */
mt_status mt_comm_allgather_f64(mt_comm *c, const double *in, size_t n, double *out, mt_error *err);
/* In place: rank i's counts[i] floats at buf + displs[i] reach the same place on every rank. */
mt_status mt_comm_allgatherv_f32(mt_comm *c, float *buf, const int *counts, const int *displs, mt_error *err);
mt_status mt_comm_barrier(mt_comm *c, mt_error *err);

/* Element types of the non-blocking sum. */
typedef enum mt_dtype {
    MT_DTYPE_F32,  /* float */
    MT_DTYPE_I64,  /* int64_t: exact, associative sums */
    MT_DTYPE_BF16, /* bfloat16 bits in uint16_t: each pairwise sum computed in float, rounded to bfloat16 */
    MT_DTYPE_F64   /* double */
} mt_dtype;

/* A pending non-blocking collective (room for an MPI_Request, its communicator and its number). */
typedef struct mt_request {
    _Alignas(8) unsigned char opaque[32];
} mt_request;

/* Makes req a request with nothing pending (test and wait return at once). */
void mt_comm_request_clear(mt_request *req);
/* Starts an in-place sum of buf[0 .. n) over the ranks; buf must not be touched until the request
 * completes. n fits an int. On a one-rank communicator the request completes at once. */
mt_status mt_comm_iallreduce_sum(mt_comm *c, void *buf, size_t n, mt_dtype type, mt_request *req, mt_error *err);
/* Drives progress; *done = 1 once the request has completed (the request is then freed). */
mt_status mt_comm_test(mt_request *req, int *done, mt_error *err);
/* Blocks until the request has completed (watched like the blocking collectives). */
mt_status mt_comm_wait(mt_request *req, mt_error *err);

/* Two communicators of the ranks of c on this rank's node (sharing its memory: one for sums onto the
 * node's lowest rank, one for its answers, so that the two kinds of collective never interleave on one),
 * and one of the lowest rank of every node (on those ranks; *leaders is NULL on the others); *nodes = how
 * many nodes c spans. Collective over c. Caller destroys them. */
mt_status mt_comm_split_nodes(mt_comm *c, mt_comm **node_in, mt_comm **node_out, mt_comm **leaders, int *nodes,
                              mt_error *err);
/* The number of this rank's node: the lowest rank of c on the same host (for tests, with
 * MPITRAIN_RANKS_PER_NODE=k set, ranks of one host form nodes of k consecutive ranks). */
int mt_comm_node_id(const mt_comm *c);
/* MPI_Comm_split: the ranks of c with the same color, ordered by key; a negative color makes no
 * communicator (*out = NULL) on this rank. Collective over c. Caller destroys. */
mt_status mt_comm_split(mt_comm *c, int color, int key, mt_comm **out, mt_error *err);
/* The rank in MPI_COMM_WORLD of rank `rank` of c (which messages name). */
int mt_comm_world_rank_of(const mt_comm *c, int rank);
/* What the program is doing, as set by mt_comm_set_phase. */
const char *mt_comm_phase(const mt_comm *c);

/* Memory that every rank of a node can read and write (an MPI-3 shared-memory window). */
typedef struct mt_shm mt_shm;
/* Allocates `bytes` (which may differ between ranks; rounded up to whole pages) on every rank of node, a
 * communicator of ranks on one host. Collective over node. */
mt_status mt_shm_create(mt_comm *node, size_t bytes, mt_shm **out, mt_error *err);
/* The segment of node rank `rank` (page-aligned), as mapped in this process. */
void *mt_shm_segment(const mt_shm *s, int rank);
void mt_shm_destroy(mt_shm *s);

/* Starts a sum of buf[0 .. n) over the ranks onto root (in place on root; buf is only read elsewhere). */
mt_status mt_comm_ireduce_sum(mt_comm *c, void *buf, size_t n, mt_dtype type, int root, mt_request *req, mt_error *err);
/* Starts sending root's buf[0 .. n) to every rank of c. */
mt_status mt_comm_ibcast(mt_comm *c, void *buf, size_t n, mt_dtype type, int root, mt_request *req, mt_error *err);

/* Gathers n bytes from every rank (n may differ) to root: *out (malloc'd on root, NULL elsewhere) holds
 * them in rank order and counts[r] (root) the bytes of rank r. At most 2 GiB in all. */
mt_status mt_comm_gather_bytes(mt_comm *c, const void *in, size_t n, void **out, size_t *counts, int root,
                               mt_error *err);

/* Collective: every rank passes its own status in err. If any rank failed, every rank returns with err
 * holding the code and message of the lowest failing rank, prefixed "rank R: " unless all ranks failed.
 * Returns the agreed status. */
mt_status mt_comm_agree(mt_comm *c, mt_error *err);

/* Whether an error leaves this rank unable to take part in collectives (a stall, a failed MPI call): the
 * caller must then end the whole job (the command line's cli_abort: MPI_Abort) instead of agreeing or
 * finalizing. */
int mt_status_breaks_comm(mt_status code);

#endif
