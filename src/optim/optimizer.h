/* Optimizers over the flat parameter slab: update rules and defaults as torch.optim documents them
 * (gd, sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, nadam, adamw), with L2 weight decay and
 * gradient clipping by global norm or by value. The state is one slab per slot (n floats each) plus a
 * few named double scalars, so that checkpoints store and restore it generically. */
#ifndef MT_OPTIM_OPTIMIZER_H
#define MT_OPTIM_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>
#include "config/options.h"

#define MT_OPT_MAX_SLOTS 3
#define MT_OPT_MAX_SCALARS 4

/* The order is that of mt_optimizer_names. */
typedef enum mt_optimizer_kind {
    MT_OPTIM_GD,
    MT_OPTIM_SGD,
    MT_OPTIM_MOMENTUM,
    MT_OPTIM_NESTEROV,
    MT_OPTIM_ADAGRAD,
    MT_OPTIM_ADADELTA,
    MT_OPTIM_RMSPROP,
    MT_OPTIM_ADAM,
    MT_OPTIM_NADAM,
    MT_OPTIM_ADAMW,
    MT_OPTIM_COUNT
} mt_optimizer_kind;

/* Every hyperparameter of every optimizer; each optimizer's table fills only the ones it uses (the others
 * stay 0). Names as Keras spells them, torch's names where Keras has none. */
typedef struct mt_optimizer_opts {
    char name[MT_NAME_MAX]; /* canonical optimizer name (what checkpoints record) */
    double learning_rate;
    double momentum;                  /* sgd family, rmsprop */
    int nesterov;                     /* sgd family */
    double beta_1, beta_2, epsilon;   /* adam family; epsilon also adagrad, adadelta, rmsprop */
    double rho;                       /* adadelta, rmsprop (torch's alpha) */
    int centered;                     /* rmsprop */
    double lr_decay;                  /* adagrad */
    double initial_accumulator_value; /* adagrad */
    double momentum_decay;            /* nadam */
    double weight_decay;              /* all: L2 added to the gradient; adamw: decoupled */
    double clipnorm;                  /* all: > 0 clips the gradient by its global L2 norm */
    double clipvalue;                 /* all: > 0 clamps each gradient element to [-clipvalue, clipvalue] */
} mt_optimizer_opts;

typedef struct mt_optimizer {
    mt_optimizer_kind kind;
    mt_optimizer_opts opts;
    size_t n; /* parameters */
    int n_slots;
    const char *slot_names[MT_OPT_MAX_SLOTS]; /* torch's state names: momentum_buffer, sum, square_avg, ... */
    float *slots[MT_OPT_MAX_SLOTS];           /* each n floats (owned), initialized as torch does */
    /* State that is one number, not one per parameter (nadam: mu_product, the running product of the
     * momentum schedule, starting at 1). Saved and restored with the slots; like them, part of the exact
     * resume. */
    int n_scalars;
    const char *scalar_names[MT_OPT_MAX_SCALARS];
    double scalars[MT_OPT_MAX_SCALARS];
    int64_t step;     /* steps taken */
    int shared_slots; /* the slots are not owned (mt_optimizer_use_slots) */
    struct {          /* the current step's factors, set by mt_optimizer_begin */
        double lr;
        float scale, clip, wd; /* clipnorm's scale, clipvalue (or infinity), L2 weight decay */
        double c[2];           /* nadam: the gradient's and the momentum's factors */
    } now;
} mt_optimizer;

/* Config names, NULL-terminated, "canonical|alias" entries indexed by mt_optimizer_kind. */
extern const char *const mt_optimizer_names[];
/* One line per optimizer for the reference documentation, indexed by mt_optimizer_kind. */
extern const char *const mt_optimizer_docs[];

/* Reads the optimizer config node (scalar name or map with name and hyperparameters) and allocates
 * the state for n parameters. Options that the chosen optimizer does not use are errors. */
mt_status mt_optimizer_create(const mt_node *node, size_t n, mt_optimizer *opt, mt_error *err);

/* State floats per parameter of the optimizer that node describes; 0 when node is NULL or wrong (its own
 * check reports that, with its line, when the optimizer is created). */
int mt_optimizer_slots(const mt_node *node);

/* One update of params from grads with learning rate lr (the schedule's value for this step; adagrad's
 * lr_decay applies on top). grads is read only: clipping and weight decay are applied on the fly.
 * grads must be the same on every rank (after the allreduce) so that every replica takes the same step. */
void mt_optimizer_step(mt_optimizer *opt, float *params, const float *grads, double lr);

/* The same step in parts, for ranks that each update a slice of the parameters: begin, once per step on
 * every rank (counts the step, advances scalar state; norm_squared is the summed squares of the whole
 * gradient, mt_optimizer_norm_squared, used with clipnorm), then apply over [lo, hi) of the slabs, any
 * split of [0, n) giving bitwise the result of mt_optimizer_step. */
void mt_optimizer_begin(mt_optimizer *opt, double lr, double norm_squared);
void mt_optimizer_apply(mt_optimizer *opt, float *params, const float *grads, size_t lo, size_t hi);
/* mt_optimizer_apply with the state of parameter lo at index `at` of the slots (state kept for pieces of
 * the parameters only: mt_optimizer_adopt_slots). */
void mt_optimizer_apply_at(mt_optimizer *opt, float *params, const float *grads, size_t lo, size_t hi, size_t at);
/* Sum of squares of grads[0 .. n), in double, in the order mt_optimizer_step sums them. */
double mt_optimizer_norm_squared(const float *grads, size_t n);

/* Makes the optimizer keep its state in slots[0 .. n_slots) (n floats each, not owned, e.g. memory the
 * ranks of a node share), copying the current state there when copy is set. */
void mt_optimizer_use_slots(mt_optimizer *opt, float *const *slots, int copy);
/* Takes the state back into memory of its own (copied), after mt_optimizer_use_slots. */
mt_status mt_optimizer_own_slots(mt_optimizer *opt, mt_error *err);
/* Makes slots[0 .. n_slots) (malloc'd, of any length: the whole state or pieces of it) the state the
 * optimizer owns, freeing what it owned before. */
void mt_optimizer_adopt_slots(mt_optimizer *opt, float *const *slots);

/* 1 when the optimizer takes one step per epoch over the whole training set (gd), else 0. */
int mt_optimizer_full_batch(const mt_optimizer *opt);

void mt_optimizer_free(mt_optimizer *opt);

/* Option table of one optimizer, for the reference documentation. */
const mt_option *mt_optimizer_options(mt_optimizer_kind kind);

#endif
