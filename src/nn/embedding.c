/* Embedding layer (torch.nn.Embedding): token ids -> rows of weight [input_dim, output_dim].
 *
 * The input of a sample is any shape of token ids (typically [T]), stored as floats as the dataset reader
 * gives them; the output appends output_dim ([T] -> [T, output_dim]). The gradient of the weight adds each
 * output gradient row into the row of its token; the ids themselves have no gradient (dx, if asked for,
 * is zero). A value that is not an integer in [0, input_dim) (or NaN) cannot fail the pass: it maps to a
 * zero vector and is counted (mt_embedding_invalid_ids), so the caller can report it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/init.h"
#include "nn/layer.h"

typedef struct emb_opts {
    int input_dim, output_dim;
    char embeddings_initializer[MT_NAME_MAX];
} emb_opts;

static const mt_option emb_options[] = {
    {"input_dim", MT_OPT_INT, offsetof(emb_opts, input_dim), NULL, 1, 1 << 28, NULL,
     "vocabulary size: token ids are 0 .. input_dim - 1"},
    {"output_dim", MT_OPT_INT, offsetof(emb_opts, output_dim), NULL, 1, 1 << 20, NULL, "size of each vector"},
    {"embeddings_initializer", MT_OPT_NAME, offsetof(emb_opts, embeddings_initializer), "normal(0, 1)", 0, 0, NULL,
     "initializer of the weight; default normal(0, 1) as torch.nn.Embedding (dense's names otherwise)"},
    MT_OPT_END,
};

typedef struct emb_state {
    uint64_t invalid; /* ids seen outside [0, input_dim) or not integers, since the model was built */
} emb_state;

static mt_status emb_setup(mt_layer *l, mt_error *err)
{
    const emb_opts *o = l->opts;
    if (l->in_shape.n > 3)
        return mt_fail(err, MT_ERR_CONFIG, "%s: expects token ids of rank 1 to 3 per sample ([time]), got rank %d",
                       l->section, l->in_shape.n);
    size_t size = (size_t)o->input_dim * (size_t)o->output_dim;
    if (size > ((size_t)1 << 31) || l->in_size * (size_t)o->output_dim > ((size_t)1 << 30))
        return mt_fail(err, MT_ERR_CONFIG, "%s: %d x %d embeddings on %zu ids per sample is too large", l->section,
                       o->input_dim, o->output_dim, l->in_size);
    l->state = calloc(1, sizeof(emb_state));
    if (!l->state)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    l->out_shape = l->in_shape;
    l->out_shape.v[l->out_shape.n++] = o->output_dim;
    l->out_size = l->in_size * (size_t)o->output_dim;
    mt_tensor_desc *w = &l->tensors[0];
    *w = (mt_tensor_desc){.name = "weight",
                          .rank = 2,
                          .shape = {o->input_dim, o->output_dim},
                          .offset = 0,
                          .size = size,
                          .fan_in = o->input_dim,
                          .fan_out = o->output_dim};
    const char *init = strcmp(o->embeddings_initializer, "auto") ? o->embeddings_initializer : "normal(0, 1)";
    mt_status st = mt_layer_set_init(l, w, init, "embeddings_initializer", err);
    if (st)
        return st;
    l->n_tensors = 1;
    l->n_params = size;
    return MT_OK;
}

/* The row of id v, or -1 when v is not an integer in [0, vocab). */
static long row_of(float v, int vocab)
{
    if (!(v >= 0.0f && v < (float)vocab) || v != floorf(v))
        return -1;
    return (long)v;
}

static mt_status emb_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    const emb_opts *o = l->opts;
    const size_t ids = (size_t)n * l->in_size, d = (size_t)o->output_dim;
    emb_state *s = l->state;
    for (size_t k = 0; k < ids; k++) {
        long r = row_of(x[k], o->input_dim);
        if (r >= 0)
            memcpy(y + k * d, l->params + (size_t)r * d, d * sizeof *y);
        else {
            memset(y + k * d, 0, d * sizeof *y);
            s->invalid++;
        }
    }
    return MT_OK;
}

static mt_status emb_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                              const mt_pass *pass, mt_error *err)
{
    (void)y, (void)pass, (void)err;
    const emb_opts *o = l->opts;
    const size_t ids = (size_t)n * l->in_size, d = (size_t)o->output_dim;
    for (size_t k = 0; k < ids; k++) {
        long r = row_of(x[k], o->input_dim);
        if (r < 0)
            continue;
        float *g = l->grads + (size_t)r * d;
        const float *dk = dy + k * d;
        for (size_t j = 0; j < d; j++)
            g[j] += dk[j];
    }
    if (dx)
        memset(dx, 0, ids * sizeof *dx);
    return MT_OK;
}

uint64_t mt_embedding_invalid_ids(const mt_layer *l)
{
    return l->ops == &mt_embedding_layer && l->state ? ((const emb_state *)l->state)->invalid : 0;
}

const mt_layer_ops mt_embedding_layer = {
    .name = "embedding",
    .options = emb_options,
    .options_size = sizeof(emb_opts),
    .doc = "token ids [time] (integers stored as floats) -> vectors [time, output_dim], weight [input_dim, "
           "output_dim] as torch.nn.Embedding",
    .torch = "torch.nn.Embedding state_dict: weight [num_embeddings, embedding_dim]",
    .setup = emb_setup,
    .forward = emb_forward,
    .backward = emb_backward,
};
