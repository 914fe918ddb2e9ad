/* Arrays in memory for the public API: the per-rank checks, and the first version of training on them,
 * which writes the ranks' rows to a dataset file in the run directory (/<split>/x float32 [N, input...],
 * /<split>/y int32 [N] or float32 [N, outputs], /<split>/w float32 [N]; contiguous storage, so the reader
 * maps it): rank 0 creates the file with every dataset allocated, then each rank in turn, in rank order,
 * opens it and writes its rows at its offset, all through io/h5_write.h. No rank ever holds more than its
 * own rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/error.h"
#include "io/h5_write.h"

mt_status mt_api_check_arrays(const mt_trainer *t, const mt_arrays *a, const char *what, int need_labels, int *kind,
                              mt_error *err)
{
    *kind = 0;
    if (!a || a->n == 0)
        return MT_OK;
    if (!a->x)
        return mt_fail(err, MT_ERR_USAGE, "%s: x is NULL for %llu rows", what, (unsigned long long)a->n);
    if (a->y_class && a->y_target)
        return mt_fail(err, MT_ERR_USAGE, "%s: both y_class and y_target are set; pass one kind of labels", what);
    if (need_labels && !a->y_class && !a->y_target)
        return mt_fail(err, MT_ERR_USAGE, "%s: no labels: set y_class (class indices) or y_target (float targets)",
                       what);
    *kind = a->y_class ? 1 : a->y_target ? 2 : 3;
    const mt_session *s = &t->s;
    const size_t k = s->model.output_size;
    if (a->y_class) {
        int32_t lo, hi;
        mt_loss_label_range(&s->loss, &lo, &hi);
        for (uint64_t i = 0; lo >= 0 && i < a->n; i++)
            if (a->y_class[i] < lo || a->y_class[i] > hi)
                return mt_fail(err, MT_ERR_INPUT,
                               "%s: row %llu has label %ld, outside [%d, %d] for a model with %zu "
                               "output(s)",
                               what, (unsigned long long)i, (long)a->y_class[i], (int)lo, (int)hi, k);
    }
    for (uint64_t i = 0; a->y_target && i < a->n; i++)
        for (size_t j = 0; j < k; j++)
            if (!isfinite(a->y_target[i * k + j]))
                return mt_fail(err, MT_ERR_INPUT, "%s: row %llu, target %zu is %g (targets must be finite)", what,
                               (unsigned long long)i, j, (double)a->y_target[i * k + j]);
    for (uint64_t i = 0; a->weights && i < a->n; i++)
        if (!(isfinite(a->weights[i]) && a->weights[i] >= 0))
            return mt_fail(err, MT_ERR_INPUT, "%s: row %llu has weight %g (weights must be finite and >= 0)", what,
                           (unsigned long long)i, (double)a->weights[i]);
    return MT_OK;
}

/* One split as all ranks agreed on it. */
typedef struct split_info {
    const char *name;      /* "train", "validation" */
    const char *what;      /* "train arrays" */
    const mt_arrays *mine; /* this rank's rows (may be NULL or empty) */
    uint64_t total, first; /* rows over all ranks; this rank's offset */
    int kind;              /* 1 class labels, 2 float targets */
    int weights;           /* /w is written */
} split_info;

/* The paths of a split's datasets: "/<split>/x", "/<split>/y", "/<split>/w". */
static void dataset_names(const char *split, char *x, char *y, char *w)
{
    snprintf(x, 64, "/%s/x", split);
    snprintf(y, 64, "/%s/y", split);
    snprintf(w, 64, "/%s/w", split);
}

/* Per-rank values gathered: rows, label kind, weights given, for each of the two splits; validation given. */
enum { PER_SPLIT = 3, GATHERED = 2 * PER_SPLIT + 1 };

static const char *kind_name(int kind)
{
    return kind == 1 ? "class labels (y_class)" : "float targets (y_target)";
}

/* From everything gathered: totals, offsets, the one label kind and whether weights are written. The same
 * result (and message) on every rank. */
static mt_status agree_split(const double *all, int size, int rank, int s, split_info *sp, mt_error *err)
{
    int kind_rank = -1, w_rank = -1, now_rank = -1;
    sp->total = sp->first = 0;
    sp->kind = sp->weights = 0;
    for (int r = 0; r < size; r++) {
        const double *v = all + (size_t)r * GATHERED + (size_t)s * PER_SPLIT;
        const uint64_t n = (uint64_t)v[0];
        if (r == rank)
            sp->first = sp->total;
        sp->total += n;
        if (n == 0)
            continue;
        if (kind_rank >= 0 && (int)v[1] != sp->kind)
            return mt_fail(err, MT_ERR_INPUT,
                           "%s: rank %d passes %s and rank %d %s; every rank must pass the same "
                           "kind",
                           sp->what, kind_rank, kind_name(sp->kind), r, kind_name((int)v[1]));
        if (kind_rank < 0)
            kind_rank = r, sp->kind = (int)v[1];
        if (v[2] != 0 && w_rank < 0)
            w_rank = r;
        if (v[2] == 0 && now_rank < 0)
            now_rank = r;
    }
    if (w_rank >= 0 && now_rank >= 0)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: rank %d passes weights and rank %d none; pass them on every rank with "
                       "rows, or on none",
                       sp->what, w_rank, now_rank);
    if (sp->total == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no rows on any of the %d rank(s)", sp->what, size);
    sp->weights = w_rank >= 0;
    return MT_OK;
}

/* Rank 0: the file with the datasets of every split, allocated and empty, renamed into place. */
static mt_status create_file(mt_trainer *t, const char *path, const split_info *sp, int n_splits, mt_error *err)
{
    mt_h5w w;
    mt_status st = mt_h5w_create(&w, path, 0, err);
    if (st)
        return st;
    const mt_ints *in = &t->s.model.input_shape;
    const uint64_t k = t->s.model.output_size;
    for (int s = 0; s < n_splits && !st; s++) {
        uint64_t dims[MT_MAX_SAMPLE_RANK + 1] = {sp[s].total};
        for (int i = 0; i < in->n; i++)
            dims[i + 1] = (uint64_t)in->v[i];
        const uint64_t ydims[2] = {sp[s].total, k};
        char x[64], y[64], wn[64];
        dataset_names(sp[s].name, x, y, wn);
        st = mt_h5w_allocated(&w, x, MT_H5W_FLOAT32, in->n + 1, dims, err);
        if (!st)
            st = sp[s].kind == 1 ? mt_h5w_allocated(&w, y, MT_H5W_INT32, 1, ydims, err)
                                 : mt_h5w_allocated(&w, y, MT_H5W_FLOAT32, 2, ydims, err);
        if (!st && sp[s].weights)
            st = mt_h5w_allocated(&w, wn, MT_H5W_FLOAT32, 1, ydims, err);
    }
    if (!st)
        st = mt_h5w_dataset_attributes(&w, NULL, 0, "arrays passed to mt_trainer_train_arrays", err);
    if (!st)
        st = mt_h5w_finish(&w, err);
    if (st)
        mt_h5w_abort(&w);
    return st;
}

/* This rank's rows of every split, at its offsets. */
static mt_status write_mine(mt_trainer *t, const char *path, const split_info *sp, int n_splits, mt_error *err)
{
    mt_h5w w;
    mt_status st = mt_h5w_open(&w, path, err);
    if (st)
        return st;
    const uint64_t in = t->s.model.input_size, k = t->s.model.output_size;
    for (int s = 0; s < n_splits && !st; s++) {
        const mt_arrays *a = sp[s].mine;
        if (!a || a->n == 0)
            continue;
        char x[64], y[64], wn[64];
        dataset_names(sp[s].name, x, y, wn);
        st = mt_h5w_write_rows(&w, x, MT_H5W_FLOAT32, sp[s].first, a->n, in, a->x, err);
        if (!st)
            st = a->y_class ? mt_h5w_write_rows(&w, y, MT_H5W_INT32, sp[s].first, a->n, 1, a->y_class, err)
                            : mt_h5w_write_rows(&w, y, MT_H5W_FLOAT32, sp[s].first, a->n, k, a->y_target, err);
        if (!st && sp[s].weights)
            st = mt_h5w_write_rows(&w, wn, MT_H5W_FLOAT32, sp[s].first, a->n, 1, a->weights, err);
    }
    mt_error ignored;
    mt_status closed = mt_h5w_close(&w, st ? &ignored : err);
    return st ? st : closed;
}

mt_status mt_api_write_arrays(mt_trainer *t, const char *path, const mt_arrays *train, const mt_arrays *val,
                              mt_error *err)
{
    int kinds[2] = {0, 0};
    mt_error_clear(err);
    mt_status st = mt_api_check_arrays(t, train, "train arrays", 1, &kinds[0], err);
    if (!st && val)
        mt_api_check_arrays(t, val, "validation arrays", 1, &kinds[1], err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    double mine[GATHERED] = {
        (double)train->n,    kinds[0],   train->weights != NULL, val ? (double)val->n : 0, kinds[1],
        val && val->weights, val != NULL};
    double *all = malloc((size_t)t->size * GATHERED * sizeof *all);
    if (!all)
        mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (mt_comm_agree(t->comm, err)) {
        free(all);
        return err->code;
    }
    st = mt_comm_allgather_f64(t->comm, mine, GATHERED, all, err);
    split_info sp[2] = {{.name = "train", .what = "train arrays", .mine = train},
                        {.name = "validation", .what = "validation arrays", .mine = val}};
    int n_splits = 1;
    for (int r = 0; !st && r < t->size; r++)
        if ((all[(size_t)r * GATHERED + GATHERED - 1] != 0) != (val != NULL))
            st = mt_fail(err, MT_ERR_USAGE,
                         "validation arrays: rank %d passes %s and rank %d %s; pass them on "
                         "every rank (n = 0 where there are none) or on none",
                         t->rank, val ? "them" : "none", r, val ? "none" : "them");
    if (!st)
        st = agree_split(all, t->size, t->rank, 0, &sp[0], err);
    if (!st && val && !(st = agree_split(all, t->size, t->rank, 1, &sp[1], err)))
        n_splits = 2;
    free(all);
    /* The validation presence check names this rank, so the ranks' messages differ: agree on one. */
    if (mt_comm_agree(t->comm, err))
        return err->code;
    if (t->rank == 0)
        create_file(t, path, sp, n_splits, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    for (int r = 0; r < t->size; r++) {
        if (r == t->rank)
            write_mine(t, path, sp, n_splits, err);
        if (mt_comm_agree(t->comm, err))
            return err->code;
    }
    return MT_OK;
}
