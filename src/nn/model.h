/* A sequential model: layers built from the config, all parameters in one contiguous slab and all
 * gradients in another (so the optimizer is one loop and the allreduce one buffer), activation buffers
 * allocated once for the largest batch. */
#ifndef MT_NN_MODEL_H
#define MT_NN_MODEL_H

#include "nn/layer.h"

#define MT_GRAD_TRAILER 16

typedef struct mt_model {
    mt_layer *layers;
    int n_layers;
    mt_ints input_shape;
    size_t input_size, output_size;  /* per sample */
    float *params, *grads;           /* slabs of n_params floats (64-byte aligned); MT_GRAD_TRAILER floats
                                         before grads (mt_model_grad_trailer) travel with the gradient sum,
                                         in the bucket sent last */
    float *grad_block;               /* the allocation: trailer, then grads */
    int shared_params, shared_grads; /* the slabs are not owned (mt_model_use_slabs) */
    size_t n_params;
    float *buffers; /* non-trainable state of all layers (saved, averaged over ranks) */
    size_t n_buffers;
    int capacity;       /* largest batch the buffers hold (0 until reserved) */
    float **acts;       /* acts[0]: input batch; acts[i + 1]: output of layer i */
    float *dbuf[2];     /* ping-pong buffers for activation gradients */
    float *scratch;     /* all layers' scratch */
    int slots;          /* state floats per parameter of its optimizer (memory check) */
    char (*where)[128]; /* [n_layers] "file:line" of each layer's config entry, for messages */
} mt_model;

/* Builds the layers of cfg (options checked by each layer's table) and allocates the slabs. Before
 * allocating, the bytes the model will hold are added up: n_params x (2 + slots) x 4 (parameters,
 * gradients, the state slots of cfg's optimizer) + buffers x 4; when that exceeds the physical memory
 * (mt_model_physical_memory) or overflows size_t, MT_ERR_CONFIG names the layer that needs the most and the
 * bytes, "c.yaml:6: model.layers[2].dense: the model needs 5435818311840 bytes (339738644490 parameters x
 * (2 + 2 optimizer slots) x 4 bytes), more than the 8254390272 bytes of this machine's memory; this layer
 * needs 275146342400 bytes of it" (", a size that overflows size_t" instead when the count saturates), and
 * nothing is allocated. opt_slots is the number of state floats per parameter of the optimizer that will
 * train the model (mt_optimizer_slots; 0 for a model that is not trained). */
mt_status mt_model_build(const mt_config *cfg, int opt_slots, mt_model *m, mt_error *err);

/* Allocates activation and gradient buffers for batches of up to capacity samples (once). Refused first,
 * as in mt_model_build, when the parameters and state plus capacity x (the input, every layer's output and
 * scratch, 2 x the widest of them) x 4 bytes exceed the physical memory or overflow size_t (MT_ERR_CONFIG;
 * the model keeps its earlier buffers). */
mt_status mt_model_reserve(mt_model *m, int capacity, mt_error *err);

/* This machine's physical memory in bytes (sysconf pages x page size; SIZE_MAX when unknown or larger). */
size_t mt_model_physical_memory(void);

/* Initializes parameters from the layers' initializers with keys derived from seed. */
void mt_model_init_params(mt_model *m, uint64_t seed);

/* Runs the forward pass on m->acts[0][0 .. n * input_size) and sets *out (unless out is NULL) to the output
 * buffer [n, output_size]. MT_OK, or the first layer's failure (a sum over the ranks that failed) with its
 * message in err: the output is then incomplete and *out is not set. */
mt_status mt_model_forward(mt_model *m, int n, const mt_pass *pass, const float **out, mt_error *err);

/* Pre-activation output of the last layer (logits) from the latest forward pass, or NULL if not kept. */
const float *mt_model_logits(const mt_model *m);

/* Backward pass from d(loss)/d(output) given in dout [n, output_size] (overwritten); adds into m->grads and,
 * unless dx0 is NULL, writes d(loss)/d(input) into dx0 [n, input_size]. MT_OK, or the first layer's failure
 * as in mt_model_forward (the layers after it, whose backward ran first, have added their gradients). */
mt_status mt_model_backward(mt_model *m, float *dout, int n, const mt_pass *pass, float *dx0, mt_error *err);

/* The layers' L1/L2 penalties over the parameters [lo, hi): adds their gradients to grads[lo, hi) (a slab
 * laid out as the parameters; NULL: nothing added) and returns the penalty of those parameters. */
double mt_model_apply_penalties(const mt_model *m, float *grads, size_t lo, size_t hi);

/* Moves the parameters to params (n_params floats, copying them when copy is set) and the gradients to
 * grad_block (trailer + n_params floats, contents undefined), memory the model does not own (shared by the
 * ranks of a node); NULL keeps a slab where it is. */
void mt_model_use_slabs(mt_model *m, float *params, float *grad_block, int copy);
/* Takes the slabs back into memory of its own (the parameters copied), after mt_model_use_slabs. */
mt_status mt_model_own_slabs(mt_model *m, mt_error *err);

/* Inputs the layers could not use since the model was built (token ids outside an embedding's
 * vocabulary); a pass that raises it met bad data. */
uint64_t mt_model_invalid_inputs(const mt_model *m);

/* The MT_GRAD_TRAILER floats just before the gradient slab, contiguous with the first layer's gradients. */
static inline float *mt_model_grad_trailer(mt_model *m)
{
    return m->grads - MT_GRAD_TRAILER;
}

/* Offset of layer i's parameters in the slabs (i = n_layers gives n_params). */
size_t mt_model_layer_offset(const mt_model *m, int i);

/* The first layer whose gradients in grads (a slab laid out as the parameters) hold a NaN or an infinity,
 * or -1 when all are finite. */
int mt_model_nonfinite_grad_layer(const mt_model *m, const float *grads);

/* Zeroes the gradient slab (not the trailer). */
void mt_model_zero_grads(mt_model *m);

/* Zeroes the gradient slab lazily, saving a pass over it: each layer's gradients are marked stale, and the
 * backward pass writes them rather than adding to them (or zeroes them just before the layer's backward);
 * Only for callers that run a backward pass before anything else reads m->grads (the gradient sums, the
 * penalties, the non-finite check, the optimizer), or call mt_model_settle_grads first (a rank that
 * computes no piece of a step and sums its slab as it is must settle it). */
void mt_model_zero_grads_lazy(mt_model *m);

/* Writes the zeros of the layers whose gradients are stale (mt_model_zero_grads_lazy). */
void mt_model_settle_grads(mt_model *m);

void mt_model_free(mt_model *m);

#endif
