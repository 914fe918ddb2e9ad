/* The weight and bias tensors and the activation of the affine layers from their common options, and the
 * row sums of their bias gradients (see affine_params.h). */
#include "nn/affine_params.h"

#include <string.h>

mt_activation mt_affine_activation(const mt_affine_opts *o)
{
    mt_activation act = mt_activation_make(MT_ACT_LINEAR);
    mt_activation_find(o->activation, &act);
    return act;
}

mt_status mt_affine_params(mt_layer *l, const mt_affine_spec *s, mt_error *err)
{
    const mt_affine_opts *o = s->opts;
    mt_activation act = mt_affine_activation(o);
    l->out_activation = (int)act.kind;
    const char *kinit = o->kernel_initializer, *binit = o->bias_initializer;
    if (!strcmp(kinit, "auto"))
        kinit = act.kind == MT_ACT_RELU ? "he_uniform" : "glorot_uniform";
    if (!strcmp(binit, "auto"))
        binit = "zeros";
    size_t size = 1;
    for (int i = 0; i < s->rank; i++)
        size *= (size_t)s->shape[i];
    mt_tensor_desc *w = &l->tensors[0];
    *w = (mt_tensor_desc){.name = "weight",
                          .rank = s->rank,
                          .offset = 0,
                          .size = size,
                          .fan_in = s->fan_in,
                          .fan_out = s->fan_out,
                          .l1 = (float)o->l1,
                          .l2 = (float)o->l2};
    memcpy(w->shape, s->shape, (size_t)s->rank * sizeof *s->shape);
    mt_status st = mt_layer_set_init(l, w, kinit, "kernel_initializer", err);
    if (st)
        return st;
    l->n_tensors = 1;
    l->n_params = w->size;
    if (o->use_bias) {
        mt_tensor_desc *b = &l->tensors[1];
        *b = (mt_tensor_desc){.name = "bias",
                              .rank = 1,
                              .shape = {s->units},
                              .offset = w->size,
                              .size = (size_t)s->units,
                              .fan_in = s->fan_in,
                              .fan_out = s->fan_out};
        if ((st = mt_layer_set_init(l, b, binit, "bias_initializer", err)))
            return st;
        l->n_tensors = 2;
        l->n_params += b->size;
    }
    int keep = act.kind == MT_ACT_SOFTMAX || act.kind == MT_ACT_SIGMOID || mt_activation_needs_input(&act);
    l->scratch_per_sample = keep ? l->out_size : 0;
    return MT_OK;
}

float mt_affine_row_sum(const float *v, size_t n)
{
    float part[16] = {0}, s = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            part[j] += v[i + j];
    for (; i < n; i++)
        s += v[i];
    for (int j = 0; j < 16; j++)
        s += part[j];
    return s;
}
