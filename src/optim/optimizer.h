/* Optimizers over the flat parameter slab: update rules as torch.optim documents them. The state
 * (moments) is one slab per slot so that checkpoints store it as whole tensors. */
#ifndef MT_OPTIM_OPTIMIZER_H
#define MT_OPTIM_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>
#include "config/options.h"

#define MT_OPT_MAX_SLOTS 3

typedef enum mt_optimizer_kind { MT_OPTIM_SGD, MT_OPTIM_ADAM } mt_optimizer_kind;

typedef struct mt_optimizer_opts {
    char name[MT_NAME_MAX];
    double learning_rate;
    double momentum;
    int nesterov;
    double beta_1, beta_2, epsilon;
    double weight_decay;
} mt_optimizer_opts;

typedef struct mt_optimizer {
    mt_optimizer_kind kind;
    mt_optimizer_opts opts;
    size_t n;                               /* parameters */
    int n_slots;
    const char *slot_names[MT_OPT_MAX_SLOTS];
    float *slots[MT_OPT_MAX_SLOTS];         /* each n floats, zero-initialized */
    int64_t step;                           /* steps taken */
} mt_optimizer;

extern const char *const mt_optimizer_names[];

/* Reads the optimizer config node (scalar name or map with name and hyperparameters) and allocates
 * the state for n parameters. Options that the chosen optimizer does not use are errors. */
mt_status mt_optimizer_create(const mt_node *node, size_t n, mt_optimizer *opt, mt_error *err);

/* One update: params -= f(grads) with learning rate lr (the schedule's value for this step). */
void mt_optimizer_step(mt_optimizer *opt, float *params, const float *grads, double lr);

void mt_optimizer_free(mt_optimizer *opt);

/* Option tables per optimizer, for the reference documentation. */
const mt_option *mt_optimizer_options(mt_optimizer_kind kind);

#endif
