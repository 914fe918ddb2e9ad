/* Standalone activation layers (Keras' Activation layer and its shorthands): out shape = in shape.
 *   - activation: {name: leaky_relu, alpha: 0.1}     any activation by name, with its parameter
 *   - relu | sigmoid | tanh | softmax | gelu          shorthands without options
 *   - leaky_relu: {alpha: 0.2}    - step: {threshold: 0.5}
 * Softmax works over the last axis of the sample (Keras' default axis=-1), the other activations element-wise.
 * A softmax (over the whole sample) or sigmoid layer at the end of the model keeps a copy of its input, so
 * that cross-entropy losses can be fused with it exactly as with a dense layer's activation: the model's
 * logits (mt_model_logits) are the layer's scratch, filled only when the loss has marked it fused.
 * There is no `linear` shorthand, so that torch users' `- linear: {units: ...}` is not mistaken for a no-op;
 * `- activation: {name: linear}` is one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/activation.h"
#include "nn/layer.h"

typedef struct act_opts {
    char name[MT_NAME_MAX];                     /* `activation` layer: the activation's (canonical) name */
    const mt_node *alpha_node, *threshold_node; /* `activation` layer: parameters, checked against the name */
    double alpha, threshold;                    /* shorthand layers */
    mt_activation act;                          /* resolved in setup */
    int width;                                  /* softmax: length of the last axis */
} act_opts;

static const mt_option generic_options[] = {
    {"name", MT_OPT_NAME, offsetof(act_opts, name), NULL, 0, 0, mt_activation_names, "activation function"},
    {"alpha", MT_OPT_NODE, offsetof(act_opts, alpha_node), "", 0, 0, NULL,
     "leaky_relu only: slope for x <= 0, a number >= 0 (default 0.01)"},
    {"threshold", MT_OPT_NODE, offsetof(act_opts, threshold_node), "", 0, 0, NULL,
     "step only: the output is 1 where x > threshold, else 0 (default 0)"},
    MT_OPT_END,
};

static const mt_option no_options[] = {MT_OPT_END};

static const mt_option leaky_relu_options[] = {
    {"alpha", MT_OPT_FLOAT, offsetof(act_opts, alpha), "0.01", 0, HUGE_VAL, NULL, "slope for x <= 0"},
    MT_OPT_END,
};

static const mt_option step_options[] = {
    {"threshold", MT_OPT_FLOAT, offsetof(act_opts, threshold), "0", -HUGE_VAL, HUGE_VAL, NULL,
     "the output is 1 where x > threshold, else 0"},
    MT_OPT_END,
};

/* A number option of the `activation` layer, given as a node. Messages name the option; the model adds
 * the layer's file and line. */
static mt_status node_number(const mt_node *n, const char *section, const char *key, double min, double *out,
                             mt_error *err)
{
    char *end = NULL;
    double x = n->kind == MT_NODE_SCALAR && n->value[0] ? strtod(n->value, &end) : NAN;
    if (!end || *end || !isfinite(x))
        return mt_fail(err, MT_ERR_CONFIG, "%s.%s: expected a number, got %s", section, key,
                       n->kind == MT_NODE_SCALAR ? n->value : "a list or map");
    if (x < min)
        return mt_fail(err, MT_ERR_CONFIG, "%s.%s: %s is below the minimum %g", section, key, n->value, min);
    *out = x;
    return MT_OK;
}

static mt_status generic_params(mt_layer *l, act_opts *o, mt_error *err)
{
    double v;
    if (o->alpha_node) {
        if (o->act.kind != MT_ACT_LEAKY_RELU)
            return mt_fail(err, MT_ERR_CONFIG, "%s.alpha: applies only to leaky_relu, not to %s", l->section, o->name);
        mt_status st = node_number(o->alpha_node, l->section, "alpha", 0.0, &v, err);
        if (st)
            return st;
        o->act.alpha = (float)v;
    }
    if (o->threshold_node) {
        if (o->act.kind != MT_ACT_STEP)
            return mt_fail(err, MT_ERR_CONFIG, "%s.threshold: applies only to step, not to %s", l->section, o->name);
        mt_status st = node_number(o->threshold_node, l->section, "threshold", -HUGE_VAL, &v, err);
        if (st)
            return st;
        o->act.threshold = (float)v;
    }
    return MT_OK;
}

static mt_status act_setup(mt_layer *l, mt_error *err)
{
    act_opts *o = l->opts;
    int generic = l->ops->options == generic_options;
    if (mt_activation_find(generic ? o->name : l->ops->name, &o->act))
        return mt_fail(err, MT_ERR_INTERNAL, "%s: unknown activation", l->section);
    if (generic) {
        mt_status st = generic_params(l, o, err);
        if (st)
            return st;
    } else if (o->act.kind == MT_ACT_LEAKY_RELU) {
        o->act.alpha = (float)o->alpha;
    } else if (o->act.kind == MT_ACT_STEP) {
        o->act.threshold = (float)o->threshold;
    }
    l->out_shape = l->in_shape;
    l->out_size = l->in_size;
    l->out_activation = (int)o->act.kind;
    o->width = l->in_shape.n > 0 ? l->in_shape.v[l->in_shape.n - 1] : 1;
    if (o->width < 1 || l->in_size % (size_t)o->width)
        o->width = (int)l->in_size;
    /* Room for the logits, used when the loss fuses with this layer (it must then be the last one). */
    int whole_row = o->act.kind == MT_ACT_SOFTMAX && (size_t)o->width == l->in_size;
    l->scratch_per_sample = whole_row || o->act.kind == MT_ACT_SIGMOID ? l->out_size : 0;
    return MT_OK;
}

static mt_status act_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const act_opts *o = l->opts;
    size_t total = (size_t)n * l->in_size;
    if (l->fused_output && l->scratch_per_sample)
        memcpy(l->scratch, x, total * sizeof *x);
    mt_activation_forward(&o->act, x, y, (int)(total / (size_t)o->width), o->width);
    return MT_OK;
}

static mt_status act_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                              const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const act_opts *o = l->opts;
    size_t total = (size_t)n * l->in_size;
    if (!dx)
        return MT_OK; /* no parameters: nothing to do for the first layer */
    if (!l->fused_output && (o->act.kind == MT_ACT_RELU || o->act.kind == MT_ACT_LEAKY_RELU)) {
        /* one pass instead of a copy and an in-place product (alpha >= 0: y > 0 exactly where x > 0) */
        const float *restrict yr = y, *restrict d = dy;
        float *restrict out = dx;
        const float alpha = o->act.alpha;
        if (o->act.kind == MT_ACT_RELU)
            for (size_t i = 0; i < total; i++)
                out[i] = yr[i] > 0.0f ? d[i] : 0.0f;
        else
            for (size_t i = 0; i < total; i++)
                out[i] = d[i] * (yr[i] > 0.0f ? 1.0f : alpha);
        return MT_OK;
    }
    memcpy(dx, dy, total * sizeof *dx);
    if (!l->fused_output) /* fused: dy is already d(loss)/d(input) */
        mt_activation_backward(&o->act, x, y, dx, (int)(total / (size_t)o->width), o->width);
    return MT_OK;
}

int mt_activation_warning(const mt_layer *l, char *buf, size_t size)
{
    if (l->out_activation < 0 || mt_activation_is_trainable(l->out_activation))
        return 0;
    const char *name = mt_activation_names[l->out_activation];
    snprintf(buf, size,
             "%s: the %.*s activation has a zero gradient everywhere: no layer before it%s receives a gradient, "
             "so they cannot be trained through it",
             l->section, (int)strcspn(name, "|"), name, l->n_params ? " (nor this layer's weights)" : "");
    return 1;
}

#define ACT_LAYER(var, cname, table, text) \
    const mt_layer_ops var = {             \
        .name = cname,                     \
        .options = table,                  \
        .options_size = sizeof(act_opts),  \
        .doc = text,                       \
        .setup = act_setup,                \
        .forward = act_forward,            \
        .backward = act_backward,          \
    }

ACT_LAYER(mt_activation_layer, "activation", generic_options,
          "activation function applied to its input (Keras Activation): name and, for leaky_relu or step, its "
          "parameter; softmax works over the last axis");
ACT_LAYER(mt_relu_layer, "relu", no_options, "max(x, 0) (torch.nn.ReLU)");
ACT_LAYER(mt_leaky_relu_layer, "leaky_relu", leaky_relu_options,
          "x > 0 ? x : alpha x (torch.nn.LeakyReLU; alpha is its negative_slope, default 0.01)");
ACT_LAYER(mt_sigmoid_layer, "sigmoid", no_options, "1 / (1 + exp(-x)) (torch.nn.Sigmoid)");
ACT_LAYER(mt_tanh_layer, "tanh", no_options, "tanh(x) (torch.nn.Tanh)");
ACT_LAYER(mt_softmax_layer, "softmax", no_options, "softmax over the last axis (torch.nn.Softmax(dim=-1))");
ACT_LAYER(mt_gelu_layer, "gelu", no_options, "x Phi(x), Phi the standard normal CDF (torch.nn.GELU, exact form)");
ACT_LAYER(mt_step_layer, "step", step_options,
          "x > threshold ? 1 : 0; its gradient is zero, so nothing before it can be trained (the trainer warns)");
