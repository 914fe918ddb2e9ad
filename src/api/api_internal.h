/* The trainer object behind the public C API (include/mpitrain/api.h), shared by the files of src/api:
 * the config it was made from (kept so that array runs can reload it with the data keys replaced), the
 * communicator, and an evaluation session holding the current model and fitted preprocessing. */
#ifndef MT_API_INTERNAL_H
#define MT_API_INTERNAL_H

#include <mpitrain/api.h>

#include "config/config.h"
#include "comm/comm.h"
#include "train/session.h"

/* data.file of a trainer whose config named none (a trainer for arrays): the config needs a non-empty
 * value, and this one names no file by accident. */
#define MT_API_NO_FILE "(none: the trainer was created without data.file)"

/* Rows per forward pass of predict and evaluate (the model's buffers are sized for this many). */
#define MT_API_BATCH 256

struct mt_trainer {
    mt_comm *comm;
    int rank, size;
    char *path;               /* config file (mt_trainer_from_file), or NULL */
    char *text;               /* config text (from_yaml, from_checkpoint), or NULL */
    char origin[MT_PATH_MAX]; /* names the config in messages */
    char **overrides;         /* copies of the caller's overrides (plus data.file=MT_API_NO_FILE when it had none) */
    size_t n_overrides;
    mt_config cfg; /* the config as given; t->s points into it, so it lives as long as t */
    char *yaml;    /* effective config of the latest run (or of cfg): what save stores */
    mt_session s;  /* MT_SESSION_EVAL: model, loss, preprocessing */
    int have_cfg, have_session;
    mt_event_fn fn;
    void *user;
};

/* Loads the trainer's config again with its overrides followed by extra[0 .. n_extra). Local. */
mt_status mt_api_load_config(const mt_trainer *t, const char *const *extra, size_t n_extra, mt_config *cfg,
                             mt_error *err);

/* Checks one rank's arrays (local): x present for n > 0, at most one label kind (exactly one when
 * labels are needed), class labels in the loss' range, finite targets, finite non-negative weights.
 * what names them in messages ("train arrays"). *kind: 0 no rows, 1 class labels, 2 float targets,
 * 3 no labels. */
mt_status mt_api_check_arrays(const mt_trainer *t, const mt_arrays *a, const char *what, int need_labels, int *kind,
                              mt_error *err);

/* Collective. Checks the ranks' train and validation (NULL on every rank, or on none) arrays, agrees on
 * their label kinds and weights, and writes them to dataset file path (splits "train" and "validation"):
 * rank 0 creates it, then every rank writes its rows in turn, in rank order. */
mt_status mt_api_write_arrays(mt_trainer *t, const char *path, const mt_arrays *train, const mt_arrays *val,
                              mt_error *err);

#endif
