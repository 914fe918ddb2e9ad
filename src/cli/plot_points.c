/* mpitrain plot: the rows of a split a figure shows, read through the dataset reader (see plot.h). */
#include <stdlib.h>
#include <string.h>

#include "cli/plot.h"
#include "io/dataset.h"

void free_points(split_points *p)
{
    free(p->x), free(p->y), free(p->target);
    memset(p, 0, sizeof *p);
}

mt_status read_points(const mt_session *s, const char *file, const char *split, uint64_t max, split_points *p,
                      mt_error *err)
{
    memset(p, 0, sizeof *p);
    mt_dataset *ds;
    mt_status st = mt_dataset_open(file, split, &ds, err);
    if (st)
        return st;
    const mt_dataset_info *in = mt_dataset_get_info(ds);
    if (in->sample_size != s->model.input_size) {
        mt_dataset_close(ds);
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s/x: %llu values per sample, but the model takes %zu", file, split,
                       (unsigned long long)in->sample_size, s->model.input_size);
    }
    uint64_t n = in->rows < max ? in->rows : max;
    uint64_t *rows = malloc(n * sizeof *rows);
    p->features = in->sample_size;
    p->x = malloc(n * p->features * sizeof *p->x);
    int classes = in->label_kind == MT_LABELS_CLASS;
    p->target_k = (int)in->target_size;
    if (classes)
        p->y = malloc(n * sizeof *p->y);
    else
        p->target = malloc(n * in->target_size * sizeof *p->target);
    if (!rows || !p->x || (classes ? !p->y : !p->target))
        st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate %llu samples", (unsigned long long)n);
    for (uint64_t i = 0; !st && i < n; i++)
        rows[i] = n == in->rows ? i : (uint64_t)((double)i * (double)in->rows / (double)n);
    if (!st)
        st = mt_dataset_read_rows(ds, rows, (size_t)n, p->x, p->y, p->target, err);
    p->n = n;
    free(rows);
    mt_dataset_close(ds);
    if (st)
        free_points(p);
    return st;
}
