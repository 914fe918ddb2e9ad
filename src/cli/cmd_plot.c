/* `mpitrain plot RUN_DIR [-o DIR]`: figures of a run drawn by gnuplot (PNG and SVG): learning curves from
 * metrics.jsonl; for models of two input features the decision regions with the data points on top and,
 * per hidden dense layer, what each unit separates (its activation over the input plane and the 0-level of
 * its pre-activation); for image classifiers a grid of test images with predicted and true labels. The
 * model's numbers come from the library (train/predict.h); this file writes the data and gnuplot scripts
 * under DIR/gnuplot/ (kept, so a figure can be restyled by hand) and runs gnuplot once MPI has ended. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/error.h"
#include "io/dataset.h"
#include "nn/activation.h"
#include "nn/layer.h"
#include "train/predict.h"

#define MAX_SCRIPTS 32
#define MAX_CLASSES 1024
#define MAX_POINTS 2000     /* data points drawn over the decision regions */
#define MAX_UNITS 16        /* hidden units drawn per layer */

static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void help(void)
{
    printf("usage: mpitrain plot RUN_DIR [-o DIR] [--data FILE.h5] [--split NAME] [--images N] [--grid N]\n\n"
           "Draws the figures of a run with gnuplot (PNG and SVG) into DIR (default RUN_DIR/plots):\n"
           "  loss.png/.svg, accuracy.png/.svg   learning curves (loss and val_loss, accuracy and val_accuracy\n"
           "                                     against epoch) from RUN_DIR/metrics.jsonl\n"
           "  decision_regions.png/.svg          models with two input features: the class the model predicts\n"
           "                                     over the input plane (shaded by confidence) with the split's\n"
           "                                     points on top; for regression, the first output\n"
           "  hidden_layerL.png/.svg             same models, one per hidden dense layer L (model.layers[L]):\n"
           "                                     each unit's activation over the input plane and the 0-level\n"
           "                                     line of its pre-activation (what the unit separates)\n"
           "  predictions.png                    image classifiers: the first N images of the split with the\n"
           "                                     predicted and true class; misclassified ones in red, framed\n"
           "The model, its preprocessing and the data file come from RUN_DIR/checkpoint.h5 (its stored config;\n"
           "a relative data.file is looked up from the current directory, then from RUN_DIR's parent and\n"
           "grandparent). The data and gnuplot scripts are kept in DIR/gnuplot/.\n\n"
           "  -o, --output DIR   where the figures go\n"
           "  --data FILE.h5     dataset file instead of the config's data.file\n"
           "  --split NAME       split whose points / images are shown (default: data.test, else\n"
           "                     data.validation, else data.train)\n"
           "  --images N         images in the prediction grid (default 36, at most 400)\n"
           "  --grid N           grid points per axis of the input plane (default 200, 10..1000)\n\n"
           "Needs gnuplot (Debian: apt-get install gnuplot-nox); $GNUPLOT names another program.\n"
           "Exit status: 0 figures written; 2 usage errors, a missing run directory, checkpoint or data file,\n"
           "or no gnuplot; 1 when gnuplot or writing fails.\n");
}

typedef struct options {
    const char *run, *out, *data, *split;
    int images, grid;
} options;

/* What the scripts need to know about the installed gnuplot, and the scripts written so far. */
typedef struct plot_job {
    const char *gnuplot;
    const char *png_term;   /* "pngcairo" or "png" */
    int svg;                /* the svg terminal exists */
    char dir[4096];         /* output directory */
    char scripts[MAX_SCRIPTS][64];
    int n_scripts;
    char outputs[MAX_SCRIPTS * 2][96];
    int n_outputs;
} plot_job;

/* ---- small helpers ---------------------------------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* mkdir -p: creates path and its missing parents. */
static int make_dir(const char *path)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    struct stat sb;
    if (mkdir(buf, 0755) == 0)
        return 0;
    if (errno != EEXIST) /* another rank may have made it a moment ago */
        return -1;
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

/* Finds prog in PATH (or as given when it holds a '/'); 1 when found. */
static int find_program(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", prog);
        if (access(buf, X_OK) == 0)
            return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* Runs `gnuplot ARG...` in directory dir with stdout and stderr to log (relative to dir); returns the
 * exit status (-1 when it could not run). */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *log, const char *a1, const char *a2)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dir && chdir(dir) != 0)
            _exit(127);
        FILE *f = freopen(log, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0)
            _exit(127);
        execlp(gnuplot, gnuplot, a1, a2, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Asks gnuplot which terminals it has. */
static void probe_terminals(plot_job *job)
{
    char log[] = "/tmp/mpitrain-gnuplot-terminals.XXXXXX";
    int fd = mkstemp(log);
    job->png_term = "png";
    job->svg = 1;
    if (fd < 0)
        return;
    close(fd);
    run_gnuplot(job->gnuplot, NULL, log, "-e", "set terminal");
    FILE *f = fopen(log, "r");
    char line[512];
    int svg = 0, pngcairo = 0;
    while (f && fgets(line, sizeof line, f)) {
        char name[64];
        if (sscanf(line, " %63s", name) == 1) {
            pngcairo |= !strcmp(name, "pngcairo");
            svg |= !strcmp(name, "svg");
        }
    }
    if (f)
        fclose(f);
    remove(log);
    job->png_term = pngcairo ? "pngcairo" : "png";
    job->svg = svg;
}

/* A growing text buffer for the body of a script (drawn twice: once per terminal). */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
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
static void add_quoted(text *t, const char *s)
{
    add(t, "'");
    for (; *s; s++)
        if (*s == '\'')
            add(t, "''");
        else if ((unsigned char)*s >= 0x20)
            add(t, "%c", *s);
    add(t, "'");
}

/* Writes DIR/gnuplot/NAME.gp: the body once for PNG (width x height) and, when svg, once more for SVG. */
static mt_status write_script(plot_job *job, const char *name, const text *body, int width, int height, int svg,
                              mt_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/gnuplot/%s.gp", job->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return mt_fail(err, MT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "# %s: written by mpitrain plot; run from %s with: gnuplot gnuplot/%s.gp\n", name, job->dir, name);
    fprintf(f, "set encoding utf8\nset datafile missing 'NaN'\n");
    fprintf(f, "set terminal %s size %d,%d font 'sans,10' noenhanced\nset output '%s.png'\n%s\n", job->png_term, width, height,
            name, body->s ? body->s : "");
    snprintf(job->outputs[job->n_outputs++], sizeof job->outputs[0], "%s.png", name);
    if (svg && job->svg) {
        fprintf(f, "reset\nset datafile missing 'NaN'\nset terminal svg size %d,%d dynamic font 'sans,10' noenhanced\n"
                   "set output '%s.svg'\n%s\n", width, height, name, body->s ? body->s : "");
        snprintf(job->outputs[job->n_outputs++], sizeof job->outputs[0], "%s.svg", name);
    }
    fprintf(f, "unset output\n");
    if (ferror(f) | (fclose(f) != 0))
        return mt_fail(err, MT_ERR_IO, "%s: write failed", path);
    snprintf(job->scripts[job->n_scripts++], sizeof job->scripts[0], "%s", name);
    return MT_OK;
}

/* Opens DIR/gnuplot/NAME for writing data. */
static FILE *open_data(const plot_job *job, const char *name, mt_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/gnuplot/%s", job->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        mt_fail(err, MT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

static mt_status close_data(const plot_job *job, FILE *f, const char *name, mt_error *err)
{
    if (ferror(f) | (fclose(f) != 0))
        return mt_fail(err, MT_ERR_IO, "%s/gnuplot/%s: write failed", job->dir, name);
    return MT_OK;
}

/* ---- learning curves -------------------------------------------------------------------------------- */

/* The number after "key": in a JSON line, NaN when absent or null. */
static double json_value(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return NAN;
    p += strlen(pat);
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

static mt_status learning_curves(plot_job *job, const char *run, const char *title, mt_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    FILE *in = fopen(path, "r");
    if (!in)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    FILE *out = open_data(job, "curves.dat", err);
    if (!out) {
        fclose(in);
        return err->code;
    }
    fprintf(out, "# epoch loss val_loss accuracy val_accuracy\n");
    static const char *const keys[5] = {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"};
    int have[5] = {0}, rows = 0;
    char line[8192];
    while (fgets(line, sizeof line, in)) {
        double v[5];
        for (int i = 0; i < 5; i++)
            v[i] = json_value(line, keys[i]);
        if (isnan(v[0]))
            continue;
        rows++;
        for (int i = 0; i < 5; i++) {
            have[i] |= !isnan(v[i]);
            fprintf(out, i ? " %.10g" : "%.10g", v[i]);
        }
        fprintf(out, "\n");
    }
    fclose(in);
    mt_status st = close_data(job, out, "curves.dat", err);
    if (st)
        return st;
    if (rows == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no epoch rows", path);
    for (int fig = 0; fig < 2 && !st; fig++) {
        int a = 1 + 2 * fig, b = a + 1;
        if (!have[a] && !have[b])
            continue;
        text t = {0};
        const char *what = fig ? "accuracy" : "loss";
        add(&t, "set title ");
        add_quoted(&t, title);
        add(&t, "\nset xlabel 'epoch'\nset ylabel '%s'\nset grid\nset key %s\n", what,
            fig ? "bottom right" : "top right");
        if (rows < 12)
            add(&t, "set xtics 1\n");
        add(&t, "plot ");
        if (have[a])
            add(&t, "'gnuplot/curves.dat' using 1:%d with linespoints lw 2 pt 7 ps 0.6 lc rgb '%s' title '%s'%s", a + 1,
                palette[0], keys[a], have[b] ? ", \\\n     " : "");
        if (have[b])
            add(&t, "'gnuplot/curves.dat' using 1:%d with linespoints lw 2 pt 5 ps 0.6 lc rgb '%s' title '%s'", b + 1,
                palette[1], keys[b]);
        add(&t, "\n");
        st = write_script(job, what, &t, 800, 500, 1, err);
        free(t.s);
    }
    return st;
}

/* ---- data of the split ---------------------------------------------------------------------------------- */

/* Up to max rows of a split (evenly spaced when it has more): raw features and class labels (or the
 * first target). */
typedef struct points {
    uint64_t n;
    size_t features;
    float *x;          /* [n, features] as stored (uint8 scaled to [0, 1]) */
    int32_t *y;        /* [n] class labels, or NULL */
    float *target;     /* [n, target_k], or NULL */
    int target_k;
} points;

static void free_points(points *p)
{
    free(p->x), free(p->y), free(p->target);
    memset(p, 0, sizeof *p);
}

static mt_status read_points(const mt_session *s, const char *file, const char *split, uint64_t max, points *p,
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

/* ---- two input features: decision regions and hidden units ---------------------------------------- */

typedef struct plane {
    int g;                        /* grid points per axis */
    double x0, x1, y0, y1;        /* bounds */
    float *xy;                    /* [g, 2] the points of one grid row */
    float *out;                   /* [g, k] */
} plane;

static double grid_x(const plane *pl, int i)
{
    return pl->x0 + (pl->x1 - pl->x0) * i / (pl->g - 1);
}

static double grid_y(const plane *pl, int j)
{
    return pl->y0 + (pl->y1 - pl->y0) * j / (pl->g - 1);
}

/* Runs the model on grid row j (all of it in one forward pass, so the layers' buffers hold it). */
static mt_status grid_row(mt_session *s, plane *pl, int j, mt_error *err)
{
    for (int i = 0; i < pl->g; i++) {
        pl->xy[2 * i] = (float)grid_x(pl, i);
        pl->xy[2 * i + 1] = (float)grid_y(pl, j);
    }
    return mt_predict_batch(s, pl->xy, (uint64_t)pl->g, pl->out, err);
}

/* Writes points.dat ("x y class") and adds the plot elements drawing them, one colour per class. */
static mt_status write_points(const plot_job *job, const points *p, int k, mt_error *err)
{
    FILE *f = open_data(job, "points.dat", err);
    if (!f)
        return err->code;
    fprintf(f, "# x1 x2 label colour(0xRRGGBB)\n");
    for (uint64_t i = 0; i < p->n; i++) {
        int c = p->y ? (k == 2 ? p->y[i] > 0 : p->y[i]) : -1;
        unsigned rgb = c >= 0 ? (unsigned)strtoul(palette[c % 10] + 1, NULL, 16) : 0x404040u;
        fprintf(f, "%.7g %.7g %.7g %u\n", (double)p->x[2 * i], (double)p->x[2 * i + 1],
                c >= 0 ? (double)c : (double)p->target[i * (uint64_t)p->target_k], rgb);
    }
    return close_data(job, f, "points.dat", err);
}

static void add_points(text *t, const points *p, int k, const char *const *names, double size)
{
    if (!p->y || k < 1) {
        add(t, "'gnuplot/points.dat' using 1:2 with points pt 7 ps %.2f lc rgb '#60000000' notitle", size);
        return;
    }
    for (int c = 0; c < k; c++) {
        add(t, "%s'gnuplot/points.dat' using 1:($3 == %d ? $2 : NaN) with points pt 7 ps %.2f lc rgb '%s' title ",
            c ? ", \\\n     " : "", c, size, palette[c % 10]);
        add_quoted(t, names[c]);
    }
}

static unsigned hex2(const char *s)
{
    unsigned v = 0;
    sscanf(s, "%2x", &v);
    return v;
}

static mt_status decision_regions(plot_job *job, mt_session *s, plane *pl, const points *p, const char *split,
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
            const char *hex = palette[cls[i] % 10];
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
    text t = {0};
    char full[512];
    snprintf(full, sizeof full, "%s: %s over the input plane, points of split %s", title,
             k ? "decision regions (shade: confidence)" : "output 0", split);
    add(&t, "set title ");
    add_quoted(&t, full);
    add(&t, "\nset xlabel 'x1'\nset ylabel 'x2'\nset xrange [%.7g:%.7g]\nset yrange [%.7g:%.7g]\nset size ratio -1\n"
            "set key outside right top title 'class'\n", pl->x0, pl->x1, pl->y0, pl->y1);
    if (k)
        add(&t, "plot 'gnuplot/regions.dat' using 1:2:3:4:5 with rgbimage notitle, \\\n     ");
    else
        add(&t, "set palette defined (0 '#3b4cc0', 0.5 '#f7f7f7', 1 '#b40426')\nset cblabel 'output 0'\n"
                "plot 'gnuplot/regions.dat' using 1:2:3 with image notitle, \\\n     ");
    add_points(&t, p, k, names, 0.5);
    add(&t, "\n");
    st = write_script(job, "decision_regions", &t, 900, 700, 1, err);
    free(t.s);
    return st;
}

/* Index of the dense layer that produces the output (the last dense layer), or -1. */
static int output_dense(const mt_model *m)
{
    for (int i = m->n_layers - 1; i >= 0; i--)
        if (m->layers[i].ops == &mt_dense_layer)
            return i;
    return -1;
}

static mt_status hidden_layer(plot_job *job, mt_session *s, plane *pl, int layer, const points *p,
                              const char *title, mt_error *err)
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
    text t = {0};
    /* 0-level lines of the pre-activations, traced by gnuplot's contouring into tables. */
    add(&t, "set view map\nset contour base\nset cntrparam levels discrete 0\nunset surface\n");
    for (int u = 0; u < shown; u++)
        add(&t, "set table 'gnuplot/%s_unit%d.zero'\nsplot 'gnuplot/%s' using 1:2:%d with lines notitle\nunset table\n",
            name, u, data, 4 + 2 * u);
    add(&t, "unset contour\nset surface\n");
    add(&t, "set palette defined (0 '#3b4cc0', 0.5 '#f7f7f7', 1 '#b40426')\n");
    if (act == MT_ACT_TANH)
        add(&t, "set cbrange [-1:1]\n");
    else if (act == MT_ACT_SIGMOID)
        add(&t, "set cbrange [0:1]\n");
    add(&t, "set xrange [%.7g:%.7g]\nset yrange [%.7g:%.7g]\nset size ratio -1\nunset key\nset tics font ',8'\n",
        pl->x0, pl->x1, pl->y0, pl->y1);
    add(&t, "set multiplot layout %d,%d title ", rows, cols);
    char full[512];
    char act_name[32];
    snprintf(act_name, sizeof act_name, "%s", act >= 0 ? mt_activation_names[act] : "linear");
    act_name[strcspn(act_name, "|")] = '\0';
    snprintf(full, sizeof full, "%s: model.layers[%d] (dense, %s, %d units%s): activation of each unit over the "
             "input plane; black line: its pre-activation is 0", title, layer, act_name, units,
             units > shown ? ", first 16 shown" : "");
    add_quoted(&t, full);
    add(&t, "\n");
    for (int u = 0; u < shown; u++)
        add(&t, "set title 'unit %d'\nplot 'gnuplot/%s' using 1:2:%d with image, \\\n"
                "     'gnuplot/points.dat' using 1:2:4 with points pt 7 ps 0.3 lc rgb variable, \\\n"
                "     'gnuplot/%s_unit%d.zero' using 1:2 with lines lw 2.5 lc rgb 'black'\n",
            u, data, 3 + 2 * u, name, u);
    add(&t, "unset multiplot\n");
    (void)p;
    st = write_script(job, name, &t, 380 * cols + 60, 330 * rows + 60, 1, err);
    free(t.s);
    return st;
}

static mt_status two_features(plot_job *job, mt_session *s, const char *file, const char *split, int grid,
                              const char *title, const char *const *names, mt_error *err)
{
    points p;
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

/* ---- image classifiers: a grid of predictions ------------------------------------------------------- */

/* Image geometry of the model input: [H, W] or [C, H, W] with C 1 or 3; 0 when it is not an image. */
static int image_shape(const mt_model *m, int *c, int *h, int *w)
{
    const mt_ints *in = &m->input_shape;
    if (in->n == 2 && in->v[0] >= 8 && in->v[1] >= 8) {
        *c = 1, *h = in->v[0], *w = in->v[1];
        return 1;
    }
    if (in->n == 3 && (in->v[0] == 1 || in->v[0] == 3) && in->v[1] >= 8 && in->v[2] >= 8) {
        *c = in->v[0], *h = in->v[1], *w = in->v[2];
        return 1;
    }
    return 0;
}

static mt_status image_grid(plot_job *job, mt_session *s, const char *file, const char *split, int count,
                            const char *title, const char *const *names, mt_error *err)
{
    int c, h, w;
    image_shape(&s->model, &c, &h, &w);
    points p;
    mt_status st = read_points(s, file, split, (uint64_t)count, &p, err);
    if (st)
        return st;
    int n = (int)p.n, k = (int)s->model.output_size;
    float *out = malloc((size_t)n * (size_t)k * sizeof *out);
    int32_t *pred = malloc((size_t)n * sizeof *pred), *truth = malloc((size_t)n * sizeof *truth);
    if (!out || !pred || !truth)
        st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate predictions");
    if (!st)
        st = mt_predict_batch(s, p.x, p.n, out, err);
    FILE *f = st ? NULL : open_data(job, "images.bin", err);
    if (!st && !f)
        st = err->code;
    /* float32 pixels, one image after another, channels interleaved (what gnuplot's binary format reads) */
    for (int i = 0; f && i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) {
                    float v = p.x[(size_t)i * p.features + ((size_t)ch * (size_t)h + (size_t)y) * (size_t)w + (size_t)x];
                    v = c == 3 ? 255.0f * (v < 0 ? 0 : v > 1 ? 1 : v) : v;
                    fwrite(&v, sizeof v, 1, f);
                }
    if (f && (st = close_data(job, f, "images.bin", err)))
        f = NULL;
    if (st) {
        free(out), free(pred), free(truth), free_points(&p);
        return st;
    }
    mt_predict_decide(&s->loss, out, n, pred);
    mt_predict_true_class(&s->loss, p.y, p.target, n, truth);
    int cols = n < 6 ? n : 6, rows = (n + cols - 1) / cols, wrong = 0;
    double px = w * 1.3, py = h * 1.45; /* cell pitch: the image, then two lines of text above it */
    text t = {0};
    add(&t, "unset border\nunset tics\nunset key\nunset colorbox\nset size ratio -1\nset lmargin 1\nset rmargin 1\n"
            "set bmargin 1\nset tmargin 3\nset xrange [%.3f:%.3f]\nset yrange [%.3f:%.3f]\n",
        -0.15 * w, cols * px - 0.15 * w, -0.2 * h, rows * py);
    add(&t, "set palette defined (0 'white', 1 'black')\nset cbrange [0:1]\n");
    for (int i = 0; i < n; i++) {
        double x = (i % cols) * px, y = (rows - 1 - i / cols) * py;
        int bad = pred[i] != truth[i];
        wrong += bad;
        char line[200];
        snprintf(line, sizeof line, "%s%s", bad ? "✗ " : "", names[pred[i] % MAX_CLASSES]);
        add(&t, "set label %d ", 2 * i + 1);
        add_quoted(&t, line);
        add(&t, " at %.3f,%.3f center font ',9' tc rgb '%s'\n", x + w / 2.0, y + h + 0.3 * h,
            bad ? "#d62728" : "#1a1a1a");
        snprintf(line, sizeof line, "(%s)", names[truth[i] % MAX_CLASSES]);
        add(&t, "set label %d ", 2 * i + 2);
        add_quoted(&t, line);
        add(&t, " at %.3f,%.3f center font ',8' tc rgb '#555555'\n", x + w / 2.0, y + h + 0.1 * h);
        if (bad)
            add(&t, "set object %d rectangle from %.3f,%.3f to %.3f,%.3f front fillstyle empty border lc rgb "
                    "'#d62728' lw 3\n", i + 1, x - 0.5, y - 0.5, x + w + 0.5, y + h + 0.5);
    }
    char full[512];
    snprintf(full, sizeof full, "%s: %d images of split %s, predicted class over (true class); %d misclassified "
             "in red", title, n, split, wrong);
    add(&t, "set title ");
    add_quoted(&t, full);
    add(&t, "\nplot ");
    size_t bytes = (size_t)h * (size_t)w * (size_t)c * sizeof(float);
    for (int i = 0; i < n; i++) {
        double x = (i % cols) * px, y = (rows - 1 - i / cols) * py;
        add(&t, "%s'gnuplot/images.bin' binary array=(%d,%d) skip=%zu format='%s' flipy origin=(%.3f,%.3f) with %s",
            i ? ", \\\n     " : "", w, h, (size_t)i * bytes, c == 3 ? "%float%float%float" : "%float", x, y,
            c == 3 ? "rgbimage" : "image");
    }
    add(&t, "\n");
    double scale = 5.0 * 28.0 / (h > w ? h : w);
    st = write_script(job, "predictions", &t, (int)(cols * px * scale) + 40, (int)(rows * py * scale) + 80, 0, err);
    free(t.s);
    free(out), free(pred), free(truth), free_points(&p);
    return st;
}

/* ---- the command ------------------------------------------------------------------------------------- */

/* The data file of the config: as written when it exists, else relative to the run directory's parent or
 * grandparent (a run under runs/NAME of the directory the config was used from). */
static void resolve_data(const char *run, const char *file, char *out, size_t size)
{
    snprintf(out, size, "%s", file);
    if (is_file(file) || file[0] == '/')
        return;
    const char *up[2] = {"..", "../.."};
    for (int i = 0; i < 2; i++) {
        char cand[8400];
        snprintf(cand, sizeof cand, "%s/%s/%s", run, up[i], file);
        if (is_file(cand)) {
            snprintf(out, size, "%s", cand);
            return;
        }
    }
}

/* The model figures (rank 0 alone, on its own communicator). */
static mt_status model_figures(plot_job *job, const options *o, const char *title, mt_error *err)
{
    char ckpt[4200], file[8400];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", o->run);
    if (!is_file(ckpt))
        return MT_OK; /* learning curves only */
    mt_comm *self = NULL;
    mt_status st = mt_comm_create_self(&self, err);
    if (st)
        return st;
    mt_predictor pr;
    if ((st = mt_predictor_open(&pr, ckpt, self, err))) {
        mt_comm_destroy(self);
        return st;
    }
    const mt_data_config *d = &pr.cfg.data;
    resolve_data(o->run, o->data ? o->data : d->file, file, sizeof file);
    const char *split = o->split ? o->split : d->test[0] ? d->test : d->validation[0] ? d->validation : d->train;
    static char names[MAX_CLASSES][64];
    const char *labels[MAX_CLASSES];
    mt_error ignored = {0};
    int n_names = mt_dataset_class_names(file, names, MAX_CLASSES, &ignored);
    int k = mt_predict_class_count(&pr.s);
    for (int i = 0; i < MAX_CLASSES; i++) {
        if (i >= n_names || n_names != k)
            snprintf(names[i], sizeof names[i], "%d", i);
        labels[i] = names[i];
    }
    const mt_model *m = &pr.s.model;
    int c, h, w;
    if (m->input_size == 2 && m->input_shape.n == 1)
        st = two_features(job, &pr.s, file, split, o->grid, title, labels, err);
    else if (k > 0 && image_shape(m, &c, &h, &w))
        st = image_grid(job, &pr.s, file, split, o->images, title, labels, err);
    mt_predictor_close(&pr);
    mt_comm_destroy(self);
    return st;
}

/* Runs every script; MT_ERR_IO with gnuplot's first message when one fails or an output is missing. */
static mt_status draw(plot_job *job, mt_error *err)
{
    for (int i = 0; i < job->n_scripts; i++) {
        char script[128], log[128];
        snprintf(script, sizeof script, "gnuplot/%s.gp", job->scripts[i]);
        snprintf(log, sizeof log, "gnuplot/%s.log", job->scripts[i]);
        int rc = run_gnuplot(job->gnuplot, job->dir, log, script, NULL);
        if (rc != 0) {
            char path[4400], line[300] = "";
            snprintf(path, sizeof path, "%s/%s", job->dir, log);
            FILE *f = fopen(path, "r");
            while (f && fgets(line, sizeof line, f))
                if (strstr(line, "rror") || strstr(line, "line "))
                    break;
            if (f)
                fclose(f);
            line[strcspn(line, "\n")] = '\0';
            return mt_fail(err, MT_ERR_IO, "%s/gnuplot/%s.gp: gnuplot failed (%s%d)%s%s", job->dir, job->scripts[i],
                           rc < 0 ? "could not run, " : "exit status ", rc, line[0] ? ": " : "", line);
        }
    }
    for (int i = 0; i < job->n_outputs; i++) {
        char path[4300];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", job->dir, job->outputs[i]);
        if (stat(path, &sb) != 0 || sb.st_size == 0)
            return mt_fail(err, MT_ERR_IO, "%s: gnuplot wrote nothing (see %s/gnuplot/*.log)", path, job->dir);
    }
    return MT_OK;
}

static int parse(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            o->data = argv[++i];
        } else if (!strcmp(a, "--split") && i + 1 < argc) {
            o->split = argv[++i];
        } else if ((!strcmp(a, "--images") || !strcmp(a, "--grid")) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            int grid = a[2] == 'g';
            if (end == argv[i] || *end || v < (grid ? 10 : 1) || v > (grid ? 1000 : 400))
                return cli_usage_error("plot", "%s: expected an integer in %s, got '%s'", a,
                                       grid ? "10..1000" : "1..400", argv[i]);
            *(grid ? &o->grid : &o->images) = (int)v;
        } else if (a[0] == '-') {
            return cli_usage_error("plot", "unknown option or missing value '%s'", a);
        } else if (!o->run) {
            o->run = a;
        } else {
            return cli_usage_error("plot", "unexpected argument '%s'", a);
        }
    }
    if (!o->run)
        return cli_usage_error("plot", "missing RUN_DIR");
    return -1;
}

int cmd_plot(int argc, char **argv)
{
    options o = {.images = 36, .grid = 200};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct stat sb;
    int found = stat(o.run, &sb) == 0;
    if (!found || !S_ISDIR(sb.st_mode)) {
        cli_error_line("%s: not a run directory (%s)", o.run, found ? "not a directory" : strerror(errno));
        return 2;
    }
    plot_job job = {.gnuplot = getenv("GNUPLOT") && getenv("GNUPLOT")[0] ? getenv("GNUPLOT") : "gnuplot"};
    if (!find_program(job.gnuplot)) {
        cli_error_line("plot: %s not found (PATH searched; $GNUPLOT names the program); install gnuplot "
                       "(Debian: apt-get install gnuplot-nox)", job.gnuplot);
        return 2;
    }
    probe_terminals(&job);
    if (o.out)
        snprintf(job.dir, sizeof job.dir, "%s", o.out);
    else
        snprintf(job.dir, sizeof job.dir, "%s/plots", o.run);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/gnuplot", job.dir);
    if (make_dir(job.dir) != 0 || make_dir(sub) != 0) {
        cli_error_line("%s: cannot create the output directory: %s", job.dir, strerror(errno));
        return 1;
    }
    const char *base = strrchr(o.run, '/');
    char title[256];
    snprintf(title, sizeof title, "%s", base && base[1] ? base + 1 : o.run);
    cli_context ctx;
    if ((rc = cli_start(&ctx, &argc, &argv)))
        return rc;
    mt_error err = {0};
    mt_status st = MT_OK;
    const int rank = ctx.rank;
    if (rank == 0) {
        st = learning_curves(&job, o.run, title, &err);
        if (!st)
            st = model_figures(&job, &o, title, &err);
    }
    if ((rc = cli_finish(&ctx, st, &err)) || rank != 0) /* MPI ends before gnuplot is started */
        return rc;
    if ((st = draw(&job, &err)))
        return cli_report(&err);
    for (int i = 0; i < job.n_outputs; i++)
        printf("wrote %s/%s\n", job.dir, job.outputs[i]);
    return 0;
}
