/* Loss functions: value summed over a batch, gradient w.r.t. the model output (or, fused with a softmax
 * or sigmoid output layer, w.r.t. its logits), and the count of correct predictions for accuracy. */
#ifndef MT_NN_LOSS_H
#define MT_NN_LOSS_H

#include <stdint.h>
#include "nn/model.h"

typedef enum mt_loss_kind { MT_LOSS_CCE, MT_LOSS_MSE } mt_loss_kind;

typedef struct mt_loss {
    mt_loss_kind kind;
    int fused;          /* softmax output + cross-entropy: gradient taken w.r.t. the logits */
    int k;              /* outputs per sample */
} mt_loss;

extern const char *const mt_loss_names[];

/* Reads the loss config node (scalar name or {name: ...}), checks it against the model's output
 * (e.g. categorical cross-entropy needs at least 2 outputs) and marks the last layer fused if it is. */
mt_status mt_loss_setup(mt_loss *loss, const mt_node *node, mt_model *model, mt_error *err);

/* Batch of n samples: out [n, k] (and logits [n, k] when fused), targets as class indices y_class [n]
 * or values y_target [n, k], optional per-sample weights [n] (NULL = all 1). Returns the summed
 * (weighted) per-sample loss. If dout is non-NULL it receives grad_scale * w_i * d(loss_i)/d(out_i)
 * (d/d(logits) when fused). *correct (if non-NULL) gets the number of samples whose arg-max matches
 * the class (classification). */
double mt_loss_compute(const mt_loss *loss, const float *out, const float *logits, const int32_t *y_class,
                       const float *y_target, const float *weights, int n, float *dout, float grad_scale,
                       int64_t *correct);

#endif
