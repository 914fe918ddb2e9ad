/* Optimizers over the flat parameter slab, written from the update rules torch.optim documents (t = step
 * count after increment, g = the gradient after clipping, plus wd p where L2 decay applies):
 *   gd, sgd, momentum, nesterov (torch SGD, dampening 0):
 *         b = mu b + g (b = g on the first step: b starts at 0);  p -= lr (nesterov ? g + mu b : b)   (mu = 0: p -= lr g)
 *   adagrad:  clr = lr / (1 + (t-1) lr_decay);  sum += g^2;  p -= clr g / (sqrt(sum) + eps)
 *   adadelta: v = rho v + (1-rho) g^2;  d = sqrt(u + eps) / sqrt(v + eps) g;  u = rho u + (1-rho) d^2;
 *             p -= lr d
 *   rmsprop:  v = rho v + (1-rho) g^2;  centered: a = rho a + (1-rho) g, den = sqrt(v - a^2) + eps,
 *             else den = sqrt(v) + eps;  momentum: b = mu b + g / den, p -= lr b;  else p -= lr g / den
 *   adam:     m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   adamw:    p *= 1 - lr wd (decoupled; g carries no decay), then the adam update
 *   nadam:    mu_t = b1 (1 - 0.5 0.96^(t psi)), psi = momentum_decay;  mu_product *= mu_t;
 *             m, v as adam;  den = sqrt(v / (1-b2^t)) + eps;
 *             p -= lr (1-mu_t)/(1-mu_product) g / den + lr mu_{t+1}/(1-mu_product mu_{t+1}) m / den
 * Where torch differs from Keras or from the papers, we follow torch:
 *   - sgd: Keras keeps lr inside the velocity (v = mu v - lr g); torch (and we) multiply lr outside, which
 *     differs only when the learning rate changes during the run. Default lr is torch's 1e-3 (Keras 0.01).
 *   - rmsprop: torch adds eps outside the square root (Keras: sqrt(v + eps)); torch's alpha is our rho
 *     (Keras's name); defaults are torch's (lr 0.01, rho 0.99, eps 1e-8; Keras 0.001, 0.9, 1e-7). In the
 *     centered variant v - a^2 is clamped at 0 against rounding (it is >= 0 in exact arithmetic).
 *   - adadelta: defaults lr 1.0, rho 0.9, eps 1e-6 (Zeiler's paper has no lr, i.e. lr 1; Keras 0.001, 0.95).
 *   - adagrad: eps outside the square root, eps 1e-10, initial accumulator 0 (Keras 0.1), torch's lr_decay.
 *   - nadam: torch's schedule with momentum_decay 0.004 (Dozat's 0.96^(t/250)), lr 2e-3 (Keras 1e-3).
 *   - adamw: torch multiplies the decay by the (scheduled) lr; Loshchilov & Hutter multiply it by the
 *     schedule multiplier only. Default weight_decay 0.01.
 *   - clipnorm clips by the norm of the whole gradient (torch's clip_grad_norm_, Keras's global_clipnorm;
 *     Keras's clipnorm is per tensor): g *= clipnorm / max(norm, clipnorm) (torch adds 1e-6 to the norm;
 *     we do not). clipvalue clamps each element. As in Keras, only one of the two may be set. Clipping
 *     applies to the raw gradient, before weight decay is added (as torch code that clips before step()). */
#include "optim/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

const char *const mt_optimizer_names[] = {
    [MT_OPTIM_GD] = "gd|gradient_descent",
    [MT_OPTIM_SGD] = "sgd",
    [MT_OPTIM_MOMENTUM] = "momentum",
    [MT_OPTIM_NESTEROV] = "nesterov|nag",
    [MT_OPTIM_ADAGRAD] = "adagrad",
    [MT_OPTIM_ADADELTA] = "adadelta",
    [MT_OPTIM_RMSPROP] = "rmsprop",
    [MT_OPTIM_ADAM] = "adam",
    [MT_OPTIM_NADAM] = "nadam",
    [MT_OPTIM_ADAMW] = "adamw",
    [MT_OPTIM_COUNT] = NULL,
};

const char *const mt_optimizer_docs[] = {
    [MT_OPTIM_GD] = "full-batch gradient descent: one step per epoch over the whole training set",
    [MT_OPTIM_SGD] = "stochastic gradient descent, optionally with (Nesterov) momentum (torch.optim.SGD)",
    [MT_OPTIM_MOMENTUM] = "sgd with momentum 0.9 by default",
    [MT_OPTIM_NESTEROV] = "sgd with Nesterov momentum, momentum 0.9 by default",
    [MT_OPTIM_ADAGRAD] = "Adagrad: per-parameter steps scaled by the root of the summed squared gradients",
    [MT_OPTIM_ADADELTA] = "Adadelta: steps scaled by running averages of squared gradients and updates",
    [MT_OPTIM_RMSPROP] = "RMSprop: steps scaled by a running average of squared gradients",
    [MT_OPTIM_ADAM] = "Adam: bias-corrected first and second moment estimates",
    [MT_OPTIM_NADAM] = "NAdam: Adam with Nesterov momentum and torch's momentum-decay schedule",
    [MT_OPTIM_ADAMW] = "AdamW: Adam with decoupled weight decay p *= 1 - lr weight_decay",
    [MT_OPTIM_COUNT] = NULL,
};

#define OPT(field) offsetof(mt_optimizer_opts, field)
#define NAME(dflt)                                                                  \
    {                                                                               \
        "name", MT_OPT_NAME, OPT(name), dflt, 0, 0, mt_optimizer_names, "optimizer" \
    }
#define LR(dflt)                                                               \
    {                                                                          \
        "learning_rate", MT_OPT_FLOAT, OPT(learning_rate), dflt, 0, 1e6, NULL, \
            "step size (the lr_schedule scales it per step)"                   \
    }
#define MOMENTUM(dflt)                                                                          \
    {                                                                                           \
        "momentum", MT_OPT_FLOAT, OPT(momentum), dflt, 0, 1, NULL, "momentum factor (0 = none)" \
    }
#define EPSILON(dflt)                                                                                               \
    {                                                                                                               \
        "epsilon", MT_OPT_FLOAT, OPT(epsilon), dflt, 0, 1, NULL, "added to the denominator for numerical stability" \
    }
#define BETAS                                                                                                 \
    {"beta_1", MT_OPT_FLOAT, OPT(beta_1), "0.9", 0, 0.999999, NULL, "decay rate of the first moment"},        \
    {                                                                                                         \
        "beta_2", MT_OPT_FLOAT, OPT(beta_2), "0.999", 0, 0.999999999, NULL, "decay rate of the second moment" \
    }
#define WEIGHT_DECAY(dflt, doc)                                                  \
    {                                                                            \
        "weight_decay", MT_OPT_FLOAT, OPT(weight_decay), dflt, 0, 1e6, NULL, doc \
    }
#define L2_DECAY WEIGHT_DECAY("0", "L2 penalty: weight_decay * p is added to the gradient")
#define CLIPPING                                                                         \
    {"clipnorm",                                                                         \
     MT_OPT_FLOAT,                                                                       \
     OPT(clipnorm),                                                                      \
     "0",                                                                                \
     0,                                                                                  \
     1e30,                                                                               \
     NULL,                                                                               \
     "if > 0, scale the gradient so that its global L2 norm is at most this (0 = off)"}, \
    {                                                                                    \
        "clipvalue", MT_OPT_FLOAT, OPT(clipvalue), "0", 0, 1e30, NULL,                   \
            "if > 0, clamp each gradient element to [-clipvalue, clipvalue] (0 = off)"   \
    }

static const mt_option gd_options[] = {
    NAME("gd"), LR("0.001"), L2_DECAY, CLIPPING, MT_OPT_END,
};

static const mt_option sgd_options[] = {
    NAME("sgd"),
    LR("0.001"),
    MOMENTUM("0"),
    {"nesterov", MT_OPT_BOOL, OPT(nesterov), "false", 0, 0, NULL, "Nesterov momentum (needs momentum > 0)"},
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option momentum_options[] = {
    NAME("momentum"),
    LR("0.001"),
    MOMENTUM("0.9"),
    {"nesterov", MT_OPT_BOOL, OPT(nesterov), "false", 0, 0, NULL, "Nesterov momentum (needs momentum > 0)"},
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option nesterov_options[] = {
    NAME("nesterov"), LR("0.001"), MOMENTUM("0.9"), L2_DECAY, CLIPPING, MT_OPT_END,
};

static const mt_option adagrad_options[] = {
    NAME("adagrad"),
    LR("0.01"),
    {"lr_decay", MT_OPT_FLOAT, OPT(lr_decay), "0", 0, 1e6, NULL, "step t uses learning_rate / (1 + (t - 1) lr_decay)"},
    {"initial_accumulator_value", MT_OPT_FLOAT, OPT(initial_accumulator_value), "0", 0, 1e6, NULL,
     "starting value of the sum of squared gradients"},
    EPSILON("1e-10"),
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option adadelta_options[] = {
    NAME("adadelta"),
    LR("1.0"),
    {"rho", MT_OPT_FLOAT, OPT(rho), "0.9", 0, 1, NULL, "decay rate of the running averages"},
    EPSILON("1e-6"),
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option rmsprop_options[] = {
    NAME("rmsprop"),
    LR("0.01"),
    {"rho", MT_OPT_FLOAT, OPT(rho), "0.99", 0, 1, NULL,
     "decay rate of the running average of squared gradients (torch's alpha)"},
    EPSILON("1e-8"),
    MOMENTUM("0"),
    {"centered", MT_OPT_BOOL, OPT(centered), "false", 0, 0, NULL,
     "normalize by the estimated variance (subtract the squared running mean of the gradient)"},
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option adam_options[] = {
    NAME("adam"), LR("0.001"), BETAS, EPSILON("1e-8"), L2_DECAY, CLIPPING, MT_OPT_END,
};

static const mt_option nadam_options[] = {
    NAME("nadam"),
    LR("0.002"),
    BETAS,
    EPSILON("1e-8"),
    {"momentum_decay", MT_OPT_FLOAT, OPT(momentum_decay), "0.004", 0, 1e6, NULL,
     "psi in the momentum schedule mu_t = beta_1 (1 - 0.5 * 0.96^(t psi))"},
    L2_DECAY,
    CLIPPING,
    MT_OPT_END,
};

static const mt_option adamw_options[] = {
    NAME("adamw"),
    LR("0.001"),
    BETAS,
    EPSILON("1e-8"),
    WEIGHT_DECAY("0.01", "decoupled weight decay: p *= 1 - learning_rate * weight_decay each step"),
    CLIPPING,
    MT_OPT_END,
};

static const mt_option *const tables[MT_OPTIM_COUNT] = {
    [MT_OPTIM_GD] = gd_options,
    [MT_OPTIM_SGD] = sgd_options,
    [MT_OPTIM_MOMENTUM] = momentum_options,
    [MT_OPTIM_NESTEROV] = nesterov_options,
    [MT_OPTIM_ADAGRAD] = adagrad_options,
    [MT_OPTIM_ADADELTA] = adadelta_options,
    [MT_OPTIM_RMSPROP] = rmsprop_options,
    [MT_OPTIM_ADAM] = adam_options,
    [MT_OPTIM_NADAM] = nadam_options,
    [MT_OPTIM_ADAMW] = adamw_options,
};

const mt_option *mt_optimizer_options(mt_optimizer_kind kind)
{
    return (unsigned)kind < MT_OPTIM_COUNT ? tables[kind] : NULL;
}

static mt_status parse_kind(const mt_node *node, mt_optimizer_kind *kind, mt_error *err)
{
    char where[300], list[256];
    const mt_node *name = node->kind == MT_NODE_SCALAR ? node : mt_node_get(node, "name");
    if (!name || name->kind != MT_NODE_SCALAR)
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer: missing required key 'name'",
                       mt_node_where(node, where, sizeof where));
    int i = mt_choice_find(mt_optimizer_names, name->value);
    if (i < 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer.name: unknown optimizer '%.64s'; valid: %s",
                       mt_node_where(name, where, sizeof where), name->value,
                       mt_choice_list(mt_optimizer_names, list, sizeof list));
    *kind = (mt_optimizer_kind)i;
    return MT_OK;
}

/* Checks between options that one table cannot express. node is the optimizer node (scalar or map). */
static mt_status check_combinations(const mt_optimizer *opt, const mt_node *node, mt_error *err)
{
    char where[300];
    const mt_node *map = node->kind == MT_NODE_MAP ? node : NULL;
    if (opt->opts.nesterov && opt->opts.momentum <= 0) {
        const mt_node *m = mt_node_get(map, "momentum");
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer.%s: Nesterov momentum needs momentum > 0",
                       mt_node_where(m ? m : node, where, sizeof where), m ? "momentum" : "nesterov");
    }
    if (opt->opts.clipnorm > 0 && opt->opts.clipvalue > 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer.clipvalue: set clipnorm or clipvalue, not both",
                       mt_node_where(mt_node_get(map, "clipvalue"), where, sizeof where));
    return MT_OK;
}

/* Names the state slots and scalars of opt->kind. */
static void name_state(mt_optimizer *opt)
{
    const mt_optimizer_opts *o = &opt->opts;
    switch (opt->kind) {
    case MT_OPTIM_GD:
        break;
    case MT_OPTIM_SGD:
    case MT_OPTIM_MOMENTUM:
    case MT_OPTIM_NESTEROV:
        if (o->momentum > 0)
            opt->slot_names[opt->n_slots++] = "momentum_buffer";
        break;
    case MT_OPTIM_ADAGRAD:
        opt->slot_names[opt->n_slots++] = "sum";
        break;
    case MT_OPTIM_ADADELTA:
        opt->slot_names[opt->n_slots++] = "square_avg";
        opt->slot_names[opt->n_slots++] = "acc_delta";
        break;
    case MT_OPTIM_RMSPROP:
        opt->slot_names[opt->n_slots++] = "square_avg";
        if (o->momentum > 0)
            opt->slot_names[opt->n_slots++] = "momentum_buffer";
        if (o->centered)
            opt->slot_names[opt->n_slots++] = "grad_avg";
        break;
    case MT_OPTIM_NADAM:
        opt->scalar_names[opt->n_scalars] = "mu_product";
        opt->scalars[opt->n_scalars++] = 1.0;
        /* fall through */
    case MT_OPTIM_ADAM:
    case MT_OPTIM_ADAMW:
        opt->slot_names[opt->n_slots++] = "exp_avg";
        opt->slot_names[opt->n_slots++] = "exp_avg_sq";
        break;
    case MT_OPTIM_COUNT:
        break;
    }
}

mt_status mt_optimizer_create(const mt_node *node, size_t n, mt_optimizer *opt, mt_error *err)
{
    memset(opt, 0, sizeof *opt);
    if (!node)
        return mt_fail(err, MT_ERR_CONFIG, "optimizer: missing");
    mt_status st = parse_kind(node, &opt->kind, err);
    if (st)
        return st;
    const mt_node *map = node->kind == MT_NODE_SCALAR ? NULL : node;
    st = mt_options_parse(mt_optimizer_options(opt->kind), map, "optimizer", &opt->opts, err);
    if (st)
        return st;
    if (opt->kind == MT_OPTIM_NESTEROV)
        opt->opts.nesterov = 1;
    st = check_combinations(opt, node, err);
    if (st)
        return st;
    snprintf(opt->opts.name, sizeof opt->opts.name, "%.*s", (int)strcspn(mt_optimizer_names[opt->kind], "|"),
             mt_optimizer_names[opt->kind]);
    opt->n = n;
    name_state(opt);
    for (int s = 0; s < opt->n_slots; s++) {
        opt->slots[s] = calloc(n ? n : 1, sizeof(float));
        if (!opt->slots[s]) {
            mt_optimizer_free(opt);
            return mt_fail(err, MT_ERR_NOMEM, "optimizer: cannot allocate state for %zu parameters", n);
        }
    }
    if (opt->kind == MT_OPTIM_ADAGRAD) {
        const float init = (float)opt->opts.initial_accumulator_value;
        for (size_t i = 0; i < n; i++)
            opt->slots[0][i] = init;
    }
    return MT_OK;
}

int mt_optimizer_slots(const mt_node *node)
{
    mt_optimizer opt;
    mt_error ignored;
    if (!node || mt_optimizer_create(node, 0, &opt, &ignored) != MT_OK)
        return 0;
    int slots = opt.n_slots;
    mt_optimizer_free(&opt);
    return slots;
}

int mt_optimizer_full_batch(const mt_optimizer *opt)
{
    return opt->kind == MT_OPTIM_GD;
}

/* How the raw gradient becomes the one the rule sees: scaled (clipnorm), clamped (clipvalue), L2 added. */
typedef struct prep {
    float scale, clip, wd;
} prep;

/* A NaN gradient stays NaN (the comparisons are false), so divergence remains visible. */
static inline float grad_of(float g, float p, float scale, float clip, float wd)
{
    float x = scale * g;
    x = x > clip ? clip : x;
    x = x < -clip ? -clip : x;
    return x + wd * p;
}

/* Sum of squares in double, in 8 independent lanes so that the loop vectorizes without reassociation. */
static double sum_squares(const float *restrict g, size_t n)
{
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += (double)g[i + j] * (double)g[i + j];
    for (; i < n; i++)
        s += (double)g[i] * (double)g[i];
    for (int j = 0; j < 8; j++)
        s += lane[j];
    return s;
}

/* mode 0: no momentum; 1: heavy ball; 2: Nesterov. Inlined with a constant mode. */
static inline __attribute__((always_inline)) void sgd_loop(size_t n, float *restrict p, const float *restrict g,
                                                           float *restrict b, float lr, float mu, prep k,
                                                           const int mode)
{
    const float scale = k.scale, clip = k.clip, wd = k.wd;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        if (mode == 0) {
            p[i] -= lr * gi;
        } else {
            b[i] = mu * b[i] + gi;
            p[i] -= lr * (mode == 2 ? gi + mu * b[i] : b[i]);
        }
    }
}

/* torch starts the buffer as the first gradient; ours starts at zero, so mu * 0 + g is the same. */
static void sgd_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n, float lr,
                     prep k)
{
    const float mu = (float)opt->opts.momentum;
    if (opt->n_slots == 0)
        sgd_loop(n, p, g, NULL, lr, mu, k, 0);
    else if (opt->opts.nesterov)
        sgd_loop(n, p, g, opt->slots[0] + lo, lr, mu, k, 2);
    else
        sgd_loop(n, p, g, opt->slots[0] + lo, lr, mu, k, 1);
}

static void adagrad_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n, double lr,
                         prep k)
{
    const float clr = (float)(lr / (1.0 + (double)(opt->step - 1) * opt->opts.lr_decay));
    const float eps = (float)opt->opts.epsilon, scale = k.scale, clip = k.clip, wd = k.wd;
    float *restrict sum = opt->slots[0] + lo;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        sum[i] += gi * gi;
        p[i] -= clr * gi / (sqrtf(sum[i]) + eps);
    }
}

static void adadelta_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n, float lr,
                          prep k)
{
    const float rho = (float)opt->opts.rho, one_rho = (float)(1.0 - opt->opts.rho);
    const float eps = (float)opt->opts.epsilon, scale = k.scale, clip = k.clip, wd = k.wd;
    float *restrict v = opt->slots[0] + lo, *restrict u = opt->slots[1] + lo;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        v[i] = rho * v[i] + one_rho * gi * gi;
        float d = sqrtf(u[i] + eps) / sqrtf(v[i] + eps) * gi;
        u[i] = rho * u[i] + one_rho * d * d;
        p[i] -= lr * d;
    }
}

/* Inlined with constant flags; b and a are unused (may be NULL) when the flag is off. */
static inline __attribute__((always_inline)) void rmsprop_loop(size_t n, float *restrict p, const float *restrict g,
                                                               float *restrict v, float *restrict b, float *restrict a,
                                                               float lr, float rho, float one_rho, float eps, float mu,
                                                               prep k, const int with_momentum, const int centered)
{
    const float scale = k.scale, clip = k.clip, wd = k.wd;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        v[i] = rho * v[i] + one_rho * gi * gi;
        float var = v[i];
        if (centered) {
            a[i] = rho * a[i] + one_rho * gi;
            var -= a[i] * a[i];
            var = var < 0.0f ? 0.0f : var;
        }
        float den = sqrtf(var) + eps;
        if (with_momentum) {
            b[i] = mu * b[i] + gi / den;
            p[i] -= lr * b[i];
        } else {
            p[i] -= lr * gi / den;
        }
    }
}

static void rmsprop_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n, float lr,
                         prep k)
{
    const mt_optimizer_opts *o = &opt->opts;
    const float rho = (float)o->rho, one_rho = (float)(1.0 - o->rho), eps = (float)o->epsilon;
    const float mu = (float)o->momentum;
    const int with_momentum = o->momentum > 0, centered = o->centered;
    float *v = opt->slots[0] + lo, *b = with_momentum ? opt->slots[1] + lo : NULL;
    float *a = centered ? opt->slots[with_momentum ? 2 : 1] + lo : NULL;
    if (with_momentum && centered)
        rmsprop_loop(n, p, g, v, b, a, lr, rho, one_rho, eps, mu, k, 1, 1);
    else if (with_momentum)
        rmsprop_loop(n, p, g, v, b, a, lr, rho, one_rho, eps, mu, k, 1, 0);
    else if (centered)
        rmsprop_loop(n, p, g, v, b, a, lr, rho, one_rho, eps, mu, k, 0, 1);
    else
        rmsprop_loop(n, p, g, v, b, a, lr, rho, one_rho, eps, mu, k, 0, 0);
}

/* adam and adamw (decay = 1 - lr wd for adamw, exactly 1 for adam). */
static void adam_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n, double lr,
                      prep k)
{
    const mt_optimizer_opts *o = &opt->opts;
    const double t = (double)opt->step;
    const float b1 = (float)o->beta_1, b2 = (float)o->beta_2, eps = (float)o->epsilon;
    const float one_b1 = (float)(1.0 - o->beta_1), one_b2 = (float)(1.0 - o->beta_2);
    const float step = (float)(lr / (1.0 - pow(o->beta_1, t))), c2 = (float)sqrt(1.0 - pow(o->beta_2, t));
    const float decay = opt->kind == MT_OPTIM_ADAMW ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
    const float scale = k.scale, clip = k.clip, wd = k.wd;
    float *restrict m = opt->slots[0] + lo, *restrict v = opt->slots[1] + lo;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        m[i] = b1 * m[i] + one_b1 * gi;
        v[i] = b2 * v[i] + one_b2 * gi * gi;
        p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) / c2 + eps);
    }
}

/* Nadam's momentum schedule advances once per step (mt_optimizer_begin): the product of the mu so far, and
 * the two factors of this step's update. */
static void nadam_begin(mt_optimizer *opt, double lr)
{
    const mt_optimizer_opts *o = &opt->opts;
    const double t = (double)opt->step, psi = o->momentum_decay;
    const double mu = o->beta_1 * (1.0 - 0.5 * pow(0.96, t * psi));
    const double mu_next = o->beta_1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * psi));
    const double product = opt->scalars[0] * mu, product_next = product * mu_next;
    opt->scalars[0] = product;
    opt->now.c[0] = lr * (1.0 - mu) / (1.0 - product);
    opt->now.c[1] = lr * mu_next / (1.0 - product_next);
}

static void nadam_step(mt_optimizer *opt, float *restrict p, const float *restrict g, size_t lo, size_t n)
{
    const mt_optimizer_opts *o = &opt->opts;
    const double t = (double)opt->step;
    const prep k = {opt->now.scale, opt->now.clip, opt->now.wd};
    const float cg = (float)opt->now.c[0], cm = (float)opt->now.c[1];
    const float b1 = (float)o->beta_1, b2 = (float)o->beta_2, eps = (float)o->epsilon;
    const float one_b1 = (float)(1.0 - o->beta_1), one_b2 = (float)(1.0 - o->beta_2);
    const float c2 = (float)sqrt(1.0 - pow(o->beta_2, t));
    const float scale = k.scale, clip = k.clip, wd = k.wd;
    float *restrict m = opt->slots[0] + lo, *restrict v = opt->slots[1] + lo;
    for (size_t i = 0; i < n; i++) {
        float gi = grad_of(g[i], p[i], scale, clip, wd);
        m[i] = b1 * m[i] + one_b1 * gi;
        v[i] = b2 * v[i] + one_b2 * gi * gi;
        float den = sqrtf(v[i]) / c2 + eps;
        p[i] = p[i] - cg * gi / den - cm * m[i] / den;
    }
}

double mt_optimizer_norm_squared(const float *grads, size_t n)
{
    return sum_squares(grads, n);
}

void mt_optimizer_begin(mt_optimizer *opt, double lr, double norm_squared)
{
    const mt_optimizer_opts *o = &opt->opts;
    opt->now.lr = lr;
    opt->now.scale = 1.0f;
    opt->now.clip = o->clipvalue > 0 ? (float)o->clipvalue : INFINITY;
    opt->now.wd = opt->kind == MT_OPTIM_ADAMW ? 0.0f : (float)o->weight_decay;
    if (o->clipnorm > 0)
        opt->now.scale = (float)(o->clipnorm / fmax(sqrt(norm_squared), o->clipnorm));
    opt->step++;
    if (opt->kind == MT_OPTIM_NADAM)
        nadam_begin(opt, lr);
}

void mt_optimizer_apply(mt_optimizer *opt, float *params, const float *grads, size_t lo, size_t hi)
{
    mt_optimizer_apply_at(opt, params, grads, lo, hi, lo);
}

/* The step functions take the slots' index of the first parameter as `lo`. */
void mt_optimizer_apply_at(mt_optimizer *opt, float *params, const float *grads, size_t lo, size_t hi, size_t at)
{
    const prep k = {opt->now.scale, opt->now.clip, opt->now.wd};
    const double lr = opt->now.lr;
    float *p = params + lo;
    const float *g = grads + lo;
    const size_t n = hi - lo;
    switch (opt->kind) {
    case MT_OPTIM_GD:
    case MT_OPTIM_SGD:
    case MT_OPTIM_MOMENTUM:
    case MT_OPTIM_NESTEROV:
        sgd_step(opt, p, g, at, n, (float)lr, k);
        break;
    case MT_OPTIM_ADAGRAD:
        adagrad_step(opt, p, g, at, n, lr, k);
        break;
    case MT_OPTIM_ADADELTA:
        adadelta_step(opt, p, g, at, n, (float)lr, k);
        break;
    case MT_OPTIM_RMSPROP:
        rmsprop_step(opt, p, g, at, n, (float)lr, k);
        break;
    case MT_OPTIM_ADAM:
    case MT_OPTIM_ADAMW:
        adam_step(opt, p, g, at, n, lr, k);
        break;
    case MT_OPTIM_NADAM:
        nadam_step(opt, p, g, at, n);
        break;
    case MT_OPTIM_COUNT:
        break;
    }
}

void mt_optimizer_step(mt_optimizer *opt, float *params, const float *grads, double lr)
{
    mt_optimizer_begin(opt, lr, opt->opts.clipnorm > 0 ? sum_squares(grads, opt->n) : 0);
    mt_optimizer_apply(opt, params, grads, 0, opt->n);
}

mt_status mt_optimizer_own_slots(mt_optimizer *opt, mt_error *err)
{
    if (!opt->shared_slots)
        return MT_OK;
    float *own[MT_OPT_MAX_SLOTS] = {NULL};
    int ok = 1;
    for (int s = 0; s < opt->n_slots; s++)
        ok &= (own[s] = malloc((opt->n ? opt->n : 1) * sizeof *own[s])) != NULL;
    if (!ok) {
        for (int s = 0; s < opt->n_slots; s++)
            free(own[s]);
        return mt_fail(err, MT_ERR_NOMEM, "optimizer: cannot allocate its state (%zu values)", opt->n);
    }
    for (int s = 0; s < opt->n_slots; s++) {
        memcpy(own[s], opt->slots[s], opt->n * sizeof *own[s]);
        opt->slots[s] = own[s];
    }
    opt->shared_slots = 0;
    return MT_OK;
}

void mt_optimizer_use_slots(mt_optimizer *opt, float *const *slots, int copy)
{
    for (int s = 0; s < opt->n_slots; s++) {
        if (copy)
            memcpy(slots[s], opt->slots[s], opt->n * sizeof *slots[s]);
        if (!opt->shared_slots)
            free(opt->slots[s]);
        opt->slots[s] = slots[s];
    }
    opt->shared_slots = 1;
}

void mt_optimizer_adopt_slots(mt_optimizer *opt, float *const *slots)
{
    for (int s = 0; s < opt->n_slots; s++) {
        if (!opt->shared_slots)
            free(opt->slots[s]);
        opt->slots[s] = slots[s];
    }
    opt->shared_slots = 0;
}

void mt_optimizer_free(mt_optimizer *opt)
{
    for (int s = 0; s < MT_OPT_MAX_SLOTS && !opt->shared_slots; s++)
        free(opt->slots[s]);
    memset(opt, 0, sizeof *opt);
}
