/* The run configuration: reads a YAML file or text, applies --set overrides in order, checks the
 * top-level sections (model, loss, optimizer, data, training, output, checkpoint) against their tables,
 * and writes the effective configuration (defaults filled in) back as YAML.
 * Layer options, the loss and the optimizer are only checked for shape here; their modules check names.
 * List indices in messages ("model.layers[1].dense") count from 0, as --set paths do. */
#include "config/config.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const data_scaling_choices[] = {"none", "minmax|min_max", "standardize|standard|zscore", NULL};
static const char *const data_missing_choices[] = {"error", "drop", "mean", "median", NULL};
static const char *const data_split_choices[] = {"random|shuffled", "ordered|time|time_ordered", NULL};

const mt_option mt_data_options[] = {
    {"file", MT_OPT_STRING, offsetof(mt_data_config, file), NULL, 0, 0, NULL,
     "HDF5 dataset file, relative to the directory mpitrain runs in"},
    {"train", MT_OPT_NAME, offsetof(mt_data_config, train), "train", 0, 0, NULL,
     "group of the training split inside the file"},
    {"validation", MT_OPT_NAME, offsetof(mt_data_config, validation), "", 0, 0, NULL,
     "group of the validation split; empty for none"},
    {"test", MT_OPT_NAME, offsetof(mt_data_config, test), "", 0, 0, NULL, "group of the test split; empty for none"},
    {"scaling", MT_OPT_NAME, offsetof(mt_data_config, scaling), "none", 0, 0, data_scaling_choices,
     "feature scaling fitted on the training rows: none, minmax (to [0, 1]) or standardize (mean 0, std 1)"},
    {"missing", MT_OPT_NAME, offsetof(mt_data_config, missing), "error", 0, 0, data_missing_choices,
     "empty/NaN features: error, drop the row, or impute the training mean or median"},
    {"validation_fraction", MT_OPT_FLOAT, offsetof(mt_data_config, validation_fraction), "0", 0, 0.99, NULL,
     "fraction of the training split held out for validation (seeded by training.seed); 0 for none"},
    {"split", MT_OPT_NAME, offsetof(mt_data_config, split), "random", 0, 0, data_split_choices,
     "how validation_fraction is taken: random (seeded) or ordered (the last rows by /<train>/order, else by row)"},
    {"folds", MT_OPT_INT, offsetof(mt_data_config, folds), "0", 0, 1000, NULL,
     "k-fold cross-validation: number of folds (0 for none; set by mpitrain train --folds)"},
    {"fold", MT_OPT_INT, offsetof(mt_data_config, fold), "0", 0, 999, NULL,
     "which fold (0..folds-1) is the validation set"},
    {"augment", MT_OPT_NODE, offsetof(mt_data_config, augment), "", 0, 0, NULL,
     "random image transformations of training samples (see the augment table)"},
    MT_OPT_END,
};

static const char *const gradient_dtypes[] = {"float32|fp32", "bfloat16|bf16", NULL};
static const char *const node_sum_modes[] = {"flat", "two_level", NULL};
static const char *const nonfinite_policies[] = {"stop", "skip_step|skip", NULL};

const mt_option mt_training_options[] = {
    {"epochs", MT_OPT_INT, offsetof(mt_training_config, epochs), "10", 1, 1000000, NULL,
     "passes over the training split"},
    {"batch_size", MT_OPT_INT, offsetof(mt_training_config, batch_size), "32", 1, 100000000, NULL,
     "GLOBAL mini-batch size; each rank takes its share"},
    {"seed", MT_OPT_FLOAT, offsetof(mt_training_config, seed), "1", 0, 9007199254740992.0, NULL,
     "integer seed of initialization, shuffling and dropout"},
    {"accumulate_steps", MT_OPT_INT, offsetof(mt_training_config, accumulate_steps), "1", 1, 1000000, NULL,
     "micro-batches per optimizer step (gradient accumulation; one allreduce per step)"},
    {"steps_per_epoch", MT_OPT_INT, offsetof(mt_training_config, steps_per_epoch), "0", 0, 1000000000, NULL,
     "stop each epoch after this many optimizer steps (benchmarks, smoke tests); 0 = the whole split"},
    {"bucket_mb", MT_OPT_FLOAT, offsetof(mt_training_config, bucket_mb), "0.5", 0, 4096, NULL,
     "gradient bucket size in MiB: each bucket's allreduce starts as soon as backprop has produced it; "
     "0 = one allreduce after the whole backward pass"},
    {"gradient_dtype", MT_OPT_NAME, offsetof(mt_training_config, gradient_dtype), "float32", 0, 0, gradient_dtypes,
     "precision of the gradient exchange: float32, or bfloat16 (half the bytes; each sum "
     "computed in float32 and rounded to bfloat16)"},
    {"node_sums", MT_OPT_NAME, offsetof(mt_training_config, node_sums), "flat", 0, 0, node_sum_modes,
     "gradient sums of a job on several nodes with several ranks on a node: flat (one allreduce over all "
     "ranks) or two_level (sum inside each node, then one message per node across: faster where the "
     "network is the bottleneck)"},
    {"shard_optimizer", MT_OPT_BOOL, offsetof(mt_training_config, shard_optimizer), "true", 0, 0, NULL,
     "the ranks of a node keep one copy of the parameters and of the optimizer state in memory they share; "
     "each rank sums its slice of every gradient bucket straight from the others' gradients and updates "
     "that slice only (ZeRO stage 1 inside a node); with several nodes, a slice's sums travel between the "
     "ranks that own it. Applies to a classifier with float32 or deterministic sums, on nodes that each hold "
     "the same number of ranks, at least 2; false: every rank sums (allreduce) and updates everything"},
    {"shard_across_nodes", MT_OPT_BOOL, offsetof(mt_training_config, shard_across_nodes), "false", 0, 0, NULL,
     "with shard_optimizer: the optimizer state of each slice is split between the nodes too (ZeRO stage 1 "
     "across nodes): each rank keeps the state of its piece of its slices only, and the updated parameters "
     "of a slice travel between its owners on the nodes (an allgather per bucket, on top of the sums). "
     "Saves memory on several nodes at the cost of that traffic; on one node the state of each slice is "
     "kept by its owner alone"},
    {"balance", MT_OPT_BOOL, offsetof(mt_training_config, balance), "false", 0, 0, NULL,
     "give faster ranks more of each global batch, in proportion to their measured speed (the sum is the "
     "same; its rounding depends on timing, except in deterministic mode, where whole chunks are dealt and "
     "the weights stay bitwise those of 1 rank)"},
    {"on_nonfinite", MT_OPT_NAME, offsetof(mt_training_config, on_nonfinite), "stop", 0, 0, nonfinite_policies,
     "a NaN or infinite loss or gradient (seen by every rank in the summed values): stop (before the update, "
     "exit status 1) or skip_step (no update, a warning, training goes on)"},
    {"deterministic", MT_OPT_BOOL, offsetof(mt_training_config, deterministic), "false", 0, 0, NULL,
     "bitwise identical weights for any number of ranks and after resume: fixed-size chunks, gradients "
     "summed exactly in 64-bit fixed point"},
    {"chunk_size", MT_OPT_INT, offsetof(mt_training_config, chunk_size), "0", 0, 100000000, NULL,
     "deterministic mode: samples per chunk (the unit of gradient computation); 0 = batch_size / 8, "
     "rounded up"},
    {"stall_timeout", MT_OPT_FLOAT, offsetof(mt_training_config, stall_timeout), "600", 0, 1e7, NULL,
     "seconds a rank waits in a collective (or 100 x the slowest recent step, if longer) before the "
     "watchdog names the ranks that have not arrived and stops the job; 0 = wait forever"},
    MT_OPT_END,
};

const mt_option mt_checkpoint_options[] = {
    {"every_epochs", MT_OPT_INT, offsetof(mt_checkpoint_config, every_epochs), "1", 0, 1000000, NULL,
     "write a checkpoint every N epochs; 0 for only at the end"},
    {"every_steps", MT_OPT_INT, offsetof(mt_checkpoint_config, every_steps), "0", 0, 1000000000, NULL,
     "also write a checkpoint after every N optimizer steps (counted over the run), mid-epoch included, so "
     "a failure costs at most N steps of work; 0 = off"},
    {"every_seconds", MT_OPT_FLOAT, offsetof(mt_checkpoint_config, every_seconds), "0", 0, 1e7, NULL,
     "also write a checkpoint after the first step that ends at least S seconds after the previous "
     "checkpoint (rank 0's clock decides, every rank follows); 0 = off"},
    {"keep", MT_OPT_INT, offsetof(mt_checkpoint_config, keep), "3", 1, 1000, NULL,
     "number of epoch checkpoints kept besides the latest, and of step checkpoints since the last epoch one"},
    MT_OPT_END,
};

typedef struct sections {
    const mt_node *model, *loss, *optimizer, *data, *training, *checkpoint, *metrics, *lr_schedule, *early_stopping;
    char output[MT_PATH_MAX];
    const mt_node *gan;
} sections;

const mt_option mt_config_top_options[] = {
    {"model", MT_OPT_NODE, offsetof(sections, model), NULL, 0, 0, NULL, "the network: input shape and layers"},
    {"loss", MT_OPT_NODE, offsetof(sections, loss), NULL, 0, 0, NULL,
     "loss function: a name, or a map with 'name' and options"},
    {"optimizer", MT_OPT_NODE, offsetof(sections, optimizer), NULL, 0, 0, NULL,
     "optimizer: a name, or a map with 'name' and options"},
    {"data", MT_OPT_NODE, offsetof(sections, data), NULL, 0, 0, NULL, "dataset file and split names"},
    {"training", MT_OPT_NODE, offsetof(sections, training), "", 0, 0, NULL, "epochs, batch size, seed"},
    {"output", MT_OPT_STRING, offsetof(sections, output), "", 0, 0, NULL,
     "run directory; default runs/<config file name without extension>"},
    {"checkpoint", MT_OPT_NODE, offsetof(sections, checkpoint), "", 0, 0, NULL, "how often and how many"},
    {"metrics", MT_OPT_NODE, offsetof(sections, metrics), "", 0, 0, NULL,
     "metrics reported besides the loss, e.g. [accuracy, mae]"},
    {"lr_schedule", MT_OPT_NODE, offsetof(sections, lr_schedule), "", 0, 0, NULL,
     "learning-rate schedule: a name, or a map with 'name' and options"},
    {"early_stopping", MT_OPT_NODE, offsetof(sections, early_stopping), "", 0, 0, NULL,
     "stop when a monitored metric stops improving"},
    MT_OPT_END,
};

/* A config with a gan: section has these top-level keys instead (model, loss, optimizer, metrics,
 * and lr_schedule are unknown keys there). */
const mt_option mt_config_gan_top_options[] = {
    {"gan", MT_OPT_NODE, offsetof(sections, gan), NULL, 0, 0, NULL,
     "a generative adversarial network: noise size, generator, discriminator, score"},
    {"data", MT_OPT_NODE, offsetof(sections, data), NULL, 0, 0, NULL, "dataset file and split names"},
    {"training", MT_OPT_NODE, offsetof(sections, training), "", 0, 0, NULL, "epochs, batch size, seed"},
    {"output", MT_OPT_STRING, offsetof(sections, output), "", 0, 0, NULL,
     "run directory; default runs/<config file name without extension>"},
    {"checkpoint", MT_OPT_NODE, offsetof(sections, checkpoint), "", 0, 0, NULL, "how often and how many"},
    {"early_stopping", MT_OPT_NODE, offsetof(sections, early_stopping), "", 0, 0, NULL,
     "stop when d_loss or g_loss stops improving"},
    MT_OPT_END,
};

typedef struct gan_section {
    int noise;
    const mt_node *generator, *discriminator;
    char classifier[MT_PATH_MAX];
    int score_samples;
} gan_section;

const mt_option mt_gan_options[] = {
    {"noise", MT_OPT_INT, offsetof(gan_section, noise), "64", 1, 1000000, NULL,
     "size of the generator's input: that many standard normal values per sample"},
    {"generator", MT_OPT_NODE, offsetof(gan_section, generator), NULL, 0, 0, NULL,
     "{layers: [...], optimizer: ...}: noise in, one sample out (a tanh output for data in [-1, 1])"},
    {"discriminator", MT_OPT_NODE, offsetof(gan_section, discriminator), NULL, 0, 0, NULL,
     "{layers: [...], optimizer: ...}: one sample in (the data's sample shape), one logit out"},
    {"classifier", MT_OPT_STRING, offsetof(gan_section, classifier), "", 0, 0, NULL,
     "checkpoint of a classifier of the data; when set, the score is computed at the end"},
    {"score_samples", MT_OPT_INT, offsetof(gan_section, score_samples), "10000", 1, 10000000, NULL,
     "generated samples the score classifies"},
    MT_OPT_END,
};

typedef struct gan_net_section {
    const mt_node *layers, *optimizer;
} gan_net_section;

const mt_option mt_config_gan_net_options[] = {
    {"layers", MT_OPT_NODE, offsetof(gan_net_section, layers), NULL, 0, 0, NULL,
     "the layers in order, each '- TYPE: {options}' or '- TYPE'"},
    {"optimizer", MT_OPT_NODE, offsetof(gan_net_section, optimizer), NULL, 0, 0, NULL,
     "optimizer of this network: a name, or a map with 'name' and options"},
    MT_OPT_END,
};

typedef struct model_section {
    mt_ints input;
    const mt_node *layers;
} model_section;

const mt_option mt_config_model_options[] = {
    {"input", MT_OPT_INTS, offsetof(model_section, input), NULL, 1, 1000000, NULL,
     "shape of one sample, e.g. [28, 28]"},
    {"layers", MT_OPT_NODE, offsetof(model_section, layers), NULL, 0, 0, NULL,
     "the layers in order, each '- TYPE: {options}' or '- TYPE'"},
    MT_OPT_END,
};

static mt_status cfail(mt_error *err, const mt_node *n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "origin:line: name: what" */
static mt_status cfail(mt_error *err, const mt_node *n, const char *name, const char *fmt, ...)
{
    char what[700], loc[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mt_node_where(n, loc, sizeof loc);
    return mt_fail(err, MT_ERR_CONFIG, "%s%s%s: %s", loc, loc[0] ? ": " : "", name, what);
}

static const char *kind_name(const mt_node *n)
{
    return n->kind == MT_NODE_SEQ ? "a list" : n->kind == MT_NODE_MAP ? "a map" : "an empty value";
}

/* "- dense: {units: 10}", "- dense:" or "- flatten" -> spec; prefix is "model" or "gan.generator". */
static mt_status load_layer(mt_layer_spec *spec, const mt_node *item, const char *prefix, size_t i, mt_error *err)
{
    char name[64];
    const char *type;
    const mt_node *opts = NULL;
    snprintf(name, sizeof name, "%s.layers[%zu]", prefix, i);
    spec->node = item;
    if (item->kind == MT_NODE_SCALAR && item->value[0])
        type = item->value;
    else if (item->kind != MT_NODE_MAP)
        return cfail(err, item, name, "expected a layer such as '- dense: {units: 10}' or '- flatten', got %s",
                     kind_name(item));
    else if (item->n_items != 1)
        return cfail(err, item, name,
                     "expected the layer type as the only key, got %zu keys (indent a layer's options under its type)",
                     item->n_items);
    else {
        type = item->items[0]->key ? item->items[0]->key : "";
        opts = item->items[0];
    }
    if (!type[0] || strlen(type) >= MT_NAME_MAX)
        return cfail(err, item, name, "a layer type must be 1 to %d characters long", MT_NAME_MAX - 1);
    memcpy(spec->type, type, strlen(type) + 1);
    if (snprintf(spec->section, sizeof spec->section, "%s.%s", name, type) >= (int)sizeof spec->section)
        memcpy(spec->section + sizeof spec->section - 4, "...", 4);
    if (opts && opts->kind == MT_NODE_SCALAR && !opts->value[0])
        opts = NULL;
    if (opts && opts->kind != MT_NODE_MAP)
        return cfail(err, opts, spec->section, "expected a map of layer options, got %s",
                     opts->kind == MT_NODE_SEQ ? "a list" : "a single value");
    spec->options = opts;
    return MT_OK;
}

static mt_status load_layers(mt_layer_spec **out, size_t *n_out, const mt_node *layers, const char *prefix,
                             mt_error *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s.layers", prefix);
    if (layers->kind != MT_NODE_SEQ)
        return cfail(err, layers, name, "expected a list of layers (- dense: {units: 10}), got %s",
                     layers->kind == MT_NODE_MAP ? "a map"
                     : layers->value[0]          ? "a single value"
                                                 : "an empty value");
    if (layers->n_items == 0)
        return cfail(err, layers, name, "expected at least one layer, got an empty list");
    if (!(*out = calloc(layers->n_items, sizeof **out)))
        return mt_fail(err, MT_ERR_NOMEM, "out of memory for %zu layers", layers->n_items);
    *n_out = layers->n_items;
    for (size_t i = 0; i < layers->n_items; i++) {
        mt_status st = load_layer(&(*out)[i], layers->items[i], prefix, i, err);
        if (st)
            return st;
    }
    return MT_OK;
}

static mt_status load_model(mt_config *cfg, const mt_node *model, mt_error *err)
{
    model_section m;
    memset(&m, 0, sizeof m);
    mt_status st = mt_options_parse(mt_config_model_options, model, "model", &m, err);
    if (st)
        return st;
    const mt_node *input = mt_node_get(model, "input");
    if (m.input.n < 1 || m.input.n > 4)
        return cfail(err, input, "model.input", "expected 1 to 4 dimensions, got %d", m.input.n);
    double size = 1;
    for (int i = 0; i < m.input.n; i++)
        size *= m.input.v[i];
    if (size > 2147483648.0)
        return cfail(err, input, "model.input", "a sample of %.0f values is more than 2^31", size);
    cfg->input = m.input;
    return load_layers(&cfg->layers, &cfg->n_layers, m.layers, "model", err);
}

/* loss / optimizer: a non-empty name, or a map whose 'name' is one (options are their module's). */
static mt_status check_named(const mt_node *n, const char *section, mt_error *err)
{
    char name[80];
    if (n->kind == MT_NODE_SCALAR && n->value[0])
        return MT_OK;
    if (n->kind != MT_NODE_MAP)
        return cfail(err, n, section, "expected a name, or a map with 'name' and options; got %s", kind_name(n));
    const mt_node *v = mt_node_get(n, "name");
    if (!v)
        return cfail(err, n, section, "missing required key 'name'");
    snprintf(name, sizeof name, "%s.name", section);
    if (v->kind != MT_NODE_SCALAR || !v->value[0])
        return cfail(err, v, name, "expected a name, got %s", kind_name(v));
    return MT_OK;
}

static mt_status check_seed(const mt_config *cfg, const mt_node *training, mt_error *err)
{
    double seed = cfg->training.seed;
    if (seed == floor(seed))
        return MT_OK;
    const mt_node *n = mt_node_get(training, "seed");
    return cfail(err, n, "training.seed", "expected an integer, got '%.40s'",
                 n && n->kind == MT_NODE_SCALAR ? n->value : "?");
}

/* "runs/<stem of origin>", or "runs/run" when origin does not name a YAML file. */
static void default_output(char *out, size_t size, const char *origin, int from_file)
{
    const char *base = strrchr(origin, '/') ? strrchr(origin, '/') + 1 : origin;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    int yaml = dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0);
    if (stem == 0 || !(from_file || yaml) || stem + 6 > size)
        snprintf(out, size, "runs/run");
    else
        snprintf(out, size, "runs/%.*s", (int)stem, base);
}

static mt_status load_gan_net(mt_gan_net_config *net, const mt_node *node, const char *section, mt_error *err)
{
    gan_net_section n;
    memset(&n, 0, sizeof n);
    net->node = node;
    mt_status st = mt_options_parse(mt_config_gan_net_options, node, section, &n, err);
    char name[64];
    snprintf(name, sizeof name, "%s.optimizer", section);
    if (!st)
        st = load_layers(&net->layers, &net->n_layers, n.layers, section, err);
    if (!st && !(st = check_named(n.optimizer, name, err)))
        net->optimizer = n.optimizer;
    return st;
}

/* What a GAN run does not do: each is refused at its line rather than silently ignored. */
static mt_status check_gan_limits(const mt_config *cfg, mt_error *err)
{
    const mt_node *data = mt_node_get(cfg->root, "data"), *training = mt_node_get(cfg->root, "training");
    const mt_data_config *d = &cfg->data;
    const mt_training_config *t = &cfg->training;
    static const char *const unused_data[] = {"validation", "test", "validation_fraction", "folds", "fold", "augment"};
    for (size_t i = 0; i < sizeof unused_data / sizeof *unused_data; i++) {
        const mt_node *n = mt_node_get(data, unused_data[i]);
        char name[64];
        snprintf(name, sizeof name, "data.%s", unused_data[i]);
        if (n && !(n->kind == MT_NODE_SCALAR && (!n->value[0] || !strcmp(n->value, "0"))))
            return cfail(err, n, name,
                         "a GAN trains on data.train alone (the score reads the classifier's own test "
                         "split); remove this key");
    }
    if (!strcmp(d->scaling, "standardize"))
        return cfail(err, mt_node_get(data, "scaling"), "data.scaling",
                     "a GAN maps the data from [0, 1] to [-1, 1] (2x - 1); use none (uint8 images read as [0, 1]) "
                     "or minmax");
    if (t->accumulate_steps != 1)
        return cfail(err, mt_node_get(training, "accumulate_steps"), "training.accumulate_steps",
                     "a GAN takes one discriminator and one generator step per batch; it must be 1");
    if (t->deterministic)
        return cfail(err, mt_node_get(training, "deterministic"), "training.deterministic",
                     "not available for a GAN (its np = N runs match np = 1 within float rounding)");
    if (t->balance)
        return cfail(err, mt_node_get(training, "balance"), "training.balance", "not available for a GAN");
    return MT_OK;
}

static mt_status validate_gan(mt_config *cfg, sections *s, mt_error *err)
{
    gan_section g;
    memset(&g, 0, sizeof g);
    mt_status st = mt_options_parse(mt_gan_options, s->gan, "gan", &g, err);
    if (!st)
        st = load_gan_net(&cfg->gan.generator, g.generator, "gan.generator", err);
    if (!st)
        st = load_gan_net(&cfg->gan.discriminator, g.discriminator, "gan.discriminator", err);
    if (st)
        return st;
    cfg->gan.enabled = 1;
    cfg->gan.noise = g.noise;
    cfg->gan.score_samples = g.score_samples;
    cfg->gan.node = s->gan;
    memcpy(cfg->gan.classifier, g.classifier, sizeof g.classifier);
    cfg->input = (mt_ints){.n = 1, .v = {g.noise}};
    return MT_OK;
}

static mt_status validate(mt_config *cfg, int from_file, mt_error *err)
{
    sections s;
    memset(&s, 0, sizeof s);
    const int gan = mt_node_get(cfg->root, "gan") != NULL;
    mt_status st = mt_options_parse(gan ? mt_config_gan_top_options : mt_config_top_options, cfg->root, "", &s, err);
    if (!st && gan)
        st = validate_gan(cfg, &s, err);
    if (!st && !gan)
        st = load_model(cfg, s.model, err);
    if (!st && !gan && !(st = check_named(s.loss, "loss", err)))
        cfg->loss = s.loss;
    if (!st && !gan && !(st = check_named(s.optimizer, "optimizer", err)))
        cfg->optimizer = s.optimizer;
    if (!st)
        st = mt_options_parse(mt_data_options, s.data, "data", &cfg->data, err);
    if (!st)
        st = mt_options_parse(mt_training_options, s.training, "training", &cfg->training, err);
    if (!st)
        st = check_seed(cfg, s.training, err);
    if (!st)
        st = mt_options_parse(mt_checkpoint_options, s.checkpoint, "checkpoint", &cfg->checkpoint, err);
    if (!st) {
        cfg->metrics = s.metrics;
        cfg->lr_schedule = s.lr_schedule;
        cfg->early_stopping = s.early_stopping;
    }
    if (!st && gan)
        st = check_gan_limits(cfg, err);
    if (!st && s.output[0])
        memcpy(cfg->output, s.output, sizeof cfg->output);
    else if (!st)
        default_output(cfg->output, sizeof cfg->output, cfg->origin, from_file);
    return st;
}

/* Takes ownership of root: applies the overrides, validates; on error frees everything. */
static mt_status finish(mt_node *root, const char *origin, int from_file, const char *const *overrides,
                        size_t n_overrides, mt_config *cfg, mt_error *err)
{
    mt_status st = MT_OK;
    cfg->root = root;
    snprintf(cfg->origin, sizeof cfg->origin, "%s", origin);
    for (size_t i = 0; !st && i < n_overrides; i++)
        st = overrides && overrides[i] ? mt_node_override(root, overrides[i], err)
                                       : mt_fail(err, MT_ERR_INTERNAL, "override %zu is NULL", i);
    if (!st)
        st = validate(cfg, from_file, err);
    if (st)
        mt_config_free(cfg);
    return st;
}

mt_status mt_config_load(const char *path, const char *const *overrides, size_t n_overrides, mt_config *cfg,
                         mt_error *err)
{
    mt_node *root;
    if (!cfg)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_config_load: cfg is NULL");
    memset(cfg, 0, sizeof *cfg);
    mt_status st = mt_yaml_parse_file(path, &root, err);
    return st ? st : finish(root, path, 1, overrides, n_overrides, cfg, err);
}

mt_status mt_config_load_string(const char *yaml, const char *origin, const char *const *overrides, size_t n_overrides,
                                mt_config *cfg, mt_error *err)
{
    mt_node *root;
    if (!cfg)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_config_load_string: cfg is NULL");
    memset(cfg, 0, sizeof *cfg);
    if (!origin)
        origin = "<string>";
    mt_status st = mt_yaml_parse_string(yaml, origin, &root, err);
    return st ? st : finish(root, origin, 0, overrides, n_overrides, cfg, err);
}

void mt_config_free(mt_config *cfg)
{
    if (!cfg)
        return;
    mt_node_free(cfg->root);
    free(cfg->layers);
    free(cfg->gan.generator.layers);
    free(cfg->gan.discriminator.layers);
    memset(cfg, 0, sizeof *cfg);
}

void mt_config_gan_net(const mt_config *cfg, int discriminator, const mt_ints *input, mt_config *view)
{
    const mt_gan_net_config *net = discriminator ? &cfg->gan.discriminator : &cfg->gan.generator;
    *view = *cfg;
    view->input = *input;
    view->layers = net->layers;
    view->n_layers = net->n_layers;
    view->optimizer = net->optimizer;
    view->loss = NULL;
}

/* Writes text into out as a YAML double-quoted scalar; out has room for 4 * strlen(text) + 3 bytes. */
static void quote_yaml(const char *text, char *out)
{
    *out++ = '"';
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            out += sprintf(out, "\\x%02x", *c);
        else if (*c == '"' || *c == '\\')
            out += sprintf(out, "\\%c", *c);
        else
            *out++ = (char)*c;
    }
    *out++ = '"';
    *out = '\0';
}

/* Sets section.key (or key when section is NULL) to text (quoted as a string when quote) unless it is
 * already there with a non-empty value. */
static mt_status fill(mt_node *root, const char *section, const char *key, const char *text, int quote, mt_error *err)
{
    const mt_node *have = section ? mt_node_get(mt_node_get(root, section), key) : mt_node_get(root, key);
    if (have && !(have->kind == MT_NODE_SCALAR && !have->value[0]))
        return MT_OK;
    size_t cap = 64 + 4 * strlen(text);
    char *a = malloc(cap);
    if (!a)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    int n = snprintf(a, cap, "%s%s%s=", section ? section : "", section ? "." : "", key);
    if (quote)
        quote_yaml(text, a + n);
    else
        snprintf(a + n, cap - (size_t)n, "%s", text);
    mt_status st = mt_node_override(root, a, err);
    free(a);
    return st;
}

/* Writes the values that came from defaults into the tree, so the text stands on its own. */
static mt_status fill_defaults(mt_node *root, const mt_config *cfg, mt_error *err)
{
    char num[5][32];
    snprintf(num[0], sizeof num[0], "%d", cfg->training.epochs);
    snprintf(num[1], sizeof num[1], "%d", cfg->training.batch_size);
    snprintf(num[2], sizeof num[2], "%.0f", cfg->training.seed);
    snprintf(num[3], sizeof num[3], "%d", cfg->checkpoint.every_epochs);
    snprintf(num[4], sizeof num[4], "%d", cfg->checkpoint.keep);
    mt_status st = fill(root, "data", "train", cfg->data.train, 1, err);
    if (!st)
        st = fill(root, "training", "epochs", num[0], 0, err);
    if (!st)
        st = fill(root, "training", "batch_size", num[1], 0, err);
    if (!st)
        st = fill(root, "training", "seed", num[2], 0, err);
    if (!st)
        st = fill(root, NULL, "output", cfg->output, 1, err);
    if (!st)
        st = fill(root, "checkpoint", "every_epochs", num[3], 0, err);
    if (!st)
        st = fill(root, "checkpoint", "keep", num[4], 0, err);
    return st;
}

char *mt_config_to_yaml(const mt_config *cfg, mt_error *err)
{
    mt_node *copy = NULL;
    if (!cfg || !cfg->root) {
        mt_fail(err, MT_ERR_INTERNAL, "mt_config_to_yaml: no configuration loaded");
        return NULL;
    }
    char *text = mt_node_emit(cfg->root, err);
    if (!text)
        return NULL;
    mt_status st = mt_yaml_parse_string(text, cfg->origin, &copy, err);
    free(text);
    text = NULL;
    if (!st && !fill_defaults(copy, cfg, err))
        text = mt_node_emit(copy, err);
    mt_node_free(copy);
    return text;
}
