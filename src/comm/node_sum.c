/* Two-level sums (node_sum.h): inside the node onto its leader, across the nodes between leaders, and
 * back from the leader to its node, each level started when the previous one completes. */
#include "comm/node_sum.h"

#include <string.h>

mt_status mt_node_comms_create(mt_node_comms *nc, mt_comm *world, mt_error *err)
{
    memset(nc, 0, sizeof *nc);
    nc->world = world;
    return mt_comm_split_nodes(world, &nc->node_in, &nc->node_out, &nc->leaders, &nc->nodes, err);
}

void mt_node_comms_destroy(mt_node_comms *nc)
{
    mt_comm_destroy(nc->node_in);
    mt_comm_destroy(nc->node_out);
    mt_comm_destroy(nc->leaders);
    memset(nc, 0, sizeof *nc);
}

int mt_node_comms_worthwhile(const mt_node_comms *nc)
{
    return nc->node_in && nc->nodes > 1 && mt_comm_size(nc->world) > nc->nodes;
}

void mt_node_sum_clear(mt_node_sum *s)
{
    memset(s, 0, sizeof *s);
    s->level = 3;
    mt_comm_request_clear(&s->req);
}

/* Starts level `level` (or the next one that has work on this rank); level 3 is done. */
static mt_status start_level(mt_node_sum *s, int level, mt_error *err)
{
    const mt_node_comms *nc = s->nc;
    s->level = level;
    mt_comm_request_clear(&s->req);
    if (level == 0) {
        mt_comm_set_stall_timeout(nc->node_in, mt_comm_stall_timeout(s->world));
        return mt_comm_ireduce_sum(nc->node_in, s->buf, s->n, s->type, 0, &s->req, err);
    }
    if (level == 1 && nc->leaders) {
        mt_comm_set_stall_timeout(nc->leaders, mt_comm_stall_timeout(s->world));
        return mt_comm_iallreduce_sum(nc->leaders, s->buf, s->n, s->type, &s->req, err);
    }
    if (level == 2) {
        mt_comm_set_stall_timeout(nc->node_out, mt_comm_stall_timeout(s->world));
        return mt_comm_ibcast(nc->node_out, s->buf, s->n, s->type, 0, &s->req, err);
    }
    return MT_OK; /* level 1 on a rank that is not a leader: nothing to do */
}

mt_status mt_node_sum_start(mt_node_sum *s, mt_comm *world, const mt_node_comms *nc, void *buf, size_t n, mt_dtype type,
                            mt_error *err)
{
    *s = (mt_node_sum){.world = world, .nc = nc, .buf = buf, .n = n, .type = type};
    if (!nc) {
        s->level = 2; /* the one level of a flat sum; completing it completes the sum */
        return mt_comm_iallreduce_sum(world, buf, n, type, &s->req, err);
    }
    return start_level(s, 0, err);
}

mt_status mt_node_sum_test(mt_node_sum *s, int max_level, int *done, mt_error *err)
{
    while (s->level < 3) {
        mt_status st = mt_comm_test(&s->req, done, err);
        if (st || !*done)
            return st;
        if (s->level == 2 || !s->nc) {
            s->level = 3;
            break;
        }
        *done = 0;
        if (s->level + 1 > max_level)
            return MT_OK;
        if ((st = start_level(s, s->level + 1, err)))
            return st;
    }
    *done = 1;
    return MT_OK;
}

mt_status mt_node_sum_wait(mt_node_sum *s, mt_error *err)
{
    while (s->level < 3) {
        mt_status st = mt_comm_wait(&s->req, err);
        if (st)
            return st;
        if (s->level == 2 || !s->nc)
            s->level = 3;
        else if ((st = start_level(s, s->level + 1, err)))
            return st;
    }
    return MT_OK;
}
