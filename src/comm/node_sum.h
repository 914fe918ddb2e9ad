/* Sums over the ranks in two levels, for jobs that span several nodes with several ranks on a node: the
 * ranks of a node sum onto the node's lowest rank (shared memory), those leaders sum across the nodes
 * (one message per node on the network instead of one per rank), and each leader sends the total back
 * to the ranks of its node. Non-blocking: each level starts when the one before it completes, inside
 * mt_node_sum_test or mt_node_sum_wait. Without node communicators (a flat sum), one MPI allreduce.
 *
 * Collectives on one communicator must start in the same order on all its ranks, and ranks see sums
 * complete at different times: so each level has its own communicator, and a caller with several sums
 * in flight advances them in the order it started them, none to a level that an earlier one has not
 * reached (mt_node_sum_test's max_level). */
#ifndef MT_COMM_NODE_SUM_H
#define MT_COMM_NODE_SUM_H

#include <stddef.h>

#include "comm/comm.h"

/* The communicators of the two levels. */
typedef struct mt_node_comms {
    mt_comm *world;    /* all ranks (not owned) */
    mt_comm *node_in;  /* the ranks on this rank's node: sums onto its leader */
    mt_comm *node_out; /* the same ranks: the leader's answers */
    mt_comm *leaders;  /* the lowest rank of each node; NULL on the other ranks */
    int nodes;         /* nodes the job spans */
} mt_node_comms;

/* Splits world by node. Collective over world. */
mt_status mt_node_comms_create(mt_node_comms *nc, mt_comm *world, mt_error *err);
void mt_node_comms_destroy(mt_node_comms *nc);
/* Whether two levels can save network messages: more than one node, and more ranks than nodes. */
int mt_node_comms_worthwhile(const mt_node_comms *nc);

/* One sum in flight. */
typedef struct mt_node_sum {
    mt_comm *world;
    const mt_node_comms *nc; /* NULL: a flat allreduce over world */
    void *buf;
    size_t n;
    mt_dtype type;
    int level; /* 0: inside the node, 1: across the nodes, 2: back to the node's ranks, 3: done */
    mt_request req;
} mt_node_sum;

/* Makes s a sum with nothing pending. */
void mt_node_sum_clear(mt_node_sum *s);
/* Starts the in-place sum of buf[0 .. n) over world's ranks, in two levels if nc is not NULL. */
mt_status mt_node_sum_start(mt_node_sum *s, mt_comm *world, const mt_node_comms *nc, void *buf, size_t n, mt_dtype type,
                            mt_error *err);
/* Drives progress, starting the next level when one completes, up to level max_level (0 .. 2; 3 = no
 * limit); *done = 1 once the total is in buf. */
mt_status mt_node_sum_test(mt_node_sum *s, int max_level, int *done, mt_error *err);
/* Blocks until the total is in buf (each level watched like the blocking collectives). */
mt_status mt_node_sum_wait(mt_node_sum *s, mt_error *err);

#endif
