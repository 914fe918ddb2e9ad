/* Loss functions: value summed over a batch, gradient w.r.t. the model output (or, fused with a softmax
 * or sigmoid output layer, w.r.t. its logits), the count of correct predictions for accuracy, and the
 * per-batch sums behind the metrics accuracy, binary_accuracy, mae and rmse.
 *
 * Targets: class indices y_class [n] or values y_target [n, k] (k = outputs per sample). A class index
 * stands for the one-hot row when k > 1, and for the value itself when k = 1 (binary labels 0/1, or -1/1
 * for hinge).
 *
 * Per-sample losses (each multiplied by the sample's weight w_i when weights are given):
 *   mse    mean_j e_j^2                  (e = out - t)
 *   rmse   sqrt of the weighted mse averaged over the GLOBAL batch: not a sum over samples, see below
 *   mae    mean_j |e_j|
 *   huber  mean_j (|e| <= delta ? e^2 / 2 : delta (|e| - delta / 2))            (torch.nn.HuberLoss)
 *   hinge  one output or float targets: mean_j max(0, 1 - s_j out_j), s_j = t_j > 0 ? 1 : -1, so labels
 *          may be 0/1 or -1/1 (Keras hinge); class indices with k > 1 outputs: multi-class hinge as
 *          torch.nn.MultiMarginLoss(p=1, margin=1): sum_{j != y} max(0, 1 - out_y + out_j) / k
 *   binary_crossentropy  mean_j -(t log p + (1 - t) log(1 - p)); fused with a sigmoid output, computed
 *          from the logit z as max(z, 0) - z t + log1p(exp(-|z|)) with gradient sigmoid(z) - t; otherwise
 *          p clipped to [1e-7, 1 - 1e-7]
 *   categorical_crossentropy  -sum_j t_j log p_j; fused with softmax from the logits (log-sum-exp)
 *   kl_divergence  sum_j t_j log(t_j / p_j), 0 log 0 = 0 (targets are distributions); fused like CCE
 * A batch's loss is sum_i w_i loss_i / n (Keras' sum-over-batch-size reduction: the weights are not
 * normalized by their sum), so that the gradient applied is the global-batch sum divided by its size. */
#ifndef MT_NN_LOSS_H
#define MT_NN_LOSS_H

#include <stdint.h>
#include "nn/model.h"

typedef enum mt_loss_kind {
    MT_LOSS_CCE,
    MT_LOSS_MSE,
    MT_LOSS_RMSE,
    MT_LOSS_MAE,
    MT_LOSS_HUBER,
    MT_LOSS_HINGE,
    MT_LOSS_BCE,
    MT_LOSS_KL,
    MT_LOSS_COUNT
} mt_loss_kind;

typedef struct mt_loss {
    mt_loss_kind kind;
    int fused;       /* softmax/sigmoid output + cross-entropy or KL: gradient taken w.r.t. the logits */
    int k;           /* outputs per sample */
    float delta;     /* huber */
    float threshold; /* 1-output decisions: out > threshold is the positive class (0.5, or 0 for margins) */
} mt_loss;

/* Config names ("canonical|alias" entries, NULL-terminated), indexed by mt_loss_kind. */
extern const char *const mt_loss_names[];
/* One doc line per loss, in the order of mt_loss_names (the reference documentation). */
extern const char *const mt_loss_docs[];
/* The keys of the loss map of loss kind (an mt_loss_kind): name, and huber's delta. NULL for no such kind. */
const mt_option *mt_loss_options(int kind);

/* Reads the loss config node (scalar name or {name: ..., delta: ...}), checks it against the model's
 * output (categorical_crossentropy and kl_divergence need at least 2 outputs) and marks the last layer
 * fused if it is. */
mt_status mt_loss_setup(mt_loss *loss, const mt_node *node, mt_model *model, mt_error *err);

/* Batch of n samples: out [n, k] (and logits [n, k] when fused), targets as class indices y_class [n]
 * or values y_target [n, k], optional per-sample weights [n] (NULL = all 1). Returns the summed
 * weighted per-sample loss (rmse: the summed weighted per-sample mse). If dout is non-NULL it receives
 * grad_scale * w_i * d(loss_i)/d(out_i) (d/d(logits) when fused; rmse: of the per-sample mse, to be
 * rescaled with mt_loss_grad_factor). *correct (if non-NULL) gets the number of correctly classified
 * samples: one output: (out > threshold) == (t > 0.5); multi-label binary_crossentropy (float targets,
 * k > 1): every output so; otherwise arg-max of out equals the class (or the arg-max of the target). */
double mt_loss_compute(const mt_loss *loss, const float *out, const float *logits, const int32_t *y_class,
                       const float *y_target, const float *weights, int n, float *dout, float grad_scale,
                       int64_t *correct);

/* rmse is not a sum over samples: its gradient needs the mean over the whole global batch. Returns 1
 * for rmse, 0 for the others. */
int mt_loss_needs_global_mean(const mt_loss *loss);

/* The factor by which the gradient obtained from dout (summed over all ranks and micro-batches of one
 * optimizer step) must be multiplied: 1 for every loss but rmse, where it is d sqrt(M)/dM = 1 / (2 sqrt(M))
 * with M = summed / count, summed the mt_loss_compute results of the step's global batch and count its
 * number of samples (0 when M = 0). Since backward is linear in dout, scaling the allreduced gradient
 * equals scaling dout before backward. */
double mt_loss_grad_factor(const mt_loss *loss, double summed, double count);

/* The loss to report from summed mt_loss_compute results over count samples: summed / count, and for
 * rmse sqrt(summed / count) (the root of the mean squared error over all those samples). NAN if count 0. */
double mt_loss_report(const mt_loss *loss, double summed, double count);

/* Whether accuracy is meaningful for this loss (cross-entropies, kl_divergence, hinge). */
int mt_loss_is_classification(const mt_loss *loss);

/* The range of valid class indices for y_class: [0, k-1] for k > 1; for one output [0, 1], and [-1, 1]
 * for hinge (0 and -1 both mean the negative class). */
void mt_loss_label_range(const mt_loss *loss, int32_t *lo, int32_t *hi);

/* Metrics chosen in the config, computed from sums accumulated per batch and allreduced. */
typedef enum mt_metric {
    MT_METRIC_ACCURACY,        /* correct samples / samples (the rule of mt_loss_compute's *correct) */
    MT_METRIC_BINARY_ACCURACY, /* outputs with (out > threshold) == (t > 0.5) / outputs (Keras) */
    MT_METRIC_MAE,             /* sum |out - t| / outputs */
    MT_METRIC_RMSE,            /* sqrt(sum (out - t)^2 / outputs) */
    MT_METRIC_COUNT
} mt_metric;

/* Config names ("canonical|alias" entries, NULL-terminated), indexed by mt_metric. */
extern const char *const mt_metric_names[];
/* One doc line per metric, in the order of mt_metric_names. */
extern const char *const mt_metric_docs[];

/* Layout of the sums (all plain sums, so ranks combine them with one allreduce of MT_METRIC_SUMS doubles). */
enum {
    MT_METRIC_SUM_SAMPLES,     /* samples seen */
    MT_METRIC_SUM_CORRECT,     /* correctly classified samples */
    MT_METRIC_SUM_OUTPUTS,     /* output values compared (samples x k) */
    MT_METRIC_SUM_BIN_CORRECT, /* output values on the right side of the threshold */
    MT_METRIC_SUM_ABS,         /* sum |out - t| */
    MT_METRIC_SUM_SQ,          /* sum (out - t)^2 */
    MT_METRIC_SUMS
};

/* Adds the sums of a batch of n samples to sums (targets as for mt_loss_compute; unweighted). */
void mt_metrics_accumulate(const mt_loss *loss, const float *out, const int32_t *y_class, const float *y_target, int n,
                           double sums[MT_METRIC_SUMS]);

/* The metric's value from accumulated sums (NAN when nothing was counted). */
double mt_metric_value(mt_metric metric, const double sums[MT_METRIC_SUMS]);

#endif
