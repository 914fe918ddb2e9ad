/* Element-wise and row-wise activation functions with their derivatives, numerically stable for large |x|
 * (no inf or NaN in forward or backward for |x| up to 1e4), and the standalone activation layers. */
#ifndef MT_NN_ACTIVATION_H
#define MT_NN_ACTIVATION_H

#include <stddef.h>

typedef enum mt_activation_kind {
    MT_ACT_LINEAR,
    MT_ACT_RELU,
    MT_ACT_SIGMOID,
    MT_ACT_TANH,
    MT_ACT_SOFTMAX,
    MT_ACT_LEAKY_RELU, /* x > 0 ? x : alpha x (torch.nn.LeakyReLU negative_slope, Keras negative_slope) */
    MT_ACT_GELU,       /* x Phi(x), the exact (erf) form of torch.nn.GELU() */
    MT_ACT_STEP,       /* x > threshold ? 1 : 0; zero gradient: nothing before it can be trained */
    MT_ACT_COUNT
} mt_activation_kind;

/* An activation with its parameters. */
typedef struct mt_activation {
    mt_activation_kind kind;
    float alpha;     /* leaky_relu slope for x <= 0, >= 0 (default 0.01) */
    float threshold; /* step threshold (default 0) */
} mt_activation;

#define MT_LEAKY_RELU_ALPHA 0.01
#define MT_STEP_THRESHOLD 0.0

/* Config names ("canonical|alias" entries, NULL-terminated), indexed by mt_activation_kind. */
extern const char *const mt_activation_names[];
/* One doc line per activation, in the order of mt_activation_names (the reference documentation). */
extern const char *const mt_activation_docs[];

/* The activation of the given kind with default parameters. */
mt_activation mt_activation_make(mt_activation_kind kind);

/* Looks a config name or alias up; fills *out with default parameters. Returns 0, or -1 if unknown. */
int mt_activation_find(const char *name, mt_activation *out);

/* y = f(z) for n rows of width w (softmax works per row). z and y may alias. */
void mt_activation_forward(const mt_activation *a, const float *z, float *y, int n, int w);

/* d = d * f'(z), given z and y = f(z), for n rows of width w (softmax: the full Jacobian-vector product).
 * z may be NULL when mt_activation_needs_input() is 0. */
void mt_activation_backward(const mt_activation *a, const float *z, const float *y, float *d, int n, int w);

/* Whether backward needs z (otherwise y suffices, and z need not be kept). */
int mt_activation_needs_input(const mt_activation *a);

/* 0 for activations whose gradient is zero everywhere (step): no parameter before such a layer, nor the
 * weights of the layer that applies it, receives a gradient. kind is an mt_activation_kind (or -1: none). */
int mt_activation_is_trainable(int kind);

struct mt_layer;

/* If layer l applies an activation that cannot be trained through, writes a one-line warning
 * ("model.layers[1].dense: the step activation has zero gradient; ...") into buf and returns 1;
 * otherwise returns 0. The caller (the trainer, rank 0) decides where to print it. */
int mt_activation_warning(const struct mt_layer *l, char *buf, size_t size);

#endif
