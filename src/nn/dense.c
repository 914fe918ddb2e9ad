/* Dense (fully connected) layer with a fused activation: y = f(x W^T + b), W [out, in] as nn.Linear.
 * Its three products (forward x W^T, dW += dy^T x, dx = dy W) run on our GEMM (core/gemm.h), which is
 * 1.4-2x faster than OpenBLAS' Haswell kernels at these shapes on AVX-512 machines. Its rows are
 * computed alike whatever the batch, so deterministic mode's chunks run together (direct_fixed): dW and
 * the bias gradient are then summed per chunk straight into the exact accumulator. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/fixed_point.h"
#include "core/gemm.h"
#include "nn/activation.h"
#include "nn/affine_params.h"
#include "nn/init.h"
#include "nn/layer.h"

typedef struct dense_opts {
    int units;
    mt_affine_opts affine;
} dense_opts;

static const mt_option dense_options[] = {
    {"units", MT_OPT_INT, offsetof(dense_opts, units), NULL, 1, 1 << 24, NULL, "number of output units"},
    MT_AFFINE_OPTIONS(dense_opts, affine, "activation applied to the output",
                      "weight initializer: " MT_AFFINE_INITIALIZERS, "add a learned bias"),
    MT_OPT_END,
};

static mt_status dense_setup(mt_layer *l, mt_error *err)
{
    dense_opts *o = l->opts;
    int in = (int)l->in_size;
    if (l->in_size > (1u << 30) || (size_t)o->units * l->in_size > ((size_t)1 << 34))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d units on an input of %zu values is too large", l->section, o->units,
                       l->in_size);
    l->out_shape.n = 1;
    l->out_shape.v[0] = o->units;
    l->out_size = (size_t)o->units;
    return mt_affine_params(l,
                            &(mt_affine_spec){.rank = 2,
                                              .shape = {o->units, in},
                                              .units = o->units,
                                              .fan_in = in,
                                              .fan_out = o->units,
                                              .opts = &o->affine},
                            err);
}

static mt_status dense_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const dense_opts *o = l->opts;
    int in = (int)l->in_size, out = o->units;
    if (n == 0)
        return MT_OK;
    const float *w = l->params, *b = l->params + (size_t)out * in;
    float *z = l->scratch_per_sample ? l->scratch : y;
    mt_activation act = mt_affine_activation(&o->affine);
    /* the bias, and a relu kept in place, are applied as the product's tiles are stored */
    const int relu = act.kind == MT_ACT_RELU && z == y;
    const mt_gemm_epilogue ep = {.bias = o->affine.use_bias ? b : NULL, .relu = relu};
    mt_gemm_ex(0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, z, out, &ep);
    if (!relu)
        mt_activation_forward(&act, z, y, n, out);
    return MT_OK;
}

static mt_status dense_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const dense_opts *o = l->opts;
    int in = (int)l->in_size, out = o->units;
    if (n == 0)
        return MT_OK;
    float *gw = l->grads, *gb = l->grads + (size_t)out * in;
    mt_activation act = mt_affine_activation(&o->affine);
    if (!l->fused_output && !l->dy_relu_masked)
        mt_activation_backward(&act, l->scratch, y, dy, n, out);
    if (pass->fixed) { /* dW and db summed over each chunk, straight into the exact accumulator */
        const mt_pass_fixed *f = pass->fixed;
        int64_t *aw = f->acc + (gw - f->grads), *ab = f->acc + (gb - f->grads);
        size_t bad = mt_gemm_fixed(1, 0, out, in, n, f->chunk, dy, out, x, in, f->scale, f->limit, f->fresh, aw, in, gw,
                                   in);
        if (o->affine.use_bias)
            bad += mt_fixed_add_colsums(n, out, f->chunk, dy, out, f->scale, f->limit, f->fresh, ab, gb);
        *f->bad += (float)bad;
    } else {
        /* stale gradients (mt_model_zero_grads_lazy): dW written, not added; the bias sum from zeros as before */
        mt_gemm(1, 0, out, in, n, 1.0f, dy, out, x, in, l->grads_stale ? 0.0f : 1.0f, gw, in);
        if (o->affine.use_bias) {
            if (l->grads_stale)
                memset(gb, 0, (size_t)out * sizeof *gb);
            for (int i = 0; i < n; i++) {
                const float *di = dy + (size_t)i * out;
                for (int j = 0; j < out; j++)
                    gb[j] += di[j];
            }
        }
    }
    /* dx, times the derivative of the relu before this layer (whose output x is) when it is folded here */
    const mt_gemm_epilogue ep = {.mask = l->dx_relu_mask ? x : NULL, .ldmask = in};
    if (dx)
        mt_gemm_ex(0, 0, n, in, out, 1.0f, dy, out, l->params, in, 0.0f, dx, in, &ep);
    return MT_OK;
}

const mt_layer_ops mt_dense_layer = {
    .name = "dense",
    .options = dense_options,
    .options_size = sizeof(dense_opts),
    .doc = "fully connected layer y = f(x W^T + b), W of shape [units, inputs] as torch.nn.Linear",
    .torch = "torch.nn.Linear state_dict: weight [out_features, in_features], bias [out_features]",
    .setup = dense_setup,
    .forward = dense_forward,
    .backward = dense_backward,
    .overwrites_grads = 1,
    .relu_grad_fusion = 1,
    .direct_fixed = 1,
};
