/* ZeRO stage 1 across nodes: each rank keeps the optimizer state of its node's piece of its part of every
 * bucket, updates that piece, and exchanges the new parameters with the part's owners on the other nodes. */
#include "train/state_pieces.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "comm/node_share.h"
#include "core/error.h"

/* This node's piece of this rank's part of bucket b: [*lo, *hi) of the parameters. */
static void piece(const mt_loop_net *net, int b, size_t *lo, size_t *hi)
{
    size_t plo, phi;
    mt_loop_part(net, b, net->share.me, &plo, &phi);
    mt_grad_exchange_split(plo, phi, net->pieces.node, net->pieces.nodes, lo, hi);
}

/* Copies this rank's pieces between the whole state `whole` and the slots of its pieces `mine`. */
static void copy_pieces(const mt_loop_net *net, float *const *whole, float *const *mine, int to_whole)
{
    const mt_state_pieces *z = &net->pieces;
    for (int b = 0; b < net->gx.n_buckets; b++) {
        size_t lo, hi;
        piece(net, b, &lo, &hi);
        for (int s = 0; s < net->opt->n_slots && hi > lo; s++) {
            if (to_whole)
                memcpy(whole[s] + lo, mine[s] + z->at[b], (hi - lo) * sizeof(float));
            else
                memcpy(mine[s] + z->at[b], whole[s] + lo, (hi - lo) * sizeof(float));
        }
    }
}

/* Slots of `count` floats each (at least one), all or none. */
static mt_status alloc_slots(int slots, size_t count, float **out, mt_error *err)
{
    int ok = 1;
    for (int s = 0; s < slots; s++)
        ok &= (out[s] = calloc(count ? count : 1, sizeof(float))) != NULL;
    if (ok)
        return MT_OK;
    for (int s = 0; s < slots; s++)
        free(out[s]), out[s] = NULL;
    return mt_fail(err, MT_ERR_NOMEM, "cannot allocate the optimizer state (%zu values)", count);
}

static void free_slots(int slots, float **s)
{
    for (int i = 0; i < slots; i++)
        free(s[i]), s[i] = NULL;
}

mt_status mt_state_pieces_setup(mt_loop_net *net, mt_error *err)
{
    mt_state_pieces *z = &net->pieces;
    const mt_node_share *sh = &net->share;
    const int buckets = net->gx.n_buckets;
    memset(z, 0, sizeof *z);
    z->nodes = sh->nodes;
    z->node = sh->peers ? mt_comm_rank(sh->peers) : 0;
    if (net->model->n_params > INT_MAX)
        return mt_fail(err, MT_ERR_CONFIG,
                       "training.shard_across_nodes: %zu parameters, more than an MPI count can hold (%d)",
                       net->model->n_params, INT_MAX);
    z->at = malloc((size_t)buckets * sizeof *z->at);
    z->counts = malloc((size_t)z->nodes * sizeof *z->counts);
    z->displs = malloc((size_t)z->nodes * sizeof *z->displs);
    if (!z->at || !z->counts || !z->displs) {
        mt_state_pieces_free(z);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    }
    for (int b = 0; b < buckets; b++) {
        size_t lo, hi;
        piece(net, b, &lo, &hi);
        z->at[b] = z->n;
        z->n += hi - lo;
    }
    float *mine[MT_OPT_MAX_SLOTS] = {NULL};
    mt_status st = alloc_slots(net->opt->n_slots, z->n, mine, err);
    if (st) {
        mt_state_pieces_free(z);
        return st;
    }
    copy_pieces(net, net->opt->slots, mine, 0);
    mt_optimizer_adopt_slots(net->opt, mine);
    z->on = 1;
    return MT_OK;
}

mt_status mt_state_pieces_update(mt_loop_net *net, mt_error *err)
{
    mt_state_pieces *z = &net->pieces;
    float *params = net->model->params;
    const float *g = net->share.summed + MT_GRAD_TRAILER;
    for (int b = 0; b < net->gx.n_buckets; b++) {
        size_t plo, phi, lo, hi;
        mt_loop_part(net, b, net->share.me, &plo, &phi);
        mt_grad_exchange_split(plo, phi, z->node, z->nodes, &lo, &hi);
        mt_optimizer_apply_at(net->opt, params, g, lo, hi, z->at[b]);
        if (z->nodes < 2 || phi == plo)
            continue;
        for (int j = 0; j < z->nodes; j++) {
            mt_grad_exchange_split(plo, phi, j, z->nodes, &lo, &hi);
            z->counts[j] = (int)(hi - lo);
            z->displs[j] = (int)(lo - plo);
        }
        mt_status st = mt_comm_allgatherv_f32(net->share.peers, params + plo, z->counts, z->displs, err);
        if (st)
            return st;
    }
    return MT_OK;
}

/* The whole state from every rank's pieces into whole[s] (n + 1 floats each, from calloc): each value has
 * one owner and zeros elsewhere, so summing the bits as 64-bit integers (two floats each, without carries)
 * puts every value in place exactly, on rank 0 (all = 0) or on every rank. Collective over world. */
static mt_status assemble(mt_loop_net *net, mt_comm *world, int all, float **whole, mt_error *err)
{
    const int slots = net->opt->n_slots;
    const size_t words = (net->opt->n + 1) / 2;
    mt_error_clear(err);
    alloc_slots(slots, 2 * words, whole, err);
    if (mt_comm_agree(world, err)) {
        free_slots(slots, whole);
        return err->code;
    }
    mt_status st = MT_OK;
    copy_pieces(net, whole, net->opt->slots, 1);
    for (int s = 0; s < slots && !st; s++) {
        mt_request req;
        st = all ? mt_comm_iallreduce_sum(world, whole[s], words, MT_DTYPE_I64, &req, err)
                 : mt_comm_ireduce_sum(world, whole[s], words, MT_DTYPE_I64, 0, &req, err);
        if (!st)
            st = mt_comm_wait(&req, err);
    }
    if (st || (!all && mt_comm_rank(world) != 0))
        free_slots(slots, whole);
    return st;
}

mt_status mt_state_pieces_lend(mt_loop_net *net, mt_comm *world, mt_error *err)
{
    mt_state_pieces *z = &net->pieces;
    float *whole[MT_OPT_MAX_SLOTS] = {NULL};
    mt_status st = assemble(net, world, 0, whole, err);
    if (st)
        return st;
    z->lent = 1;
    if (mt_comm_rank(world) != 0)
        return MT_OK;
    for (int s = 0; s < net->opt->n_slots; s++) {
        z->pieces[s] = net->opt->slots[s];
        z->whole[s] = net->opt->slots[s] = whole[s];
    }
    return MT_OK;
}

mt_status mt_state_pieces_spread(mt_loop_net *net, mt_comm *world, mt_error *err)
{
    mt_state_pieces *z = &net->pieces;
    const int slots = net->opt->n_slots, root = mt_comm_rank(world) == 0;
    float *whole[MT_OPT_MAX_SLOTS] = {NULL};
    mt_error_clear(err);
    if (!root)
        alloc_slots(slots, net->opt->n, whole, err);
    if (mt_comm_agree(world, err)) {
        free_slots(slots, whole);
        return err->code;
    }
    mt_status st = MT_OK;
    for (int s = 0; s < slots && !st; s++)
        st = mt_comm_bcast(world, root ? z->whole[s] : whole[s], net->opt->n * sizeof(float), 0, err);
    if (!st)
        copy_pieces(net, root ? z->whole : whole, root ? z->pieces : net->opt->slots, 0);
    if (!root)
        free_slots(slots, whole);
    return st;
}

void mt_state_pieces_back(mt_loop_net *net)
{
    mt_state_pieces *z = &net->pieces;
    if (!z->lent)
        return;
    z->lent = 0;
    if (!z->pieces[0])
        return; /* not rank 0 */
    for (int s = 0; s < net->opt->n_slots; s++) {
        net->opt->slots[s] = z->pieces[s];
        z->pieces[s] = NULL;
    }
    free_slots(net->opt->n_slots, z->whole);
}

mt_status mt_state_pieces_end(mt_loop_net *net, mt_comm *world, mt_error *err)
{
    float *whole[MT_OPT_MAX_SLOTS] = {NULL};
    mt_status st = assemble(net, world, 1, whole, err);
    if (st)
        return st;
    mt_optimizer_adopt_slots(net->opt, whole);
    mt_state_pieces_free(&net->pieces);
    return MT_OK;
}

void mt_state_pieces_free(mt_state_pieces *z)
{
    free(z->at);
    free(z->counts);
    free(z->displs);
    memset(z, 0, sizeof *z);
}
