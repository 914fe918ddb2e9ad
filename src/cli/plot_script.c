/* mpitrain plot: the files of a figure under DIR/gnuplot/: the script text, built in a growing buffer,
 * written once per terminal (PNG, and SVG when gnuplot has it), and the data files the scripts read; the
 * colours the figures share (see plot.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plot.h"

const char *const plot_palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

void script_add(script_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (t->n + (size_t)need + 1 > t->cap) {
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)need;
        char *s = realloc(t->s, cap);
        if (!s)
            return;
        t->s = s, t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

/* A gnuplot single-quoted string of s (a quote doubled; control bytes dropped) appended to t. */
void script_add_quoted(script_text *t, const char *s)
{
    script_add(t, "'");
    for (; *s; s++)
        if (*s == '\'')
            script_add(t, "''");
        else if ((unsigned char)*s >= 0x20)
            script_add(t, "%c", *s);
    script_add(t, "'");
}

/* Writes DIR/gnuplot/NAME.gp: the body once for PNG (width x height) and, when svg, once more for SVG. */
mt_status write_script(plot_job *job, const char *name, const script_text *body, int width, int height, int svg,
                       mt_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/gnuplot/%s.gp", job->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return mt_fail(err, MT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "# %s: written by mpitrain plot; run from %s with: gnuplot gnuplot/%s.gp\n", name, job->dir, name);
    fprintf(f, "set encoding utf8\nset datafile missing 'NaN'\n");
    fprintf(f, "set terminal %s size %d,%d font 'sans,10' noenhanced\nset output '%s.png'\n%s\n", job->png_term, width,
            height, name, body->s ? body->s : "");
    snprintf(job->outputs[job->n_outputs++], sizeof job->outputs[0], "%s.png", name);
    if (svg && job->svg) {
        fprintf(f,
                "reset\nset datafile missing 'NaN'\nset terminal svg size %d,%d dynamic font 'sans,10' noenhanced\n"
                "set output '%s.svg'\n%s\n",
                width, height, name, body->s ? body->s : "");
        snprintf(job->outputs[job->n_outputs++], sizeof job->outputs[0], "%s.svg", name);
    }
    fprintf(f, "unset output\n");
    if (ferror(f) | (fclose(f) != 0))
        return mt_fail(err, MT_ERR_IO, "%s: write failed", path);
    snprintf(job->scripts[job->n_scripts++], sizeof job->scripts[0], "%s", name);
    return MT_OK;
}

/* Opens DIR/gnuplot/NAME for writing data. */
FILE *open_data(const plot_job *job, const char *name, mt_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/gnuplot/%s", job->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        mt_fail(err, MT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

mt_status close_data(const plot_job *job, FILE *f, const char *name, mt_error *err)
{
    if (ferror(f) | (fclose(f) != 0))
        return mt_fail(err, MT_ERR_IO, "%s/gnuplot/%s: write failed", job->dir, name);
    return MT_OK;
}
