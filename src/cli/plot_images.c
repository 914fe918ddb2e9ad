/* mpitrain plot: image classifiers: a grid of the split's first images with the predicted and the true
 * class, misclassified ones framed in red. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/plot.h"

/* Image geometry of the model input: [H, W] or [C, H, W] with C 1 or 3; 0 when it is not an image. */
int image_shape(const mt_model *m, int *c, int *h, int *w)
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

mt_status image_grid(plot_job *job, mt_session *s, const char *file, const char *split, int count, const char *title,
                     const char *const *names, mt_error *err)
{
    int c, h, w;
    if (!image_shape(&s->model, &c, &h, &w))
        return mt_fail(err, MT_ERR_INTERNAL, "plot: the model's input is not an image");
    split_points p;
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
                    float v =
                        p.x[(size_t)i * p.features + ((size_t)ch * (size_t)h + (size_t)y) * (size_t)w + (size_t)x];
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
    script_text t = {0};
    script_add(&t,
               "unset border\nunset tics\nunset key\nunset colorbox\nset size ratio -1\nset lmargin 1\n"
               "set rmargin 1\nset bmargin 1\nset tmargin 3\nset xrange [%.3f:%.3f]\nset yrange [%.3f:%.3f]\n",
               -0.15 * w, cols * px - 0.15 * w, -0.2 * h, rows * py);
    script_add(&t, "set palette defined (0 'white', 1 'black')\nset cbrange [0:1]\n");
    for (int i = 0; i < n; i++) {
        double x = (i % cols) * px, y = (rows - 1 - i / cols) * py;
        int bad = pred[i] != truth[i];
        wrong += bad;
        char line[200];
        snprintf(line, sizeof line, "%s%s", bad ? "✗ " : "", names[pred[i] % PLOT_MAX_CLASSES]);
        script_add(&t, "set label %d ", 2 * i + 1);
        script_add_quoted(&t, line);
        script_add(&t, " at %.3f,%.3f center font ',9' tc rgb '%s'\n", x + w / 2.0, y + h + 0.3 * h,
                   bad ? "#d62728" : "#1a1a1a");
        snprintf(line, sizeof line, "(%s)", names[truth[i] % PLOT_MAX_CLASSES]);
        script_add(&t, "set label %d ", 2 * i + 2);
        script_add_quoted(&t, line);
        script_add(&t, " at %.3f,%.3f center font ',8' tc rgb '#555555'\n", x + w / 2.0, y + h + 0.1 * h);
        if (bad)
            script_add(&t,
                       "set object %d rectangle from %.3f,%.3f to %.3f,%.3f front fillstyle empty border lc rgb "
                       "'#d62728' lw 3\n",
                       i + 1, x - 0.5, y - 0.5, x + w + 0.5, y + h + 0.5);
    }
    char full[512];
    snprintf(full, sizeof full,
             "%s: %d images of split %s, predicted class over (true class); %d misclassified "
             "in red",
             title, n, split, wrong);
    script_add(&t, "set title ");
    script_add_quoted(&t, full);
    script_add(&t, "\nplot ");
    size_t bytes = (size_t)h * (size_t)w * (size_t)c * sizeof(float);
    for (int i = 0; i < n; i++) {
        double x = (i % cols) * px, y = (rows - 1 - i / cols) * py;
        script_add(&t,
                   "%s'gnuplot/images.bin' binary array=(%d,%d) skip=%zu format='%s' flipy origin=(%.3f,%.3f) "
                   "with %s",
                   i ? ", \\\n     " : "", w, h, (size_t)i * bytes, c == 3 ? "%float%float%float" : "%float", x, y,
                   c == 3 ? "rgbimage" : "image");
    }
    script_add(&t, "\n");
    double scale = 5.0 * 28.0 / (h > w ? h : w);
    st = write_script(job, "predictions", &t, (int)(cols * px * scale) + 40, (int)(rows * py * scale) + 80, 0, err);
    free(t.s);
    free(out), free(pred), free(truth), free_points(&p);
    return st;
}
