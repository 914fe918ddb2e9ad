/* The layer interface: each layer type is one file that fills an mt_layer_ops table, and the registry
 * (layer_registry.c) maps config names to those tables. Layers hold views into the model's parameter
 * and gradient slabs; activations live in buffers the model allocates once for the largest batch. */
#ifndef MT_NN_LAYER_H
#define MT_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "core/rng.h"

#define MT_MAX_SHAPE 4
#define MT_MAX_TENSORS 4

/* One named parameter tensor of a layer, in PyTorch's shape (dense weight [out, in]). */
typedef struct mt_tensor_desc {
    char name[32]; /* "weight", "bias" */
    int rank;
    int64_t shape[MT_MAX_SHAPE];
    size_t offset; /* into the layer's params */
    size_t size;
    int fan_in, fan_out;    /* for initializers */
    char init[MT_NAME_MAX]; /* initializer name from the config */
    float l1, l2;           /* penalties l1 * sum |w| + l2 * sum w^2 added to the loss (Keras regularizers) */
} mt_tensor_desc;

typedef struct mt_layer mt_layer;
struct mt_timeline;

/* Deterministic mode's direct path (mt_pass.fixed): the layer adds its parameter gradients straight into
 * the exact accumulator of the gradient slab, chunk by chunk: each product that sums over samples is
 * summed in float over each chunk of `chunk` samples alone (bit for bit what a pass over that chunk would
 * add into zeroed gradients), and that partial sum converted to fixed point (core/fixed_point.h) and
 * added. The pass's samples start at a chunk boundary. */
typedef struct mt_pass_fixed {
    int chunk;           /* samples per chunk */
    int fresh;           /* nothing of this step in acc yet: the first chunk writes it */
    int64_t *acc;        /* the accumulator: gradient g of the slab goes to acc[g - grads] */
    const float *grads;  /* the model's gradient slab (left as it is) */
    double scale, limit; /* of the fixed point */
    float *bad;          /* adds the count of values out of range */
} mt_pass_fixed;

/* What a pass knows besides its inputs: training or inference, and where this rank's samples sit in the
 * global batch, so that random masks depend on (seed, step, layer, sample) and not on the number of ranks. */
typedef struct mt_pass {
    int training;
    uint64_t seed;     /* run seed */
    uint64_t step;     /* optimizer step (0-based) the pass belongs to */
    uint64_t first;    /* position in the global batch of this rank's first sample */
    uint64_t global_n; /* samples in the global batch */
    /* Sums v[0..n) over the ranks that share the global batch, in place, for layers that reduce over it
     * (sync batch norm); NULL when this rank holds the whole batch. */
    mt_status (*sum_over_ranks)(void *sum_user, double *v, size_t n, mt_error *err);
    void *sum_user;
    struct mt_timeline *timeline; /* records each layer's forward and backward time when not NULL */
    int timeline_layer0;          /* added to the layer indices it records (the second network of a GAN) */
    /* Called after layer i's backward pass has added its parameter gradients (i descending), so that
     * their allreduce can start while earlier layers still compute; may be NULL. */
    void (*grads_ready)(void *hook_user, int layer);
    /* Called now and then inside long backward passes (each tile of a convolution), so that the sums in
     * flight keep moving: MPI moves their data only inside its calls. May be NULL. */
    void (*poll)(void *hook_user);
    void *hook_user;
    /* Backward: the direct path, or NULL (add into l->grads). Only for models whose layers all have
     * mt_layer_ops.direct_fixed. */
    const mt_pass_fixed *fixed;
} mt_pass;

typedef struct mt_layer_ops {
    const char *name;         /* config name */
    const mt_option *options; /* option table (for parsing and the docs) */
    size_t options_size;      /* sizeof the option struct */
    const char *doc;          /* one line for the reference docs */
    /* What the layer's tensors are in PyTorch, the module with the same state_dict and its tensors' shapes
     * (a checkpoint's torch attribute of the layer's group); NULL for a layer without parameters. */
    const char *torch;
    /* Checks options against the input shape; sets out shape, tensors, n_params, scratch sizes. */
    mt_status (*setup)(mt_layer *l, mt_error *err);
    /* y[n, out_size] from x[n, in_size]. MT_OK, or the failure of a step the layer takes outside itself
     * (pass->sum_over_ranks), with its message in err: y is then incomplete. */
    mt_status (*forward)(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err);
    /* Adds parameter gradients into l->grads; writes dx unless it is NULL. dy may be overwritten. MT_OK, or
     * a failure as forward's. */
    mt_status (*backward)(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n, const mt_pass *pass,
                          mt_error *err);
    /* Backward honours l->grads_stale: with n > 0 it writes its parameter gradients (as if added to zeros)
     * instead of adding to them. Otherwise the model zeroes them before calling it. */
    int overwrites_grads;
    /* Backward honours l->dy_relu_masked and l->dx_relu_mask (the model sets them between two such layers
     * where the first applies relu last). */
    int relu_grad_fusion;
    /* Set when the layer can run deterministic mode's chunks together: its passes over n samples give each
     * sample's rows bit for bit as over any run of whole chunks within them (no coupling between
     * samples), and its backward honours pass->fixed. */
    int direct_fixed;
} mt_layer_ops;

struct mt_layer {
    const mt_layer_ops *ops;
    void *opts;                  /* parsed option struct (owned) */
    int index;                   /* position in the model */
    char section[96];            /* "model.layers[i].dense", for messages */
    mt_ints in_shape, out_shape; /* per-sample shapes */
    size_t in_size, out_size;    /* per-sample element counts */
    mt_tensor_desc tensors[MT_MAX_TENSORS];
    int n_tensors;
    size_t n_params;
    float *params, *grads;                         /* views into the model slabs */
    mt_tensor_desc buffer_tensors[MT_MAX_TENSORS]; /* non-trainable state (batch-norm running statistics) */
    int n_buffer_tensors;
    size_t n_buffers;
    float *buffers;            /* view into the model's buffer slab */
    size_t scratch_per_sample; /* floats of scratch per sample the layer needs (e.g. pre-activations) */
    float *scratch;            /* capacity * scratch_per_sample, set by the model */
    int capacity;              /* largest batch the buffers hold */
    int out_activation;        /* mt_activation applied last by this layer, or -1 */
    int fused_output;          /* the loss gives d(loss)/d(pre-activation) directly (softmax+CE) */
    int grads_stale;           /* grads hold old values that count as zeros (mt_model_zero_grads_lazy; see
                                  overwrites_grads); cleared by the model's backward pass */
    int dy_relu_masked;        /* the dy backward gets is already multiplied by the derivative of this layer's
                                  relu (by the next layer's dx_relu_mask) */
    int dx_relu_mask;          /* backward multiplies dx by [x > 0], the derivative of the relu the layer
                                  before applied last (its dy_relu_masked is set) */
    void *state;               /* private memory a layer allocates in setup (freed with the model) */
};

/* The passes of the layers that change only the shape (flatten, reshape): y = x, dx = dy (flatten.c). */
mt_status mt_layer_copy_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err);
mt_status mt_layer_copy_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                                 const mt_pass *pass, mt_error *err);

/* Registry lookups. */
const mt_layer_ops *mt_layer_find(const char *name);
const mt_layer_ops *const *mt_layer_all(size_t *count);

/* Product of a shape. */
size_t mt_shape_size(const mt_ints *shape);

/* Reads option `key` given as `k` or `[h, w]` (already range-checked) into v[2]: MT_ERR_CONFIG naming
 * "section.key" for any other count. */
mt_status mt_layer_pair(const mt_layer *l, const char *key, const mt_ints *in, int v[2], mt_error *err);

/* Reads a convolution's padding option n: `valid` (or n NULL) sets *same = 0 and p = {0, 0}, `same` sets
 * *same = 1, a number p or [ph, pw] in [0, 65536] sets *same = 0 and p = {ph, pw}. Anything else is
 * MT_ERR_CONFIG "section.padding: expected same, valid, <numbers> in [0, 65536] or [ph, pw], got ...", where
 * numbers says what the numbers are ("a number of zeros per side"). */
mt_status mt_layer_padding(const mt_layer *l, const mt_node *n, const char *numbers, int *same, int p[2],
                           mt_error *err);

/* Sets tensor d's initializer from the config spec of option `key` ("he_uniform", "constant(0.1)", ...):
 * MT_ERR_CONFIG naming "section.key" and the valid names when the spec is not one. */
mt_status mt_layer_set_init(const mt_layer *l, mt_tensor_desc *d, const char *spec, const char *key, mt_error *err);

extern const mt_layer_ops mt_dense_layer;
extern const mt_layer_ops mt_activation_layer; /* activation_layer.c: `activation` and its shorthands */
extern const mt_layer_ops mt_relu_layer, mt_leaky_relu_layer, mt_sigmoid_layer, mt_tanh_layer, mt_softmax_layer,
    mt_gelu_layer, mt_step_layer;
extern const mt_layer_ops mt_prelu_layer;
extern const mt_layer_ops mt_dropout_layer;
extern const mt_layer_ops mt_batch_norm_layer;
extern const mt_layer_ops mt_conv2d_layer; /* conv2d.c */
extern const mt_layer_ops mt_max_pool2d_layer, mt_min_pool2d_layer, mt_avg_pool2d_layer,
    mt_global_avg_pool_layer;                                        /* pool2d.c */
extern const mt_layer_ops mt_flatten_layer;                          /* flatten.c */
extern const mt_layer_ops mt_embedding_layer;                        /* embedding.c */
extern const mt_layer_ops mt_rnn_layer, mt_lstm_layer, mt_gru_layer; /* recurrent.c */
/* Token ids an embedding layer has mapped to zero vectors (not integers in [0, input_dim)) since the model
 * was built; 0 for other layers. */
uint64_t mt_embedding_invalid_ids(const mt_layer *l);

#endif
