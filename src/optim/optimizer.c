/* Optimizers: SGD with momentum / Nesterov and Adam, following torch.optim's update rules:
 *   SGD:  g += wd p;  b = mu b + g (b = g on the first step);  p -= lr (nesterov ? g + mu b : b)
 *   Adam: g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)                                      */
#include "optim/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

const char *const mt_optimizer_names[] = {
    [MT_OPTIM_SGD] = "sgd",
    [MT_OPTIM_ADAM] = "adam",
    NULL,
};

#define OPT(field) offsetof(mt_optimizer_opts, field)

static const mt_option sgd_options[] = {
    {"name", MT_OPT_NAME, OPT(name), "sgd", 0, 0, mt_optimizer_names, "optimizer"},
    {"learning_rate", MT_OPT_FLOAT, OPT(learning_rate), "0.01", 0, 1e6, NULL, "step size"},
    {"momentum", MT_OPT_FLOAT, OPT(momentum), "0", 0, 1, NULL, "momentum factor (0 = plain SGD)"},
    {"nesterov", MT_OPT_BOOL, OPT(nesterov), "false", 0, 0, NULL, "Nesterov momentum"},
    {"weight_decay", MT_OPT_FLOAT, OPT(weight_decay), "0", 0, 1e6, NULL, "L2 penalty added to the gradient"},
    MT_OPT_END,
};

static const mt_option adam_options[] = {
    {"name", MT_OPT_NAME, OPT(name), "adam", 0, 0, mt_optimizer_names, "optimizer"},
    {"learning_rate", MT_OPT_FLOAT, OPT(learning_rate), "0.001", 0, 1e6, NULL, "step size"},
    {"beta_1", MT_OPT_FLOAT, OPT(beta_1), "0.9", 0, 0.999999, NULL, "decay of the first moment"},
    {"beta_2", MT_OPT_FLOAT, OPT(beta_2), "0.999", 0, 0.999999999, NULL, "decay of the second moment"},
    {"epsilon", MT_OPT_FLOAT, OPT(epsilon), "1e-8", 0, 1, NULL, "added to the denominator"},
    {"weight_decay", MT_OPT_FLOAT, OPT(weight_decay), "0", 0, 1e6, NULL, "L2 penalty added to the gradient"},
    MT_OPT_END,
};

const mt_option *mt_optimizer_options(mt_optimizer_kind kind)
{
    return kind == MT_OPTIM_ADAM ? adam_options : sgd_options;
}

static mt_status parse_kind(const mt_node *node, mt_optimizer_kind *kind, mt_error *err)
{
    char where[64], list[256];
    const mt_node *name = node->kind == MT_NODE_SCALAR ? node : mt_node_get(node, "name");
    if (!name || name->kind != MT_NODE_SCALAR)
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer: missing required key 'name'",
                       mt_node_where(node, where, sizeof where));
    int i = mt_choice_find(mt_optimizer_names, name->value);
    if (i < 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s: optimizer.name: unknown optimizer '%s'; valid: %s",
                       mt_node_where(name, where, sizeof where), name->value,
                       mt_choice_list(mt_optimizer_names, list, sizeof list));
    *kind = (mt_optimizer_kind)i;
    return MT_OK;
}

mt_status mt_optimizer_create(const mt_node *node, size_t n, mt_optimizer *opt, mt_error *err)
{
    memset(opt, 0, sizeof *opt);
    mt_status st = parse_kind(node, &opt->kind, err);
    if (st)
        return st;
    const mt_node *map = node->kind == MT_NODE_SCALAR ? NULL : node;
    st = mt_options_parse(mt_optimizer_options(opt->kind), map, "optimizer", &opt->opts, err);
    if (st)
        return st;
    snprintf(opt->opts.name, sizeof opt->opts.name, "%s", mt_optimizer_names[opt->kind]);
    opt->n = n;
    if (opt->kind == MT_OPTIM_SGD) {
        opt->n_slots = opt->opts.momentum > 0 ? 1 : 0;
        opt->slot_names[0] = "momentum_buffer";
    } else {
        opt->n_slots = 2;
        opt->slot_names[0] = "exp_avg";
        opt->slot_names[1] = "exp_avg_sq";
    }
    for (int s = 0; s < opt->n_slots; s++) {
        opt->slots[s] = calloc(n ? n : 1, sizeof(float));
        if (!opt->slots[s]) {
            mt_optimizer_free(opt);
            return mt_fail(err, MT_ERR_NOMEM, "optimizer: cannot allocate state for %zu parameters", n);
        }
    }
    return MT_OK;
}

static void sgd_step(mt_optimizer *opt, float *restrict p, const float *restrict g, float lr)
{
    const float wd = (float)opt->opts.weight_decay, mu = (float)opt->opts.momentum;
    size_t n = opt->n;
    if (opt->n_slots == 0) {
        for (size_t i = 0; i < n; i++)
            p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    float *restrict b = opt->slots[0];
    const float keep = opt->step == 1 ? 0.0f : mu; /* torch: the buffer starts as the first gradient */
    if (opt->opts.nesterov) {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            b[i] = keep * b[i] + gi;
            p[i] -= lr * (gi + mu * b[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            b[i] = keep * b[i] + g[i] + wd * p[i];
            p[i] -= lr * b[i];
        }
    }
}

static void adam_step(mt_optimizer *opt, float *restrict p, const float *restrict g, float lr)
{
    const float b1 = (float)opt->opts.beta_1, b2 = (float)opt->opts.beta_2, eps = (float)opt->opts.epsilon;
    const float wd = (float)opt->opts.weight_decay;
    const double t = (double)opt->step;
    const float c1 = (float)(1.0 - pow(opt->opts.beta_1, t)), c2 = (float)sqrt(1.0 - pow(opt->opts.beta_2, t));
    const float step = lr / c1;
    float *restrict m = opt->slots[0], *restrict v = opt->slots[1];
    size_t n = opt->n;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) / c2 + eps);
    }
}

void mt_optimizer_step(mt_optimizer *opt, float *params, const float *grads, double lr)
{
    opt->step++;
    if (opt->kind == MT_OPTIM_SGD)
        sgd_step(opt, params, grads, (float)lr);
    else
        adam_step(opt, params, grads, (float)lr);
}

void mt_optimizer_free(mt_optimizer *opt)
{
    for (int s = 0; s < MT_OPT_MAX_SLOTS; s++)
        free(opt->slots[s]);
    memset(opt, 0, sizeof *opt);
}
