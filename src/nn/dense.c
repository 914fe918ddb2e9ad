/* Dense (fully connected) layer with a fused activation: y = f(x W^T + b), W [out, in] as nn.Linear. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/layer.h"

typedef struct dense_opts {
    int units;
    char activation[MT_NAME_MAX];
    char kernel_initializer[MT_NAME_MAX];
    char bias_initializer[MT_NAME_MAX];
    int use_bias;
} dense_opts;

static const mt_option dense_options[] = {
    {"units", MT_OPT_INT, offsetof(dense_opts, units), NULL, 1, 1 << 24, NULL, "number of output units"},
    {"activation", MT_OPT_NAME, offsetof(dense_opts, activation), "linear", 0, 0, mt_activation_names,
     "activation applied to the output"},
    {"kernel_initializer", MT_OPT_NAME, offsetof(dense_opts, kernel_initializer), "auto", 0, 0,
     mt_initializer_names, "weight initializer (auto: he_uniform after relu, glorot_uniform otherwise)"},
    {"bias_initializer", MT_OPT_NAME, offsetof(dense_opts, bias_initializer), "zeros", 0, 0, mt_initializer_names,
     "bias initializer"},
    {"use_bias", MT_OPT_BOOL, offsetof(dense_opts, use_bias), "true", 0, 0, NULL, "add a learned bias"},
    MT_OPT_END,
};

static mt_activation act_of(const mt_layer *l)
{
    return (mt_activation)mt_choice_find(mt_activation_names, ((const dense_opts *)l->opts)->activation);
}

static mt_status dense_setup(mt_layer *l, mt_error *err)
{
    dense_opts *o = l->opts;
    int in = (int)l->in_size;
    if (l->in_size > (1u << 30) || (size_t)o->units * l->in_size > ((size_t)1 << 34))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d units on an input of %zu values is too large", l->section,
                       o->units, l->in_size);
    l->out_shape.n = 1;
    l->out_shape.v[0] = o->units;
    l->out_size = (size_t)o->units;
    l->out_activation = act_of(l);

    const char *kinit = o->kernel_initializer;
    if (!strcmp(kinit, "auto"))
        kinit = act_of(l) == MT_ACT_RELU ? "he_uniform" : "glorot_uniform";
    mt_tensor_desc *w = &l->tensors[0];
    *w = (mt_tensor_desc){.name = "weight", .rank = 2, .shape = {o->units, in}, .offset = 0,
                          .size = (size_t)o->units * in, .fan_in = in, .fan_out = o->units};
    snprintf(w->init, sizeof w->init, "%s", kinit);
    l->n_tensors = 1;
    l->n_params = w->size;
    if (o->use_bias) {
        mt_tensor_desc *b = &l->tensors[1];
        *b = (mt_tensor_desc){.name = "bias", .rank = 1, .shape = {o->units}, .offset = w->size,
                              .size = (size_t)o->units, .fan_in = in, .fan_out = o->units};
        snprintf(b->init, sizeof b->init, "%s",
                 strcmp(o->bias_initializer, "auto") ? o->bias_initializer : "zeros");
        l->n_tensors = 2;
        l->n_params += b->size;
    }
    /* Pre-activations are kept when the loss needs logits (softmax output fused with cross-entropy). */
    l->scratch_per_sample = act_of(l) == MT_ACT_SOFTMAX || act_of(l) == MT_ACT_SIGMOID ? l->out_size : 0;
    return MT_OK;
}

static void dense_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass)
{
    (void)pass;
    const dense_opts *o = l->opts;
    int in = (int)l->in_size, out = o->units;
    const float *w = l->params, *b = l->params + (size_t)out * in;
    float *z = l->scratch_per_sample ? l->scratch : y;
    if (o->use_bias) {
        for (int i = 0; i < n; i++)
            memcpy(z + (size_t)i * out, b, (size_t)out * sizeof *z);
    }
    mt_sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, o->use_bias ? 1.0f : 0.0f, z, out);
    mt_activation_forward(act_of(l), z, y, n, out);
}

static void dense_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                           const mt_pass *pass)
{
    (void)pass;
    const dense_opts *o = l->opts;
    int in = (int)l->in_size, out = o->units;
    float *gw = l->grads, *gb = l->grads + (size_t)out * in;
    if (!l->fused_output)
        mt_activation_backward(act_of(l), l->scratch, y, dy, n, out);
    mt_sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, gw, in);
    if (o->use_bias)
        for (int i = 0; i < n; i++) {
            const float *di = dy + (size_t)i * out;
            for (int j = 0; j < out; j++)
                gb[j] += di[j];
        }
    if (dx)
        mt_sgemm(0, 0, n, in, out, 1.0f, dy, out, l->params, in, 0.0f, dx, in);
}

const mt_layer_ops mt_dense_layer = {
    .name = "dense",
    .options = dense_options,
    .options_size = sizeof(dense_opts),
    .doc = "fully connected layer y = f(x W^T + b), W of shape [units, inputs] as torch.nn.Linear",
    .setup = dense_setup,
    .forward = dense_forward,
    .backward = dense_backward,
};
