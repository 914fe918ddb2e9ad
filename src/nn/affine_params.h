/* What the layers y = f(W x + b) (dense, conv2d, conv2d_transpose) share: their common options (the
 * activation, the initializers, the bias, the penalties) with their option-table entries, the weight and
 * bias tensors built from them, with the pre-activations such a layer keeps, and the row sum of the
 * convolutions' bias gradients. */
#ifndef MT_NN_AFFINE_PARAMS_H
#define MT_NN_AFFINE_PARAMS_H

#include <stddef.h>

#include "nn/activation.h"
#include "nn/layer.h"

/* The common options, a member of each such layer's option struct. */
typedef struct mt_affine_opts {
    char activation[MT_NAME_MAX];
    char kernel_initializer[MT_NAME_MAX]; /* "auto": he_uniform before relu, glorot_uniform otherwise */
    char bias_initializer[MT_NAME_MAX];
    int use_bias;
    double l1, l2; /* the weight's penalties */
} mt_affine_opts;

/* The initializer names of the kernel_initializer docs. */
#define MT_AFFINE_INITIALIZERS                                                                               \
    "auto (he_uniform after relu, glorot_uniform otherwise), zeros, ones, constant(v), uniform(low, high), " \
    "normal(mean, std), glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal"

/* The option-table entries of the common options, at the end of a layer's table, for the mt_affine_opts
 * member `field` of the option struct `type`; the docs of activation, kernel_initializer and use_bias are
 * the layer's. */
#define MT_AFFINE_OPTIONS(type, field, activation_doc, kernel_doc, use_bias_doc)                                        \
    {                                                                                                                   \
        "activation",        MT_OPT_NAME,   offsetof(type, field.activation), "linear", 0, 0,                           \
        mt_activation_names, activation_doc},                                                                           \
        {"kernel_initializer", MT_OPT_NAME, offsetof(type, field.kernel_initializer), "auto", 0, 0, NULL, kernel_doc},  \
        {"bias_initializer",                                                                                            \
         MT_OPT_NAME,                                                                                                   \
         offsetof(type, field.bias_initializer),                                                                        \
         "zeros",                                                                                                       \
         0,                                                                                                             \
         0,                                                                                                             \
         NULL,                                                                                                          \
         "bias initializer (same names)"},                                                                              \
        {"use_bias", MT_OPT_BOOL, offsetof(type, field.use_bias), "true", 0, 0, NULL, use_bias_doc},                    \
        {"l1", MT_OPT_FLOAT, offsetof(type, field.l1), "0", 0, 1e6, NULL, "L1 penalty l1 * sum |W| added to the loss"}, \
    {                                                                                                                   \
        "l2", MT_OPT_FLOAT, offsetof(type, field.l2), "0", 0, 1e6, NULL, "L2 penalty l2 * sum W^2 added to the loss"    \
    }

typedef struct mt_affine_spec {
    int rank; /* the weight's shape (PyTorch's order) */
    int64_t shape[4];
    int units;                  /* the bias's length */
    int fan_in, fan_out;        /* for the initializers */
    const mt_affine_opts *opts; /* the layer's common options */
} mt_affine_spec;

/* Sets l's tensor 0 ("weight") and, with use_bias, tensor 1 ("bias", after the weight), n_tensors,
 * n_params, out_activation, and scratch_per_sample = out_size when the pre-activations are kept (the loss
 * fuses with a softmax or sigmoid output, or the activation's derivative needs them); l->out_size must
 * be set. MT_ERR_CONFIG naming the option for an unknown initializer. */
mt_status mt_affine_params(mt_layer *l, const mt_affine_spec *s, mt_error *err);

/* The activation option with its default parameters (the option table has checked the name). */
mt_activation mt_affine_activation(const mt_affine_opts *o);

/* Sum of v[0 .. n) in 16 interleaved partial sums, a loop that vectorizes: a convolution's bias gradient
 * of one channel over its positions. The order of the additions is fixed (results do not depend on the
 * machine). */
float mt_affine_row_sum(const float *v, size_t n);

#endif
