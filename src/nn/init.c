/* Weight initializers: Glorot/Xavier, He/Kaiming and LeCun (uniform and normal), zeros and ones.
 * Normal variants use the plain normal with std sqrt(scale / fan), as Keras' *_normal before truncation. */
#include "nn/init.h"

#include <math.h>
#include <string.h>

const char *const mt_initializer_names[] = {
    "auto", "zeros|zero", "ones|one", "glorot_uniform|xavier_uniform|xavier", "glorot_normal|xavier_normal",
    "he_uniform|kaiming_uniform|he", "he_normal|kaiming_normal", "lecun_uniform", "lecun_normal", NULL,
};

static void fill_uniform(float *w, size_t n, double limit, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * mt_rng_uniform(rng) - 1.0) * limit);
}

static void fill_normal(float *w, size_t n, double std, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(mt_rng_normal(rng) * std);
}

int mt_init_fill(const char *name, float *w, size_t size, int fan_in, int fan_out, mt_rng *rng)
{
    double fi = fan_in > 0 ? fan_in : 1, fo = fan_out > 0 ? fan_out : 1;
    if (!strcmp(name, "zeros"))
        memset(w, 0, size * sizeof *w);
    else if (!strcmp(name, "ones"))
        for (size_t i = 0; i < size; i++)
            w[i] = 1.0f;
    else if (!strcmp(name, "glorot_uniform"))
        fill_uniform(w, size, sqrt(6.0 / (fi + fo)), rng);
    else if (!strcmp(name, "glorot_normal"))
        fill_normal(w, size, sqrt(2.0 / (fi + fo)), rng);
    else if (!strcmp(name, "he_uniform"))
        fill_uniform(w, size, sqrt(6.0 / fi), rng);
    else if (!strcmp(name, "he_normal"))
        fill_normal(w, size, sqrt(2.0 / fi), rng);
    else if (!strcmp(name, "lecun_uniform"))
        fill_uniform(w, size, sqrt(3.0 / fi), rng);
    else if (!strcmp(name, "lecun_normal"))
        fill_normal(w, size, sqrt(1.0 / fi), rng);
    else
        return -1;
    return 0;
}
