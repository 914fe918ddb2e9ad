/* The public trainer API (include/mpitrain/api.h): creation from a config (text, file or checkpoint),
 * training through mt_train_run on the config's data or on arrays written to the run directory, loading
 * the run's final checkpoint back into the trainer, saving and loading checkpoints (rank 0 reads and
 * writes, the values are broadcast), and the accessors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "config/yaml_tree.h"
#include "core/error.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/trainer.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

mt_status mt_api_load_config(const mt_trainer *t, const char *const *extra, size_t n_extra, mt_config *cfg,
                             mt_error *err)
{
    const size_t n = t->n_overrides + n_extra;
    const char **all = calloc(n + 1, sizeof *all);
    if (!all)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_overrides; i++)
        all[i] = t->overrides[i];
    for (size_t i = 0; i < n_extra; i++)
        all[t->n_overrides + i] = extra[i];
    mt_status st = t->path ? mt_config_load(t->path, all, n, cfg, err)
                           : mt_config_load_string(t->text, t->origin, all, n, cfg, err);
    free(all);
    return st;
}

/* Whether the config with the caller's overrides names data.file (when it does not, MT_API_NO_FILE is
 * set, so that a trainer for arrays needs none). A config that does not parse is left to mt_config_load. */
static int has_data_file(const mt_trainer *t)
{
    mt_node *root = NULL;
    mt_error e;
    if (t->path ? mt_yaml_parse_file(t->path, &root, &e) : mt_yaml_parse_string(t->text, t->origin, &root, &e))
        return 1;
    for (size_t i = 0; i < t->n_overrides; i++)
        if (mt_node_override(root, t->overrides[i], &e)) {
            mt_node_free(root);
            return 1;
        }
    const mt_node *data = mt_node_get(root, "data");
    int has = data && data->kind == MT_NODE_MAP && mt_node_get(data, "file");
    mt_node_free(root);
    return has;
}

static mt_status copy_overrides(mt_trainer *t, const char *const *overrides, size_t n, mt_error *err)
{
    t->overrides = calloc(n + 1, sizeof *t->overrides); /* room for data.file */
    if (!t->overrides)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!overrides || !overrides[i])
            return mt_fail(err, MT_ERR_USAGE, "override %zu is NULL", i);
        if (!(t->overrides[i] = dup_str(overrides[i])))
            return mt_fail(err, MT_ERR_NOMEM, "out of memory");
        t->n_overrides = i + 1;
    }
    if (!has_data_file(t) && !(t->overrides[t->n_overrides++] = dup_str("data.file='" MT_API_NO_FILE "'")))
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    return MT_OK;
}

/* Loads the config, builds the evaluation session and initializes the parameters. Collective; agreed. */
static mt_status build(mt_trainer *t, mt_error *err)
{
    mt_status st = mt_api_load_config(t, NULL, 0, &t->cfg, err);
    t->have_cfg = st == MT_OK;
    if (!st && mt_node_get(t->cfg.root, "gan"))
        st = mt_fail(err, MT_ERR_CONFIG,
                     "%s: gan: the C API trains models (model, loss, optimizer); train GANs "
                     "with mpitrain train",
                     t->origin);
    if (!st && !(t->yaml = mt_config_to_yaml(&t->cfg, err)))
        st = err->code ? err->code : mt_fail(err, MT_ERR_INTERNAL, "cannot serialize the config");
    if (mt_comm_agree(t->comm, err))
        return err->code;
    st = mt_session_open(&t->s, &t->cfg, MT_SESSION_EVAL, t->comm, err);
    t->have_session = 1;
    if (!st)
        st = mt_session_reserve(&t->s, MT_API_BATCH, err);
    if (!st)
        mt_model_init_params(&t->s.model, (uint64_t)t->cfg.training.seed);
    return mt_comm_agree(t->comm, err);
}

/* Everything the three constructors share: exactly one of path and text is set. */
static mt_status create(const char *path, const char *text, const char *origin, const char *const *overrides,
                        size_t n_overrides, mt_comm_f comm, mt_trainer **out, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    mt_error_clear(err);
    if (!out)
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer: out is NULL");
    *out = NULL;
    mt_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    mt_status st = mt_comm_create_from_f(comm, &t->comm, err);
    if (st) {
        free(t);
        return st;
    }
    t->rank = mt_comm_rank(t->comm);
    t->size = mt_comm_size(t->comm);
    snprintf(t->origin, sizeof t->origin, "%s", origin);
    if (path && !(t->path = dup_str(path)))
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (text && !(t->text = dup_str(text)))
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st)
        st = copy_overrides(t, overrides, n_overrides, err);
    if (!mt_comm_agree(t->comm, err))
        st = build(t, err);
    else
        st = err->code;
    if (st) {
        mt_trainer_destroy(t);
        return st;
    }
    *out = t;
    return MT_OK;
}

mt_status mt_trainer_from_yaml(const char *yaml, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                               mt_trainer **out, mt_error *err)
{
    if (!yaml) {
        if (out)
            *out = NULL;
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_from_yaml: yaml is NULL");
    }
    return create(NULL, yaml, "<yaml>", overrides, n_overrides, comm, out, err);
}

mt_status mt_trainer_from_file(const char *path, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                               mt_trainer **out, mt_error *err)
{
    if (!path) {
        if (out)
            *out = NULL;
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_from_file: path is NULL");
    }
    return create(path, NULL, path, overrides, n_overrides, comm, out, err);
}

void mt_trainer_destroy(mt_trainer *t)
{
    if (!t)
        return;
    if (t->have_session)
        mt_session_close(&t->s);
    if (t->have_cfg)
        mt_config_free(&t->cfg);
    for (size_t i = 0; t->overrides && i < t->n_overrides; i++)
        free(t->overrides[i]);
    free(t->overrides);
    free(t->path);
    free(t->text);
    free(t->yaml);
    mt_comm_destroy(t->comm);
    free(t);
}

void mt_trainer_set_progress(mt_trainer *t, mt_event_fn fn, void *user)
{
    t->fn = fn;
    t->user = user;
}

/* ---- moving a model between rank 0 and the others ---- */

/* Sends rank 0's fitted preprocessing to the other ranks. Collective. */
static mt_status bcast_prep(mt_trainer *t, mt_error *err)
{
    mt_prep *p = &t->s.prep;
    int head[3] = {(int)p->scaling, (int)p->missing, (int)p->features};
    mt_status st = mt_comm_bcast(t->comm, head, sizeof head, 0, err);
    const size_t F = (size_t)head[2];
    float *arr = st ? NULL : malloc(3 * F * sizeof *arr);
    if (!st && !arr)
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st && t->rank == 0) {
        memcpy(arr, p->shift, F * sizeof *arr);
        memcpy(arr + F, p->scale, F * sizeof *arr);
        memcpy(arr + 2 * F, p->fill, F * sizeof *arr);
    }
    if (mt_comm_agree(t->comm, err)) {
        free(arr);
        return err->code;
    }
    st = mt_comm_bcast(t->comm, arr, 3 * F * sizeof *arr, 0, err);
    mt_prep fresh;
    if (!st && t->rank != 0 &&
        !(st = mt_prep_set(&fresh, mt_scaling_name((mt_scaling)head[0]), mt_missing_name((mt_missing)head[1]), F, arr,
                           arr + F, arr + 2 * F, err))) {
        mt_prep_free(p);
        *p = fresh;
    }
    free(arr);
    return st ? st : mt_comm_agree(t->comm, err);
}

/* Rank 0 reads checkpoint path into the model and preprocessing (restored as they were when that fails),
 * then parameters, buffers and preprocessing go to every rank. Collective; agreed. */
static mt_status load_checkpoint(mt_trainer *t, const char *path, mt_error *err)
{
    mt_model *m = &t->s.model;
    mt_error_clear(err);
    if (t->rank == 0) {
        float *keep = malloc((m->n_params + m->n_buffers + 1) * sizeof *keep);
        mt_prep prep;
        mt_status st = keep ? mt_prep_init(&prep, &t->cfg.data, m->input_size, err)
                            : mt_fail(err, MT_ERR_NOMEM, "out of memory");
        if (!st) {
            memcpy(keep, m->params, m->n_params * sizeof *keep);
            memcpy(keep + m->n_params, m->buffers, m->n_buffers * sizeof *keep);
            st = mt_checkpoint_read(path, &(mt_checkpoint){.model = m, .prep = &prep}, err);
            if (st) {
                memcpy(m->params, keep, m->n_params * sizeof *keep);
                memcpy(m->buffers, keep + m->n_params, m->n_buffers * sizeof *keep);
                mt_prep_free(&prep);
            } else {
                mt_prep_free(&t->s.prep);
                t->s.prep = prep;
            }
        }
        free(keep);
    }
    if (mt_comm_agree(t->comm, err))
        return err->code;
    mt_status st = mt_comm_bcast(t->comm, m->params, m->n_params * sizeof(float), 0, err);
    if (!st)
        st = mt_comm_bcast(t->comm, m->buffers, m->n_buffers * sizeof(float), 0, err);
    return st ? st : bcast_prep(t, err);
}

mt_status mt_trainer_load(mt_trainer *t, const char *path, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    if (!path)
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_load: path is NULL");
    return load_checkpoint(t, path, err);
}

mt_status mt_trainer_save(mt_trainer *t, const char *path, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    if (!path)
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_save: path is NULL");
    mt_error_clear(err);
    if (t->rank == 0)
        mt_checkpoint_write(path, &(mt_checkpoint){.model = &t->s.model, .prep = &t->s.prep, .config_yaml = t->yaml},
                            err);
    return mt_comm_agree(t->comm, err);
}

mt_status mt_trainer_from_checkpoint(const char *path, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                                     mt_trainer **out, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    if (out)
        *out = NULL;
    if (!path || !out)
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_from_checkpoint: %s is NULL", path ? "out" : "path");
    /* Rank 0 reads the config text; a communicator of our own carries it to the others. */
    mt_comm *c = NULL;
    mt_status st = mt_comm_create_from_f(comm, &c, err);
    if (st)
        return st;
    char *yaml = NULL;
    uint64_t len = 0;
    mt_error_clear(err);
    if (mt_comm_rank(c) == 0 && !mt_checkpoint_read_config(path, &yaml, err))
        len = strlen(yaml) + 1;
    st = mt_comm_agree(c, err);
    if (!st)
        st = mt_comm_bcast(c, &len, sizeof len, 0, err);
    if (!st && mt_comm_rank(c) != 0 && !(yaml = malloc(len)))
        mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st)
        st = mt_comm_agree(c, err);
    if (!st)
        st = mt_comm_bcast(c, yaml, len, 0, err);
    mt_comm_destroy(c);
    if (!st)
        st = create(NULL, yaml, path, overrides, n_overrides, comm, out, err);
    free(yaml);
    if (!st && (st = load_checkpoint(*out, path, err))) {
        mt_trainer_destroy(*out);
        *out = NULL;
    }
    return st;
}

/* ---- training ---- */

/* Turns the trainer's progress events into the API's (rank 0). */
static void on_progress(const mt_progress *p, void *user)
{
    mt_trainer *t = user;
    if (!t->fn || p->kind == MT_PROGRESS_STEP)
        return;
    mt_event ev = {.kind = p->kind == MT_PROGRESS_WARNING ? MT_EVENT_WARNING : MT_EVENT_INFO,
                   .message = p->message,
                   .loss = NAN,
                   .accuracy = NAN,
                   .val_loss = NAN,
                   .val_accuracy = NAN,
                   .seconds = NAN};
    if (p->kind == MT_PROGRESS_EPOCH) {
        const mt_metrics_row *r = &((const mt_row *)p->row)->metrics;
        ev = (mt_event){.kind = MT_EVENT_EPOCH,
                        .epoch = p->epoch,
                        .epochs = p->epochs,
                        .loss = r->loss,
                        .accuracy = r->accuracy,
                        .val_loss = r->val_loss,
                        .val_accuracy = r->val_accuracy,
                        .seconds = r->seconds};
    }
    t->fn(&ev, t->user);
}

/* Trains cfg (the trainer's config, or its array variant), then loads the run's final checkpoint into the
 * trainer. On success, or when interrupted, the trainer holds the model that checkpoint holds. */
static mt_status run(mt_trainer *t, const mt_config *cfg, unsigned flags, mt_train_report *report, mt_error *err)
{
    mt_train_options opts = {.resume = (flags & MT_TRAIN_RESUME) != 0, .progress = on_progress, .user = t};
    mt_train_result res;
    mt_status st = mt_train_run(cfg, t->comm, &opts, &res, err);
    if (st && st != MT_INTERRUPTED) {
        mt_train_result_free(&res);
        return st;
    }
    mt_error stopped = *err;
    char path[MT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/checkpoint.h5", cfg->output);
    mt_status loaded = load_checkpoint(t, path, err);
    if (!loaded && report)
        *report = (mt_train_report){.epochs_run = res.epochs_run,
                                    .loss = res.last.metrics.loss,
                                    .accuracy = res.last.metrics.accuracy,
                                    .val_loss = res.last.metrics.val_loss,
                                    .val_accuracy = res.last.metrics.val_accuracy,
                                    .test_loss = res.test_loss,
                                    .test_accuracy = res.test_accuracy,
                                    .train_seconds = res.train_seconds,
                                    .samples_per_sec = res.samples_per_sec,
                                    .ranks = res.world_size};
    mt_train_result_free(&res);
    if (loaded)
        return mt_error_prefix(err, "after training, reading the run's final checkpoint");
    *err = stopped;
    return st;
}

/* The config a checkpoint of the trainer stores from now on: that of the latest run (kept as it was if
 * it cannot be serialized, which only a lack of memory causes). */
static void set_yaml(mt_trainer *t, const mt_config *cfg)
{
    mt_error e;
    char *yaml = mt_config_to_yaml(cfg, &e);
    if (yaml) {
        free(t->yaml);
        t->yaml = yaml;
    }
}

/* A report with nothing measured, for failures. */
static void clear_report(mt_train_report *r)
{
    if (r)
        *r = (mt_train_report){.loss = NAN,
                               .accuracy = NAN,
                               .val_loss = NAN,
                               .val_accuracy = NAN,
                               .test_loss = NAN,
                               .test_accuracy = NAN,
                               .train_seconds = NAN,
                               .samples_per_sec = NAN};
}

mt_status mt_trainer_train(mt_trainer *t, unsigned flags, mt_train_report *report, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    clear_report(report);
    mt_error_clear(err);
    if (!strcmp(t->cfg.data.file, MT_API_NO_FILE))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: data.file: not set: name the HDF5 dataset in the config, or train "
                       "on arrays (mt_trainer_train_arrays)",
                       t->origin);
    mt_status st = run(t, &t->cfg, flags, report, err);
    if (!st || st == MT_INTERRUPTED)
        set_yaml(t, &t->cfg);
    return st;
}

/* "key='value'" with value quoted for YAML (the override parser reads values as YAML). */
static char *quoted_override(const char *key, const char *value)
{
    size_t n = strlen(key) + 2 * strlen(value) + 4;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    p += sprintf(p, "%s='", key);
    for (const char *v = value; *v; v++) {
        if (*v == '\'')
            *p++ = '\'';
        *p++ = *v;
    }
    *p++ = '\'';
    *p = '\0';
    return s;
}

mt_status mt_trainer_train_arrays(mt_trainer *t, const mt_arrays *train, const mt_arrays *validation, unsigned flags,
                                  mt_train_report *report, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    clear_report(report);
    mt_error_clear(err);
    if (!train)
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_train_arrays: train is NULL");
    char path[MT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/arrays.h5", t->cfg.output);
    if (t->rank == 0)
        mt_run_dir_prepare(t->cfg.output, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    mt_status st = mt_api_write_arrays(t, path, train, validation, err);
    if (st)
        return st;
    char *file = quoted_override("data.file", path);
    const char *extra[] = {
        file,         "data.train=train", validation ? "data.validation=validation" : "data.validation=",
        "data.test=", "data.folds=0",     validation ? "data.validation_fraction=0" : NULL};
    mt_config cfg;
    st = file ? mt_api_load_config(t, extra, validation ? 6 : 5, &cfg, err)
              : mt_fail(err, MT_ERR_NOMEM, "out of memory");
    free(file);
    if (mt_comm_agree(t->comm, err)) {
        if (!st)
            mt_config_free(&cfg);
        return err->code;
    }
    st = run(t, &cfg, flags, report, err);
    if (!st || st == MT_INTERRUPTED)
        set_yaml(t, &cfg);
    mt_config_free(&cfg);
    return st;
}

void mt_request_stop(int signo)
{
    mt_train_request_stop(signo);
}

/* ---- accessors ---- */

size_t mt_trainer_input_size(const mt_trainer *t)
{
    return t->s.model.input_size;
}
size_t mt_trainer_output_size(const mt_trainer *t)
{
    return t->s.model.output_size;
}
size_t mt_trainer_param_count(const mt_trainer *t)
{
    return t->s.model.n_params;
}
const char *mt_trainer_output_dir(const mt_trainer *t)
{
    return t->cfg.output;
}
const char *mt_trainer_config_yaml(const mt_trainer *t)
{
    return t->yaml ? t->yaml : "";
}
int mt_trainer_rank(const mt_trainer *t)
{
    return t->rank;
}
int mt_trainer_size(const mt_trainer *t)
{
    return t->size;
}
