/* mpitrain plot: a hidden dense layer of a two-feature model: each unit's activation over the input plane
 * and the 0-level line of its pre-activation (what the unit separates). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plot.h"
#include "nn/activation.h"
#include "nn/layer.h"

#define MAX_UNITS 16 /* hidden units drawn per layer */

mt_status hidden_layer(plot_job *job, mt_session *s, plane *pl, int layer, const split_points *p, const char *title,
                       mt_error *err)
{
    const mt_layer *l = &s->model.layers[layer];
    int units = (int)l->out_size, shown = units < MAX_UNITS ? units : MAX_UNITS;
    char name[64], data[64];
    snprintf(name, sizeof name, "hidden_layer%d", layer);
    snprintf(data, sizeof data, "hidden_layer%d.dat", layer);
    FILE *f = open_data(job, data, err);
    if (!f)
        return err->code;
    fprintf(f, "# x1 x2 then per unit: activation pre-activation\n");
    float *z = malloc((size_t)pl->g * (size_t)units * sizeof *z);
    mt_status st = z ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "cannot allocate a grid row");
    for (int j = 0; !st && j < pl->g; j++) {
        if ((st = grid_row(s, pl, j, err)) || (st = mt_predict_dense_preact(&s->model, layer, pl->g, z, err)))
            break;
        const float *act = s->model.acts[layer + 1];
        for (int i = 0; i < pl->g; i++) {
            fprintf(f, "%.7g %.7g", grid_x(pl, i), grid_y(pl, j));
            for (int u = 0; u < shown; u++)
                fprintf(f, " %.6g %.6g", (double)act[(size_t)i * (size_t)units + (size_t)u],
                        (double)z[(size_t)i * (size_t)units + (size_t)u]);
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
    free(z);
    mt_status st2 = close_data(job, f, data, err);
    if (st || (st = st2))
        return st;
    int cols = (int)ceil(sqrt((double)shown)), rows = (shown + cols - 1) / cols;
    int act = l->out_activation;
    script_text t = {0};
    /* 0-level lines of the pre-activations, traced by gnuplot's contouring into tables. */
    script_add(&t, "set view map\nset contour base\nset cntrparam levels discrete 0\nunset surface\n");
    for (int u = 0; u < shown; u++)
        script_add(&t,
                   "set table 'gnuplot/%s_unit%d.zero'\nsplot 'gnuplot/%s' using 1:2:%d with lines notitle\n"
                   "unset table\n",
                   name, u, data, 4 + 2 * u);
    script_add(&t, "unset contour\nset surface\n");
    script_add(&t, "set palette defined (0 '#3b4cc0', 0.5 '#f7f7f7', 1 '#b40426')\n");
    if (act == MT_ACT_TANH)
        script_add(&t, "set cbrange [-1:1]\n");
    else if (act == MT_ACT_SIGMOID)
        script_add(&t, "set cbrange [0:1]\n");
    script_add(&t, "set xrange [%.7g:%.7g]\nset yrange [%.7g:%.7g]\nset size ratio -1\nunset key\nset tics font ',8'\n",
               pl->x0, pl->x1, pl->y0, pl->y1);
    script_add(&t, "set multiplot layout %d,%d title ", rows, cols);
    char full[512];
    char act_name[32];
    snprintf(act_name, sizeof act_name, "%s", act >= 0 ? mt_activation_names[act] : "linear");
    act_name[strcspn(act_name, "|")] = '\0';
    snprintf(full, sizeof full,
             "%s: model.layers[%d] (dense, %s, %d units%s): activation of each unit over the "
             "input plane; black line: its pre-activation is 0",
             title, layer, act_name, units, units > shown ? ", first 16 shown" : "");
    script_add_quoted(&t, full);
    script_add(&t, "\n");
    for (int u = 0; u < shown; u++)
        script_add(&t,
                   "set title 'unit %d'\nplot 'gnuplot/%s' using 1:2:%d with image, \\\n"
                   "     'gnuplot/points.dat' using 1:2:4 with points pt 7 ps 0.3 lc rgb variable, \\\n"
                   "     'gnuplot/%s_unit%d.zero' using 1:2 with lines lw 2.5 lc rgb 'black'\n",
                   u, data, 3 + 2 * u, name, u);
    script_add(&t, "unset multiplot\n");
    (void)p;
    st = write_script(job, name, &t, 380 * cols + 60, 330 * rows + 60, 1, err);
    free(t.s);
    return st;
}
