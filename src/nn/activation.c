/* Activation functions and their derivatives. Element loops are written to vectorize: with
 * -fno-math-errno and the SIMD variants of expf/tanhf/erfcf declared below, GCC calls glibc's vector math
 * library (libmvec, linked through libm) instead of the scalar functions.
 *
 * Stability for large |x|: sigmoid from exp(-|x|) (never overflows), softmax after subtracting the row
 * maximum, GELU from erfc (no cancellation in 1 + erf(x/sqrt 2) for negative x; exp(-x^2/2) underflows
 * harmlessly to 0), derivatives from y where possible. */
#include "nn/activation.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* glibc's <bits/math-vector.h> declares the SIMD variants only under -ffast-math; declaring them here
 * (the same attribute the header uses) lets the loops vectorize with exact IEEE semantics otherwise. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(__FAST_MATH__) && __GLIBC_PREREQ(2, 35)
__attribute__((__simd__("notinbranch"))) float expf(float);
__attribute__((__simd__("notinbranch"))) float tanhf(float);
__attribute__((__simd__("notinbranch"))) float erfcf(float);
#endif

const char *const mt_activation_names[] = {
    [MT_ACT_LINEAR] = "linear|identity|none",
    [MT_ACT_RELU] = "relu|ReLU",
    [MT_ACT_SIGMOID] = "sigmoid|logistic|Sigmoid",
    [MT_ACT_TANH] = "tanh|Tanh",
    [MT_ACT_SOFTMAX] = "softmax|Softmax",
    [MT_ACT_LEAKY_RELU] = "leaky_relu|leakyrelu|lrelu|LeakyReLU",
    [MT_ACT_GELU] = "gelu|GELU",
    [MT_ACT_STEP] = "step|binary_step|heaviside",
    [MT_ACT_COUNT] = NULL,
};

/* One line per activation for the reference documentation (mpitrain reference), indexed as the names. */
const char *const mt_activation_docs[] = {
    [MT_ACT_LINEAR] = "x (the identity)",
    [MT_ACT_RELU] = "max(x, 0)",
    [MT_ACT_SIGMOID] = "1 / (1 + exp(-x))",
    [MT_ACT_TANH] = "tanh(x)",
    [MT_ACT_SOFTMAX] = "exp(x_j) / sum_i exp(x_i), over a dense layer's outputs, a conv2d layer's whole output, or "
                       "(as a layer) the last axis",
    [MT_ACT_LEAKY_RELU] = "x > 0 ? x : alpha x; alpha >= 0, default 0.01 (set it with the leaky_relu or activation "
                          "layer)",
    [MT_ACT_GELU] = "x Phi(x), Phi the standard normal CDF (torch.nn.GELU, exact form)",
    [MT_ACT_STEP] = "x > threshold ? 1 : 0, threshold default 0; its gradient is zero, so nothing before it can be "
                    "trained (training warns)",
};

_Static_assert(sizeof mt_activation_names / sizeof mt_activation_names[0] == MT_ACT_COUNT + 1,
               "one name per activation");
_Static_assert(sizeof mt_activation_docs / sizeof mt_activation_docs[0] == MT_ACT_COUNT,
               "one doc line per activation in mt_activation_docs");

mt_activation mt_activation_make(mt_activation_kind kind)
{
    return (mt_activation){.kind = kind, .alpha = (float)MT_LEAKY_RELU_ALPHA, .threshold = (float)MT_STEP_THRESHOLD};
}

int mt_activation_find(const char *name, mt_activation *out)
{
    for (int i = 0; name && i < MT_ACT_COUNT; i++) {
        for (const char *p = mt_activation_names[i];; p++) {
            size_t n = strcspn(p, "|");
            if (n == strlen(name) && !memcmp(p, name, n)) {
                *out = mt_activation_make((mt_activation_kind)i);
                return 0;
            }
            p += n;
            if (!*p)
                break;
        }
    }
    return -1;
}

static void softmax_rows(const float *z, float *y, int n, int w)
{
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * w;
        float *yi = y + (size_t)i * w;
        float m = zi[0];
        for (int j = 1; j < w; j++)
            m = zi[j] > m ? zi[j] : m;
        for (int j = 0; j < w; j++)
            yi[j] = expf(zi[j] - m);
        float s = 0.0f;
        for (int j = 0; j < w; j++)
            s += yi[j];
        float inv = 1.0f / s;
        for (int j = 0; j < w; j++)
            yi[j] *= inv;
    }
}

/* Phi(x) = 0.5 erfc(-x / sqrt 2), phi(x) = exp(-x^2 / 2) / sqrt(2 pi). */
#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

void mt_activation_forward(const mt_activation *a, const float *z, float *y, int n, int w)
{
    size_t total = (size_t)n * (size_t)w;
    const float alpha = a->alpha, thr = a->threshold;
    switch (a->kind) {
    case MT_ACT_LINEAR:
        if (y != z)
            memmove(y, z, total * sizeof *y);
        break;
    case MT_ACT_RELU:
        for (size_t i = 0; i < total; i++)
            y[i] = z[i] > 0.0f ? z[i] : 0.0f;
        break;
    case MT_ACT_LEAKY_RELU:
        for (size_t i = 0; i < total; i++)
            y[i] = z[i] > 0.0f ? z[i] : alpha * z[i];
        break;
    case MT_ACT_SIGMOID:
        /* exp of a non-positive argument cannot overflow: 1/(1+e) for z >= 0, e/(1+e) below. */
        for (size_t i = 0; i < total; i++) {
            float e = expf(-fabsf(z[i]));
            float p = 1.0f / (1.0f + e);
            y[i] = z[i] >= 0.0f ? p : e * p;
        }
        break;
    case MT_ACT_TANH:
        for (size_t i = 0; i < total; i++)
            y[i] = tanhf(z[i]);
        break;
    case MT_ACT_GELU:
        for (size_t i = 0; i < total; i++)
            y[i] = 0.5f * z[i] * erfcf(-z[i] * INV_SQRT2);
        break;
    case MT_ACT_STEP:
        for (size_t i = 0; i < total; i++)
            y[i] = z[i] > thr ? 1.0f : 0.0f;
        break;
    case MT_ACT_SOFTMAX:
        softmax_rows(z, y, n, w);
        break;
    case MT_ACT_COUNT:
        break;
    }
}

void mt_activation_backward(const mt_activation *a, const float *z, const float *y, float *d, int n, int w)
{
    size_t total = (size_t)n * (size_t)w;
    const float alpha = a->alpha;
    switch (a->kind) {
    case MT_ACT_LINEAR:
        break;
    case MT_ACT_RELU:
        for (size_t i = 0; i < total; i++)
            d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case MT_ACT_LEAKY_RELU: /* alpha >= 0, so y > 0 exactly where z > 0 */
        for (size_t i = 0; i < total; i++)
            d[i] *= y[i] > 0.0f ? 1.0f : alpha;
        break;
    case MT_ACT_SIGMOID:
        for (size_t i = 0; i < total; i++)
            d[i] *= y[i] * (1.0f - y[i]);
        break;
    case MT_ACT_TANH:
        for (size_t i = 0; i < total; i++)
            d[i] *= 1.0f - y[i] * y[i];
        break;
    case MT_ACT_GELU: /* d/dz z Phi(z) = Phi(z) + z phi(z) */
        for (size_t i = 0; i < total; i++) {
            float x = z[i];
            d[i] *= 0.5f * erfcf(-x * INV_SQRT2) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
        }
        break;
    case MT_ACT_STEP:
        memset(d, 0, total * sizeof *d);
        break;
    case MT_ACT_SOFTMAX:
        for (int i = 0; i < n; i++) {
            const float *yi = y + (size_t)i * w;
            float *di = d + (size_t)i * w;
            float dot = 0.0f;
            for (int j = 0; j < w; j++)
                dot += yi[j] * di[j];
            for (int j = 0; j < w; j++)
                di[j] = yi[j] * (di[j] - dot);
        }
        break;
    case MT_ACT_COUNT:
        break;
    }
}

int mt_activation_needs_input(const mt_activation *a)
{
    return a->kind == MT_ACT_GELU;
}

int mt_activation_is_trainable(int kind)
{
    return kind != MT_ACT_STEP;
}
