/* Early stopping: patience counting on one monitored metric, with Keras' rules for mode and min_delta. */
#include "train/early_stop.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* The metrics a classifier's and a GAN's runs can watch (a run accepts those of its own metrics row). */
static const char *const monitor_names[] = {"val_loss", "val_accuracy", "loss", "accuracy", "d_loss", "g_loss", NULL};
static const char *const mode_names[] = {"auto", "min", "max", NULL};

const mt_option mt_early_stop_options[] = {
    {"monitor", MT_OPT_NAME, offsetof(mt_early_stop_opts, monitor), "val_loss", 0, 0, monitor_names,
     "metric watched after every epoch"},
    {"patience", MT_OPT_INT, offsetof(mt_early_stop_opts, patience), "5", 0, 1000000, NULL,
     "epochs without improvement before stopping"},
    {"min_delta", MT_OPT_FLOAT, offsetof(mt_early_stop_opts, min_delta), "0", 0, 1e30, NULL,
     "smallest change that counts as an improvement"},
    {"mode", MT_OPT_NAME, offsetof(mt_early_stop_opts, mode), "auto", 0, 0, mode_names,
     "min or max; auto: max for accuracies, min otherwise"},
    {"restore_best_weights", MT_OPT_BOOL, offsetof(mt_early_stop_opts, restore_best_weights), "false", 0, 0, NULL,
     "end with the weights of the best epoch"},
    MT_OPT_END,
};

mt_status mt_early_stop_init(mt_early_stop *es, const mt_node *node, const char *const *columns, int n_columns,
                             int have_validation, mt_error *err)
{
    memset(es, 0, sizeof *es);
    es->best = NAN;
    if (!node || (node->kind == MT_NODE_SCALAR && node->value[0] == '\0'))
        return MT_OK;
    mt_status st = mt_options_parse(mt_early_stop_options, node, "early_stopping", &es->opts, err);
    if (st)
        return st;
    char where[64];
    es->field = -1;
    for (int i = 0; i < n_columns; i++)
        if (!strcmp(columns[i], es->opts.monitor))
            es->field = i;
    if (es->field < 0) {
        char names[256] = "";
        for (int i = 0; i < (int)(sizeof monitor_names / sizeof *monitor_names) - 1; i++)
            for (int k = 0; k < n_columns; k++)
                if (!strcmp(columns[k], monitor_names[i]))
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                             monitor_names[i]);
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: early_stopping.monitor: '%s' is not a metric of this run (it has "
                       "%s)",
                       mt_node_where(node, where, sizeof where), es->opts.monitor, names);
    }
    if (!have_validation && !strncmp(es->opts.monitor, "val_", 4))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: early_stopping.monitor: '%s' needs a validation split "
                       "(data.validation)",
                       mt_node_where(node, where, sizeof where), es->opts.monitor);
    es->enabled = 1;
    es->maximize = !strcmp(es->opts.mode, "max") ||
                   (!strcmp(es->opts.mode, "auto") && strstr(es->opts.monitor, "accuracy") != NULL);
    return MT_OK;
}

int mt_early_stop_update(mt_early_stop *es, const double *row, int *improved)
{
    *improved = 0;
    if (!es->enabled)
        return 0;
    double v = row[es->field];
    double gain = es->maximize ? v - es->best : es->best - v;
    if (isnan(es->best) || (isfinite(v) && gain > es->opts.min_delta)) {
        es->best = v;
        es->best_epoch = (int)row[0];
        es->wait = 0;
        *improved = 1;
        return 0;
    }
    es->wait++;
    return es->wait >= es->opts.patience;
}
