/* `mpitrain plot RUN_DIR [-o DIR]`: figures of a run drawn by gnuplot (PNG and SVG): learning curves from
 * metrics.jsonl; for models of two input features the decision regions with the data points on top and,
 * per hidden dense layer, what each unit separates (its activation over the input plane and the 0-level of
 * its pre-activation); for image classifiers a grid of test images with predicted and true labels. The
 * model's numbers come from the library (train/predict.h); the figures (cli/plot.h) write the data and
 * gnuplot scripts under DIR/gnuplot/ (kept, so a figure can be restyled by hand), and gnuplot runs once
 * MPI has ended. This file holds the command: its options, the run's model and data, the figures chosen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/plot.h"
#include "io/dataset.h"

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
    static char names[PLOT_MAX_CLASSES][64];
    const char *labels[PLOT_MAX_CLASSES];
    mt_error ignored = {0};
    int n_names = mt_dataset_class_names(file, names, PLOT_MAX_CLASSES, &ignored);
    int k = mt_predict_class_count(&pr.s);
    for (int i = 0; i < PLOT_MAX_CLASSES; i++) {
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
                       "(Debian: apt-get install gnuplot-nox)",
                       job.gnuplot);
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
