/* Early-stopping rules against Keras' EarlyStopping, epoch by epoch: an epoch improves when it beats the
 * best by more than min_delta in the monitored direction (mode min, max, or auto: max for accuracies);
 * training stops once `patience` epochs in a row did not improve. */
#include <math.h>
#include <string.h>

#include "config/yaml_tree.h"
#include "testlib.h"
#include "train/early_stop.h"

/* Feeds values of the monitored metric; returns the 1-based epoch at which it says stop (0: never). */
static int stop_epoch(const char *yaml, const double *values, int n, int *best_epoch)
{
    mt_node *node = NULL;
    mt_error err = {0};
    mt_early_stop es;
    if (!CHECK(mt_yaml_parse_string(yaml, "t", &node, &err) == MT_OK &&
                   mt_early_stop_init(&es, node, mt_metrics_field_names, MT_METRICS_FIELDS, 1, &err) == MT_OK,
               "%s: %s", yaml, err.msg)) {
        mt_node_free(node);
        return -1;
    }
    int stop = 0;
    for (int e = 0; e < n && !stop; e++) {
        mt_metrics_row row;
        memset(&row, 0, sizeof row);
        row.epoch = e + 1;
        row.val_loss = row.val_accuracy = row.loss = row.accuracy = values[e];
        int improved;
        if (mt_early_stop_update(&es, (const double *)&row, &improved))
            stop = e + 1;
    }
    *best_epoch = es.best_epoch;
    mt_node_free(node);
    return stop;
}

int main(void)
{
    int best = 0;
    /* val_loss 1.0, 0.8, 0.85, 0.9, 0.7: patience 2 stops after epoch 4 (epochs 3 and 4 did not improve). */
    const double loss[] = {1.0, 0.8, 0.85, 0.9, 0.7};
    int stop = stop_epoch("{monitor: val_loss, patience: 2}", loss, 5, &best);
    CHECK(stop == 4 && best == 2, "min mode: stop %d best %d", stop, best);
    /* patience 3 never stops, and epoch 5 becomes the best. */
    CHECK(stop_epoch("{monitor: val_loss, patience: 3}", loss, 5, &best) == 0 && best == 5, "patience 3: best %d",
          best);
    /* min_delta 0.15: 0.8 beats 1.0 by 0.2 (improves), 0.7 beats 0.8 by only 0.1 (does not). */
    CHECK(stop_epoch("{monitor: val_loss, patience: 3, min_delta: 0.15}", loss, 5, &best) == 5 && best == 2,
          "min_delta: best %d", best);
    /* Accuracy in auto mode is maximized: 0.5, 0.6, 0.55, 0.58 with patience 2 stops at epoch 4. */
    const double acc[] = {0.5, 0.6, 0.55, 0.58};
    CHECK(stop_epoch("{monitor: val_accuracy, patience: 2}", acc, 4, &best) == 4 && best == 2, "auto max: best %d",
          best);
    /* The same values with mode: min count 0.5 as the best and stop after two worse epochs. */
    CHECK(stop_epoch("{monitor: val_accuracy, patience: 2, mode: min}", acc, 4, &best) == 3 && best == 1,
          "mode min on accuracy: best %d", best);
    /* mode: max on a loss: the rising values improve. */
    CHECK(stop_epoch("{monitor: loss, patience: 1, mode: max}", loss, 5, &best) == 2 && best == 1,
          "mode max on loss: best %d", best);
    /* patience 0 stops at the first epoch that does not improve. */
    CHECK(stop_epoch("{monitor: val_loss, patience: 0}", loss, 5, &best) == 3, "patience 0");
    /* Unknown monitor and mode are config errors listing the valid names. */
    mt_node *node = NULL;
    mt_error err = {0};
    mt_early_stop es;
    mt_yaml_parse_string("{monitor: val_los}", "t", &node, &err);
    CHECK(mt_early_stop_init(&es, node, mt_metrics_field_names, MT_METRICS_FIELDS, 1, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "val_loss"),
          "%s", err.msg);
    mt_node_free(node);
    mt_yaml_parse_string("{mode: maximum}", "t", &node, &err);
    CHECK(mt_early_stop_init(&es, node, mt_metrics_field_names, MT_METRICS_FIELDS, 1, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "auto"),
          "%s", err.msg);
    mt_node_free(node);
    return mt_test_finish("early_stop_rules");
}
