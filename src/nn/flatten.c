/* Flatten: any sample shape to one dimension ([C, H, W] -> [C H W], in row-major order as torch.flatten
 * from dimension 1). The values do not move; the layer exists so that Keras-style configs (conv2d, pooling,
 * flatten, dense) read as users write them. Dense layers flatten their input by themselves. Its passes,
 * copies of the values, serve reshape too. */
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

static const mt_option flatten_options[] = {MT_OPT_END};

static mt_status flatten_setup(mt_layer *l, mt_error *err)
{
    if (l->in_size > (size_t)1 << 30)
        return mt_fail(err, MT_ERR_CONFIG, "%s: samples of %zu values are too large", l->section, l->in_size);
    l->out_shape = (mt_ints){.n = 1, .v = {(int)l->in_size}};
    l->out_size = l->in_size;
    return MT_OK;
}

mt_status mt_layer_copy_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    if (n > 0)
        memcpy(y, x, (size_t)n * l->in_size * sizeof *y);
    return MT_OK;
}

mt_status mt_layer_copy_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                 const mt_pass *pass, mt_error *err)
{
    (void)x, (void)y, (void)pass, (void)err;
    if (dx && n > 0)
        memcpy(dx, dy, (size_t)n * l->in_size * sizeof *dx);
    return MT_OK;
}

const mt_layer_ops mt_flatten_layer = {
    .name = "flatten",
    .options = flatten_options,
    .options_size = 0,
    .doc = "reshape each sample to one dimension (row-major), as torch.nn.Flatten",
    .setup = flatten_setup,
    .forward = mt_layer_copy_forward,
    .backward = mt_layer_copy_backward,
};
