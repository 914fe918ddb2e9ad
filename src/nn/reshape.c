/* Reshape: each sample to the shape given by `shape` (any rank up to MT_INTS_MAX), keeping the values in
 * row-major order, as torch's x.view(n, *shape) or Keras' Reshape. One entry may be -1: it is inferred
 * from the sample size. The product of the shape must equal the number of values of the input sample.
 * Typical use: a generator's dense output [C H W] -> [C, H, W] before conv2d_transpose or upsample2d.
 * The values do not move; forward and backward copy (flatten's passes: the gradient passes through
 * unchanged). */
#include <stdio.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct reshape_opts {
    mt_ints shape;
} reshape_opts;

static const mt_option reshape_options[] = {
    {"shape", MT_OPT_INTS, offsetof(reshape_opts, shape), NULL, -1, 1 << 30, NULL,
     "shape of one output sample, e.g. [C, H, W]; one entry may be -1 (inferred)"},
    MT_OPT_END,
};

/* "[a, b, c]" into buf. */
static const char *shape_text(const mt_ints *s, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? ", " : "[", s->v[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

static mt_status reshape_setup(mt_layer *l, mt_error *err)
{
    const reshape_opts *o = l->opts;
    char want[128], have[128];
    int infer = -1;
    size_t known = 1; /* product of the given dimensions (saturates above 2^31) */
    for (int i = 0; i < o->shape.n; i++) {
        int d = o->shape.v[i];
        if (d == 0 || (d == -1 && infer >= 0))
            return mt_fail(err, MT_ERR_CONFIG, "%s.shape: %s: dimensions must be positive, with at most one -1",
                           l->section, shape_text(&o->shape, want, sizeof want));
        if (d == -1)
            infer = i;
        else
            known = known > ((size_t)1 << 31) ? known : known * (size_t)d;
    }
    if (o->shape.n < 1)
        return mt_fail(err, MT_ERR_CONFIG, "%s.shape: expected at least one dimension", l->section);
    shape_text(&o->shape, want, sizeof want);
    shape_text(&l->in_shape, have, sizeof have);
    if (known > ((size_t)1 << 31))
        return mt_fail(err, MT_ERR_CONFIG, "%s.shape: %s holds more than 2^31 values, but the input %s has %zu",
                       l->section, want, have, l->in_size);
    if (infer >= 0 && l->in_size % known != 0)
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s.shape: %s needs a sample size that is a multiple of %zu, but the "
                       "input %s has %zu values",
                       l->section, want, known, have, l->in_size);
    if (infer < 0 && known != l->in_size)
        return mt_fail(err, MT_ERR_CONFIG, "%s.shape: %s holds %zu values, but the input %s has %zu", l->section, want,
                       known, have, l->in_size);
    l->out_shape = o->shape;
    if (infer >= 0)
        l->out_shape.v[infer] = (int)(l->in_size / known);
    l->out_size = l->in_size;
    return MT_OK;
}

const mt_layer_ops mt_reshape_layer = {
    .name = "reshape",
    .options = reshape_options,
    .options_size = sizeof(reshape_opts),
    .doc = "each sample to `shape` (row-major, values unchanged), as torch's view(n, *shape) or Keras' Reshape",
    .setup = reshape_setup,
    .forward = mt_layer_copy_forward,
    .backward = mt_layer_copy_backward,
};
