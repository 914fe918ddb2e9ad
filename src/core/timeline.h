/* Timeline events: per rank, the time of each data read, each layer's forward and backward pass, each
 * gradient bucket's sum, the wait for them, optimizer step, evaluation and checkpoint write, recorded into a buffer allocated
 * once (train/timeline.h sets it up and writes it out). */
#ifndef MT_CORE_TIMELINE_H
#define MT_CORE_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

typedef enum mt_tl_kind {
    MT_TL_READ,
    MT_TL_FORWARD,
    MT_TL_BACKWARD,
    MT_TL_OPTIMIZER,
    MT_TL_EVAL,
    MT_TL_CHECKPOINT,
    MT_TL_BUCKET, /* one gradient bucket's sum, from its start to its completion (layer = bucket) */
    MT_TL_WAIT,   /* the optimizer waiting for gradient sums still in flight (exposed communication) */
    MT_TL_KINDS
} mt_tl_kind;

typedef struct mt_tl_event {
    double start, end; /* seconds since the timeline started (aligned by a barrier) */
    int32_t layer;     /* layer index for forward/backward, bucket index for buckets, else -1 */
    int32_t kind;      /* mt_tl_kind */
} mt_tl_event;

typedef struct mt_timeline {
    mt_tl_event *events;
    size_t n, cap;
    uint64_t dropped; /* events not recorded because the buffer was full */
    double t0;
} mt_timeline;

/* Records one event (absolute mt_wtime seconds); no allocation. tl may be NULL. */
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

#endif
