/* Inverted dropout: in training each element is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate); at inference it is the identity. The mask of an element is a pure function of
 * (seed, step, layer, position of the sample in the global batch, element), so any number of ranks
 * drops exactly the same units. */
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct dropout_opts {
    double rate;
} dropout_opts;

static const mt_option dropout_options[] = {
    {"rate", MT_OPT_FLOAT, offsetof(dropout_opts, rate), NULL, 0, 0.999, NULL, "fraction of units dropped"},
    MT_OPT_END,
};

static mt_status dropout_setup(mt_layer *l, mt_error *err)
{
    (void)err;
    l->out_shape = l->in_shape;
    l->out_size = l->in_size;
    l->scratch_per_sample = l->in_size; /* the mask, as scale factors */
    return MT_OK;
}

static mt_status dropout_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)err;
    const dropout_opts *o = l->opts;
    size_t total = (size_t)n * l->in_size;
    if (!pass->training || o->rate == 0) {
        memcpy(y, x, total * sizeof *y);
        return MT_OK;
    }
    const uint64_t threshold = (uint64_t)(o->rate * 18446744073709551616.0);
    const float scale = (float)(1.0 / (1.0 - o->rate));
    const uint64_t key = mt_key(mt_key(mt_key(pass->seed, 0xd509), pass->step), (uint64_t)l->index);
    const uint64_t base = pass->first * l->in_size;
    float *mask = l->scratch;
    for (size_t i = 0; i < total; i++) {
        uint64_t u = mt_mix64(key ^ mt_mix64(base + i));
        mask[i] = u >= threshold ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
    return MT_OK;
}

static mt_status dropout_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                  const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)err;
    const dropout_opts *o = l->opts;
    size_t total = (size_t)n * l->in_size;
    if (!dx)
        return MT_OK;
    if (!pass->training || o->rate == 0) {
        memcpy(dx, dy, total * sizeof *dx);
        return MT_OK;
    }
    const float *mask = l->scratch;
    for (size_t i = 0; i < total; i++)
        dx[i] = dy[i] * mask[i];
    return MT_OK;
}

const mt_layer_ops mt_dropout_layer = {
    .name = "dropout",
    .options = dropout_options,
    .options_size = sizeof(dropout_opts),
    .doc = "inverted dropout (training only); the mask depends on seed, step, layer and sample, not on ranks",
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
