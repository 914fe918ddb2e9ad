/* Checkpoint round trip: parameters, optimizer state, run state, config text and history come back
 * bitwise, and so do the fitted scaler statistics; a checkpoint for another model is refused naming the
 * first mismatching tensor; a truncated or damaged file is refused; a failed write leaves the previous
 * file intact. Hostile layouts: single values stored as arrays (which the reader once read into one
 * variable), a non-string optimizer name, a damaged /preprocessing (the caller's preprocessing stays as
 * it was) are refused with a message naming the object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "train/checkpoint.h"
#include "io/h5_seal.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "testlib.h"

#include <hdf5.h>

static const char *yaml_for(int units)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "model: {input: [6], layers: [{dense: {units: %d, activation: relu}}, {dense: {units: 3}}]}\n"
             "loss: mse\noptimizer: {name: adam, learning_rate: 0.01}\ndata: {file: none.h5}\n",
             units);
    return buf;
}

static int build(int units, mt_config *cfg, mt_model *m, mt_optimizer *opt)
{
    mt_error err = {0};
    return CHECK(mt_config_load_string(yaml_for(units), "test", NULL, 0, cfg, &err) == MT_OK &&
                     mt_model_build(cfg, 0, m, &err) == MT_OK &&
                     mt_optimizer_create(cfg->optimizer, m->n_params, opt, &err) == MT_OK,
                 "build: %s", err.msg);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Copies src to dst and applies edit (which gets the file opened read-write); returns 0 on success. */
static int copy_and_edit(const char *src, const char *dst, void (*edit)(hid_t file))
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    if (system(cmd) != 0)
        return -1;
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    edit(f);
    mt_error err = {0};
    return H5Fclose(f) < 0 || mt_h5_seal_file(dst, &err) ? -1 : 0; /* sealed again: the edit is what is tested */
}

/* Replaces dataset (or attribute, when attr) `name` of group `group` by an int64 array of n elements. */
static void replace_by_array(hid_t file, const char *group, const char *name, int attr, hsize_t n)
{
    int64_t *v = calloc(n, sizeof *v);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT), space = H5Screate_simple(1, &n, NULL);
    if (attr) {
        H5Adelete(g, name);
        hid_t a = H5Acreate2(g, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, v);
        H5Aclose(a);
    } else {
        H5Ldelete(g, name, H5P_DEFAULT);
        hid_t d = H5Dcreate2(g, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(d);
    }
    H5Sclose(space);
    H5Gclose(g);
    free(v);
}

static void epoch_array(hid_t f)
{
    replace_by_array(f, "/state", "epoch", 0, 4096);
}
static void step_array(hid_t f)
{
    replace_by_array(f, "/optimizer", "step", 0, 4096);
}
static void name_ints(hid_t f)
{
    replace_by_array(f, "/optimizer", "name", 1, 4096);
}
static void complete_array(hid_t f)
{
    replace_by_array(f, "/", "complete", 1, 4096);
}
static void config_array(hid_t f)
{
    H5Ldelete(f, "config", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hsize_t n = 64;
    const char *texts[64];
    for (int i = 0; i < 64; i++)
        texts[i] = "x: 1";
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "config", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, texts);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(t);
}
static void no_fill(hid_t f)
{
    H5Ldelete(f, "/preprocessing/fill", H5P_DEFAULT);
}

/* Each hostile edit of the good checkpoint at path is refused with a message naming want. */
static void hostile_layouts(const char *dir, const char *path, mt_model *m, mt_optimizer *opt)
{
    static const struct {
        const char *name, *want;
        void (*edit)(hid_t);
    } cases[] = {
        {"epoch_array", "/state", epoch_array},    {"step_array", "/optimizer/step", step_array},
        {"name_ints", "/optimizer", name_ints},    {"complete_array", "completeness marker", complete_array},
        {"config_array", "/config", config_array}, {"no_fill", "/preprocessing/fill", no_fill},
    };
    char bad[300];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bad, sizeof bad, "%s/%s.h5", dir, cases[i].name);
        if (!CHECK(copy_and_edit(path, bad, cases[i].edit) == 0, "%s: cannot make the file", cases[i].name))
            continue;
        mt_error err = {0};
        mt_train_state st = {0};
        mt_history h = MT_METRICS_HISTORY;
        mt_prep prep;
        const float keep[6] = {9, 9, 9, 9, 9, 9}, one[6] = {1, 1, 1, 1, 1, 1};
        mt_prep_set(&prep, "minmax", "median", 6, keep, one, keep, &err);
        char *text = NULL;
        mt_status rc = !strcmp(cases[i].name, "config_array")
                           ? mt_checkpoint_read_config(bad, &text, &err)
                           : mt_checkpoint_read(bad, &(mt_checkpoint){m, opt, &st, &h, &prep, NULL}, &err);
        CHECK(rc == MT_ERR_INPUT && strstr(err.msg, cases[i].want) && !strchr(err.msg, '\n'),
              "%s: status %d, message '%s' (want '%s')", cases[i].name, (int)rc, err.msg, cases[i].want);
        CHECK(prep.features == 6 && prep.shift[0] == 9 && prep.scaling == MT_SCALING_MINMAX,
              "%s: a failed read changed the caller's preprocessing", cases[i].name);
        free(text);
        mt_prep_free(&prep);
        mt_history_free(&h);
    }
}

int main(void)
{
    char dir[] = "/tmp/mt-ckpt-XXXXXX", path[256], bad[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    mt_config cfg, cfg2;
    mt_model m, m2;
    mt_optimizer opt, opt2;
    mt_error err = {0};
    if (!build(4, &cfg, &m, &opt) || !build(4, &cfg2, &m2, &opt2))
        return mt_test_finish("checkpoint");
    mt_model_init_params(&m, 3);
    for (size_t i = 0; i < m.n_params; i++)
        m.grads[i] = (float)i * 0.01f - 0.1f;
    mt_optimizer_step(&opt, m.params, m.grads, 0.01);
    mt_optimizer_step(&opt, m.params, m.grads, 0.01);
    mt_train_state st = {.epoch = 2, .step = 17, .world_size = 4, .seed = 9, .global_batch = 32}, st2 = {0};
    mt_history h = MT_METRICS_HISTORY, h2 = MT_METRICS_HISTORY;
    mt_metrics_row r1 = {.epoch = 1,
                         .loss = 0.5,
                         .accuracy = 0.8,
                         .val_loss = 0.6,
                         .val_accuracy = 0.75,
                         .seconds = 1.5,
                         .samples_per_sec = 1000,
                         .mae = 0.25},
                   r2 = {.epoch = 2,
                         .loss = 0.4,
                         .accuracy = 0.85,
                         .val_loss = NAN,
                         .val_accuracy = NAN,
                         .seconds = 1.4,
                         .samples_per_sec = 1100,
                         .mae = NAN};
    mt_history_append(&h, (const double *)&r1, &err);
    mt_history_append(&h, (const double *)&r2, &err);
    char *text = mt_config_to_yaml(&cfg, &err), *text2 = NULL;
    /* Fitted preprocessing: standardize with a mean fill, statistics set by hand. */
    mt_prep prep, prep2;
    const float shift[6] = {1, 2, 3, 4, 5, 6}, scale[6] = {0.5f, 1, 2, 4, 8, 16}, fill[6] = {0, 1, 0, 1, 0, 1};
    CHECK(mt_prep_set(&prep, "standardize", "mean", 6, shift, scale, fill, &err) == MT_OK, "prep: %s", err.msg);
    mt_prep_init(&prep2, NULL, 6, &err);
    CHECK(mt_checkpoint_write(path, &(mt_checkpoint){&m, &opt, &st, &h, &prep, text}, &err) == MT_OK, "write: %s",
          err.msg);
    CHECK(mt_checkpoint_is_valid(path), "written checkpoint is valid");
    CHECK(mt_checkpoint_read(path, &(mt_checkpoint){&m2, &opt2, &st2, &h2, &prep2, NULL}, &err) == MT_OK, "read: %s",
          err.msg);
    CHECK(memcmp(m.params, m2.params, m.n_params * sizeof(float)) == 0, "parameters differ after round trip");
    for (int s = 0; s < opt.n_slots; s++)
        CHECK(memcmp(opt.slots[s], opt2.slots[s], opt.n * sizeof(float)) == 0, "optimizer slot %d differs", s);
    CHECK(opt2.step == 2, "optimizer step %lld", (long long)opt2.step);
    CHECK(prep2.scaling == MT_SCALING_STANDARDIZE && prep2.missing == MT_MISSING_MEAN &&
              !memcmp(prep2.shift, shift, sizeof shift) && !memcmp(prep2.scale, scale, sizeof scale) &&
              !memcmp(prep2.fill, fill, sizeof fill),
          "scaler statistics differ after the round trip");
    CHECK(memcmp(&st, &st2, sizeof st) == 0, "run state differs");
    const mt_metrics_row *rows2 = (const mt_metrics_row *)h2.rows;
    CHECK(h2.n == 2 && rows2[1].loss == 0.4 && isnan(rows2[1].val_loss) && rows2[0].samples_per_sec == 1000,
          "history differs (%zu rows)", h2.n);
    CHECK(mt_checkpoint_read_config(path, &text2, &err) == MT_OK && text2 && !strcmp(text, text2),
          "config text differs");

    /* Reading again into an already fitted preprocessing replaces it without leaking (ASan build). */
    CHECK(mt_checkpoint_read(path, &(mt_checkpoint){.model = &m2, .prep = &prep2}, &err) == MT_OK, "read again: %s",
          err.msg);
    hostile_layouts(dir, path, &m2, &opt2);

    /* Another model: refused, naming the first mismatching tensor. */
    mt_config cfg3;
    mt_model m3;
    mt_optimizer opt3;
    if (build(5, &cfg3, &m3, &opt3)) {
        CHECK(mt_checkpoint_read(path, &(mt_checkpoint){.model = &m3}, &err) == MT_ERR_INPUT &&
                  strstr(err.msg, "/params/000_dense/weight") && strstr(err.msg, "[4, 6]"),
              "mismatch message: %s", err.msg);
        mt_model_free(&m3), mt_optimizer_free(&opt3), mt_config_free(&cfg3);
    }

    /* Truncated copy: refused. */
    snprintf(bad, sizeof bad, "%s/truncated.h5", dir);
    long size = file_size(path);
    FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
    char *buf = malloc((size_t)size);
    if (in && out && buf && fread(buf, 1, (size_t)size, in) == (size_t)size)
        fwrite(buf, 1, (size_t)size / 2, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    CHECK(!mt_checkpoint_is_valid(bad), "truncated checkpoint taken as valid");
    CHECK(mt_checkpoint_read(bad, &(mt_checkpoint){.model = &m2}, &err) == MT_ERR_INPUT, "truncated: %s", err.msg);

    /* A flipped byte inside a tensor is caught by the checksum (search the weight bytes in the file). */
    snprintf(bad, sizeof bad, "%s/flipped.h5", dir);
    long at = -1;
    for (long i = 0; buf && i + 16 <= size && at < 0; i++)
        if (!memcmp(buf + i, m.params, 16))
            at = i;
    CHECK(at >= 0, "weights not found in the file");
    if (at >= 0) {
        buf[at + 5] ^= 0x10;
        out = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)size, out);
        fclose(out);
        CHECK(mt_checkpoint_read(bad, &(mt_checkpoint){.model = &m2}, &err) == MT_ERR_INPUT, "bit flip not detected");
    }
    free(buf);

    /* Failed write (directory missing): the error names the path and the old file is untouched. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nodir/ck.h5", dir);
    CHECK(mt_checkpoint_write(missing, &(mt_checkpoint){&m, &opt, &st, &h, &prep, text}, &err) == MT_ERR_IO,
          "write into missing dir");
    CHECK(file_size(path) == size && mt_checkpoint_is_valid(path), "old checkpoint damaged");

    free(text), free(text2);
    mt_prep_free(&prep), mt_prep_free(&prep2);
    mt_history_free(&h), mt_history_free(&h2);
    mt_model_free(&m), mt_model_free(&m2), mt_optimizer_free(&opt), mt_optimizer_free(&opt2);
    mt_config_free(&cfg), mt_config_free(&cfg2);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return mt_test_finish("checkpoint");
}
