/* Self-describing checkpoints: the root attributes (format, format_version, mpitrain_version, created), the
 * /params attributes (input_shape, layers: every layer with its resolved options and shapes) and the layer
 * groups' attributes (type, index, options, input_shape, output_shape, torch), read back with the HDF5 API,
 * for a classifier checkpoint and for a checkpoint of two networks (a GAN's). Reading checks the format:
 * a newer format_version or another format is refused naming the file and both versions; a file without
 * these attributes (written by earlier versions) is still read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "train/checkpoint.h"
#include "io/h5_seal.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "testlib.h"

#include <hdf5.h>

static const char *const classifier_yaml = "model:\n"
                                           "  input: [8, 8]\n"
                                           "  layers:\n"
                                           "    - conv2d: {filters: 4, kernel_size: 3, padding: same}\n"
                                           "    - batch_norm: {momentum: 0.2}\n"
                                           "    - leaky_relu: {alpha: 0.1}\n"
                                           "    - max_pool2d: {pool_size: 2}\n"
                                           "    - flatten\n"
                                           "    - dropout: {rate: 0.25}\n"
                                           "    - dense: {units: 3, activation: softmax}\n"
                                           "loss: categorical_crossentropy\n"
                                           "optimizer: {name: sgd, learning_rate: 0.1}\n"
                                           "data: {file: none.h5}\n";

static int build(const char *yaml, mt_config *cfg, mt_model *m, mt_optimizer *opt)
{
    mt_error err = {0};
    return CHECK(mt_config_load_string(yaml, "test", NULL, 0, cfg, &err) == MT_OK &&
                     mt_model_build(cfg, 0, m, &err) == MT_OK &&
                     mt_optimizer_create(cfg->optimizer, m->n_params, opt, &err) == MT_OK,
                 "build: %s", err.msg);
}

/* String attribute name of object path in file (fixed or variable length); "" when missing. Static buffer. */
static const char *attr_str(hid_t file, const char *path, const char *name)
{
    static char buf[65536];
    buf[0] = '\0';
    if (H5Aexists_by_name(file, path, name, H5P_DEFAULT) <= 0)
        return buf;
    hid_t a = H5Aopen_by_name(file, path, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(a, mt, &s) >= 0 && s)
            snprintf(buf, sizeof buf, "%s", s);
        H5free_memory(s);
        H5Tclose(mt);
    } else if (H5Tget_class(t) == H5T_STRING && H5Tget_size(t) < sizeof buf) {
        H5Aread(a, t, buf);
        buf[H5Tget_size(t)] = '\0';
    }
    H5Tclose(t);
    H5Aclose(a);
    return buf;
}

/* Integer array attribute as "a,b,c" (a scalar as "a"); "" when missing. Static buffer. */
static const char *attr_ints(hid_t file, const char *path, const char *name)
{
    static char buf[256];
    buf[0] = '\0';
    if (H5Aexists_by_name(file, path, name, H5P_DEFAULT) <= 0)
        return buf;
    hid_t a = H5Aopen_by_name(file, path, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    long long v[16] = {0};
    if (n > 0 && n <= 16 && H5Aread(a, H5T_NATIVE_LLONG, v) >= 0)
        for (hssize_t i = 0; i < n; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%lld", i ? "," : "", v[i]);
    H5Sclose(s);
    H5Aclose(a);
    return buf;
}

static void expect_str(hid_t f, const char *path, const char *name, const char *want)
{
    const char *have = attr_str(f, path, name);
    CHECK(!strcmp(have, want), "%s @%s: '%s', expected '%s'", path, name, have, want);
}

static void expect_has(hid_t f, const char *path, const char *name, const char *part)
{
    const char *have = attr_str(f, path, name);
    CHECK(strstr(have, part) != NULL, "%s @%s: '%s' lacks '%s'", path, name, have, part);
}

static void expect_ints(hid_t f, const char *path, const char *name, const char *want)
{
    const char *have = attr_ints(f, path, name);
    CHECK(!strcmp(have, want), "%s @%s: [%s], expected [%s]", path, name, have, want);
}

static void check_classifier(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (!CHECK(f >= 0, "%s: cannot open", path))
        return;
    expect_str(f, "/", "format", "mpitrain-checkpoint");
    char v[16];
    snprintf(v, sizeof v, "%d", MT_CHECKPOINT_FORMAT_VERSION);
    expect_ints(f, "/", "format_version", v);
    expect_str(f, "/", "mpitrain_version", mt_version());
    /* created: ISO 8601 UTC within a minute of now */
    const char *created = attr_str(f, "/", "created");
    struct tm tm = {0};
    const char *end = strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    CHECK(end && !*end, "created '%s' is not YYYY-MM-DDTHH:MM:SSZ", created);
    if (end && !*end) {
        double age = difftime(time(NULL), timegm(&tm));
        CHECK(age >= -1 && age < 60, "created '%s' is %.0f s from now", created, age);
    }
    expect_ints(f, "/params", "input_shape", "8,8");
    /* every layer, those without parameters too, with its options after defaults */
    const char *parts[] = {
        "{\"index\": 0, \"type\": \"conv2d\", \"options\": {\"filters\": 4, \"kernel_size\": [3], \"strides\": [1], "
        "\"padding\": \"same\", \"activation\": \"linear\"",
        "\"input_shape\": [8, 8], \"output_shape\": [4, 8, 8]}",
        "{\"index\": 1, \"type\": \"batch_norm\", \"options\": {\"momentum\": 0.2, \"epsilon\": 1e-05, \"sync\": "
        "false}",
        "{\"index\": 2, \"type\": \"leaky_relu\", \"options\": {\"alpha\": 0.1}",
        "{\"index\": 3, \"type\": \"max_pool2d\", \"options\": {\"pool_size\": [2], \"strides\": [], \"padding\": "
        "\"valid\"}, \"input_shape\": [4, 8, 8], \"output_shape\": [4, 4, 4]}",
        "{\"index\": 4, \"type\": \"flatten\", \"options\": {}, \"input_shape\": [4, 4, 4], \"output_shape\": [64]}",
        "{\"index\": 5, \"type\": \"dropout\", \"options\": {\"rate\": 0.25}",
        "{\"index\": 6, \"type\": \"dense\", \"options\": {\"units\": 3, \"activation\": \"softmax\"",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        expect_has(f, "/params", "layers", parts[i]);
    /* the groups of layers with parameters */
    expect_str(f, "/params/000_conv2d", "type", "conv2d");
    expect_ints(f, "/params/000_conv2d", "index", "0");
    expect_has(f, "/params/000_conv2d", "options", "\"filters\": 4");
    expect_ints(f, "/params/000_conv2d", "input_shape", "8,8");
    expect_ints(f, "/params/000_conv2d", "output_shape", "4,8,8");
    expect_has(f, "/params/000_conv2d", "torch", "torch.nn.Conv2d");
    expect_str(f, "/params/001_batch_norm", "type", "batch_norm");
    expect_has(f, "/params/001_batch_norm", "options", "\"momentum\": 0.2");
    expect_has(f, "/params/001_batch_norm", "torch", "BatchNorm2d");
    expect_ints(f, "/params/006_dense", "index", "6");
    expect_ints(f, "/params/006_dense", "input_shape", "64");
    expect_has(f, "/params/006_dense", "torch", "torch.nn.Linear");
    CHECK(H5Lexists(f, "/params/003_max_pool2d", H5P_DEFAULT) <= 0, "a group for a layer without parameters");
    H5Fclose(f);
}

/* Replaces (or with value NULL deletes) root attributes of a copy of src. */
static int edit_root(const char *src, const char *dst, const char *format, long long version, int remove)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    if (system(cmd) != 0)
        return -1;
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    H5Adelete(f, "format");
    H5Adelete(f, "format_version");
    if (!remove) {
        hid_t s = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(format) + 1);
        hid_t a = H5Acreate2(f, "format", t, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, format);
        H5Aclose(a);
        a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_LLONG, &version);
        H5Aclose(a);
        H5Tclose(t);
        H5Sclose(s);
    }
    mt_error err = {0};
    return H5Fclose(f) < 0 || mt_h5_seal_file(dst, &err) ? -1 : 0; /* sealed again: the edit is what is tested */
}

static void check_format_checks(const char *path, mt_model *m)
{
    const char *newer = mt_test_path("newer.h5"), *other = mt_test_path("other.h5"), *old = mt_test_path("old.h5");
    mt_error err = {0};
    if (CHECK(edit_root(path, newer, "mpitrain-checkpoint", MT_CHECKPOINT_FORMAT_VERSION + 98, 0) == 0, "edit")) {
        char want[64];
        snprintf(want, sizeof want, "format_version %d", MT_CHECKPOINT_FORMAT_VERSION + 98);
        mt_status rc = mt_checkpoint_read(newer, &(mt_checkpoint){.model = m}, &err);
        CHECK(rc == MT_ERR_INPUT && strstr(err.msg, newer) && strstr(err.msg, want) &&
                  strstr(err.msg, "versions 1 to") && strstr(err.msg, "newer mpitrain") && !strchr(err.msg, '\n'),
              "newer format_version: rc %d '%s'", rc, err.msg);
        CHECK(!mt_checkpoint_is_valid(newer), "a checkpoint of a newer format is taken as valid");
        char *yaml = NULL;
        CHECK(mt_checkpoint_read_config(newer, &yaml, &err) == MT_ERR_INPUT, "read_config of a newer format");
        free(yaml);
    }
    if (CHECK(edit_root(path, other, "mpitrain-dataset", 1, 0) == 0, "edit")) {
        mt_status rc = mt_checkpoint_read(other, &(mt_checkpoint){.model = m}, &err);
        CHECK(rc == MT_ERR_INPUT && strstr(err.msg, other) && strstr(err.msg, "mpitrain-dataset"),
              "other format: rc %d '%s'", rc, err.msg);
    }
    if (CHECK(edit_root(path, old, NULL, 0, 1) == 0, "edit")) {
        mt_status rc = mt_checkpoint_read(old, &(mt_checkpoint){.model = m}, &err);
        CHECK(rc == MT_OK, "a checkpoint without format attributes: rc %d '%s'", rc, err.msg);
        CHECK(mt_checkpoint_is_valid(old), "a checkpoint without format attributes is not valid");
    }
}

static const char *const gan_yaml = "model:\n"
                                    "  input: [5]\n"
                                    "  layers:\n"
                                    "    - dense: {units: 6, activation: tanh}\n"
                                    "    - prelu\n"
                                    "    - dense: {units: 2}\n"
                                    "loss: mse\n"
                                    "optimizer: {name: adam, learning_rate: 0.01}\n"
                                    "data: {file: none.h5}\n";

static void check_multi(void)
{
    mt_config c1, c2;
    mt_model g, d;
    mt_optimizer og, od;
    if (!build(gan_yaml, &c1, &g, &og) || !build(classifier_yaml, &c2, &d, &od))
        return;
    const mt_checkpoint_net nets[2] = {{"generator", &g, &og}, {"discriminator", &d, &od}};
    const mt_checkpoint_multi x = {nets, 2};
    const char *path = mt_test_path("gan.h5");
    mt_error err = {0};
    CHECK(mt_checkpoint_write_multi(path, &(mt_checkpoint){.config_yaml = "gan: {}\n"}, &x, &err) == MT_OK, "write: %s",
          err.msg);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (CHECK(f >= 0, "cannot open %s", path)) {
        expect_str(f, "/", "format", "mpitrain-checkpoint");
        expect_str(f, "/", "mpitrain_version", mt_version());
        CHECK(strlen(attr_str(f, "/", "created")) == 20, "created: '%s'", attr_str(f, "/", "created"));
        expect_ints(f, "/generator/params", "input_shape", "5");
        expect_has(f, "/generator/params", "layers",
                   "{\"index\": 1, \"type\": \"prelu\", \"options\": {\"init\": 0.25}");
        expect_str(f, "/generator/params/001_prelu", "type", "prelu");
        expect_has(f, "/generator/params/001_prelu", "torch", "torch.nn.PReLU");
        expect_ints(f, "/generator/params/002_dense", "output_shape", "2");
        expect_ints(f, "/discriminator/params", "input_shape", "8,8");
        expect_has(f, "/discriminator/params", "layers", "\"type\": \"max_pool2d\"");
        expect_has(f, "/discriminator/params/000_conv2d", "options", "\"padding\": \"same\"");
        H5Fclose(f);
    }
    CHECK(mt_checkpoint_read_multi(path, &(mt_checkpoint){0}, &x, &err) == MT_OK, "read back: %s", err.msg);
    mt_optimizer_free(&og), mt_optimizer_free(&od);
    mt_model_free(&g), mt_model_free(&d);
    mt_config_free(&c1), mt_config_free(&c2);
}

int main(void)
{
    if (mt_test_tmpdir_create("mt-ckpt-attrs") != 0)
        return 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mt_config cfg;
    mt_model m;
    mt_optimizer opt;
    mt_error err = {0};
    if (build(classifier_yaml, &cfg, &m, &opt)) {
        mt_model_init_params(&m, 5);
        const char *path = mt_test_path("ck.h5");
        CHECK(mt_checkpoint_write(path, &(mt_checkpoint){.model = &m, .opt = &opt, .config_yaml = classifier_yaml},
                                  &err) == MT_OK,
              "write: %s", err.msg);
        check_classifier(path);
        CHECK(mt_checkpoint_read(path, &(mt_checkpoint){.model = &m, .opt = &opt}, &err) == MT_OK, "read: %s", err.msg);
        check_format_checks(path, &m);
        mt_optimizer_free(&opt);
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
    check_multi();
    mt_test_tmpdir_remove();
    return mt_test_finish("checkpoint_attrs");
}
