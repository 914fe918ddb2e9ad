/* Weight initializers (Keras names): fill a tensor from a counter-based RNG keyed by (seed, layer, tensor).
 * An initializer is written "NAME" or "NAME(ARGS)": constant(value), uniform(low, high), normal(mean, std). */
#ifndef MT_NN_INIT_H
#define MT_NN_INIT_H

#include <stddef.h>
#include "core/rng.h"

/* Config names, NULL-terminated ("canonical|alias"). "auto" picks he_uniform after relu, else glorot_uniform. */
extern const char *const mt_initializer_names[];
/* A doc line for a canonical name. */
typedef struct mt_name_doc {
    const char *name;
    const char *doc;
} mt_name_doc;

/* One entry per mt_initializer_names entry, in its order (the reference generator checks the names). */
extern const mt_name_doc mt_initializer_docs[];

/* How many numbers initializer `name` (canonical) takes in parentheses, 0 for none; their defaults into
 * dflt[0..n). */
int mt_init_arguments(const char *name, double dflt[2]);

/* Checks an initializer spec; on success writes its canonical form ("glorot_uniform", "constant(0.25)")
 * into canon. On failure writes a message (what is wrong, with the valid names) into canon, returns -1. */
int mt_init_parse(const char *spec, char *canon, size_t size);

/* Fills w[0..size) with the initializer spec (canonical, as mt_init_parse gives) for the given fans.
 * rng may be NULL for the deterministic ones (zeros, ones, constant). Returns 0, or -1 if unknown. */
int mt_init_fill(const char *spec, float *w, size_t size, int fan_in, int fan_out, mt_rng *rng);

#endif
