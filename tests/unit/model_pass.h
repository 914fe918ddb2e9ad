/* Forward and backward passes for the unit tests, of a model or of one layer, each recorded as a failed
 * check (at the caller's file and line) when it does not return MT_OK. The model's passes give the output
 * buffer all the same, so that a test goes on to its own checks. */
#ifndef MT_TEST_MODEL_PASS_H
#define MT_TEST_MODEL_PASS_H

#include "config/config.h"
#include "core/error.h"
#include "nn/model.h"
#include "testlib.h"

static inline const float *model_forward_at(mt_model *m, int n, const mt_pass *pass, const char *file, int line)
{
    mt_error err = {0};
    const float *out = m->acts[m->n_layers];
    mt_check(mt_model_forward(m, n, pass, &out, &err) == MT_OK, file, line, "mt_model_forward: %s", err.msg);
    return out;
}

static inline void model_backward_at(mt_model *m, float *dout, int n, const mt_pass *pass, float *dx0, const char *file,
                                     int line)
{
    mt_error err = {0};
    mt_check(mt_model_backward(m, dout, n, pass, dx0, &err) == MT_OK, file, line, "mt_model_backward: %s", err.msg);
}

static inline void layer_forward_at(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, const char *file,
                                    int line)
{
    mt_error err = {0};
    mt_check(l->ops->forward(l, x, y, n, pass, &err) == MT_OK, file, line, "%s forward: %s", l->ops->name, err.msg);
}

static inline void layer_backward_at(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                     const mt_pass *pass, const char *file, int line)
{
    mt_error err = {0};
    mt_check(l->ops->backward(l, x, y, dy, dx, n, pass, &err) == MT_OK, file, line, "%s backward: %s", l->ops->name,
             err.msg);
}

/* Loads the config text yaml and builds its model with buffers for n samples, recorded as a failed check
 * (at the caller's file and line) when any step fails. Returns 1 when the model is built. */
static inline int model_build_at(const char *yaml, int n, mt_config *cfg, mt_model *m, const char *file, int line)
{
    mt_error err = {0};
    return mt_check(mt_config_load_string(yaml, "t", NULL, 0, cfg, &err) == MT_OK &&
                        mt_model_build(cfg, 0, m, &err) == MT_OK && mt_model_reserve(m, n, &err) == MT_OK,
                    file, line, "building the model: %s", err.msg);
}

/* The output [n, output_size] of m's forward pass. */
#define MODEL_BUILD(yaml, n, cfg, m) model_build_at((yaml), (n), (cfg), (m), __FILE__, __LINE__)
#define MODEL_FORWARD(m, n, pass) model_forward_at((m), (n), (pass), __FILE__, __LINE__)
/* m's backward pass from dout; dx0 (NULL: not wanted) receives the gradient by the input. */
#define MODEL_BACKWARD(m, dout, n, pass, dx0) model_backward_at((m), (dout), (n), (pass), (dx0), __FILE__, __LINE__)
/* Layer l's own passes, as the model runs them. */
#define LAYER_FORWARD(l, x, y, n, pass) layer_forward_at((l), (x), (y), (n), (pass), __FILE__, __LINE__)
#define LAYER_BACKWARD(l, x, y, dy, dx, n, pass) \
    layer_backward_at((l), (x), (y), (dy), (dx), (n), (pass), __FILE__, __LINE__)

#endif
