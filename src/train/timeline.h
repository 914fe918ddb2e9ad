/* The timeline of a run (--timeline FILE.json): per rank, the time of each data read, each layer's
 * forward and backward pass, each gradient allreduce, optimizer step, evaluation and checkpoint write,
 * recorded into a buffer allocated once and written by rank 0 in Chrome's trace event format (one
 * process per rank), which Perfetto and chrome://tracing open. */
#ifndef MT_TRAIN_TIMELINE_H
#define MT_TRAIN_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "dist/comm.h"

typedef enum mt_tl_kind {
    MT_TL_READ, MT_TL_FORWARD, MT_TL_BACKWARD, MT_TL_ALLREDUCE, MT_TL_OPTIMIZER, MT_TL_EVAL, MT_TL_CHECKPOINT,
    MT_TL_KINDS
} mt_tl_kind;

typedef struct mt_tl_event {
    double start, end;   /* seconds since the timeline started (aligned by a barrier) */
    int32_t layer;       /* layer index for forward/backward, else -1 */
    int32_t kind;        /* mt_tl_kind */
} mt_tl_event;

typedef struct mt_timeline {
    mt_tl_event *events;
    size_t n, cap;
    uint64_t dropped;    /* events not recorded because the buffer was full */
    double t0;
} mt_timeline;

/* Collective: allocates room for cap events per rank and aligns the clocks with a barrier. */
mt_status mt_timeline_init(mt_timeline *tl, size_t cap, mt_comm *comm, mt_error *err);

/* Records one event (absolute MPI_Wtime seconds); no allocation. tl may be NULL. */
static inline void mt_timeline_add(mt_timeline *tl, mt_tl_kind kind, int layer, double start, double end)
{
    if (!tl)
        return;
    if (tl->n == tl->cap) {
        tl->dropped++;
        return;
    }
    tl->events[tl->n++] = (mt_tl_event){start - tl->t0, end - tl->t0, layer, (int32_t)kind};
}

/* Collective: gathers every rank's events to rank 0, which writes path. layer_names[i] names layer i. */
mt_status mt_timeline_write(const mt_timeline *tl, mt_comm *comm, const char *path, const char *const *layer_names,
                            int n_layers, mt_error *err);

void mt_timeline_free(mt_timeline *tl);

#endif
