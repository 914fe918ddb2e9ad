/* The gradient exchange: the gradient slab is cut into buckets of whole layers in reverse layer order,
 * and each bucket's sum over the ranks (MPI_Iallreduce) starts as soon as the backward pass has produced
 * its gradients, while the layers before it are still computing; the optimizer waits for all of them.
 * Buckets are fixed when the exchange is created, so they are the same, and start in the same order, on
 * every rank.
 *
 * The slab seen here is the model's gradient block: `trailer` floats of values that travel with the
 * gradients (failure flag, loss sum), then the layers' gradients. The trailer belongs to the bucket of
 * layer 0, which starts last, so what a rank learns during its backward pass still reaches every rank.
 *
 * Modes (training.gradient_dtype, training.deterministic):
 *   float32  : floats summed by MPI (the order of the sum is MPI's, so the last bits can depend on the
 *              number of ranks).
 *   bfloat16 : each bucket rounded to bfloat16 (half the bytes), every pairwise sum computed in float and
 *              rounded to bfloat16; the trailer is summed in float32 beside it.
 *   fixed64  : the deterministic mode. Every chunk's gradient is added into a 64-bit fixed-point
 *              accumulator (2^-32 resolution; integer sums are exact and associative, so the total does
 *              not depend on which rank summed which chunk, or in what order), summed over the ranks as
 *              int64, and converted back to float once. Values beyond +-2^20 (or NaN) are counted as
 *              bad instead; the count travels in the trailer. With `direct` set for a step, the layers
 *              add their gradients into the accumulator themselves, chunk by chunk (mt_pass_fixed,
 *              nn/layer.h), and only the trailer goes through the block. On the wire, two values share
 *              each int64 (the pair v0 + 2^32 v1): when every rank's values are within +-(2^31 - 1) / ranks
 *              the two sums come apart exactly from the summed pair, in half the bytes. Each bucket's
 *              message carries a count of the values beyond that bound; when the sum of those counts is
 *              not 0 (on every rank alike), the bucket is summed again as plain int64. The trailer's
 *              values ride in its bucket's message as plain int64.
 *
 * Sums by slice owners (mt_grad_exchange_use_share): the ranks of a node keep their blocks (fixed64: their
 * accumulators) in memory they share. Every bucket is cut into one part per rank of the node; a rank marks
 * a bucket complete, and the owner of each part, as soon as the bucket is complete on every rank of the
 * node, sums its part straight from its peers' blocks into the node's one summed block (in rank order;
 * fixed64: as integers, converted once), and with several nodes sums it across them with the ranks that
 * own the same part there (MPI_Iallreduce of plain int64). finish returns when every part of every bucket
 * is summed on the node; the result is then in mt_grad_exchange_result, the same memory for every rank of
 * the node. */
#ifndef MT_COMM_GRAD_EXCHANGE_H
#define MT_COMM_GRAD_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "comm/node_share.h"
#include "comm/node_sum.h"

struct mt_timeline;

/* fixed64: gradients carry 32 fractional bits and may reach 2^20 in magnitude (2^52 as integers), so sums
 * of up to 2^11 chunks cannot overflow. */
#define MT_GRAD_FIXED_SCALE 4294967296.0
#define MT_GRAD_FIXED_LIMIT 1048576.0

typedef enum mt_grad_mode { MT_GRAD_FLOAT32, MT_GRAD_BFLOAT16, MT_GRAD_FIXED64 } mt_grad_mode;

/* The slots of the trailer, the floats summed with the gradients of every step: a failure flag (a rank
 * whose step failed still joins the sums and sets it, so every rank stops), the step's loss sum, the count
 * of values the fixed64 mode could not take (it adds them), a stop request, and rank 0's request for a
 * checkpoint after this step (checkpoint.every_seconds). */
#define MT_GRAD_FAIL_SLOT 0
#define MT_GRAD_LOSS_SLOT 1
#define MT_GRAD_BAD_SLOT 2
#define MT_GRAD_STOP_SLOT 3
#define MT_GRAD_CHECKPOINT_SLOT 4

typedef struct mt_grad_bucket {
    size_t lo, hi;               /* floats [lo, hi) of the block */
    int first_layer, last_layer; /* the layers whose gradients it holds */
    double start, end;           /* wall-clock time the sum started and was seen complete (this step) */
    int started, done;
    size_t packed_at;   /* fixed64: its message in `packed`: pairs, count of values too large, trailer */
    mt_node_sum sum[2]; /* the sum, and the float32 trailer beside a bfloat16 bucket */
    int part;           /* sums by slice owners: this rank's part is 0 waiting, 1 summing across the nodes,
                           2 summed */
    mt_request across;  /* its sum across the nodes */
} mt_grad_bucket;

typedef struct mt_grad_exchange {
    mt_comm *comm;
    const mt_node_comms *nodes; /* two-level sums (inside each node, then across), or NULL: flat */
    mt_grad_mode mode;
    float *block;      /* trailer, then gradients (not owned) */
    size_t trailer, n; /* n = trailer + gradients */
    mt_grad_bucket *buckets;
    int n_buckets, next; /* buckets started this step */
    int *starts_at;      /* per layer: the bucket its backward completes, or -1 */
    int64_t *acc;        /* fixed64: accumulator [n] */
    int64_t *packed;     /* fixed64: the gradients' pairs on the wire, per bucket */
    int64_t pair_bound;  /* fixed64: the largest magnitude of a rank's value that may travel in a pair */
    int fresh;           /* fixed64: nothing added to acc yet this step (its contents are stale) */
    int direct;          /* fixed64, set by the caller for one step: the layers fill acc's gradients */
    int direct_filled;   /* set by the caller when it has let the layers add into acc this step (else the
                            gradients are taken as zeros) */
    uint16_t *half;      /* bfloat16: staging [n] */
    mt_status failed;    /* first error met by a hook (reported by finish) */
    mt_error err;
    struct mt_timeline *timeline;
    int timeline_bucket0; /* added to the bucket indices it records (the second network of a GAN) */
    /* Per step, set by mt_grad_exchange_finish: */
    double in_flight;        /* first start to last completion */
    double wait;             /* time finish blocked for sums still running */
    double busy;             /* time in MPI calls during the backward pass (starting buckets, driving
                                        progress): communication work on the compute path */
    double busy_step;        /* busy of the step finish completed */
    double polled;           /* when mt_grad_exchange_poll last drove progress */
    mt_node_share *share;    /* sums by slice owners in the node's shared memory, or NULL */
    uint64_t steps;          /* steps finished (the shared counters' step number) */
    int parts_done;          /* sums by slice owners: buckets whose part this rank has summed this step */
    uint64_t nonfinite;      /* sums by slice owners: non-finite summed gradients on the node (float32) */
    uint64_t nonfinite_mine; /* the same in this rank's parts so far this step */
    double summing;          /* seconds this rank spent summing its parts in the step finish completed */
    double summing_now;      /* the same so far this step */
} mt_grad_exchange;

/* Cuts the block into buckets of about bucket_bytes of gradients (0: a single bucket, started after the
 * whole backward pass). layer_offset[0 .. n_layers] are the layers' offsets in the gradient slab (the
 * last one its length). The block must stay where it is while the exchange is used. */
mt_status mt_grad_exchange_init(mt_grad_exchange *x, mt_comm *comm, float *block, size_t trailer,
                                const size_t *layer_offset, int n_layers, double bucket_bytes, mt_grad_mode mode,
                                mt_error *err);
void mt_grad_exchange_free(mt_grad_exchange *x);

/* Sums every bucket in two levels from now on: inside each node, then across the nodes (nodes must outlive
 * the exchange); NULL: one flat sum over all ranks. */
void mt_grad_exchange_use_nodes(mt_grad_exchange *x, const mt_node_comms *nodes);

/* Sums by slice owners from now on, in the node's shared memory (float32 or fixed64; share must outlive
 * the exchange, and in float32 mode the block must be share's block of this rank). */
void mt_grad_exchange_use_share(mt_grad_exchange *x, mt_node_share *share);
/* Piece i of n of [lo, hi): [*a, *b), the pieces in order, ends on whole cache lines where they can. */
void mt_grad_exchange_split(size_t lo, size_t hi, int i, int n, size_t *a, size_t *b);
/* The part [*lo, *hi) of bucket b (floats of the block) that place `place` of the node owns. */
void mt_grad_exchange_part(const mt_grad_exchange *x, int b, int place, size_t *lo, size_t *hi);
/* Where the summed block is after mt_grad_exchange_finish: the block, or the node's summed block. */
float *mt_grad_exchange_result(const mt_grad_exchange *x);

/* fixed64: adds the block (a chunk's gradient and trailer; only the trailer when `direct`) into the
 * accumulator. No communication. */
void mt_grad_exchange_accumulate(mt_grad_exchange *x);

/* Layer `layer` has added its gradients for the last time this step: starts every bucket now complete,
 * and drives the progress of those in flight. Errors are kept for mt_grad_exchange_finish. */
void mt_grad_exchange_layer_done(mt_grad_exchange *x, int layer);

/* Drives the progress of the sums in flight, at most every 100 microseconds (called from inside long
 * layers' backward passes). */
void mt_grad_exchange_poll(mt_grad_exchange *x);

/* Starts the buckets not yet started (all of them if no backward pass ran here), waits for every sum,
 * and leaves the summed block in place (fixed64: converted back to float, accumulator zeroed).
 * Collective over the ranks of the exchange. */
mt_status mt_grad_exchange_finish(mt_grad_exchange *x, mt_error *err);

/* Bucket b and its layers for the timeline, "bucket 2 (layers 3-5)", numbered from timeline_bucket0; with
 * a network name, "bucket 4 (discriminator layer 0)". */
const char *mt_grad_exchange_describe(const mt_grad_exchange *x, int b, const char *net, char *buf, size_t size);

#endif
