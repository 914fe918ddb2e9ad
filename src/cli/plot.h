/* mpitrain plot: what the files of the command share. A job knows the installed gnuplot and collects the
 * scripts its figures write under DIR/gnuplot/ (plot_script.c) until they are drawn (plot_gnuplot.c);
 * each figure has its file: the learning curves (plot_curves.c), the input plane of two-feature models
 * (plot_plane.c) with its decision regions (plot_regions.c) and hidden layers (plot_hidden.c), and the
 * prediction grid of image classifiers (plot_images.c), from the rows of a split (plot_points.c). */
#ifndef MT_CLI_PLOT_H
#define MT_CLI_PLOT_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "train/predict.h"

#define PLOT_MAX_SCRIPTS 32
#define PLOT_MAX_CLASSES 1024

/* Colours of classes and curves, in order. */
extern const char *const plot_palette[10];

/* What the scripts need to know about the installed gnuplot, and the scripts written so far. */
typedef struct plot_job {
    const char *gnuplot;
    const char *png_term; /* "pngcairo" or "png" */
    int svg;              /* the svg terminal exists */
    char dir[4096];       /* output directory */
    char scripts[PLOT_MAX_SCRIPTS][64];
    int n_scripts;
    char outputs[PLOT_MAX_SCRIPTS * 2][96];
    int n_outputs;
} plot_job;

/* ---- gnuplot (plot_gnuplot.c) ---- */

/* Finds prog in PATH (or as given when it holds a '/'); 1 when found. */
int find_program(const char *prog);
/* Asks gnuplot which terminals it has (pngcairo or png, svg). */
void probe_terminals(plot_job *job);
/* Runs every script; MT_ERR_IO with gnuplot's first message when one fails or an output is missing. */
mt_status draw(plot_job *job, mt_error *err);

/* ---- scripts and data files (plot_script.c) ---- */

/* A growing text buffer for the body of a script (drawn twice: once per terminal). */
typedef struct script_text {
    char *s;
    size_t n, cap;
} script_text;

/* Appends printf-formatted text; an allocation failure drops it. */
void script_add(script_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a gnuplot single-quoted string (a quote doubled; control bytes dropped). */
void script_add_quoted(script_text *t, const char *s);
/* Writes DIR/gnuplot/NAME.gp: the body once for PNG (width x height) and, when svg, once more for SVG. */
mt_status write_script(plot_job *job, const char *name, const script_text *body, int width, int height, int svg,
                       mt_error *err);
/* Opens DIR/gnuplot/NAME for writing data; close_data closes it, MT_ERR_IO when a write failed. */
FILE *open_data(const plot_job *job, const char *name, mt_error *err);
mt_status close_data(const plot_job *job, FILE *f, const char *name, mt_error *err);

/* ---- the rows of a split (plot_points.c) ---- */

/* Up to max rows of a split (evenly spaced when it has more): raw features and class labels (or the
 * first target). */
typedef struct split_points {
    uint64_t n;
    size_t features;
    float *x;      /* [n, features] as stored (uint8 scaled to [0, 1]) */
    int32_t *y;    /* [n] class labels, or NULL */
    float *target; /* [n, target_k], or NULL */
    int target_k;
} split_points;

/* Reads up to max rows of the split (evenly spaced when it has more) of a dataset file whose samples the
 * model of s takes. */
mt_status read_points(const mt_session *s, const char *file, const char *split, uint64_t max, split_points *p,
                      mt_error *err);
void free_points(split_points *p);

/* ---- the figures ---- */

/* loss and accuracy from RUN/metrics.jsonl (plot_curves.c). */
mt_status learning_curves(plot_job *job, const char *run, const char *title, mt_error *err);

/* Models of two input features: the points of the split, the decision regions and one figure per hidden
 * dense layer, over a grid of grid x grid points (plot_plane.c). */
mt_status two_features(plot_job *job, mt_session *s, const char *file, const char *split, int grid, const char *title,
                       const char *const *names, mt_error *err);

/* The input plane of a two-feature model (plot_plane.c). */
typedef struct plane {
    int g;                 /* grid points per axis */
    double x0, x1, y0, y1; /* bounds */
    float *xy;             /* [g, 2] the points of one grid row */
    float *out;            /* [g, k] */
} plane;

double grid_x(const plane *pl, int i);
double grid_y(const plane *pl, int j);
/* Runs the model on grid row j (all of it in one forward pass, so the layers' buffers hold it). */
mt_status grid_row(mt_session *s, plane *pl, int j, mt_error *err);
/* Adds the plot elements drawing points.dat, one colour per class. */
void add_points(script_text *t, const split_points *p, int k, const char *const *names, double size);

/* decision_regions.png/.svg (plot_regions.c). */
mt_status decision_regions(plot_job *job, mt_session *s, plane *pl, const split_points *p, const char *split,
                           const char *title, const char *const *names, mt_error *err);
/* hidden_layerL.png/.svg for model.layers[layer], a dense layer (plot_hidden.c). */
mt_status hidden_layer(plot_job *job, mt_session *s, plane *pl, int layer, const split_points *p, const char *title,
                       mt_error *err);

/* Image geometry of the model input: [H, W] or [C, H, W] with C 1 or 3; 0 when it is not an image
 * (plot_images.c). */
int image_shape(const mt_model *m, int *c, int *h, int *w);
/* predictions.png: the first count images of the split with predicted and true class (plot_images.c). */
mt_status image_grid(plot_job *job, mt_session *s, const char *file, const char *split, int count, const char *title,
                     const char *const *names, mt_error *err);

#endif
