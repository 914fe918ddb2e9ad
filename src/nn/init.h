/* Weight initializers (Keras names): fill a tensor from a counter-based RNG keyed by (seed, layer, tensor). */
#ifndef MT_NN_INIT_H
#define MT_NN_INIT_H

#include <stddef.h>
#include "core/rng.h"

/* Config names, NULL-terminated ("canonical|alias"). "auto" picks he_uniform after relu, else glorot_uniform. */
extern const char *const mt_initializer_names[];

/* Fills w[0..size) with initializer `name` (canonical) for the given fans. Returns 0, or -1 if unknown. */
int mt_init_fill(const char *name, float *w, size_t size, int fan_in, int fan_out, mt_rng *rng);

#endif
