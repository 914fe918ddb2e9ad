/* The timeline of a run (--timeline FILE.json): set up on every rank, then gathered and written by
 * rank 0 in Chrome's trace event format (one process per rank), which Perfetto and chrome://tracing
 * open. Recording itself is core/timeline.h, so that layers can record without knowing about MPI. */
#ifndef MT_TRAIN_TIMELINE_H
#define MT_TRAIN_TIMELINE_H

#include "core/timeline.h"
#include "dist/comm.h"

/* Collective: allocates room for cap events per rank and aligns the clocks with a barrier. */
mt_status mt_timeline_init(mt_timeline *tl, size_t cap, mt_comm *comm, mt_error *err);

/* Collective: gathers every rank's events to rank 0, which writes path. layer_names[i] names layer i. */
mt_status mt_timeline_write(const mt_timeline *tl, mt_comm *comm, const char *path, const char *const *layer_names,
                            int n_layers, mt_error *err);

void mt_timeline_free(mt_timeline *tl);

#endif
