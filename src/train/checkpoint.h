/* Checkpoints in HDF5 (docs/formats.md): /params (one dataset per tensor, PyTorch shapes, grouped per
 * layer), /optimizer (state per slot, same layout, step count), /state (epoch, step, world size, seed),
 * /config (YAML text), /metrics (per-epoch history). A GAN's checkpoint holds /generator/{params,optimizer}
 * and /discriminator/{params,optimizer} instead of /params and /optimizer. Written to a temporary name,
 * flushed, fsynced and renamed, so a reader never sees a partial file under the final name.
 * Self-describing: root attributes format, format_version, mpitrain_version, created (ISO 8601 UTC) and
 * complete; each params group attributes input_shape and layers (JSON: every layer's type, options after
 * defaults, input and output shape); each layer group type, index, options, input_shape, output_shape and
 * torch (the torch module with the same state_dict). Readers refuse another format or a newer
 * format_version and accept files without them (written before they existed). */
#ifndef MT_TRAIN_CHECKPOINT_H
#define MT_TRAIN_CHECKPOINT_H

#include <stdint.h>
#include "nn/model.h"
#include "optim/optimizer.h"
#include "train/history.h"
#include "train/prep.h"

#define MT_CHECKPOINT_FORMAT_VERSION 1

typedef struct mt_train_state {
    int64_t epoch;      /* epochs completed */
    int64_t step;       /* optimizer steps taken */
    int64_t world_size; /* ranks of the run that wrote it */
    int64_t seed;
    int64_t global_batch;
    double es_best;        /* early stopping: best monitored value (NaN: none yet) */
    int64_t es_best_epoch; /* early stopping: epoch of the best value (0: none) */
    int64_t es_wait;       /* early stopping: epochs since the best */
    int64_t epoch_step;    /* optimizer steps done in epoch `epoch` (0 = at an epoch boundary) */
} mt_train_state;

/* One network of a checkpoint that holds several (a GAN): its parameters and buffers under
 * /<name>/params, its optimizer state under /<name>/optimizer, in the layout of /params and /optimizer. */
typedef struct mt_checkpoint_net {
    const char *name; /* group name: "generator", "discriminator" */
    mt_model *model;
    mt_optimizer *opt; /* may be NULL: not written / not read */
} mt_checkpoint_net;

/* What a checkpoint holds. Members other than model may be NULL: not written / not read. */
typedef struct mt_checkpoint {
    mt_model *model;
    mt_optimizer *opt;
    mt_train_state *state;
    mt_history *history;     /* /metrics: one dataset per column of its names (read: they replace its rows) */
    mt_prep *prep;           /* /preprocessing: fitted feature scaling and missing-value fill */
    const char *config_yaml; /* written only */
} mt_checkpoint;

/* A checkpoint of several networks (a GAN): nets[] each in its own group (the mt_checkpoint's model and
 * opt are not used, and may be NULL). */
typedef struct mt_checkpoint_multi {
    const mt_checkpoint_net *nets;
    int n_nets;
} mt_checkpoint_multi;

/* Writes a checkpoint atomically to path. */
mt_status mt_checkpoint_write(const char *path, const mt_checkpoint *c, mt_error *err);
/* The same with several networks (x NULL or x->n_nets 0: mt_checkpoint_write). */
mt_status mt_checkpoint_write_multi(const char *path, const mt_checkpoint *c, const mt_checkpoint_multi *x,
                                    mt_error *err);

/* Reads the YAML text stored in a checkpoint. *yaml is malloc'd. */
mt_status mt_checkpoint_read_config(const char *path, char **yaml, mt_error *err);

/* Loads parameters into c->model (shapes must match the model built from the config: the first
 * mismatching tensor is named), and the other non-NULL members (the optimizer must be the same). */
mt_status mt_checkpoint_read(const char *path, const mt_checkpoint *c, mt_error *err);
/* The same for a checkpoint written by mt_checkpoint_write_multi (x NULL: mt_checkpoint_read). */
mt_status mt_checkpoint_read_multi(const char *path, const mt_checkpoint *c, const mt_checkpoint_multi *x,
                                   mt_error *err);

/* Whether path is an intact, complete mpitrain checkpoint: the HDF5 signature and size, the completeness
 * marker, and every checksummed tensor read back with its Fletcher32 sum matching. MT_ERR_INPUT naming
 * the file and the damaged dataset otherwise. Says nothing about whether it fits a given model. */
mt_status mt_checkpoint_verify(const char *path, mt_error *err);
/* mt_checkpoint_verify as a yes/no. */
int mt_checkpoint_is_valid(const char *path);

#endif
