/* mpitrain plot: the learning curves of a run (loss and val_loss, accuracy and val_accuracy against epoch)
 * from its metrics.jsonl, read with io/json_doc.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/plot.h"
#include "io/json_doc.h"

mt_status learning_curves(plot_job *job, const char *run, const char *title, mt_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    json_t *lines;
    if (mt_json_read_lines(path, &lines, err))
        return err->code;
    FILE *out = open_data(job, "curves.dat", err);
    if (!out) {
        json_decref(lines);
        return err->code;
    }
    fprintf(out, "# epoch loss val_loss accuracy val_accuracy\n");
    static const char *const keys[5] = {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"};
    int have[5] = {0}, rows = 0;
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        double v[5];
        for (int i = 0; i < 5; i++)
            v[i] = mt_json_get_number(line, keys[i]);
        if (isnan(v[0]))
            continue;
        rows++;
        for (int i = 0; i < 5; i++) {
            have[i] |= !isnan(v[i]);
            fprintf(out, i ? " %.10g" : "%.10g", v[i]);
        }
        fprintf(out, "\n");
    }
    json_decref(lines);
    mt_status st = close_data(job, out, "curves.dat", err);
    if (st)
        return st;
    if (rows == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no epoch rows", path);
    for (int fig = 0; fig < 2 && !st; fig++) {
        int a = 1 + 2 * fig, b = a + 1;
        if (!have[a] && !have[b])
            continue;
        script_text t = {0};
        const char *what = fig ? "accuracy" : "loss";
        script_add(&t, "set title ");
        script_add_quoted(&t, title);
        script_add(&t, "\nset xlabel 'epoch'\nset ylabel '%s'\nset grid\nset key %s\n", what,
                   fig ? "bottom right" : "top right");
        if (rows < 12)
            script_add(&t, "set xtics 1\n");
        script_add(&t, "plot ");
        if (have[a])
            script_add(&t,
                       "'gnuplot/curves.dat' using 1:%d with linespoints lw 2 pt 7 ps 0.6 lc rgb '%s' "
                       "title '%s'%s",
                       a + 1, plot_palette[0], keys[a], have[b] ? ", \\\n     " : "");
        if (have[b])
            script_add(&t,
                       "'gnuplot/curves.dat' using 1:%d with linespoints lw 2 pt 5 ps 0.6 lc rgb '%s' "
                       "title '%s'",
                       b + 1, plot_palette[1], keys[b]);
        script_add(&t, "\n");
        st = write_script(job, what, &t, 800, 500, 1, err);
        free(t.s);
    }
    return st;
}
