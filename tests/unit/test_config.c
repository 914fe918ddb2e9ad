/* Tests of the config module: YAML trees (parse, strictness, line numbers, overrides, emission round
 * trip), table-driven option parsing, and mt_config loading, defaults, errors and --set. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "testlib.h"

/* A Fashion-MNIST MLP config with comments after values. */
static const char design_yaml[] =
    "model:\n"
    "  input: [28, 28]              # shape of one sample\n"
    "  layers:\n"
    "    - dense: {units: 256, activation: relu}\n"
    "    - dropout: {rate: 0.2}\n"
    "    - dense: {units: 10, activation: softmax}\n"
    "loss: categorical_crossentropy\n"
    "optimizer: {name: adam, learning_rate: 0.001}\n"
    "data:\n"
    "  file: datasets/fashion-mnist.h5\n"
    "  train: train                 # group names inside the file\n"
    "  validation: test\n"
    "training:\n"
    "  epochs: 15\n"
    "  batch_size: 128              # GLOBAL batch; each rank takes its share\n"
    "  seed: 1\n"
    "output: runs/fashion_mlp       # checkpoint.h5, metrics.jsonl, scaling.json land here\n"
    "checkpoint: {every_epochs: 1, keep: 3}\n";

/* A minimal valid config: lines 1-4 model, 5 loss, 6 optimizer, 7-8 data; more lines start at 9. */
#define MODEL "model:\n  input: [4]\n  layers:\n    - dense: {units: 2}\n"
#define REST "loss: mse\noptimizer: sgd\ndata:\n  file: d.h5\n"
#define MINIMAL MODEL REST

static char tmpdir[64];

/* Writes text to tmpdir/name and returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!CHECK(f != NULL, "cannot create %s", path))
        return path;
    fputs(text, f);
    fclose(f);
    return path;
}

static mt_status load(const char *yaml, const char *const *ov, size_t n_ov, mt_config *cfg, mt_error *err)
{
    return mt_config_load_string(yaml, "t.yaml", ov, n_ov, cfg, err);
}

/* Loading must fail with code and a message containing both needles (NULL to skip). */
static void check_fails(int line, const char *yaml, const char *const *ov, size_t n_ov, mt_status code,
                        const char *needle1, const char *needle2)
{
    mt_config cfg;
    mt_error err = {0};
    mt_status st = load(yaml, ov, n_ov, &cfg, &err);
    mt_check(st == code, __FILE__, line, "expected status %d, got %d (%s)", (int)code, (int)st, err.msg);
    mt_check(!needle1 || strstr(err.msg, needle1), __FILE__, line, "message '%s' lacks '%s'", err.msg, needle1);
    mt_check(!needle2 || strstr(err.msg, needle2), __FILE__, line, "message '%s' lacks '%s'", err.msg, needle2);
    mt_check(!strchr(err.msg, '\n'), __FILE__, line, "message has a newline: '%s'", err.msg);
    mt_check(cfg.root == NULL && cfg.layers == NULL, __FILE__, line, "cfg not cleared after an error");
    if (!st)
        mt_config_free(&cfg);
}
#define FAILS(yaml, code, n1, n2) check_fails(__LINE__, (yaml), NULL, 0, (code), (n1), (n2))
#define FAILS_SET(yaml, ov, code, n1, n2) \
    check_fails(__LINE__, (yaml), (ov), sizeof(ov) / sizeof((ov)[0]), (code), (n1), (n2))

static const char *opt_value(const mt_node *map, const char *key)
{
    const mt_node *n = mt_node_get(map, key);
    return n && n->kind == MT_NODE_SCALAR ? n->value : "(none)";
}

static int nodes_equal(const mt_node *a, const mt_node *b)
{
    if (a->kind != b->kind || a->n_items != b->n_items || !a->key != !b->key)
        return 0;
    if (a->key && strcmp(a->key, b->key) != 0)
        return 0;
    if (a->kind == MT_NODE_SCALAR && (strcmp(a->value, b->value) != 0 || a->quoted != b->quoted))
        return 0;
    for (size_t i = 0; i < a->n_items; i++)
        if (!nodes_equal(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static void test_design_example(void)
{
    mt_config cfg;
    mt_error err = {0};
    const char *path = write_file("fashion_mlp.yaml", design_yaml);
    if (!CHECK(mt_config_load(path, NULL, 0, &cfg, &err) == MT_OK, "design example: %s", err.msg))
        return;
    CHECK(strcmp(cfg.origin, path) == 0, "origin %s", cfg.origin);
    CHECK(cfg.input.n == 2 && cfg.input.v[0] == 28 && cfg.input.v[1] == 28, "input n=%d", cfg.input.n);
    CHECK(cfg.n_layers == 3, "n_layers %zu", cfg.n_layers);
    if (cfg.n_layers == 3) {
        CHECK(strcmp(cfg.layers[0].type, "dense") == 0, "layer 0 type %s", cfg.layers[0].type);
        CHECK(strcmp(opt_value(cfg.layers[0].options, "units"), "256") == 0, "layer 0 units");
        CHECK(strcmp(opt_value(cfg.layers[0].options, "activation"), "relu") == 0, "layer 0 activation");
        CHECK(strcmp(cfg.layers[1].type, "dropout") == 0, "layer 1 type %s", cfg.layers[1].type);
        CHECK(strcmp(cfg.layers[1].section, "model.layers[1].dropout") == 0, "section %s", cfg.layers[1].section);
        CHECK(cfg.layers[1].node && cfg.layers[1].node->line == 5, "layer 1 line");
        CHECK(cfg.layers[2].options && cfg.layers[2].options->line == 6, "layer 2 options line");
        CHECK(strcmp(opt_value(cfg.layers[2].options, "activation"), "softmax") == 0, "layer 2 activation");
    }
    CHECK(cfg.loss && cfg.loss->kind == MT_NODE_SCALAR && strcmp(cfg.loss->value, "categorical_crossentropy") == 0,
          "loss");
    CHECK(strcmp(opt_value(cfg.optimizer, "name"), "adam") == 0, "optimizer name");
    CHECK(strcmp(opt_value(cfg.optimizer, "learning_rate"), "0.001") == 0, "learning rate");
    CHECK(strcmp(cfg.data.file, "datasets/fashion-mnist.h5") == 0, "data.file %s", cfg.data.file);
    CHECK(strcmp(cfg.data.train, "train") == 0 && strcmp(cfg.data.validation, "test") == 0 && cfg.data.test[0] == '\0',
          "splits %s %s %s", cfg.data.train, cfg.data.validation, cfg.data.test);
    CHECK(cfg.training.epochs == 15 && cfg.training.batch_size == 128, "epochs %d batch %d", cfg.training.epochs,
          cfg.training.batch_size);
    CHECK_CLOSE(cfg.training.seed, 1.0, 0, 0, "seed");
    CHECK(strcmp(cfg.output, "runs/fashion_mlp") == 0, "output %s", cfg.output);
    CHECK(cfg.checkpoint.every_epochs == 1 && cfg.checkpoint.keep == 3, "checkpoint");
    mt_config_free(&cfg);
    CHECK(cfg.root == NULL && cfg.layers == NULL, "free clears cfg");
    mt_config_free(&cfg); /* twice is harmless */
}

static void test_defaults(void)
{
    mt_config cfg;
    mt_error err = {0};
    const char *path = write_file("my_run.v2.yaml", MINIMAL "training:\ncheckpoint: {}\n");
    if (!CHECK(mt_config_load(path, NULL, 0, &cfg, &err) == MT_OK, "minimal: %s", err.msg))
        return;
    CHECK(cfg.training.epochs == 10 && cfg.training.batch_size == 32, "training defaults %d %d", cfg.training.epochs,
          cfg.training.batch_size);
    CHECK_CLOSE(cfg.training.seed, 1.0, 0, 0, "default seed");
    CHECK(cfg.checkpoint.every_epochs == 1 && cfg.checkpoint.keep == 3, "checkpoint defaults");
    CHECK(strcmp(cfg.data.train, "train") == 0 && !cfg.data.validation[0] && !cfg.data.test[0], "split defaults");
    CHECK(strcmp(cfg.output, "runs/my_run.v2") == 0, "output default %s", cfg.output);
    CHECK(cfg.n_layers == 1 && cfg.input.n == 1 && cfg.input.v[0] == 4, "model");
    mt_config_free(&cfg);

    CHECK(load(MINIMAL, NULL, 0, &cfg, &err) == MT_OK, "string: %s", err.msg);
    CHECK(strcmp(cfg.output, "runs/t") == 0, "output from t.yaml %s", cfg.output);
    mt_config_free(&cfg);
    CHECK(mt_config_load_string(MINIMAL, "checkpoint", NULL, 0, &cfg, &err) == MT_OK, "checkpoint: %s", err.msg);
    CHECK(strcmp(cfg.output, "runs/run") == 0, "output from checkpoint %s", cfg.output);
    mt_config_free(&cfg);

    /* bare layers, null options, single int input, map loss/optimizer, integral notations */
    const char *yaml = "model:\n  input: 7\n  layers:\n    - flatten\n    - dense:\n    - dense: {}\n"
                       "loss: {name: mse}\noptimizer: {name: sgd, momentum: 0.9}\ndata: {file: x.h5, test: t}\n"
                       "training: {epochs: 1e3, batch_size: \"64\", seed: 4294967296}\noutput: out/dir\n";
    if (!CHECK(load(yaml, NULL, 0, &cfg, &err) == MT_OK, "variants: %s", err.msg))
        return;
    CHECK(cfg.input.n == 1 && cfg.input.v[0] == 7, "single int input");
    CHECK(cfg.n_layers == 3 && strcmp(cfg.layers[0].type, "flatten") == 0 && cfg.layers[0].options == NULL,
          "bare layer");
    CHECK(cfg.n_layers == 3 && cfg.layers[1].options == NULL, "null layer options are NULL");
    CHECK(cfg.n_layers == 3 && cfg.layers[2].options && cfg.layers[2].options->n_items == 0, "empty options map");
    CHECK(cfg.training.epochs == 1000 && cfg.training.batch_size == 64, "1e3 and \"64\"");
    CHECK_CLOSE(cfg.training.seed, 4294967296.0, 0, 0, "big seed");
    CHECK(strcmp(cfg.data.test, "t") == 0 && strcmp(cfg.output, "out/dir") == 0, "test split, output");
    mt_config_free(&cfg);
}

static void test_errors_top(void)
{
    FAILS(MINIMAL "lose: mse\n", MT_ERR_CONFIG, "t.yaml:9: unknown key 'lose'", "valid keys: model, loss");
    FAILS(MODEL "optimizer: sgd\ndata: {file: d.h5}\n", MT_ERR_CONFIG, "missing required key 'loss'", "t.yaml:1");
    FAILS(REST, MT_ERR_CONFIG, "missing required key 'model'", NULL);
    FAILS(MODEL "loss: mse\noptimizer: sgd\n", MT_ERR_CONFIG, "missing required key 'data'", NULL);
    FAILS("", MT_ERR_CONFIG, "t.yaml:1: missing required key 'model'", NULL);
    FAILS("- a\n- b\n", MT_ERR_CONFIG, "t.yaml:1: expected a map", "got a list");
    FAILS("just a scalar\n", MT_ERR_CONFIG, "expected a map", "'just a scalar'");
    FAILS(MINIMAL "output: [a]\n", MT_ERR_CONFIG, "t.yaml:9: output: expected a string, got a list", NULL);
    FAILS(MINIMAL "training: 5\n", MT_ERR_CONFIG, "t.yaml:9: training: expected a map", "got '5'");
    FAILS(MINIMAL "checkpoint: [1]\n", MT_ERR_CONFIG, "t.yaml:9: checkpoint: expected a map", NULL);
    mt_config cfg;
    mt_error err = {0};
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such.yaml", tmpdir);
    CHECK(mt_config_load(missing, NULL, 0, &cfg, &err) == MT_ERR_INPUT, "missing file: %s", err.msg);
    CHECK(strstr(err.msg, missing) && strstr(err.msg, "cannot open"), "missing file message: %s", err.msg);
    CHECK(mt_config_load(tmpdir, NULL, 0, &cfg, &err) == MT_ERR_INPUT, "directory: %s", err.msg);
}

static void test_errors_values(void)
{
    FAILS(MINIMAL "training:\n  epochs: ten\n", MT_ERR_CONFIG,
          "t.yaml:10: training.epochs: expected an integer, got 'ten'", NULL);
    FAILS(MINIMAL "training:\n  epochs: 0\n", MT_ERR_CONFIG,
          "t.yaml:10: training.epochs: 0 is out of range [1, 1000000]", NULL);
    FAILS(MINIMAL "training:\n  epocs: 3\n", MT_ERR_CONFIG,
          "t.yaml:10: training: unknown key 'epocs'; valid keys: epochs, batch_size, seed", NULL);
    FAILS(MINIMAL "training:\n  epochs: 1.5\n", MT_ERR_CONFIG, "expected an integer, got '1.5'", NULL);
    FAILS(MINIMAL "training:\n  epochs: 1e12\n", MT_ERR_CONFIG, "training.epochs: 1e12 is out of range", NULL);
    FAILS(MINIMAL "training:\n  epochs: 1e999\n", MT_ERR_CONFIG, "out of range", NULL);
    FAILS(MINIMAL "training:\n  epochs: -1e999\n", MT_ERR_CONFIG, "out of range", NULL);
    FAILS(MINIMAL "training:\n  epochs: 1e-999\n", MT_ERR_CONFIG, "expected an integer", NULL);
    FAILS(MINIMAL "training:\n  epochs: 0x10\n", MT_ERR_CONFIG, "expected an integer", NULL);
    FAILS(MINIMAL "training:\n  epochs: .inf\n", MT_ERR_CONFIG, "expected an integer", NULL);
    FAILS(MINIMAL "training:\n  epochs: nan\n", MT_ERR_CONFIG, "expected an integer", NULL);
    FAILS(MINIMAL "training:\n  epochs:\n", MT_ERR_CONFIG, "expected an integer, got an empty value", NULL);
    FAILS(MINIMAL "training:\n  epochs: [1]\n", MT_ERR_CONFIG, "expected an integer, got a list", NULL);
    FAILS(MINIMAL "training:\n  batch_size: 99999999999999999999999999\n", MT_ERR_CONFIG, "training.batch_size",
          "out of range [1, 100000000]");
    FAILS(MINIMAL "training:\n  batch_size: 2147483648\n", MT_ERR_CONFIG, "out of range", NULL);
    FAILS(MINIMAL "training:\n  seed: 1.5\n", MT_ERR_CONFIG, "t.yaml:10: training.seed: expected an integer", NULL);
    FAILS(MINIMAL "training:\n  seed: -1\n", MT_ERR_CONFIG, "training.seed: -1 is out of range", NULL);
    FAILS(MINIMAL "training:\n  seed: 1e300\n", MT_ERR_CONFIG, "out of range [0, 9007199254740992]", NULL);
    FAILS(MINIMAL "checkpoint: {keep: 0}\n", MT_ERR_CONFIG, "checkpoint.keep: 0 is out of range [1, 1000]", NULL);
    FAILS(MINIMAL "checkpoint: {every_epochs: -1}\n", MT_ERR_CONFIG, "checkpoint.every_epochs", NULL);
    FAILS(MODEL REST "  train: a_split_name_that_is_much_longer_than_sixty_three_characters_allowed_here\n",
          MT_ERR_CONFIG, "t.yaml:9: data.train", "longer than 63");
    FAILS(MODEL REST "  train:\n", MT_ERR_CONFIG, "data.train: expected a name, got an empty value", NULL);
    FAILS(MODEL REST "  typo: 1\n", MT_ERR_CONFIG, "t.yaml:9: data: unknown key 'typo'", "file, train, validation");
    FAILS(MODEL "loss: mse\noptimizer: sgd\ndata:\n  train: x\n", MT_ERR_CONFIG,
          "t.yaml:7: data: missing required key 'file'", NULL);
    FAILS(MODEL "loss: mse\noptimizer: sgd\ndata:\n", MT_ERR_CONFIG, "t.yaml:7: data: missing required key 'file'",
          NULL);
    FAILS(MODEL "loss: mse\noptimizer: sgd\ndata: {file: \"\"}\n", MT_ERR_CONFIG, "data.file", "empty");
    mt_config cfg;
    mt_error err = {0};
    char yaml[2048];
    snprintf(yaml, sizeof yaml, MODEL "loss: mse\noptimizer: sgd\ndata: {file: %01100d}\n", 0);
    CHECK(load(yaml, NULL, 0, &cfg, &err) == MT_ERR_CONFIG && strstr(err.msg, "longer than 1023"), "long path: %s",
          err.msg);
    CHECK(strlen(err.msg) < 300, "long value shortened in message: %zu", strlen(err.msg));
}

static void test_errors_model(void)
{
    const char *tail = REST;
    char y[1024];
#define MODEL_FAILS(model, n1, n2) (snprintf(y, sizeof y, "%s%s", model, tail), FAILS(y, MT_ERR_CONFIG, n1, n2))
    MODEL_FAILS("model:\n  input: [1, 2, 3, 4, 5]\n  layers: [flatten]\n", "t.yaml:2: model.input",
                "expected 1 to 4 dimensions, got 5");
    MODEL_FAILS("model:\n  input: []\n  layers: [flatten]\n", "model.input", "got 0");
    MODEL_FAILS("model:\n  input: [1,2,3,4,5,6,7,8,9]\n  layers: [flatten]\n", "model.input", "at most 8");
    MODEL_FAILS("model:\n  input: [100000, 100000]\n  layers: [flatten]\n", "model.input", "2^31");
    MODEL_FAILS("model:\n  input: [65536, 32769]\n  layers: [flatten]\n", "model.input", "2^31");
    MODEL_FAILS("model:\n  input: [28, 0]\n  layers: [flatten]\n", "model.input[1]: 0 is out of range", NULL);
    MODEL_FAILS("model:\n  input:\n    - 28\n    - 1e12\n  layers: [flatten]\n",
                "t.yaml:4: model.input[1]: 1e12 is out of range [1, 1000000]", NULL);
    MODEL_FAILS("model:\n  input: [28, x]\n  layers: [flatten]\n", "model.input[1]: expected an integer", NULL);
    MODEL_FAILS("model:\n  input: {a: 1}\n  layers: [flatten]\n", "model.input: expected a list of integers", NULL);
    MODEL_FAILS("model:\n  input: [[1]]\n  layers: [flatten]\n", "model.input[0]: expected an integer", NULL);
    MODEL_FAILS("model:\n  layers: [flatten]\n", "t.yaml:1: model: missing required key 'input'", NULL);
    MODEL_FAILS("model:\n  input: [2]\n", "model: missing required key 'layers'", NULL);
    MODEL_FAILS("model:\n  input: [2]\n  layers: []\n", "t.yaml:3: model.layers", "at least one layer");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n", "model.layers: expected a list of layers", NULL);
    MODEL_FAILS("model:\n  input: [2]\n  layers: {dense: {}}\n", "model.layers: expected a list", "got a map");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - dense:\n      units: 10\n",
                "t.yaml:4: model.layers[0]: expected the layer type as the only key, got 2 keys", "indent");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - flatten\n    - {}\n", "model.layers[1]", "got 0 keys");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - flatten\n    - [dense]\n", "t.yaml:5: model.layers[1]",
                "got a list");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    -\n", "model.layers[0]", "got an empty value");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - dense: 5\n", "t.yaml:4: model.layers[0].dense",
                "expected a map of layer options");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - dense: [5]\n", "model.layers[0].dense", "got a list");
    MODEL_FAILS("model:\n  input: [2]\n  layers:\n    - a_layer_type_name_that_is_far_too_long_to_fit_in_"
                "sixty_four_bytes\n",
                "model.layers[0]", "1 to 63 characters");
    MODEL_FAILS("model:\n  input: [2]\n  layers: [flatten]\n  extra: 1\n",
                "t.yaml:4: model: unknown key 'extra'; valid keys: input, layers", NULL);
    MODEL_FAILS("model: [1]\n", "t.yaml:1: model: expected a map", NULL);
#undef MODEL_FAILS
}

static void test_errors_named(void)
{
    FAILS(MODEL "loss:\noptimizer: sgd\ndata: {file: d.h5}\n", MT_ERR_CONFIG, "t.yaml:5: loss: expected a name",
          "empty");
    FAILS(MODEL "loss: [mse]\noptimizer: sgd\ndata: {file: d.h5}\n", MT_ERR_CONFIG, "loss", "got a list");
    FAILS(MODEL "loss: {reduction: sum}\noptimizer: sgd\ndata: {file: d.h5}\n", MT_ERR_CONFIG,
          "t.yaml:5: loss: missing required key 'name'", NULL);
    FAILS(MODEL "loss: mse\noptimizer: {name: [sgd]}\ndata: {file: d.h5}\n", MT_ERR_CONFIG,
          "t.yaml:6: optimizer.name: expected a name", NULL);
    FAILS(MODEL "loss: mse\noptimizer: {learning_rate: 0.1}\ndata: {file: d.h5}\n", MT_ERR_CONFIG,
          "optimizer: missing required key 'name'", NULL);
}

static void test_yaml_strictness(void)
{
    FAILS(MINIMAL "training:\n  epochs: 1\n  seed: 2\n  epochs: 3\n", MT_ERR_CONFIG,
          "t.yaml:12: duplicate key 'epochs' (first at line 10)", NULL);
    FAILS(MINIMAL "loss: mse\n", MT_ERR_CONFIG, "t.yaml:9: duplicate key 'loss' (first at line 5)", NULL);
    FAILS(MINIMAL "training: {seed: 1, seed: 2}\n", MT_ERR_CONFIG, "t.yaml:9: duplicate key 'seed'", NULL);
    FAILS(MINIMAL "training: &t {seed: 1}\n", MT_ERR_CONFIG, "t.yaml:9: anchors", NULL);
    FAILS(MINIMAL "training: {seed: &s 1}\ncheckpoint: {keep: *s}\n", MT_ERR_CONFIG, "t.yaml:9: anchors", NULL);
    FAILS(MINIMAL "checkpoint: {keep: *s}\n", MT_ERR_CONFIG, "t.yaml:9", NULL);
    FAILS(MINIMAL "training: {seed: !!str 1}\n", MT_ERR_CONFIG, "t.yaml:9: tags", NULL);
    FAILS(MINIMAL "training: !custom {seed: 1}\n", MT_ERR_CONFIG, "tags", NULL);
    FAILS(MINIMAL "---\nloss: x\n", MT_ERR_CONFIG, "t.yaml:9: only one YAML document", NULL);
    FAILS(MINIMAL "? [a, b]\n: 1\n", MT_ERR_CONFIG, "t.yaml:9: a map key must be a plain value", NULL);
    FAILS(MINIMAL "training: {{a: 1}: 2}\n", MT_ERR_CONFIG, "map key", NULL);
    FAILS(MINIMAL "training: {seed: \"a\\0b\"}\n", MT_ERR_CONFIG, "NUL", NULL);
    /* syntax errors name the line libyaml stops at */
    FAILS(MINIMAL "training:\n  epochs: 3\n   seed: 1\n", MT_ERR_CONFIG, "t.yaml:11:", NULL);
    FAILS(MINIMAL "training: {epochs: 3\ncheckpoint: {}\n", MT_ERR_CONFIG, "t.yaml:", "flow mapping");
    FAILS("model:\n  input: [28, 28\n  layers: []\n\n\nloss: x\n", MT_ERR_CONFIG, "t.yaml:", NULL);
    FAILS(MINIMAL "output: \"unterminated\n\n", MT_ERR_CONFIG, "t.yaml:", "quoted scalar");
    FAILS(MINIMAL "\tbad: tab\n", MT_ERR_CONFIG, "t.yaml:9:", NULL);
    FAILS(MINIMAL "x: \xff\xfe\n", MT_ERR_CONFIG, "t.yaml:9:", "UTF-8");
}

static void test_overrides(void)
{
    mt_config cfg;
    mt_error err = {0};
    const char *ov[] = {"training.epochs=3",      "model.layers.2.dense.units=32",
                        "model.input=[784]",      "optimizer={name: sgd, momentum: 0.9}",
                        "checkpoint.keep=5",      "training.epochs=4",
                        "data.validation=",       " output = my dir ",
                        "model.layers.1=flatten", "training.seed=\"7\""};
    if (!CHECK(load(design_yaml, ov, sizeof ov / sizeof ov[0], &cfg, &err) == MT_OK, "overrides: %s", err.msg))
        return;
    CHECK(cfg.training.epochs == 4, "last override wins: %d", cfg.training.epochs);
    CHECK(cfg.input.n == 1 && cfg.input.v[0] == 784, "input override n=%d", cfg.input.n);
    const mt_node *units = mt_node_get(cfg.layers[2].options, "units");
    CHECK(units && strcmp(units->value, "32") == 0, "units override");
    CHECK(units && units->line == 0 && strcmp(units->origin, "--set") == 0, "override origin");
    char where[64];
    CHECK(units && strcmp(mt_node_where(units, where, sizeof where), "--set") == 0, "where %s", where);
    CHECK(strcmp(mt_node_where(cfg.layers[0].node, where, sizeof where), "t.yaml:4") == 0, "where %s", where);
    CHECK(strcmp(opt_value(cfg.layers[2].options, "activation"), "softmax") == 0, "sibling kept");
    CHECK(strcmp(cfg.layers[1].type, "flatten") == 0 && cfg.layers[1].options == NULL, "item replaced");
    CHECK(strcmp(opt_value(cfg.optimizer, "momentum"), "0.9") == 0, "map override");
    CHECK(cfg.checkpoint.keep == 5 && cfg.checkpoint.every_epochs == 1, "flow map key override");
    CHECK(cfg.data.validation[0] == '\0', "empty override: '%s'", cfg.data.validation);
    CHECK(strcmp(cfg.output, "my dir") == 0, "output '%s'", cfg.output);
    CHECK_CLOSE(cfg.training.seed, 7, 0, 0, "quoted seed");
    mt_config_free(&cfg);

    /* overrides into absent or empty sections */
    const char *ov2[] = {"training.batch_size=8", "checkpoint.every_epochs=0", "data.test=holdout"};
    if (CHECK(load(MINIMAL "checkpoint:\n", ov2, 3, &cfg, &err) == MT_OK, "new keys: %s", err.msg)) {
        CHECK(cfg.training.batch_size == 8 && cfg.checkpoint.every_epochs == 0, "created sections");
        CHECK(strcmp(cfg.data.test, "holdout") == 0, "data.test %s", cfg.data.test);
        mt_config_free(&cfg);
    }
}

static void test_override_errors(void)
{
    const char *typo[] = {"training.epocs=3"};
    FAILS_SET(MINIMAL, typo, MT_ERR_CONFIG, "--set: training: unknown key 'epocs'", NULL);
    const char *top[] = {"lose=mse"};
    FAILS_SET(MINIMAL, top, MT_ERR_CONFIG, "--set: unknown key 'lose'", NULL);
    const char *bad_value[] = {"training.epochs=ten"};
    FAILS_SET(MINIMAL, bad_value, MT_ERR_CONFIG, "--set: training.epochs: expected an integer, got 'ten'", NULL);
    const char *huge[] = {"model.layers.0.dense.units=1", "model.input.0=1e12"};
    FAILS_SET(MINIMAL, huge, MT_ERR_CONFIG, "--set: model.input[0]: 1e12 is out of range", NULL);
    const char *no_eq[] = {"training.epochs"};
    FAILS_SET(MINIMAL, no_eq, MT_ERR_CONFIG, "--set training.epochs: expected key=value", NULL);
    const char *no_key[] = {"=3"};
    FAILS_SET(MINIMAL, no_key, MT_ERR_CONFIG, "--set =3: expected key=value", NULL);
    const char *blank_key[] = {"  =3"};
    FAILS_SET(MINIMAL, blank_key, MT_ERR_CONFIG, "expected key=value", NULL);
    const char *empty_part[] = {"training..epochs=3"};
    FAILS_SET(MINIMAL, empty_part, MT_ERR_CONFIG, "--set training..epochs=3: empty key", NULL);
    const char *past[] = {"model.layers.1.dense.units=3"};
    FAILS_SET(MINIMAL, past, MT_ERR_CONFIG, "index 1 is past the end of model.layers (1 items)", NULL);
    const char *not_index[] = {"model.layers.first.dense=3"};
    FAILS_SET(MINIMAL, not_index, MT_ERR_CONFIG, "'first' is not an index into the list model.layers", NULL);
    const char *through[] = {"loss.name=x"};
    FAILS_SET(MINIMAL, through, MT_ERR_CONFIG, "--set loss.name=x: loss is a value", NULL);
    const char *syntax[] = {"model.input=[784"};
    FAILS_SET(MINIMAL, syntax, MT_ERR_CONFIG, "--set model.input=[784: ", NULL);
    const char *alias[] = {"loss=*x"};
    FAILS_SET(MINIMAL, alias, MT_ERR_CONFIG, "--set loss=*x: aliases", NULL);
    const char *docs[] = {"loss=a\n---\nb"};
    FAILS_SET(MINIMAL, docs, MT_ERR_CONFIG, "--set loss=a?---?b: only one", NULL);
    const char *dup[] = {"optimizer={name: a, name: b}"};
    FAILS_SET(MINIMAL, dup, MT_ERR_CONFIG, "duplicate key 'name'", NULL);
}

static void test_override_tree(void)
{
    mt_node *root;
    mt_error err = {0};
    char path[512] = "a";
    if (!CHECK(mt_yaml_parse_string("a: 1\n", "o.yaml", &root, &err) == MT_OK, "parse: %s", err.msg))
        return;
    for (int i = 0; i < 100; i++)
        strcat(path, ".b");
    strcat(path, "=1");
    CHECK(mt_node_override(root, path, &err) == MT_ERR_CONFIG && strstr(err.msg, "deeper"), "deep path: %s", err.msg);
    /* nesting through overrides is bounded too */
    strcpy(path, "x");
    int depth_errors = 0;
    for (int i = 0; i < 40; i++) {
        char a[600];
        snprintf(a, sizeof a, "%s=[[[[[1]]]]]", path);
        depth_errors += mt_node_override(root, a, &err) != MT_OK;
        if (strlen(path) + 4 < 300)
            strcat(path, ".0.0");
    }
    CHECK(depth_errors > 0 && strstr(err.msg, "deeper"), "nesting bounded: %d %s", depth_errors, err.msg);
    CHECK(mt_node_override(root, "a.b=2", &err) == MT_ERR_CONFIG, "through scalar 1");
    CHECK(mt_node_override(root, "n=", &err) == MT_OK, "null value");
    CHECK(mt_node_override(root, "n.k=v", &err) == MT_OK, "null becomes a map: %s", err.msg);
    const mt_node *n = mt_node_get(root, "n");
    CHECK(n && n->kind == MT_NODE_MAP && strcmp(opt_value(n, "k"), "v") == 0, "n.k");
    CHECK(mt_node_override(root, "q='yes'", &err) == MT_OK && mt_node_get(root, "q")->quoted, "quoted override");
    CHECK(mt_node_override(root, "e=# only a comment", &err) == MT_OK && mt_node_get(root, "e")->value[0] == 0,
          "comment-only value is empty");
    mt_node_free(root);
}

static void test_round_trip(void)
{
    static const char *const docs[] = {
        design_yaml,
        "a: 'yes'\nb: yes\nc: \"null\"\nd: ~\ne: ''\nf: \"1\"\ng: 1\nh: \" lead\"\ni: 'a: b'\nj: '# no'\n"
        "k: \"tab\\there\"\nl: [a, 'b c', \"\", 1.5]\nm: {}\nn: []\n\"key with: colon\": 1\n'': empty key\n"
        "o: |\n  line1\n  line2\np: >\n  folded\n  text\nq: ünïcödé ✓\nr: [[1, 2], {x: 1}]\ns:\n  - - deep\n"
        "t: -\u00e9\nu: \"\\x01ctl\"\nv: '-'\nnull: plain key null\n~: tilde key\nw: 'a,b'\nx: [-1, +2, .5]\n"
        "tab: a\tb\ndashes: ---x\nodd: [a?x, b:y, -]\nnel: \"\\u0085\"\nrocket: \U0001F680\n? |\n  multi\n  key\n: 3\n"
        "multi: a\n\n  b\n",
        "[1, two, {three: 3}]\n",
        "scalar root\n",
        "{}\n",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        mt_node *a = NULL, *b = NULL;
        mt_error err = {0};
        if (!CHECK(mt_yaml_parse_string(docs[i], "rt.yaml", &a, &err) == MT_OK, "doc %zu: %s", i, err.msg))
            continue;
        char *text = mt_node_emit(a, &err);
        CHECK(text != NULL, "emit %zu: %s", i, err.msg);
        if (text &&
            CHECK(mt_yaml_parse_string(text, "rt2", &b, &err) == MT_OK, "reparse %zu: %s\n%s", i, err.msg, text))
            CHECK(nodes_equal(a, b), "round trip %zu differs:\n%s", i, text);
        if (text) {
            char *again = b ? mt_node_emit(b, &err) : NULL;
            CHECK(again && strcmp(again, text) == 0, "emission %zu is not stable", i);
            free(again);
        }
        free(text);
        mt_node_free(a);
        mt_node_free(b);
    }
    mt_node *r;
    mt_error err = {0};
    CHECK(mt_yaml_parse_string("a: 'yes'\nb: null\n", "q", &r, &err) == MT_OK, "parse");
    if (r) {
        CHECK(mt_node_get(r, "a")->quoted && strcmp(mt_node_get(r, "a")->value, "yes") == 0, "quoted yes");
        CHECK(!mt_node_get(r, "b")->quoted && mt_node_get(r, "b")->value[0] == 0, "null is empty");
        mt_node_free(r);
    }
}

static void test_config_to_yaml(void)
{
    mt_config a, b;
    mt_error err = {0};
    const char *ov[] = {"training.epochs=7", "data.validation=va \"lid\"\\x"};
    if (!CHECK(mt_config_load_string(MINIMAL, "cfg/short.yaml", ov, 2, &a, &err) == MT_OK, "load: %s", err.msg))
        return;
    char *text = mt_config_to_yaml(&a, &err);
    if (!CHECK(text != NULL, "to_yaml: %s", err.msg)) {
        mt_config_free(&a);
        return;
    }
    CHECK(strstr(text, "batch_size: 32") && strstr(text, "keep: 3") && strstr(text, "epochs: 7"),
          "defaults written:\n%s", text);
    if (CHECK(mt_config_load_string(text, "checkpoint", NULL, 0, &b, &err) == MT_OK, "reload: %s\n%s", err.msg, text)) {
        CHECK(strcmp(b.output, "runs/short") == 0, "output kept: %s", b.output);
        CHECK(b.training.epochs == 7 && b.training.batch_size == 32 && b.training.seed == 1, "training kept");
        CHECK(b.checkpoint.every_epochs == 1 && b.checkpoint.keep == 3, "checkpoint kept");
        CHECK(strcmp(b.data.validation, "va \"lid\"\\x") == 0, "validation kept: %s", b.data.validation);
        CHECK(strcmp(b.data.train, "train") == 0 && strcmp(b.data.file, "d.h5") == 0, "data kept");
        CHECK(b.n_layers == a.n_layers && b.input.n == a.input.n, "model kept");
        char *again = mt_config_to_yaml(&b, &err);
        CHECK(again && strcmp(again, text) == 0, "to_yaml stable:\n%s\n---\n%s", text, again ? again : "");
        free(again);
        mt_config_free(&b);
    }
    free(text);
    mt_config_free(&a);
}

static const char *const opt_choices[] = {"sgd|SGD", "adam|Adam|ADAM", NULL};

typedef struct opts {
    int i, b;
    double f;
    char name[MT_NAME_MAX], any[MT_NAME_MAX], str[MT_PATH_MAX];
    mt_ints ints, dints;
    const mt_node *node;
} opts;

static const mt_option opt_table[] = {
    {"i", MT_OPT_INT, offsetof(opts, i), "5", -10, 10, NULL, "an int"},
    {"b", MT_OPT_BOOL, offsetof(opts, b), "false", 0, 0, NULL, "a bool"},
    {"f", MT_OPT_FLOAT, offsetof(opts, f), "0.5", 0, 1, NULL, "a float"},
    {"name", MT_OPT_NAME, offsetof(opts, name), "sgd", 0, 0, opt_choices, "a name"},
    {"any", MT_OPT_NAME, offsetof(opts, any), "", 0, 0, NULL, "any name"},
    {"str", MT_OPT_STRING, offsetof(opts, str), "s", 0, 0, NULL, "a string"},
    {"ints", MT_OPT_INTS, offsetof(opts, ints), "3", 1, 9, NULL, "ints"},
    {"dints", MT_OPT_INTS, offsetof(opts, dints), "[2, 3]", 1, 9, NULL, "ints with a list default"},
    {"node", MT_OPT_NODE, offsetof(opts, node), "", 0, 0, NULL, "a node"},
    MT_OPT_END,
};

static mt_status parse_opts(const char *yaml, opts *o, mt_error *err)
{
    mt_node *root;
    memset(o, 0x5a, sizeof *o);
    mt_status st = mt_yaml_parse_string(yaml, "o.yaml", &root, err);
    if (st)
        return st;
    st = mt_options_parse(opt_table, mt_node_get(root, "sec"), "sec", o, err);
    o->node = NULL; /* points into root */
    mt_node_free(root);
    return st;
}

static void test_options(void)
{
    opts o;
    mt_error err = {0};
    CHECK(parse_opts("sec:\n", &o, &err) == MT_OK, "defaults: %s", err.msg);
    CHECK(o.i == 5 && o.b == 0 && o.f == 0.5 && strcmp(o.name, "sgd") == 0 && !o.any[0] && strcmp(o.str, "s") == 0,
          "default values");
    CHECK(o.ints.n == 1 && o.ints.v[0] == 3 && o.dints.n == 2 && o.dints.v[0] == 2 && o.dints.v[1] == 3, "ints");
    CHECK(parse_opts("x: 1\n", &o, &err) == MT_OK, "absent section: %s", err.msg);
    CHECK(parse_opts("sec: {i: -10, b: YES, f: 1, name: ADAM, any: x, str: '', ints: [1, 9]}\n", &o, &err) ==
                  MT_ERR_CONFIG &&
              strstr(err.msg, "o.yaml:1: sec.str: expected a string, got an empty value"),
          "empty string with non-empty default: %s", err.msg);
    CHECK(parse_opts("sec: {i: -10, b: YES, f: 1, name: ADAM, any: x, ints: [1, 9]}\n", &o, &err) == MT_OK,
          "values: %s", err.msg);
    CHECK(o.i == -10 && o.b == 1 && o.f == 1 && strcmp(o.name, "adam") == 0 && strcmp(o.any, "x") == 0,
          "values stored (name %s)", o.name);
    CHECK(o.ints.n == 2 && o.ints.v[1] == 9, "ints stored");
    static const char *const bools[] = {"true", "False", "on", "OFF", "1", "0", "Yes", "no"};
    for (int i = 0; i < 8; i++) {
        char y[64];
        snprintf(y, sizeof y, "sec: {b: %s}\n", bools[i]);
        CHECK(parse_opts(y, &o, &err) == MT_OK && o.b == (i % 2 == 0), "bool %s -> %d", bools[i], o.b);
    }
}

static void test_options_errors(void)
{
    opts o;
    mt_error err = {0};
    CHECK(parse_opts("sec: {b: maybe}\n", &o, &err) == MT_ERR_CONFIG && strstr(err.msg, "sec.b: expected true or"),
          "bad bool: %s", err.msg);
    CHECK(parse_opts("sec: {name: adamm}\n", &o, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "o.yaml:1: sec.name: unknown name 'adamm'; valid: sgd, adam"),
          "bad name: %s", err.msg);
    CHECK(parse_opts("sec: {name: sgD}\n", &o, &err) == MT_ERR_CONFIG, "names are case-sensitive");
    CHECK(parse_opts("sec: {f: 1.5}\n", &o, &err) == MT_ERR_CONFIG && strstr(err.msg, "1.5 is out of range [0, 1]"),
          "float range: %s", err.msg);
    CHECK(parse_opts("sec: {f: .nan}\n", &o, &err) == MT_ERR_CONFIG, "nan float");
    CHECK(parse_opts("sec: {f: inf}\n", &o, &err) == MT_ERR_CONFIG, "inf float");
    CHECK(parse_opts("sec: {f: 1e-3}\n", &o, &err) == MT_OK && o.f == 1e-3, "float 1e-3");
    CHECK(parse_opts("sec: {ints: 10}\n", &o, &err) == MT_ERR_CONFIG && strstr(err.msg, "sec.ints: 10 is out"),
          "ints range: %s", err.msg);
    CHECK(parse_opts("sec:\n  ints:\n    - 1\n    - 0\n", &o, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "o.yaml:4: sec.ints[1]: 0 is out of range [1, 9]"),
          "ints item: %s", err.msg);
    CHECK(parse_opts("sec: {node: [1, 2]}\n", &o, &err) == MT_OK, "node");
    CHECK(parse_opts("sec: 3\n", &o, &err) == MT_ERR_CONFIG && strstr(err.msg, "o.yaml:1: sec: expected a map"),
          "not a map: %s", err.msg);
    CHECK(parse_opts("sec: {zzz: 1}\n", &o, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "unknown key 'zzz'; valid keys: i, b, f, name, any, str, ints, dints, node"),
          "unknown: %s", err.msg);

    static const mt_option bad_default[] = {{"x", MT_OPT_INT, 0, "abc", 0, 1, NULL, "x"}, MT_OPT_END};
    int x;
    CHECK(mt_options_parse(bad_default, NULL, "s", &x, &err) == MT_ERR_INTERNAL && strstr(err.msg, "bad default"),
          "bad default: %s", err.msg);
    static const mt_option required[] = {{"x", MT_OPT_INT, 0, NULL, 0, 1, NULL, "x"}, MT_OPT_END};
    CHECK(mt_options_parse(required, NULL, "s", &x, &err) == MT_ERR_CONFIG &&
              strcmp(err.msg, "s: missing required key 'x'") == 0,
          "required without map: %s", err.msg);

    char buf[64];
    CHECK(mt_choice_find(opt_choices, "sgd") == 0 && mt_choice_find(opt_choices, "Adam") == 1 &&
              mt_choice_find(opt_choices, "ADAM") == 1 && mt_choice_find(opt_choices, "ada") == -1 &&
              mt_choice_find(opt_choices, "") == -1 && mt_choice_find(NULL, "x") == -1,
          "choice_find");
    CHECK(strcmp(mt_choice_list(opt_choices, buf, sizeof buf), "sgd, adam") == 0, "choice_list '%s'", buf);
    CHECK(strlen(mt_choice_list(opt_choices, buf, 6)) < 6, "choice_list truncates");
}

/* Garbage must give an error or a tree, never a crash (run under ASan/valgrind). */
static void test_nasty_inputs(void)
{
    size_t big = 1u << 20, n;
    char *s = malloc(2 * big + 16);
    mt_error err = {0};
    mt_node *root;
    if (!CHECK(s != NULL, "malloc"))
        return;
    memset(s, '[', big);
    s[big] = 0;
    CHECK(mt_yaml_parse_string(s, "deep", &root, &err) == MT_ERR_CONFIG && strstr(err.msg, "deeper"),
          "deep flow: %.80s", err.msg);
    n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)sprintf(s + n, "%*sa:\n", 2 * i, "");
    CHECK(mt_yaml_parse_string(s, "deep2", &root, &err) == MT_ERR_CONFIG && strstr(err.msg, "deeper"),
          "deep block: %.80s", err.msg);
    static const char junk_chars[] = "ab:-[]{},'\"\n #&*!|>?%@`\t\\0";
    unsigned x = 12345;
    for (int round = 0; round < 200; round++) {
        size_t len = 1 + round * 37 % 2000;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            s[i] = round % 2 ? (char)(x >> 16) : junk_chars[(x >> 16) % (sizeof junk_chars - 1)];
        }
        s[len] = 0;
        mt_status st = mt_yaml_parse_string(s, "junk", &root, &err);
        if (!st) {
            char *t = mt_node_emit(root, &err);
            mt_node *back = NULL;
            CHECK(t && mt_yaml_parse_string(t, "junk2", &back, &err) == MT_OK && nodes_equal(root, back),
                  "junk round %d round trip: %s", round, t ? t : err.msg);
            mt_node_free(back);
            free(t);
            mt_node_free(root);
        } else {
            CHECK(st == MT_ERR_CONFIG && !strchr(err.msg, '\n'), "junk round %d: %d %s", round, st, err.msg);
        }
        mt_config cfg;
        st = mt_config_load_string(s, "junk", NULL, 0, &cfg, &err);
        CHECK(st == MT_ERR_CONFIG, "junk config %d accepted?", round);
    }
    free(s);
}

/* The design example with a few bytes changed: loads or fails with a one-line config error. */
static void test_mutations(void)
{
    static const char junk_chars[] = "ab:-[]{},'\"\n #&*!|>?%@`\t019.e~";
    char text[sizeof design_yaml];
    unsigned x = 777;
    int loaded = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(text, design_yaml, sizeof text);
        for (int k = 0; k < 1 + round % 3; k++) {
            x = x * 1103515245u + 12345u;
            size_t at = (x >> 8) % (sizeof text - 1);
            x = x * 1103515245u + 12345u;
            text[at] = junk_chars[(x >> 16) % (sizeof junk_chars - 1)];
        }
        mt_config cfg;
        mt_error err = {0};
        mt_status st = load(text, NULL, 0, &cfg, &err);
        if (!st) {
            char *yaml = mt_config_to_yaml(&cfg, &err);
            CHECK(yaml != NULL, "to_yaml after mutation: %s", err.msg);
            free(yaml);
            mt_config_free(&cfg);
            loaded++;
        } else if (!CHECK(st == MT_ERR_CONFIG && strncmp(err.msg, "t.yaml:", 7) == 0 && !strchr(err.msg, '\n'),
                          "mutation %d: %d '%s'\n%s", round, st, err.msg, text)) {
            break;
        }
    }
    CHECK(loaded > 100 && loaded < 2900, "mutations loaded: %d of 3000", loaded);
}

static void test_long_inputs(void)
{
    size_t big = 1u << 20, n;
    char *s = malloc(2 * big + 16);
    mt_error err = {0};
    mt_node *root;
    if (!CHECK(s != NULL, "malloc"))
        return;
    /* a very long line and a very long key */
    memcpy(s, "k: ", 3);
    memset(s + 3, 'v', big);
    s[big + 3] = 0;
    if (CHECK(mt_yaml_parse_string(s, "long", &root, &err) == MT_OK, "long value: %.100s", err.msg)) {
        CHECK(strlen(mt_node_get(root, "k")->value) == big, "long value kept");
        char *t = mt_node_emit(root, &err);
        CHECK(t && strlen(t) > big, "long value emitted");
        free(t);
        mt_node_free(root);
    }
    memset(s, 'k', big);
    strcpy(s + big, ": 1\n");
    CHECK(mt_yaml_parse_string(s, "longkey", &root, &err) == MT_ERR_CONFIG, "long simple key: %.100s", err.msg);
    /* many keys: duplicate detection must not be quadratic */
    n = (size_t)sprintf(s, "{");
    for (int i = 0; i < 50000; i++)
        n += (size_t)sprintf(s + n, "k%d: %d, ", i, i);
    n += (size_t)sprintf(s + n, "k777: 0}");
    CHECK(mt_yaml_parse_string(s, "wide", &root, &err) == MT_ERR_CONFIG && strstr(err.msg, "duplicate key 'k777'"),
          "wide map: %.100s", err.msg);
    free(s);
    const char *ov[] = {"training.epochs=99999999999999999999999999999999999999999999"};
    FAILS_SET(MINIMAL, ov, MT_ERR_CONFIG, "out of range", NULL);
    CHECK(mt_yaml_parse_string("a: 1\n", NULL, &root, &err) == MT_OK, "NULL origin");
    CHECK(strcmp(root->origin, "<string>") == 0, "default origin %s", root->origin);
    mt_node_free(root);
    CHECK(mt_yaml_parse_string(NULL, "null", &root, &err) == MT_OK && root->kind == MT_NODE_MAP, "NULL text");
    mt_node_free(root);
}

static void test_lines(void)
{
    mt_node *root;
    mt_error err = {0};
    const char *yaml = "# comment\n\ndata:\n  file: x\n  list:\n    - 1\n\n    - [2, 3]\n";
    const char *path = write_file("lines.yaml", yaml);
    if (!CHECK(mt_yaml_parse_file(path, &root, &err) == MT_OK, "parse: %s", err.msg))
        return;
    const mt_node *data = mt_node_get(root, "data");
    const mt_node *list = mt_node_get(data, "list");
    CHECK(data && data->line == 3 && data->kind == MT_NODE_MAP, "data line %d", data ? data->line : -1);
    CHECK(mt_node_get(data, "file")->line == 4, "file line");
    CHECK(list && list->line == 5 && list->n_items == 2, "list line %d", list ? list->line : -1);
    CHECK(list && list->items[0]->line == 6 && list->items[1]->line == 8, "item lines");
    CHECK(list && strcmp(list->items[1]->origin, path) == 0 && root->origin == list->items[1]->origin, "origin shared");
    CHECK(mt_node_get(root, "nope") == NULL && mt_node_get(NULL, "x") == NULL && mt_node_get(list, "x") == NULL,
          "get on missing");
    mt_node_free(root);
    CHECK(mt_yaml_parse_string("# nothing\n", "c", &root, &err) == MT_OK && root->kind == MT_NODE_MAP &&
              root->n_items == 0,
          "comment-only doc is an empty map");
    mt_node_free(root);
    CHECK(mt_yaml_parse_string("---\n...\n", "c", &root, &err) == MT_OK && root->kind == MT_NODE_MAP, "empty doc");
    mt_node_free(root);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mt_test_config_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_design_example();
    test_defaults();
    test_errors_top();
    test_errors_values();
    test_errors_model();
    test_errors_named();
    test_yaml_strictness();
    test_overrides();
    test_override_errors();
    test_override_tree();
    test_round_trip();
    test_config_to_yaml();
    test_options();
    test_options_errors();
    test_nasty_inputs();
    test_long_inputs();
    test_mutations();
    test_lines();
    static const char *const names[] = {"fashion_mlp.yaml", "my_run.v2.yaml", "lines.yaml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        remove(p);
    }
    rmdir(tmpdir);
    return mt_test_finish("test_config");
}
