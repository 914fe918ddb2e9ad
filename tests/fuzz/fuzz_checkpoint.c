/* libFuzzer harness for the checkpoint loader: the input bytes become a checkpoint file that is read the
 * way --resume and eval read one: mt_checkpoint_is_valid, mt_checkpoint_read_config (whose text then goes
 * through the config loader, as eval does), and mt_checkpoint_read into a small model (FUZZ_MODEL_YAML)
 * with its adam state, run state, history and preprocessing. Rejections must be one line; nothing of
 * HDF5 may stay open; a failed read must leave the preprocessing usable (freed once, no leak). Inputs
 * that start with a seal are sealed again, so that the fuzzer's changes reach past the checksum. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "train/checkpoint.h"
#include "io/h5_seal.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/prep.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mt_config cfg;
static mt_model model;
static mt_optimizer opt;

static void setup(void)
{
    mt_error err = {0};
    if (mt_config_load_string(FUZZ_MODEL_YAML, "fuzz-model.yaml", NULL, 0, &cfg, &err) ||
        mt_model_build(&cfg, 0, &model, &err) || mt_optimizer_create(cfg.optimizer, model.n_params, &opt, &err)) {
        fprintf(stderr, "fuzz: cannot build the harness model: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready)
        setup(), ready = 1;
    /* An input that opens with the seal's first line is sealed again (its first 512 bytes replaced by the
     * seal of the rest), so that mutations past the seal reach libhdf5 and the loader instead of being
     * refused by the checksum; any other input tests the seal check itself. */
    static const char seal_line[] = "mpitrain seal ";
    const char *path;
    if (size > MT_H5_SEAL_BYTES && memcmp(data, seal_line, sizeof seal_line - 1) == 0) {
        unsigned char *copy = malloc(size);
        if (!copy)
            abort();
        memcpy(copy, data, size);
        mt_h5_seal_image(copy, size);
        path = write_scratch(copy, size, ".h5");
        free(copy);
    } else {
        path = write_scratch(data, size, ".h5");
    }
    mt_error err = {0};
    (void)mt_checkpoint_is_valid(path);
    char *yaml = NULL;
    mt_status st = mt_checkpoint_read_config(path, &yaml, &err);
    check_message(&err, st);
    if (st == MT_OK) {
        mt_config c;
        st = mt_config_load_string(yaml, path, NULL, 0, &c, &err);
        check_message(&err, st);
        if (st == MT_OK)
            mt_config_free(&c);
        free(yaml);
    }
    mt_train_state state;
    mt_history history = MT_METRICS_HISTORY;
    mt_prep prep;
    if (mt_prep_init(&prep, &cfg.data, model.input_size, &err)) {
        fprintf(stderr, "fuzz: mt_prep_init: %s\n", err.msg);
        abort();
    }
    st = mt_checkpoint_read(path, &(mt_checkpoint){&model, &opt, &state, &history, &prep, NULL}, &err);
    check_message(&err, st);
    if (prep.features != model.input_size || !prep.shift || !prep.scale || !prep.fill) {
        fprintf(stderr, "fuzz: the preprocessing lost its arrays (status %d: %s)\n", (int)st, err.msg);
        abort();
    }
    mt_prep_free(&prep);
    mt_history_free(&history);
    check_no_open_objects("the checkpoint reader");
    return 0;
}
