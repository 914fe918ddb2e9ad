/* One copy per node: the memory the ranks of a node share to train one network (an MPI-3 shared-memory
 * window), and the flags they meet on. A node's ranks keep one parameter slab, one optimizer state and one
 * slab of summed gradients between them; each rank's own gradient block (or, in the exact mode, its
 * fixed-point accumulator) sits in the window too, so that the rank that owns a slice of the parameters
 * sums that slice straight from its peers' blocks.
 *
 * The flags are counters, one cache line per rank, that only grow: a rank publishes "I have reached v"
 * and the others wait until every rank of the node has. Waiting spins (with a pause, and yielding the core
 * after a while), drives a poll function meanwhile, and is watched like the collectives: past
 * training.stall_timeout it returns MT_ERR_STALL naming the ranks that never arrived. */
#ifndef MT_COMM_NODE_SHARE_H
#define MT_COMM_NODE_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"

#define MT_SHARE_MAX_SLOTS 3

/* What a flag counts. */
typedef enum mt_share_flag {
    MT_SHARE_READY,    /* gradient buckets completed (over the run) */
    MT_SHARE_SUMMED,   /* steps whose slices this rank has summed */
    MT_SHARE_PREPARED, /* steps whose slices this rank has scaled and given their penalties */
    MT_SHARE_UPDATED,  /* steps whose slices this rank has updated */
    MT_SHARE_FLAGS
} mt_share_flag;

typedef struct mt_node_share {
    mt_comm *world;   /* all ranks (not owned) */
    mt_comm *node;    /* the ranks of this rank's node */
    mt_comm *peers;   /* the ranks with this rank's place on every node; NULL on one node */
    mt_comm *leaders; /* place 0 of every node, on those ranks; NULL elsewhere and on one node */
    int k, me, nodes; /* ranks per node (0: not sharing), this rank's place, nodes */
    size_t n, trailer;
    mt_shm *shm;
    float *params;                    /* [n] */
    float *slots[MT_SHARE_MAX_SLOTS]; /* [n] each: the optimizer state */
    float *summed;                    /* [trailer + n]: the gradient block summed over every rank */
    float **block;                    /* per place: that rank's gradient block [trailer + n] (float sums) */
    int64_t **acc;                    /* per place: that rank's fixed-point accumulator [trailer + n] */
    uint64_t *flags;                  /* per place: MT_SHARE_FLAGS counters, then the rank's count of
                                         non-finite sums, on a cache line of its own */
    char why[200];                    /* why sharing does not apply, when it could have (else "") */
} mt_node_share;

/* Sets up sharing for a network of n parameters (trailer floats before the gradients), with `slots`
 * optimizer slabs and, when fixed is set, int64 accumulators instead of float gradient blocks.
 * Collective over world. Sharing needs every node to hold the same number of ranks, at least 2, and MPI to
 * give the node memory its ranks share: otherwise sh->k is 0, nothing is allocated and sh->why says what
 * was missing. */
mt_status mt_node_share_create(mt_node_share *sh, mt_comm *world, size_t n, size_t trailer, int slots, int fixed,
                               mt_error *err);
void mt_node_share_destroy(mt_node_share *sh);

/* Flag f of this rank becomes value (after every write before it is visible). */
void mt_node_share_publish(mt_node_share *sh, mt_share_flag f, uint64_t value);
/* Whether flag f of place r has reached value (and what that rank wrote before it is visible). */
int mt_node_share_has(const mt_node_share *sh, int r, mt_share_flag f, uint64_t value);
/* This rank's count of something the node adds up (the non-finite sums of its slices), published with its
 * next flag; and the node's total of those counts. */
void mt_node_share_put_count(mt_node_share *sh, uint64_t count);
uint64_t mt_node_share_total(const mt_node_share *sh);
/* Waits until flag f of every place has reached value, calling poll(user) meanwhile (may be NULL);
 * `what` names the meeting in a stall message. */
mt_status mt_node_share_wait(mt_node_share *sh, mt_share_flag f, uint64_t value, const char *what, void (*poll)(void *),
                             void *user, mt_error *err);

/* Rank 0's buf (bytes, memory the node shares) to every node's copy: a broadcast between the nodes'
 * first ranks, then a barrier of each node. Collective over world. */
mt_status mt_node_share_bcast(mt_node_share *sh, void *buf, size_t bytes, mt_error *err);
/* A barrier of the ranks of this rank's node. */
mt_status mt_node_share_barrier(mt_node_share *sh, mt_error *err);

#endif
