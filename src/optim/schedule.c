/* Learning-rate schedules, as a pure function of the optimizer step s (0-based) with S = steps per epoch,
 * e = floor(s / S) the epoch, T = total steps of the run, W = warmup steps:
 *   base        = learning_rate * global_batch / reference_batch when reference_batch > 0 (the linear
 *                 scaling rule of Goyal et al., "Accurate, Large Minibatch SGD"), else learning_rate
 *   constant    : base
 *   step        : base * gamma^floor(e / step_size)                (torch StepLR stepped once per epoch)
 *   exponential : base * gamma^e                                   (torch ExponentialLR stepped per epoch;
 *                 gamma is the factor per epoch; Keras's decay_rate/decay_steps is not offered)
 *   cosine      : min_lr + (base - min_lr) (1 + cos(pi u / (T - W))) / 2, u = s - W, evaluated per step
 *                 (torch CosineAnnealingLR stepped per batch with T_max = T - W); u is capped at T - W, so
 *                 steps beyond the planned run stay at min_lr instead of rising again as torch's would.
 * Warmup (W = round(warmup_epochs * S) steps; W <= 1 is none): the rate rises linearly from 0:
 * for s < W it is multiplied by (s + 1) / W, so the first step already moves (base / W) and step W - 1
 * uses the full rate. A map without name is constant ({warmup_epochs: 5} warms up to a constant rate).
 * For constant, step and exponential the decay counts epochs from the start of the run
 * (warmup overlaps it, as in Goyal et al.); cosine anneals over the steps after the warmup. */
#include "optim/schedule.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

const char *const mt_schedule_names[] = {
    [MT_SCHEDULE_CONSTANT] = "constant|none|fixed",
    [MT_SCHEDULE_STEP] = "step|step_decay",
    [MT_SCHEDULE_EXPONENTIAL] = "exponential|exponential_decay",
    [MT_SCHEDULE_COSINE] = "cosine|cosine_decay|cosine_annealing",
    [MT_SCHEDULE_COUNT] = NULL,
};

const char *const mt_schedule_docs[] = {
    [MT_SCHEDULE_CONSTANT] = "the optimizer's learning_rate throughout",
    [MT_SCHEDULE_STEP] = "multiply the rate by gamma every step_size epochs",
    [MT_SCHEDULE_EXPONENTIAL] = "multiply the rate by gamma every epoch",
    [MT_SCHEDULE_COSINE] = "anneal from learning_rate to min_lr along a half cosine, per step, over the run",
    [MT_SCHEDULE_COUNT] = NULL,
};

_Static_assert(sizeof mt_schedule_names / sizeof mt_schedule_names[0] == MT_SCHEDULE_COUNT + 1,
               "one name per schedule");
_Static_assert(sizeof mt_schedule_docs / sizeof mt_schedule_docs[0] == MT_SCHEDULE_COUNT + 1,
               "one doc line per schedule in mt_schedule_docs");

#define OPT(field) offsetof(mt_schedule_opts, field)
#define NAME(dflt)                                                                              \
    {                                                                                           \
        "name", MT_OPT_NAME, OPT(name), dflt, 0, 0, mt_schedule_names, "learning-rate schedule" \
    }
#define COMMON                                                                                                      \
    {"warmup_epochs",                                                                                               \
     MT_OPT_FLOAT,                                                                                                  \
     OPT(warmup_epochs),                                                                                            \
     "0",                                                                                                           \
     0,                                                                                                             \
     1e6,                                                                                                           \
     NULL,                                                                                                          \
     "linear warmup from 0 over this many epochs (fractions allowed), per step"},                                   \
    {                                                                                                               \
        "reference_batch", MT_OPT_INT, OPT(reference_batch), "0", 0, INT_MAX, NULL,                                 \
            "linear scaling rule: learning_rate is for this batch and is scaled by global batch / reference_batch " \
            "(0 = off)"                                                                                             \
    }

static const mt_option constant_options[] = {NAME("constant"), COMMON, MT_OPT_END};

static const mt_option step_options[] = {
    NAME("step"),
    {"step_size", MT_OPT_INT, OPT(step_size), NULL, 1, 1e9, NULL, "epochs between two decays"},
    {"gamma", MT_OPT_FLOAT, OPT(gamma), "0.1", 0, 1, NULL, "factor applied at each decay"},
    COMMON,
    MT_OPT_END,
};

static const mt_option exponential_options[] = {
    NAME("exponential"),
    {"gamma", MT_OPT_FLOAT, OPT(gamma), NULL, 0, 1, NULL, "factor applied once per epoch"},
    COMMON,
    MT_OPT_END,
};

static const mt_option cosine_options[] = {
    NAME("cosine"),
    {"min_lr", MT_OPT_FLOAT, OPT(min_lr), "0", 0, 1e6, NULL, "rate at the end of the run"},
    COMMON,
    MT_OPT_END,
};

static const mt_option *const tables[MT_SCHEDULE_COUNT] = {
    [MT_SCHEDULE_CONSTANT] = constant_options,
    [MT_SCHEDULE_STEP] = step_options,
    [MT_SCHEDULE_EXPONENTIAL] = exponential_options,
    [MT_SCHEDULE_COSINE] = cosine_options,
};

const mt_option *mt_schedule_options(mt_schedule_kind kind)
{
    return (unsigned)kind < MT_SCHEDULE_COUNT ? tables[kind] : NULL;
}

static mt_status parse_kind(const mt_node *node, mt_schedule_kind *kind, mt_error *err)
{
    char where[300], list[256];
    const mt_node *name = node->kind == MT_NODE_SCALAR ? node : mt_node_get(node, "name");
    if (!name && node->kind == MT_NODE_MAP) {
        *kind = MT_SCHEDULE_CONSTANT; /* {warmup_epochs: 5} alone: warmup and scaling of a constant rate */
        return MT_OK;
    }
    if (!name || name->kind != MT_NODE_SCALAR)
        return mt_fail(err, MT_ERR_CONFIG, "%s: lr_schedule.name: expected a schedule name (%s)",
                       mt_node_where(name ? name : node, where, sizeof where),
                       mt_choice_list(mt_schedule_names, list, sizeof list));
    int i = mt_choice_find(mt_schedule_names, name->value);
    if (i < 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s: lr_schedule.name: unknown schedule '%.64s'; valid: %s",
                       mt_node_where(name, where, sizeof where), name->value,
                       mt_choice_list(mt_schedule_names, list, sizeof list));
    *kind = (mt_schedule_kind)i;
    return MT_OK;
}

int mt_schedule_spans_run(const mt_node *node)
{
    mt_schedule_kind kind = MT_SCHEDULE_CONSTANT;
    mt_error ignored;
    if (!node || (node->kind == MT_NODE_SCALAR && !node->value[0]) || parse_kind(node, &kind, &ignored))
        return 0;
    return kind == MT_SCHEDULE_COSINE;
}

/* "origin:line: lr_schedule.key" of key in map, or of the node itself. */
static const char *where_key(const mt_node *node, const char *key, char *buf, size_t size)
{
    const mt_node *at = node && node->kind == MT_NODE_MAP ? mt_node_get(node, key) : NULL;
    char loc[300];
    snprintf(buf, size, "%s%slr_schedule.%s", mt_node_where(at ? at : node, loc, sizeof loc), at || node ? ": " : "",
             key);
    return buf;
}

mt_status mt_schedule_create(const mt_node *node, double base_lr, int global_batch, uint64_t steps_per_epoch,
                             int total_epochs, mt_schedule *s, mt_error *err)
{
    char where[400];
    memset(s, 0, sizeof *s);
    if (!(base_lr >= 0) || global_batch < 1 || steps_per_epoch < 1 || total_epochs < 1)
        return mt_fail(err, MT_ERR_INTERNAL,
                       "lr_schedule: bad run shape (learning_rate %g, global batch %d, %llu steps per epoch, "
                       "%d epochs)",
                       base_lr, global_batch, (unsigned long long)steps_per_epoch, total_epochs);
    if (node && node->kind == MT_NODE_SCALAR && !node->value[0])
        node = NULL;
    mt_status st = node ? parse_kind(node, &s->kind, err) : MT_OK;
    if (st)
        return st;
    st = mt_options_parse(tables[s->kind], node && node->kind == MT_NODE_MAP ? node : NULL, "lr_schedule", &s->opts,
                          err);
    if (st)
        return st;
    snprintf(s->opts.name, sizeof s->opts.name, "%.*s", (int)strcspn(mt_schedule_names[s->kind], "|"),
             mt_schedule_names[s->kind]);
    s->base_lr = base_lr;
    if (s->opts.reference_batch > 0)
        s->base_lr = base_lr * (double)global_batch / (double)s->opts.reference_batch;
    s->steps_per_epoch = steps_per_epoch;
    s->total_steps = steps_per_epoch * (uint64_t)total_epochs;
    if (s->opts.warmup_epochs > total_epochs)
        return mt_fail(err, MT_ERR_CONFIG, "%s: %g warmup epochs is more than the run's %d epochs",
                       where_key(node, "warmup_epochs", where, sizeof where), s->opts.warmup_epochs, total_epochs);
    s->warmup_steps = (uint64_t)llround(s->opts.warmup_epochs * (double)steps_per_epoch);
    if (s->kind == MT_SCHEDULE_COSINE && s->opts.min_lr > s->base_lr)
        return mt_fail(err, MT_ERR_CONFIG, "%s: %g is above the learning rate %g it should anneal down from",
                       where_key(node, "min_lr", where, sizeof where), s->opts.min_lr, s->base_lr);
    return MT_OK;
}

double mt_schedule_lr(const mt_schedule *s, uint64_t step)
{
    const double base = s->base_lr;
    const uint64_t epoch = step / s->steps_per_epoch, w = s->warmup_steps;
    double lr = base;
    switch (s->kind) {
    case MT_SCHEDULE_STEP:
        lr = base * pow(s->opts.gamma, (double)(epoch / (uint64_t)s->opts.step_size));
        break;
    case MT_SCHEDULE_EXPONENTIAL:
        lr = base * pow(s->opts.gamma, (double)epoch);
        break;
    case MT_SCHEDULE_COSINE:
        if (step >= w) {
            const uint64_t span = s->total_steps > w ? s->total_steps - w : 0;
            const uint64_t u = step - w < span ? step - w : span;
            const double min = s->opts.min_lr;
            lr = span ? min + (base - min) * 0.5 * (1.0 + cos(M_PI * (double)u / (double)span)) : min;
        }
        break;
    case MT_SCHEDULE_CONSTANT:
    case MT_SCHEDULE_COUNT:
        break;
    }
    if (step < w)
        lr *= (double)(step + 1) / (double)w;
    return lr;
}
