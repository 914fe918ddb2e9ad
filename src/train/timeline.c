/* Timeline recording and its Chrome-trace JSON: complete events ("ph": "X", microseconds), one process
 * per rank named "rank R", compute on thread 0 and communication on thread 1. */
#include "train/timeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"

static const char *const kind_names[MT_TL_KINDS] = {
    [MT_TL_READ] = "read batch",          [MT_TL_FORWARD] = "forward",         [MT_TL_BACKWARD] = "backward",
    [MT_TL_OPTIMIZER] = "optimizer step", [MT_TL_EVAL] = "evaluate",           [MT_TL_CHECKPOINT] = "write checkpoint",
    [MT_TL_BUCKET] = "allreduce",         [MT_TL_WAIT] = "wait for gradients",
};

mt_status mt_timeline_init(mt_timeline *tl, size_t cap, mt_comm *comm, mt_error *err)
{
    memset(tl, 0, sizeof *tl);
    tl->events = malloc(cap * sizeof *tl->events);
    mt_error_clear(err);
    if (!tl->events)
        mt_fail(err, MT_ERR_NOMEM, "--timeline: cannot allocate room for %zu events", cap);
    mt_status st = mt_comm_agree(comm, err);
    if (st) {
        free(tl->events);
        tl->events = NULL;
        return st;
    }
    tl->cap = cap;
    st = mt_comm_barrier(comm, err);
    tl->t0 = mt_wtime();
    return st;
}

static void write_events(FILE *f, const mt_tl_event *ev, size_t n, int rank, const mt_timeline_names *names, int *first)
{
    fprintf(f, "%s{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": \"rank %d\"}}",
            *first ? "" : ",\n", rank, rank);
    *first = 0;
    for (size_t i = 0; i < n; i++) {
        const mt_tl_event *e = &ev[i];
        int bucket = e->kind == MT_TL_BUCKET, tid = bucket ? 2 + e->layer : e->kind == MT_TL_WAIT;
        const char *what = NULL;
        if (bucket && e->layer >= 0 && e->layer < names->n_buckets)
            what = names->buckets[e->layer];
        else if (!bucket && e->layer >= 0 && e->layer < names->n_layers)
            what = names->layers[e->layer];
        fprintf(f,
                ",\n{\"name\": \"%s%s%s\", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, "
                "\"pid\": %d, \"tid\": %d}",
                kind_names[e->kind], what ? " " : "", what ? what : "",
                tid                     ? "communication"
                : e->kind == MT_TL_READ ? "data"
                                        : "compute",
                e->start * 1e6, (e->end - e->start) * 1e6, rank, tid);
    }
}

mt_status mt_timeline_write(const mt_timeline *tl, mt_comm *comm, const char *path, const mt_timeline_names *names,
                            mt_error *err)
{
    int rank = mt_comm_rank(comm), size = mt_comm_size(comm);
    double mine[2] = {(double)tl->n, (double)tl->dropped}, *counts = calloc(2 * (size_t)size, sizeof *counts);
    void *all = NULL;
    size_t *bytes = calloc((size_t)size, sizeof *bytes);
    mt_error_clear(err);
    mt_status st = counts && bytes ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "--timeline: out of memory");
    if (mt_comm_agree(comm, err)) {
        free(counts), free(bytes);
        return err->code;
    }
    st = mt_comm_allgather_f64(comm, mine, 2, counts, err);
    if (!st)
        st = mt_comm_gather_bytes(comm, tl->events, tl->n * sizeof *tl->events, &all, bytes, 0, err);
    FILE *f = NULL;
    if (!st && rank == 0) {
        f = fopen(path, "w");
        if (!f)
            st = mt_fail(err, MT_ERR_IO, "%s: cannot write the timeline: %s", path, strerror(errno));
    }
    if (f) {
        uint64_t dropped = 0;
        int first = 1;
        fputs("{\"traceEvents\": [\n", f);
        const char *p = all;
        for (int r = 0; r < size; r++) {
            write_events(f, (const mt_tl_event *)p, bytes[r] / sizeof(mt_tl_event), r, names, &first);
            p += bytes[r];
            dropped += (uint64_t)counts[2 * r + 1];
        }
        fprintf(f, "\n], \"displayTimeUnit\": \"ms\", \"otherData\": {\"ranks\": %d, \"dropped_events\": %llu}}\n",
                size, (unsigned long long)dropped);
        if (ferror(f) | fclose(f))
            st = mt_fail(err, MT_ERR_IO, "%s: cannot write the timeline", path);
    }
    free(all), free(counts), free(bytes);
    return mt_comm_agree(comm, err);
}

void mt_timeline_free(mt_timeline *tl)
{
    free(tl->events);
    memset(tl, 0, sizeof *tl);
}
