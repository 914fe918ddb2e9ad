/* mpitrain plot: the decision regions of a two-feature model: the class it predicts over the input
 * plane, shaded by its confidence, with the split's points on top (for regression, its first output). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/plot.h"

static unsigned hex2(const char *s)
{
    unsigned v = 0;
    sscanf(s, "%2x", &v);
    return v;
}

mt_status decision_regions(plot_job *job, mt_session *s, plane *pl, const split_points *p, const char *split,
                           const char *title, const char *const *names, mt_error *err)
{
    int k = mt_predict_class_count(s), kout = (int)s->model.output_size;
    mt_output_kind kind = mt_predict_output_kind(s);
    FILE *f = open_data(job, "regions.dat", err);
    if (!f)
        return err->code;
    fprintf(f, k ? "# x1 x2 r g b class confidence\n" : "# x1 x2 output0\n");
    int32_t *cls = malloc((size_t)pl->g * sizeof *cls);
    mt_status st = cls ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "cannot allocate a grid row");
    for (int j = 0; !st && j < pl->g; j++) {
        if ((st = grid_row(s, pl, j, err)))
            break;
        if (k)
            mt_predict_decide(&s->loss, pl->out, pl->g, cls);
        for (int i = 0; i < pl->g; i++) {
            const float *o = pl->out + (size_t)i * (size_t)kout;
            if (!k) {
                fprintf(f, "%.7g %.7g %.7g\n", grid_x(pl, i), grid_y(pl, j), (double)o[0]);
                continue;
            }
            double conf = 1.0; /* scores: no confidence to show */
            if (kind == MT_OUTPUT_PROBABILITIES)
                conf = kout == 1 ? (o[0] > 0.5f ? o[0] : 1.0 - o[0]) : o[cls[i]];
            double a = 0.15 + 0.5 * (conf - 1.0 / k) / (1.0 - 1.0 / k);
            a = a < 0.15 ? 0.15 : a > 0.65 ? 0.65 : a;
            const char *hex = plot_palette[cls[i] % 10];
            fprintf(f, "%.7g %.7g %.0f %.0f %.0f %d %.4f\n", grid_x(pl, i), grid_y(pl, j),
                    255 * (1 - a) + hex2(hex + 1) * a, 255 * (1 - a) + hex2(hex + 3) * a,
                    255 * (1 - a) + hex2(hex + 5) * a, (int)cls[i], conf);
        }
        fprintf(f, "\n");
    }
    free(cls);
    mt_status st2 = close_data(job, f, "regions.dat", err);
    if (st || (st = st2))
        return st;
    script_text t = {0};
    char full[512];
    snprintf(full, sizeof full, "%s: %s over the input plane, points of split %s", title,
             k ? "decision regions (shade: confidence)" : "output 0", split);
    script_add(&t, "set title ");
    script_add_quoted(&t, full);
    script_add(&t,
               "\nset xlabel 'x1'\nset ylabel 'x2'\nset xrange [%.7g:%.7g]\nset yrange [%.7g:%.7g]\n"
               "set size ratio -1\nset key outside right top title 'class'\n",
               pl->x0, pl->x1, pl->y0, pl->y1);
    if (k)
        script_add(&t, "plot 'gnuplot/regions.dat' using 1:2:3:4:5 with rgbimage notitle, \\\n     ");
    else
        script_add(&t, "set palette defined (0 '#3b4cc0', 0.5 '#f7f7f7', 1 '#b40426')\nset cblabel 'output 0'\n"
                       "plot 'gnuplot/regions.dat' using 1:2:3 with image notitle, \\\n     ");
    add_points(&t, p, k, names, 0.5);
    script_add(&t, "\n");
    st = write_script(job, "decision_regions", &t, 900, 700, 1, err);
    free(t.s);
    return st;
}
