/* Image augmentation: per sample, in this order, zoom about the centre (bilinear, factor uniform in
 * [1 - zoom, 1 + zoom]), shift by whole pixels (uniform in [-shift, shift] per axis, zeros shifted in),
 * horizontal flip (probability 1/2), Gaussian blur (sigma uniform in [0, blur], separable kernel of
 * radius ceil(3 sigma), edges clamped) and Gaussian noise (std `noise`). */
#include "train/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

#define AUG(field) offsetof(mt_augment_opts, field)

const mt_option mt_augment_options[] = {
    {"horizontal_flip", MT_OPT_BOOL, AUG(horizontal_flip), "false", 0, 0, NULL,
     "mirror left-right with probability 1/2"},
    {"shift", MT_OPT_INT, AUG(shift), "0", 0, 1000, NULL,
     "largest shift in pixels per axis (a random crop of the image padded with zeros)"},
    {"zoom", MT_OPT_FLOAT, AUG(zoom), "0", 0, 0.9, NULL, "zoom factor drawn from [1 - zoom, 1 + zoom]"},
    {"blur", MT_OPT_FLOAT, AUG(blur), "0", 0, 10, NULL, "Gaussian blur with sigma drawn from [0, blur] pixels"},
    {"noise", MT_OPT_FLOAT, AUG(noise), "0", 0, 100, NULL, "standard deviation of added Gaussian noise"},
    MT_OPT_END,
};

mt_status mt_augment_init(mt_augment *a, const mt_node *node, const mt_ints *shape, mt_error *err)
{
    memset(a, 0, sizeof *a);
    if (!node || (node->kind == MT_NODE_SCALAR && node->value[0] == '\0'))
        return MT_OK;
    mt_status st = mt_options_parse(mt_augment_options, node, "data.augment", &a->opts, err);
    if (st)
        return st;
    char where[64];
    if (shape->n != 2 && shape->n != 3)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: data.augment: needs image samples ([H, W] or [C, H, W]), "
                       "model.input has %d dimension(s)",
                       mt_node_where(node, where, sizeof where), shape->n);
    a->c = shape->n == 3 ? shape->v[0] : 1;
    a->h = shape->v[shape->n - 2];
    a->w = shape->v[shape->n - 1];
    a->tmp = malloc((size_t)a->c * a->h * a->w * sizeof *a->tmp);
    if (!a->tmp)
        return mt_fail(err, MT_ERR_NOMEM, "data.augment: out of memory");
    a->enabled = 1;
    return MT_OK;
}

/* Bilinear zoom about the centre of each channel: out(y, x) = in(cy + (y - cy) / f, cx + (x - cx) / f). */
static void zoom(const mt_augment *a, float *x, double f)
{
    int H = a->h, W = a->w;
    double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    memcpy(a->tmp, x, (size_t)a->c * H * W * sizeof *x);
    for (int c = 0; c < a->c; c++) {
        const float *in = a->tmp + (size_t)c * H * W;
        float *out = x + (size_t)c * H * W;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double sy = cy + (y - cy) / f, sx = cx + (xx - cx) / f;
                int y0 = (int)floor(sy), x0 = (int)floor(sx);
                double fy = sy - y0, fx = sx - x0, v = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int yy = y0 + dy, xs = x0 + dx;
                        if (yy >= 0 && yy < H && xs >= 0 && xs < W)
                            v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * in[yy * W + xs];
                    }
                out[y * W + xx] = (float)v;
            }
    }
}

/* Moves each channel by (dy, dx) pixels; pixels that come in from outside are 0. */
static void shift(const mt_augment *a, float *x, int dy, int dx)
{
    int H = a->h, W = a->w;
    memcpy(a->tmp, x, (size_t)a->c * H * W * sizeof *x);
    for (int c = 0; c < a->c; c++) {
        const float *in = a->tmp + (size_t)c * H * W;
        float *out = x + (size_t)c * H * W;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                int sy = y - dy, sx = xx - dx;
                out[y * W + xx] = sy >= 0 && sy < H && sx >= 0 && sx < W ? in[sy * W + sx] : 0.0f;
            }
    }
}

static void flip(const mt_augment *a, float *x)
{
    for (int r = 0; r < a->c * a->h; r++) {
        float *row = x + (size_t)r * a->w;
        for (int i = 0, j = a->w - 1; i < j; i++, j--) {
            float t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
    }
}

/* Separable Gaussian blur with clamped edges: rows into tmp, then columns back into x. */
static void blur(const mt_augment *a, float *x, double sigma)
{
    enum { MAX_RADIUS = 30 };
    int radius = (int)ceil(3 * sigma);
    radius = radius > MAX_RADIUS ? MAX_RADIUS : radius;
    if (radius < 1)
        return;
    float k[2 * MAX_RADIUS + 1];
    double sum = 0;
    for (int i = -radius; i <= radius; i++)
        sum += k[i + radius] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * radius; i++)
        k[i] = (float)(k[i] / sum);
    int H = a->h, W = a->w;
    for (int c = 0; c < a->c; c++) {
        float *img = x + (size_t)c * H * W, *t = a->tmp + (size_t)c * H * W;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                float v = 0;
                for (int i = -radius; i <= radius; i++) {
                    int s = xx + i < 0 ? 0 : xx + i >= W ? W - 1 : xx + i;
                    v += k[i + radius] * img[y * W + s];
                }
                t[y * W + xx] = v;
            }
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                float v = 0;
                for (int i = -radius; i <= radius; i++) {
                    int s = y + i < 0 ? 0 : y + i >= H ? H - 1 : y + i;
                    v += k[i + radius] * t[s * W + xx];
                }
                img[y * W + xx] = v;
            }
    }
}

void mt_augment_apply(const mt_augment *a, float *x, const uint64_t *rows, int n, uint64_t seed, uint64_t epoch)
{
    if (!a->enabled)
        return;
    const size_t size = (size_t)a->c * a->h * a->w;
    const uint64_t key = mt_key(mt_key(seed, 0xa06), epoch);
    const mt_augment_opts *o = &a->opts;
    for (int i = 0; i < n; i++) {
        float *s = x + (size_t)i * size;
        mt_rng rng = mt_rng_make(mt_key(key, rows[i]));
        /* Every draw is made whatever the options, so each option's choice stays the same when another
         * option is switched on or off. */
        double u_zoom = mt_rng_uniform(&rng), u_dy = mt_rng_uniform(&rng), u_dx = mt_rng_uniform(&rng);
        double u_flip = mt_rng_uniform(&rng), u_blur = mt_rng_uniform(&rng);
        if (o->zoom > 0)
            zoom(a, s, 1 + o->zoom * (2 * u_zoom - 1));
        if (o->shift > 0) {
            int span = 2 * o->shift + 1;
            shift(a, s, (int)(u_dy * span) - o->shift, (int)(u_dx * span) - o->shift);
        }
        if (o->horizontal_flip && u_flip < 0.5)
            flip(a, s);
        if (o->blur > 0)
            blur(a, s, o->blur * u_blur);
        if (o->noise > 0)
            for (size_t j = 0; j < size; j++)
                s[j] += (float)o->noise * mt_rng_normal(&rng);
    }
}

void mt_augment_free(mt_augment *a)
{
    free(a->tmp);
    memset(a, 0, sizeof *a);
}
