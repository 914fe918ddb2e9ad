/* The timeline of a run (--timeline FILE.json): set up on every rank, then gathered and written by
 * rank 0 in Chrome's trace event format (one process per rank), which Perfetto and chrome://tracing
 * open. Recording itself is core/timeline.h, so that layers can record without knowing about MPI. */
#ifndef MT_TRAIN_TIMELINE_H
#define MT_TRAIN_TIMELINE_H

#include "core/timeline.h"
#include "comm/comm.h"

/* Collective: allocates room for cap events per rank and aligns the clocks with a barrier. */
mt_status mt_timeline_init(mt_timeline *tl, size_t cap, mt_comm *comm, mt_error *err);

/* What the events' indices name: layers[i] layer i, buckets[b] gradient bucket b. */
typedef struct mt_timeline_names {
    const char *const *layers;
    int n_layers;
    const char *const *buckets;
    int n_buckets;
} mt_timeline_names;

/* Collective: gathers every rank's events to rank 0, which writes path. Compute is thread 0 of each rank,
 * the wait for gradients thread 1, and gradient bucket b thread 2 + b (bucket sums overlap in time). */
mt_status mt_timeline_write(const mt_timeline *tl, mt_comm *comm, const char *path, const mt_timeline_names *names,
                            mt_error *err);

void mt_timeline_free(mt_timeline *tl);

#endif
