/* Element-wise and row-wise activation functions with their derivatives, numerically stable for large |x|. */
#ifndef MT_NN_ACTIVATION_H
#define MT_NN_ACTIVATION_H

typedef enum mt_activation {
    MT_ACT_LINEAR,
    MT_ACT_RELU,
    MT_ACT_SIGMOID,
    MT_ACT_TANH,
    MT_ACT_SOFTMAX
} mt_activation;

/* Config names ("canonical|alias" entries, NULL-terminated), indexed by mt_activation. */
extern const char *const mt_activation_names[];

/* y = f(z) for n rows of width w (softmax works per row). z and y may alias. */
void mt_activation_forward(mt_activation act, const float *z, float *y, int n, int w);

/* d = d * f'(z), given z and y = f(z), for n rows of width w (softmax: the full Jacobian-vector product). */
void mt_activation_backward(mt_activation act, const float *z, const float *y, float *d, int n, int w);

/* Whether backward needs z (otherwise y suffices, and z need not be kept). */
int mt_activation_needs_input(mt_activation act);

#endif
