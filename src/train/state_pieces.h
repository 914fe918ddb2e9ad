/* ZeRO stage 1 across nodes (training.shard_across_nodes): with one copy per node, place r of every node
 * updates part r of each bucket; that part is cut into one piece per node, and each rank keeps the
 * optimizer state of its node's piece only. After the sums (which every node still receives whole, so that
 * the decisions on the summed trailer stay as they are) each rank updates its piece, and the owners of
 * part r on the nodes then exchange their pieces of the new parameters (an allgather). The whole state
 * is assembled on rank 0 only for checkpoints, and on every rank when the run ends. */
#ifndef MT_TRAIN_STATE_PIECES_H
#define MT_TRAIN_STATE_PIECES_H

#include "train/train_kind.h"

/* Keeps this rank's pieces of net's optimizer state (which is whole and its own until then), after
 * net's node share is set up (share.k > 0). */
mt_status mt_state_pieces_setup(mt_loop_net *net, mt_error *err);
/* The update of this rank's pieces (after mt_optimizer_begin) and the exchange of the new parameters
 * between the nodes. Collective over the ranks of this rank's place. */
mt_status mt_state_pieces_update(mt_loop_net *net, mt_error *err);
/* Assembles the whole state on rank 0, where the optimizer points at it until mt_state_pieces_back (to
 * write or read a checkpoint). Collective over world. */
mt_status mt_state_pieces_lend(mt_loop_net *net, mt_comm *world, mt_error *err);
/* Rank 0's whole state to every rank's pieces, while lent. Collective over world. */
mt_status mt_state_pieces_spread(mt_loop_net *net, mt_comm *world, mt_error *err);
/* Ends a lend: rank 0's optimizer points at its pieces again. */
void mt_state_pieces_back(mt_loop_net *net);
/* The whole state to every rank, which then owns it as an optimizer of its own; the pieces are freed.
 * Collective over world. */
mt_status mt_state_pieces_end(mt_loop_net *net, mt_comm *world, mt_error *err);
void mt_state_pieces_free(mt_state_pieces *z);

#endif
