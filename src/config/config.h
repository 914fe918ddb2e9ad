/* The run configuration: the YAML file plus --set overrides, checked against the tables of the
 * top-level sections (model, loss, optimizer, data, training, output, checkpoint; or gan instead of
 * model, loss and optimizer). Layers, the loss and
 * the optimizer keep their nodes here and are checked by their own modules' tables. */
#ifndef MT_CONFIG_CONFIG_H
#define MT_CONFIG_CONFIG_H

#include <stdint.h>
#include "config/options.h"

typedef struct mt_layer_spec {
    char type[MT_NAME_MAX]; /* the single key of the list item, e.g. "dense" */
    const mt_node *options; /* its value: a map, or NULL when written bare ("- flatten") */
    const mt_node *node;    /* the list item itself (for messages) */
    char section[96];       /* "model.layers[3].dense" for messages */
} mt_layer_spec;

typedef struct mt_data_config {
    char file[MT_PATH_MAX];       /* HDF5 dataset file (required) */
    char train[MT_NAME_MAX];      /* split names inside it */
    char validation[MT_NAME_MAX]; /* "" = none */
    char test[MT_NAME_MAX];       /* "" = none */
    char scaling[MT_NAME_MAX];    /* none | minmax | standardize (fitted on the training rows) */
    char missing[MT_NAME_MAX];    /* error | drop | mean | median: what NaN features do */
    double validation_fraction;   /* 0 = none; else that fraction of the training split validates */
    char split[MT_NAME_MAX];      /* random | ordered: how validation_fraction is taken */
    int folds;                    /* k of k-fold cross-validation; 0 = none (mpitrain train --folds k sets it) */
    int fold;                     /* which fold (0..folds-1) validates */
    const mt_node *augment;       /* augmentation options, or NULL/empty */
} mt_data_config;

typedef struct mt_training_config {
    int epochs;
    int batch_size;                   /* GLOBAL batch */
    double seed;                      /* integer in [0, 2^53] */
    int accumulate_steps;             /* micro-batches per optimizer step */
    int steps_per_epoch;              /* 0 = every batch of the split */
    double bucket_mb;                 /* gradient bucket size (MiB); 0 = one fused allreduce */
    char gradient_dtype[MT_NAME_MAX]; /* float32 | bfloat16 */
    char node_sums[MT_NAME_MAX];      /* flat | two_level: how gradients are summed across nodes */
    char on_nonfinite[MT_NAME_MAX];   /* stop | skip_step */
    int balance;                      /* slices in proportion to measured rank speeds */
    int shard_optimizer;              /* ranks of a node share one copy; each sums and updates a slice */
    int shard_across_nodes;           /* the optimizer state of a slice split between the nodes too */
    int deterministic;                /* exact fixed-point gradient sums over fixed-size chunks */
    int chunk_size;                   /* samples per chunk in deterministic mode (0 = ceil(batch_size / 8)) */
    double stall_timeout;             /* watchdog: seconds in one collective before the job stops; 0 = off */
} mt_training_config;

typedef struct mt_checkpoint_config {
    int every_epochs;     /* 0 = only at the end */
    int every_steps;      /* mid-epoch checkpoints every N optimizer steps; 0 = off */
    double every_seconds; /* mid-epoch checkpoints after S seconds; 0 = off */
    int keep;
} mt_checkpoint_config;

/* One network of a GAN: gan.generator or gan.discriminator. */
typedef struct mt_gan_net_config {
    mt_layer_spec *layers; /* (owned array; nodes point into root) */
    size_t n_layers;
    const mt_node *optimizer; /* scalar name, or map {name: ..., options} */
    const mt_node *node;      /* the section itself, for messages */
} mt_gan_net_config;

/* The gan: section. When enabled, the config has no model, loss or optimizer: the generator maps
 * `noise` standard normal values to one sample, the discriminator maps a sample to one logit. */
typedef struct mt_gan_config {
    int enabled;
    int noise; /* size of the generator's input */
    mt_gan_net_config generator, discriminator;
    char classifier[MT_PATH_MAX]; /* classifier checkpoint for the score; "" = no score */
    int score_samples;            /* generated samples the score classifies */
    const mt_node *node;
} mt_gan_config;

typedef struct mt_config {
    char origin[MT_PATH_MAX]; /* config file path, or the name given to mt_config_load_string */
    mt_node *root;            /* the whole tree after overrides (owned) */
    mt_ints input;            /* model.input: shape of one sample */
    mt_layer_spec *layers;    /* model.layers (owned array; nodes point into root) */
    size_t n_layers;
    const mt_node *loss;      /* scalar name, or map {name: ..., options} */
    const mt_node *optimizer; /* scalar name, or map {name: ..., options} */
    mt_data_config data;
    mt_training_config training;
    char output[MT_PATH_MAX]; /* run directory; default "runs/<config file stem>" */
    mt_checkpoint_config checkpoint;
    const mt_node *metrics;        /* list of metric names, or NULL/empty */
    const mt_node *lr_schedule;    /* schedule node, or NULL/empty */
    const mt_node *early_stopping; /* early-stopping options, or NULL/empty */
    mt_gan_config gan;             /* gan.enabled: a GAN config (model, loss, optimizer absent) */
} mt_config;

/* Loads path, applies overrides ("key=value" strings, in order), validates. On error nothing is
 * left allocated in cfg. File missing: MT_ERR_INPUT; everything else MT_ERR_CONFIG with origin:line. */
mt_status mt_config_load(const char *path, const char *const *overrides, size_t n_overrides, mt_config *cfg,
                         mt_error *err);

/* The same from YAML text (checkpoints store the text they ran with); origin names it in messages. */
mt_status mt_config_load_string(const char *yaml, const char *origin, const char *const *overrides, size_t n_overrides,
                                mt_config *cfg, mt_error *err);

/* The effective configuration (after overrides) as YAML text. Caller frees. */
char *mt_config_to_yaml(const mt_config *cfg, mt_error *err);

void mt_config_free(mt_config *cfg);

/* A GAN config seen as the config of one of its networks (discriminator 0: the generator): a shallow
 * copy of cfg whose input, layers and optimizer are that network's (the generator's input is [noise], the
 * discriminator's is `input`, the data's sample shape) and whose loss is NULL. Borrows from cfg: not to
 * be freed, valid while cfg is. */
void mt_config_gan_net(const mt_config *cfg, int discriminator, const mt_ints *input, mt_config *view);

/* Tables of the top-level sections, for the reference documentation. */
extern const mt_option mt_data_options[];
extern const mt_option mt_training_options[];
extern const mt_option mt_checkpoint_options[];
extern const mt_option mt_gan_options[];
/* The top-level keys of a config (model, loss, optimizer, ...) and of a GAN config (gan instead of model,
 * loss and optimizer), the keys of model and of gan.generator / gan.discriminator. */
extern const mt_option mt_config_top_options[];
extern const mt_option mt_config_gan_top_options[];
extern const mt_option mt_config_model_options[];
extern const mt_option mt_config_gan_net_options[];

#endif
