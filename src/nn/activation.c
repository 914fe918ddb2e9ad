/* Activation functions and their derivatives. Loops are written to vectorize (-fno-math-errno). */
#include "nn/activation.h"

#include <math.h>
#include <stddef.h>

const char *const mt_activation_names[] = {
    [MT_ACT_LINEAR] = "linear|identity|none",
    [MT_ACT_RELU] = "relu",
    [MT_ACT_SIGMOID] = "sigmoid|logistic",
    [MT_ACT_TANH] = "tanh",
    [MT_ACT_SOFTMAX] = "softmax",
    NULL,
};

/* exp of a non-positive argument cannot overflow, so sigmoid is computed from exp(-|z|). */
static inline float sigmoidf(float z)
{
    float e = expf(-fabsf(z));
    float p = 1.0f / (1.0f + e);
    return z >= 0.0f ? p : e * p;
}

static void softmax_rows(const float *z, float *y, int n, int w)
{
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * w;
        float *yi = y + (size_t)i * w;
        float m = zi[0];
        for (int j = 1; j < w; j++)
            m = zi[j] > m ? zi[j] : m;
        float s = 0.0f;
        for (int j = 0; j < w; j++) {
            yi[j] = expf(zi[j] - m);
            s += yi[j];
        }
        float inv = 1.0f / s;
        for (int j = 0; j < w; j++)
            yi[j] *= inv;
    }
}

void mt_activation_forward(mt_activation act, const float *z, float *y, int n, int w)
{
    size_t total = (size_t)n * w;
    switch (act) {
    case MT_ACT_LINEAR:
        if (y != z)
            for (size_t i = 0; i < total; i++)
                y[i] = z[i];
        break;
    case MT_ACT_RELU:
        for (size_t i = 0; i < total; i++)
            y[i] = z[i] > 0.0f ? z[i] : 0.0f;
        break;
    case MT_ACT_SIGMOID:
        for (size_t i = 0; i < total; i++)
            y[i] = sigmoidf(z[i]);
        break;
    case MT_ACT_TANH:
        for (size_t i = 0; i < total; i++)
            y[i] = tanhf(z[i]);
        break;
    case MT_ACT_SOFTMAX:
        softmax_rows(z, y, n, w);
        break;
    }
}

void mt_activation_backward(mt_activation act, const float *z, const float *y, float *d, int n, int w)
{
    size_t total = (size_t)n * w;
    (void)z;
    switch (act) {
    case MT_ACT_LINEAR:
        break;
    case MT_ACT_RELU:
        for (size_t i = 0; i < total; i++)
            d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case MT_ACT_SIGMOID:
        for (size_t i = 0; i < total; i++)
            d[i] *= y[i] * (1.0f - y[i]);
        break;
    case MT_ACT_TANH:
        for (size_t i = 0; i < total; i++)
            d[i] *= 1.0f - y[i] * y[i];
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
    }
}

int mt_activation_needs_input(mt_activation act)
{
    (void)act;
    return 0;
}
