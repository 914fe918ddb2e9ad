/* Losses: categorical cross-entropy (fused with softmax, stable log-sum-exp; class indices or
 * probability targets) and mean squared error (mean over outputs per sample, as Keras). */
#include "nn/loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "nn/activation.h"

const char *const mt_loss_names[] = {
    [MT_LOSS_CCE] = "categorical_crossentropy|cce|crossentropy|sparse_categorical_crossentropy",
    [MT_LOSS_MSE] = "mse|mean_squared_error",
    NULL,
};

typedef struct loss_opts {
    char name[MT_NAME_MAX];
} loss_opts;

static const mt_option loss_options[] = {
    {"name", MT_OPT_NAME, offsetof(loss_opts, name), NULL, 0, 0, mt_loss_names, "loss function"},
    MT_OPT_END,
};

mt_status mt_loss_setup(mt_loss *loss, const mt_node *node, mt_model *model, mt_error *err)
{
    loss_opts o;
    char where[64], list[256];
    memset(loss, 0, sizeof *loss);
    if (node->kind == MT_NODE_SCALAR) {
        int i = mt_choice_find(mt_loss_names, node->value);
        if (i < 0)
            return mt_fail(err, MT_ERR_CONFIG, "%s: loss: unknown loss '%s'; valid: %s",
                           mt_node_where(node, where, sizeof where), node->value,
                           mt_choice_list(mt_loss_names, list, sizeof list));
        snprintf(o.name, sizeof o.name, "%s", node->value);
        loss->kind = (mt_loss_kind)i;
    } else {
        mt_status st = mt_options_parse(loss_options, node, "loss", &o, err);
        if (st)
            return st;
        loss->kind = (mt_loss_kind)mt_choice_find(mt_loss_names, o.name);
    }
    mt_layer *last = &model->layers[model->n_layers - 1];
    loss->k = (int)model->output_size;
    if (loss->kind == MT_LOSS_CCE) {
        if (loss->k < 2)
            return mt_fail(err, MT_ERR_CONFIG, "%s: loss: categorical_crossentropy needs at least 2 outputs, "
                           "the last layer has %d", mt_node_where(node, where, sizeof where), loss->k);
        int softmax = last->out_activation == MT_ACT_SOFTMAX && mt_model_logits(model) != NULL;
        loss->fused = softmax;
        last->fused_output = softmax;
    }
    return MT_OK;
}

static int argmax(const float *v, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (v[j] > v[best])
            best = j;
    return best;
}

/* Cross-entropy from logits: -sum_j t_j log softmax(z)_j, gradient softmax(z) - t. */
static double cce_fused(const float *p, const float *z, const int32_t *yc, const float *yt, int n, int k,
                        float *dout, float scale)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * k, *pi = p + (size_t)i * k;
        float m = zi[0];
        for (int j = 1; j < k; j++)
            m = zi[j] > m ? zi[j] : m;
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp((double)zi[j] - m);
        double lse = m + log(s);
        if (yc) {
            total += lse - zi[yc[i]];
        } else {
            for (int j = 0; j < k; j++)
                total += yt[(size_t)i * k + j] * (lse - zi[j]);
        }
        if (dout) {
            float *di = dout + (size_t)i * k;
            for (int j = 0; j < k; j++)
                di[j] = scale * (pi[j] - (yc ? (float)(j == yc[i]) : yt[(size_t)i * k + j]));
        }
    }
    return total;
}

/* Cross-entropy on probabilities (output not a softmax layer): clipped to avoid log(0). */
static double cce_probs(const float *p, const int32_t *yc, const float *yt, int n, int k, float *dout, float scale)
{
    const float eps = 1e-7f;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *pi = p + (size_t)i * k;
        float *di = dout ? dout + (size_t)i * k : NULL;
        for (int j = 0; j < k; j++) {
            float t = yc ? (float)(j == yc[i]) : yt[(size_t)i * k + j];
            float q = pi[j] < eps ? eps : pi[j] > 1.0f ? 1.0f : pi[j];
            total -= t * log((double)q);
            if (di)
                di[j] = pi[j] < eps ? 0.0f : -scale * t / q;
        }
    }
    return total;
}

static double mse(const float *p, const int32_t *yc, const float *yt, int n, int k, float *dout, float scale)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *pi = p + (size_t)i * k;
        double s = 0.0;
        for (int j = 0; j < k; j++) {
            float t = yc ? (float)(j == yc[i]) : yt[(size_t)i * k + j];
            float e = pi[j] - t;
            s += (double)e * e;
            if (dout)
                dout[(size_t)i * k + j] = scale * 2.0f * e / (float)k;
        }
        total += s / k;
    }
    return total;
}

double mt_loss_compute(const mt_loss *loss, const float *out, const float *logits, const int32_t *y_class,
                       const float *y_target, const float *weights, int n, float *dout, float grad_scale,
                       int64_t *correct)
{
    (void)weights; /* TODO(catalog issue): per-sample weights */
    int k = loss->k;
    double total;
    if (loss->kind == MT_LOSS_CCE)
        total = loss->fused ? cce_fused(out, logits, y_class, y_target, n, k, dout, grad_scale)
                            : cce_probs(out, y_class, y_target, n, k, dout, grad_scale);
    else
        total = mse(out, y_class, y_target, n, k, dout, grad_scale);
    if (correct) {
        int64_t c = 0;
        for (int i = 0; i < n; i++) {
            int pred = argmax(out + (size_t)i * k, k);
            int truth = y_class ? y_class[i] : argmax(y_target + (size_t)i * k, k);
            c += pred == truth;
        }
        *correct = c;
    }
    return total;
}
