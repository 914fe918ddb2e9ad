/* Losses (mse, rmse, mae, huber, hinge, binary and categorical cross-entropy, KL divergence) with per-sample
 * weights, accuracy counting, and the metric sums. Definitions and conventions are in loss.h. Values are
 * accumulated in double; the per-output gradient is written in float. */
#include "nn/loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "nn/activation.h"

const char *const mt_loss_names[] = {
    [MT_LOSS_CCE] = "categorical_crossentropy|cce|crossentropy|cross_entropy|sparse_categorical_crossentropy",
    [MT_LOSS_MSE] = "mse|mean_squared_error",
    [MT_LOSS_RMSE] = "rmse|root_mean_squared_error",
    [MT_LOSS_MAE] = "mae|mean_absolute_error",
    [MT_LOSS_HUBER] = "huber|huber_loss",
    [MT_LOSS_HINGE] = "hinge",
    [MT_LOSS_BCE] = "binary_crossentropy|bce|binary_cross_entropy",
    [MT_LOSS_KL] = "kl_divergence|kld|kullback_leibler_divergence|kl_div",
    [MT_LOSS_COUNT] = NULL,
};

const char *const mt_metric_names[] = {
    [MT_METRIC_ACCURACY] = "accuracy|acc|categorical_accuracy|sparse_categorical_accuracy",
    [MT_METRIC_BINARY_ACCURACY] = "binary_accuracy",
    [MT_METRIC_MAE] = "mae|mean_absolute_error",
    [MT_METRIC_RMSE] = "rmse|root_mean_squared_error",
    [MT_METRIC_COUNT] = NULL,
};

/* One line per loss and per metric for the reference documentation (mpitrain reference), indexed as the
 * names; loss.h has the definitions in full. */
const char *const mt_loss_docs[] = {
    [MT_LOSS_CCE] = "-sum_j t_j log p_j; needs at least 2 outputs; after a softmax output computed from the logits "
                    "(stable log-softmax), otherwise p is clipped to [1e-7, 1]",
    [MT_LOSS_MSE] = "mean_j (out_j - t_j)^2",
    [MT_LOSS_RMSE] = "square root of the weighted mse over the samples of an optimizer step (not a sum of per-sample "
                     "losses); reported as the root of the mse over the epoch or split",
    [MT_LOSS_MAE] = "mean_j |out_j - t_j|",
    [MT_LOSS_HUBER] = "mean_j (|e_j| <= delta ? e_j^2 / 2 : delta (|e_j| - delta / 2)), e = out - t "
                      "(torch.nn.HuberLoss)",
    [MT_LOSS_HINGE] = "one output or float targets: mean_j max(0, 1 - s_j out_j), s_j = t_j > 0 ? 1 : -1 (labels 0/1 "
                      "or -1/1); class indices with k > 1 outputs: sum_{j != y} max(0, 1 - out_y + out_j) / k",
    [MT_LOSS_BCE] = "mean_j -(t_j log p_j + (1 - t_j) log(1 - p_j)); after a sigmoid output computed from the logit; "
                    "float targets [N, k] make a multi-label classifier",
    [MT_LOSS_KL] = "sum_j t_j log(t_j / p_j), 0 log 0 = 0 (targets are distributions); needs at least 2 outputs",
};

const char *const mt_metric_docs[] = {
    [MT_METRIC_ACCURACY] = ("fraction of samples classified correctly (one output: (out > threshold) == (t > 0.5); "
                            "otherwise the arg-max of the outputs is the class)"),
    [MT_METRIC_BINARY_ACCURACY] = "fraction of output values with (out > threshold) == (t > 0.5)",
    [MT_METRIC_MAE] = "mean of |out - t| over all output values",
    [MT_METRIC_RMSE] = "square root of the mean of (out - t)^2 over all output values",
};

_Static_assert(sizeof mt_loss_names / sizeof mt_loss_names[0] == MT_LOSS_COUNT + 1, "one name per loss");
_Static_assert(sizeof mt_loss_docs / sizeof mt_loss_docs[0] == MT_LOSS_COUNT, "one doc line per loss");
_Static_assert(sizeof mt_metric_names / sizeof mt_metric_names[0] == MT_METRIC_COUNT + 1, "one name per metric");
_Static_assert(sizeof mt_metric_docs / sizeof mt_metric_docs[0] == MT_METRIC_COUNT, "one doc line per metric");

typedef struct loss_opts {
    char name[MT_NAME_MAX];
    double delta;
} loss_opts;

static const mt_option loss_options[] = {
    {"name", MT_OPT_NAME, offsetof(loss_opts, name), NULL, 0, 0, mt_loss_names, "loss function"},
    MT_OPT_END,
};

static const mt_option huber_options[] = {
    {"name", MT_OPT_NAME, offsetof(loss_opts, name), NULL, 0, 0, mt_loss_names, "loss function"},
    {"delta", MT_OPT_FLOAT, offsetof(loss_opts, delta), "1.0", 1e-12, HUGE_VAL, NULL,
     "huber: |error| up to which the loss is quadratic (torch.nn.HuberLoss delta)"},
    MT_OPT_END,
};

const mt_option *mt_loss_options(int kind)
{
    if (kind < 0 || kind >= MT_LOSS_COUNT)
        return NULL;
    return kind == MT_LOSS_HUBER ? huber_options : loss_options;
}

/* Reads the name and options; *kind is the loss. */
static mt_status parse_loss(const mt_node *node, loss_opts *o, int *kind, mt_error *err)
{
    char where[64], list[400];
    memset(o, 0, sizeof *o);
    o->delta = 1.0;
    if (node->kind == MT_NODE_SCALAR) {
        *kind = mt_choice_find(mt_loss_names, node->value);
        if (*kind < 0)
            return mt_fail(err, MT_ERR_CONFIG, "%s: loss: unknown loss '%s'; valid: %s",
                           mt_node_where(node, where, sizeof where), node->value,
                           mt_choice_list(mt_loss_names, list, sizeof list));
        return MT_OK;
    }
    /* Only huber has options; with an unknown name every key is allowed so that the name is reported. */
    const mt_node *name = mt_node_get(node, "name");
    *kind = name && name->kind == MT_NODE_SCALAR ? mt_choice_find(mt_loss_names, name->value) : -1;
    const mt_option *table = *kind == MT_LOSS_HUBER || *kind < 0 ? huber_options : loss_options;
    mt_status st = mt_options_parse(table, node, "loss", o, err);
    if (!st && *kind < 0)
        st = mt_fail(err, MT_ERR_INTERNAL, "loss: unknown name");
    return st;
}

mt_status mt_loss_setup(mt_loss *loss, const mt_node *node, mt_model *model, mt_error *err)
{
    char where[64];
    loss_opts o;
    int kind;
    memset(loss, 0, sizeof *loss);
    if (!node)
        return mt_fail(err, MT_ERR_CONFIG, "loss: missing");
    mt_status st = parse_loss(node, &o, &kind, err);
    if (st)
        return st;
    mt_layer *last = &model->layers[model->n_layers - 1];
    loss->kind = (mt_loss_kind)kind;
    loss->k = (int)model->output_size;
    loss->delta = (float)o.delta;
    loss->threshold = kind == MT_LOSS_HINGE || last->out_activation == MT_ACT_TANH ? 0.0f : 0.5f;
    if ((kind == MT_LOSS_CCE || kind == MT_LOSS_KL) && loss->k < 2)
        return mt_fail(err, MT_ERR_CONFIG, "%s: loss: %s needs at least 2 outputs, the last layer has %d",
                       mt_node_where(node, where, sizeof where),
                       kind == MT_LOSS_CCE ? "categorical_crossentropy" : "kl_divergence", loss->k);
    int logits = mt_model_logits(model) != NULL;
    if (kind == MT_LOSS_CCE || kind == MT_LOSS_KL)
        loss->fused = logits && last->out_activation == MT_ACT_SOFTMAX;
    else if (kind == MT_LOSS_BCE)
        loss->fused = logits && last->out_activation == MT_ACT_SIGMOID;
    last->fused_output = loss->fused;
    return MT_OK;
}

/* One batch, as given to mt_loss_compute. */
typedef struct batch {
    const float *out, *z; /* [n, k] outputs and logits */
    const int32_t *yc;    /* [n] class indices, or NULL */
    const float *yt;      /* [n, k] targets when yc is NULL */
    const float *w;       /* [n] weights, or NULL */
    int n, k;
    float *dout; /* [n, k] or NULL */
    float scale;
} batch;

/* Target of output j of sample i: the value itself, or from a class index (one-hot; the index for k = 1). */
static inline float target(const batch *b, int i, int j)
{
    if (b->yc)
        return b->k == 1 ? (float)b->yc[i] : (float)(j == b->yc[i]);
    return b->yt[(size_t)i * b->k + j];
}

static inline double weight(const batch *b, int i)
{
    return b->w ? b->w[i] : 1.0;
}

static inline float sign(float e)
{
    return (float)((e > 0.0f) - (e < 0.0f));
}

/* The losses that average an element loss over the k outputs: mse (and rmse), mae, huber, binary hinge,
 * binary cross-entropy. The gradient of output j is g_j / k. */
static double elementwise(mt_loss_kind kind, float delta, int fused, const batch *b)
{
    const float eps = 1e-7f;
    const int k = b->k;
    double total = 0.0;
    for (int i = 0; i < b->n; i++) {
        const float *o = b->out + (size_t)i * k;
        float *d = b->dout ? b->dout + (size_t)i * k : NULL;
        double s = 0.0, w = weight(b, i);
        float gs = (float)(b->scale * w / k);
        for (int j = 0; j < k; j++) {
            float t = target(b, i, j), e = o[j] - t, g;
            double l;
            switch (kind) {
            case MT_LOSS_MAE:
                l = fabsf(e), g = sign(e);
                break;
            case MT_LOSS_HUBER: {
                float a = fabsf(e);
                l = a <= delta ? 0.5 * e * e : delta * (a - 0.5 * delta);
                g = a <= delta ? e : delta * sign(e);
                break;
            }
            case MT_LOSS_HINGE: {
                float st = t > 0.0f ? 1.0f : -1.0f, m = 1.0f - st * o[j];
                l = m > 0.0f ? m : 0.0f, g = m > 0.0f ? -st : 0.0f;
                break;
            }
            case MT_LOSS_BCE:
                if (fused) { /* from the logit: max(z,0) - z t + log(1 + exp(-|z|)), d/dz = sigmoid(z) - t */
                    double z = b->z[(size_t)i * k + j];
                    l = (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
                    g = o[j] - t;
                } else {
                    float q = o[j] < eps ? eps : o[j] > 1.0f - eps ? 1.0f - eps : o[j];
                    l = -(t * log((double)q) + (1.0 - t) * log1p(-(double)q));
                    g = o[j] == q ? (q - t) / (q * (1.0f - q)) : 0.0f; /* clipped: no gradient */
                }
                break;
            default: /* mse, rmse */
                l = (double)e * e, g = 2.0f * e;
                break;
            }
            s += l;
            if (d)
                d[j] = gs * g;
        }
        total += w * s / k;
    }
    return total;
}

/* Multi-class hinge (torch.nn.MultiMarginLoss, p = 1, margin = 1) on class indices:
 * loss_i = sum_{j != y} max(0, 1 - o_y + o_j) / k. */
static double multi_margin(const batch *b)
{
    const int k = b->k;
    double total = 0.0;
    for (int i = 0; i < b->n; i++) {
        const float *o = b->out + (size_t)i * k;
        float *d = b->dout ? b->dout + (size_t)i * k : NULL;
        int y = b->yc[i];
        double s = 0.0, w = weight(b, i);
        float gs = (float)(b->scale * w / k), gy = 0.0f;
        for (int j = 0; j < k; j++) {
            float m = 1.0f - o[y] + o[j];
            int active = j != y && m > 0.0f;
            s += active ? m : 0.0f;
            if (d)
                d[j] = active ? gs : 0.0f;
            gy -= active ? gs : 0.0f;
        }
        if (d)
            d[y] = gy;
        total += w * s / k;
    }
    return total;
}

/* Cross-entropy (kl = 0) or KL divergence (kl = 1) from the logits z: log p_j = z_j - lse(z), so
 * CE = sum_j t_j (lse - z_j) and KL = CE + sum_j t_j log t_j; the gradient w.r.t. z is T p - t with
 * T = sum_j t_j (1 for distributions). */
static double softmax_fused(const batch *b, int kl)
{
    const int k = b->k;
    double total = 0.0;
    for (int i = 0; i < b->n; i++) {
        const float *z = b->z + (size_t)i * k, *p = b->out + (size_t)i * k;
        float *d = b->dout ? b->dout + (size_t)i * k : NULL;
        double w = weight(b, i), s = 0.0, tsum = 0.0;
        float m = z[0];
        for (int j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        double e = 0.0;
        for (int j = 0; j < k; j++)
            e += exp((double)z[j] - m);
        double lse = m + log(e);
        if (b->yc) {
            s = lse - z[b->yc[i]], tsum = 1.0;
        } else {
            for (int j = 0; j < k; j++) {
                double t = b->yt[(size_t)i * k + j];
                s += t * (lse - z[j]) + (kl && t > 0.0 ? t * log(t) : 0.0);
                tsum += t;
            }
        }
        total += w * s;
        if (d) {
            float gs = (float)(b->scale * w), ts = (float)tsum;
            for (int j = 0; j < k; j++)
                d[j] = gs * (ts * p[j] - target(b, i, j));
        }
    }
    return total;
}

/* Cross-entropy or KL divergence on probabilities (the output is not a softmax layer), clipped to
 * [1e-7, 1]; no gradient where clipped. */
static double probs(const batch *b, int kl)
{
    const float eps = 1e-7f;
    const int k = b->k;
    double total = 0.0;
    for (int i = 0; i < b->n; i++) {
        const float *p = b->out + (size_t)i * k;
        float *d = b->dout ? b->dout + (size_t)i * k : NULL;
        double w = weight(b, i), s = 0.0;
        float gs = (float)(b->scale * w);
        for (int j = 0; j < k; j++) {
            float t = target(b, i, j);
            float q = p[j] < eps ? eps : p[j] > 1.0f ? 1.0f : p[j];
            s += t > 0.0f ? -(double)t * log((double)q) + (kl ? (double)t * log((double)t) : 0.0) : 0.0;
            if (d)
                d[j] = p[j] == q ? -gs * t / q : 0.0f;
        }
        total += w * s;
    }
    return total;
}

static int argmax(const float *v, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (v[j] > v[best])
            best = j;
    return best;
}

/* Whether sample i is classified correctly (rule in loss.h). */
static int sample_correct(const mt_loss *loss, const batch *b, int i)
{
    const int k = b->k;
    const float *o = b->out + (size_t)i * k;
    if (k == 1 || (loss->kind == MT_LOSS_BCE && !b->yc)) {
        int ok = 1;
        for (int j = 0; j < k; j++)
            ok &= (o[j] > loss->threshold) == (target(b, i, j) > 0.5f);
        return ok;
    }
    int truth = b->yc ? b->yc[i] : argmax(b->yt + (size_t)i * k, k);
    return argmax(o, k) == truth;
}

double mt_loss_compute(const mt_loss *loss, const float *out, const float *logits, const int32_t *y_class,
                       const float *y_target, const float *weights, int n, float *dout, float grad_scale,
                       int64_t *correct)
{
    batch b = {.out = out,
               .z = logits,
               .yc = y_class,
               .yt = y_target,
               .w = weights,
               .n = n,
               .k = loss->k,
               .dout = dout,
               .scale = grad_scale};
    double total;
    switch (loss->kind) {
    case MT_LOSS_CCE:
    case MT_LOSS_KL:
        total = loss->fused ? softmax_fused(&b, loss->kind == MT_LOSS_KL) : probs(&b, loss->kind == MT_LOSS_KL);
        break;
    case MT_LOSS_HINGE:
        total = y_class && b.k > 1 ? multi_margin(&b) : elementwise(loss->kind, loss->delta, 0, &b);
        break;
    default:
        total = elementwise(loss->kind, loss->delta, loss->fused, &b);
        break;
    }
    if (correct) {
        int64_t c = 0;
        for (int i = 0; i < n; i++)
            c += sample_correct(loss, &b, i);
        *correct = c;
    }
    return total;
}

int mt_loss_needs_global_mean(const mt_loss *loss)
{
    return loss->kind == MT_LOSS_RMSE;
}

double mt_loss_grad_factor(const mt_loss *loss, double summed, double count)
{
    if (loss->kind != MT_LOSS_RMSE)
        return 1.0;
    double m = count > 0 ? summed / count : 0.0;
    return m > 0 ? 0.5 / sqrt(m) : 0.0;
}

double mt_loss_report(const mt_loss *loss, double summed, double count)
{
    if (!(count > 0))
        return NAN;
    return loss->kind == MT_LOSS_RMSE ? sqrt(summed / count) : summed / count;
}

int mt_loss_is_classification(const mt_loss *loss)
{
    return loss->kind == MT_LOSS_CCE || loss->kind == MT_LOSS_KL || loss->kind == MT_LOSS_BCE ||
           loss->kind == MT_LOSS_HINGE;
}

void mt_loss_label_range(const mt_loss *loss, int32_t *lo, int32_t *hi)
{
    *lo = loss->k == 1 && loss->kind == MT_LOSS_HINGE ? -1 : 0;
    *hi = loss->k == 1 ? 1 : loss->k - 1;
}

void mt_metrics_accumulate(const mt_loss *loss, const float *out, const int32_t *y_class, const float *y_target, int n,
                           double sums[MT_METRIC_SUMS])
{
    batch b = {.out = out, .yc = y_class, .yt = y_target, .n = n, .k = loss->k};
    const int k = b.k;
    double correct = 0, bin = 0, abs_sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        const float *o = out + (size_t)i * k;
        correct += sample_correct(loss, &b, i);
        for (int j = 0; j < k; j++) {
            float t = target(&b, i, j);
            double e = (double)o[j] - t;
            bin += (o[j] > loss->threshold) == (t > 0.5f);
            abs_sum += fabs(e);
            sq += e * e;
        }
    }
    sums[MT_METRIC_SUM_SAMPLES] += n;
    sums[MT_METRIC_SUM_CORRECT] += correct;
    sums[MT_METRIC_SUM_OUTPUTS] += (double)n * k;
    sums[MT_METRIC_SUM_BIN_CORRECT] += bin;
    sums[MT_METRIC_SUM_ABS] += abs_sum;
    sums[MT_METRIC_SUM_SQ] += sq;
}

double mt_metric_value(mt_metric metric, const double sums[MT_METRIC_SUMS])
{
    double samples = sums[MT_METRIC_SUM_SAMPLES], outputs = sums[MT_METRIC_SUM_OUTPUTS];
    switch (metric) {
    case MT_METRIC_ACCURACY:
        return samples > 0 ? sums[MT_METRIC_SUM_CORRECT] / samples : NAN;
    case MT_METRIC_BINARY_ACCURACY:
        return outputs > 0 ? sums[MT_METRIC_SUM_BIN_CORRECT] / outputs : NAN;
    case MT_METRIC_MAE:
        return outputs > 0 ? sums[MT_METRIC_SUM_ABS] / outputs : NAN;
    case MT_METRIC_RMSE:
        return outputs > 0 ? sqrt(sums[MT_METRIC_SUM_SQ] / outputs) : NAN;
    default:
        return NAN;
    }
}
