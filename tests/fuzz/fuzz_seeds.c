/* Writes the HDF5 seed files of the checkpoint harness (tests/fuzz/corpus/fuzz_checkpoint) with the
 * library's own writer: a checkpoint of FUZZ_MODEL_YAML's model (adam, run state, two epochs of
 * history, preprocessing), one without preprocessing, and near misses: sgd instead of adam, a model with
 * other layer shapes, and no history.
 *
 *   fuzz_seeds OUT_DIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "train/checkpoint.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/prep.h"
#include "fuzz_common.h"

static int write_one(const char *dir, const char *name, const char *yaml, int with_prep, int rows)
{
    mt_config cfg;
    mt_model m;
    mt_optimizer opt;
    mt_prep prep;
    mt_error err = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mt_config_load_string(yaml, name, NULL, 0, &cfg, &err) || mt_model_build(&cfg, 0, &m, &err) ||
        mt_optimizer_create(cfg.optimizer, m.n_params, &opt, &err) ||
        mt_prep_init(&prep, &cfg.data, m.input_size, &err)) {
        fprintf(stderr, "fuzz_seeds: %s: %s\n", name, err.msg);
        return 1;
    }
    mt_model_init_params(&m, 7);
    for (int k = 0; k < opt.n_slots; k++)
        for (size_t i = 0; i < m.n_params; i++)
            opt.slots[k][i] = 0.01f * (float)(i + 1) * (float)(k + 1);
    mt_train_state st = {
        .epoch = rows, .step = 3 * rows, .world_size = 2, .seed = 1, .global_batch = 4, .es_best = NAN};
    mt_history h = MT_METRICS_HISTORY;
    for (int r = 0; r < rows; r++) {
        mt_metrics_row row = {r + 1, 1.0 / (r + 1), 0.5, NAN, NAN, 0.1, 100, 0.001, NAN, NAN, NAN, NAN, NAN, NAN};
        mt_history_append(&h, (const double *)&row, &err);
    }
    opt.step = 3 * rows;
    char *text = mt_config_to_yaml(&cfg, &err);
    mt_status s = mt_checkpoint_write(path, &(mt_checkpoint){&m, &opt, &st, &h, with_prep ? &prep : NULL, text}, &err);
    if (s)
        fprintf(stderr, "fuzz_seeds: %s\n", err.msg);
    free(text);
    mt_history_free(&h);
    mt_prep_free(&prep);
    mt_optimizer_free(&opt);
    mt_model_free(&m);
    mt_config_free(&cfg);
    return s ? 1 : 0;
}

/* dst = src with the first `from` replaced by `to` (same length or not). */
static void replace(char *dst, size_t size, const char *src, const char *from, const char *to)
{
    const char *at = strstr(src, from);
    snprintf(dst, size, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
        return 2;
    }
    const char *base = FUZZ_MODEL_YAML;
    char sgd[2048], shapes[2048];
    replace(sgd, sizeof sgd, base, "name: adam", "name: sgd");
    replace(shapes, sizeof shapes, base, "units: 3", "units: 5");
    int bad = write_one(argv[1], "valid.h5", base, 1, 2);
    bad |= write_one(argv[1], "no_prep.h5", base, 0, 1);
    bad |= write_one(argv[1], "no_history.h5", base, 1, 0);
    bad |= write_one(argv[1], "sgd.h5", sgd, 1, 2);
    bad |= write_one(argv[1], "other_shapes.h5", shapes, 1, 1);
    return bad;
}
