/* The parameters of a layer y = f(W x + b) (dense, conv2d, conv2d_transpose): the weight and bias
 * tensors with their initializers and penalties, and the pre-activations such a layer keeps. */
#ifndef MT_NN_AFFINE_PARAMS_H
#define MT_NN_AFFINE_PARAMS_H

#include "nn/layer.h"

typedef struct mt_affine_spec {
    int rank;                       /* the weight's shape (PyTorch's order) */
    int64_t shape[4];
    int units;                      /* the bias's length */
    int fan_in, fan_out;            /* for the initializers */
    const char *activation;         /* the layer's activation option */
    const char *kernel_initializer; /* "auto": he_uniform before relu, glorot_uniform otherwise */
    const char *bias_initializer;   /* "auto": zeros */
    double l1, l2;                  /* the weight's penalties */
    int use_bias;
} mt_affine_spec;

/* Sets l's tensor 0 ("weight") and, with use_bias, tensor 1 ("bias", after the weight), n_tensors,
 * n_params, out_activation, and scratch_per_sample = out_size when the pre-activations are kept (the loss
 * fuses with a softmax or sigmoid output, or the activation's derivative needs them); l->out_size must
 * be set. MT_ERR_CONFIG naming the option for an unknown initializer. */
mt_status mt_affine_params(mt_layer *l, const mt_affine_spec *s, mt_error *err);

#endif
