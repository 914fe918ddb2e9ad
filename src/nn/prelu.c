/* PReLU layer: y = x > 0 ? x : a_c x with a learnable slope a_c per unit, as torch.nn.PReLU(num_parameters=C,
 * init=0.25). Parameter "weight" of shape [C]. C is the first dimension of the sample: for a flat input of
 * `units` values, one slope per unit; for an input [C, H, W] (after a convolution), one slope per channel,
 * shared by its H x W positions (torch applies PReLU's weights along dim 1 of (N, C, ...)). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct prelu_opts {
    double init;
} prelu_opts;

static const mt_option prelu_options[] = {
    {"init", MT_OPT_FLOAT, offsetof(prelu_opts, init), "0.25", -HUGE_VAL, HUGE_VAL, NULL,
     "initial value of every slope (torch.nn.PReLU init)"},
    MT_OPT_END,
};

static mt_status prelu_setup(mt_layer *l, mt_error *err)
{
    const prelu_opts *o = l->opts;
    int c = l->in_shape.n > 0 ? l->in_shape.v[0] : 0;
    if (c < 1 || l->in_size % (size_t)c)
        return mt_fail(err, MT_ERR_CONFIG, "%s: cannot take channels from an input of shape with %d dimensions",
                       l->section, l->in_shape.n);
    l->out_shape = l->in_shape;
    l->out_size = l->in_size;
    mt_tensor_desc *w = &l->tensors[0];
    *w = (mt_tensor_desc){
        .name = "weight", .rank = 1, .shape = {c}, .offset = 0, .size = (size_t)c, .fan_in = 1, .fan_out = 1};
    snprintf(w->init, sizeof w->init, "constant(%.9g)", o->init);
    l->n_tensors = 1;
    l->n_params = (size_t)c;
    return MT_OK;
}

static mt_status prelu_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const float *a = l->params;
    size_t c = (size_t)l->tensors[0].size, s = l->in_size / c;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * l->in_size;
        float *yi = y + (size_t)i * l->in_size;
        if (s == 1) {
            for (size_t j = 0; j < c; j++)
                yi[j] = xi[j] > 0.0f ? xi[j] : a[j] * xi[j];
            continue;
        }
        for (size_t ch = 0; ch < c; ch++) {
            const float *xc = xi + ch * s;
            float *yc = yi + ch * s, ac = a[ch];
            for (size_t j = 0; j < s; j++)
                yc[j] = xc[j] > 0.0f ? xc[j] : ac * xc[j];
        }
    }
    return MT_OK;
}

/* d(loss)/d(a_c) = sum over samples and positions of dy * min(x, 0); dx = dy * (x > 0 ? 1 : a_c). */
static mt_status prelu_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)y, (void)err;
    const float *a = l->params;
    float *ga = l->grads;
    size_t c = (size_t)l->tensors[0].size, s = l->in_size / c;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * l->in_size, *di = dy + (size_t)i * l->in_size;
        float *dxi = dx ? dx + (size_t)i * l->in_size : NULL;
        if (s == 1) {
            for (size_t j = 0; j < c; j++)
                ga[j] += xi[j] > 0.0f ? 0.0f : di[j] * xi[j];
            if (dxi)
                for (size_t j = 0; j < c; j++)
                    dxi[j] = xi[j] > 0.0f ? di[j] : a[j] * di[j];
            continue;
        }
        for (size_t ch = 0; ch < c; ch++) {
            const float *xc = xi + ch * s, *dc = di + ch * s;
            float acc = 0.0f, ac = a[ch];
            for (size_t j = 0; j < s; j++)
                acc += xc[j] > 0.0f ? 0.0f : dc[j] * xc[j];
            ga[ch] += acc;
            if (dxi)
                for (size_t j = 0; j < s; j++)
                    dxi[ch * s + j] = xc[j] > 0.0f ? dc[j] : ac * dc[j];
        }
    }
    return MT_OK;
}

const mt_layer_ops mt_prelu_layer = {
    .name = "prelu",
    .options = prelu_options,
    .options_size = sizeof(prelu_opts),
    .doc = "x > 0 ? x : a x with a learnable slope a per unit (per channel, the first sample dimension, for "
           "[C, H, W] inputs); weight [C] as torch.nn.PReLU(num_parameters=C, init=0.25)",
    .torch = "torch.nn.PReLU(num_parameters=C) state_dict: weight [C]",
    .setup = prelu_setup,
    .forward = prelu_forward,
    .backward = prelu_backward,
};
