/* mpitrain plot: models of two input features: the input plane (a grid around the split's points, run
 * through the model one grid row at a time), the points drawn over it, and its figures: the decision
 * regions and one figure per hidden dense layer (see plot.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/plot.h"
#include "nn/layer.h"

#define MAX_POINTS 2000 /* data points drawn over the decision regions */

double grid_x(const plane *pl, int i)
{
    return pl->x0 + (pl->x1 - pl->x0) * i / (pl->g - 1);
}

double grid_y(const plane *pl, int j)
{
    return pl->y0 + (pl->y1 - pl->y0) * j / (pl->g - 1);
}

/* Runs the model on grid row j (all of it in one forward pass, so the layers' buffers hold it). */
mt_status grid_row(mt_session *s, plane *pl, int j, mt_error *err)
{
    for (int i = 0; i < pl->g; i++) {
        pl->xy[2 * i] = (float)grid_x(pl, i);
        pl->xy[2 * i + 1] = (float)grid_y(pl, j);
    }
    return mt_predict_batch(s, pl->xy, (uint64_t)pl->g, pl->out, err);
}

/* Writes points.dat ("x y class") and adds the plot elements drawing them, one colour per class. */
static mt_status write_points(const plot_job *job, const split_points *p, int k, mt_error *err)
{
    FILE *f = open_data(job, "points.dat", err);
    if (!f)
        return err->code;
    fprintf(f, "# x1 x2 label colour(0xRRGGBB)\n");
    for (uint64_t i = 0; i < p->n; i++) {
        int c = p->y ? (k == 2 ? p->y[i] > 0 : p->y[i]) : -1;
        unsigned rgb = c >= 0 ? (unsigned)strtoul(plot_palette[c % 10] + 1, NULL, 16) : 0x404040u;
        fprintf(f, "%.7g %.7g %.7g %u\n", (double)p->x[2 * i], (double)p->x[2 * i + 1],
                c >= 0 ? (double)c : (double)p->target[i * (uint64_t)p->target_k], rgb);
    }
    return close_data(job, f, "points.dat", err);
}

void add_points(script_text *t, const split_points *p, int k, const char *const *names, double size)
{
    if (!p->y || k < 1) {
        script_add(t, "'gnuplot/points.dat' using 1:2 with points pt 7 ps %.2f lc rgb '#60000000' notitle", size);
        return;
    }
    for (int c = 0; c < k; c++) {
        script_add(t,
                   "%s'gnuplot/points.dat' using 1:($3 == %d ? $2 : NaN) with points pt 7 ps %.2f lc rgb '%s' "
                   "title ",
                   c ? ", \\\n     " : "", c, size, plot_palette[c % 10]);
        script_add_quoted(t, names[c]);
    }
}

/* Index of the dense layer that produces the output (the last dense layer), or -1. */
static int output_dense(const mt_model *m)
{
    for (int i = m->n_layers - 1; i >= 0; i--)
        if (m->layers[i].ops == &mt_dense_layer)
            return i;
    return -1;
}

mt_status two_features(plot_job *job, mt_session *s, const char *file, const char *split, int grid, const char *title,
                       const char *const *names, mt_error *err)
{
    split_points p;
    mt_status st = read_points(s, file, split, MAX_POINTS, &p, err);
    if (st)
        return st;
    plane pl = {.g = grid};
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (uint64_t i = 0; i < p.n; i++)
        for (int d = 0; d < 2; d++) {
            double v = p.x[2 * i + (uint64_t)d];
            if (isfinite(v)) {
                lo[d] = v < lo[d] ? v : lo[d];
                hi[d] = v > hi[d] ? v : hi[d];
            }
        }
    for (int d = 0; d < 2; d++) {
        if (!(lo[d] <= hi[d]))
            lo[d] = -1, hi[d] = 1;
        double m = (hi[d] - lo[d]) * 0.1 + 1e-3;
        lo[d] -= m, hi[d] += m;
    }
    pl.x0 = lo[0], pl.x1 = hi[0], pl.y0 = lo[1], pl.y1 = hi[1];
    pl.xy = malloc((size_t)grid * 2 * sizeof *pl.xy);
    pl.out = malloc((size_t)grid * s->model.output_size * sizeof *pl.out);
    if (!pl.xy || !pl.out)
        st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate the grid");
    int k = mt_predict_class_count(s);
    if (!st)
        st = write_points(job, &p, k, err);
    if (!st)
        st = decision_regions(job, s, &pl, &p, split, title, names, err);
    int last = output_dense(&s->model);
    for (int i = 0; i < last && !st; i++)
        if (s->model.layers[i].ops == &mt_dense_layer)
            st = hidden_layer(job, s, &pl, i, &p, title, err);
    free(pl.xy), free(pl.out);
    free_points(&p);
    return st;
}
