/* Run setup: model, loss, optimizer, split views and preprocessing from a config, with every cross-check
 * (sample shape, labels, weights, missing values) done before training; batch reads; sharded evaluation. */
#include "train/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fault.h"
#include "optim/optimizer.h"
#include "train/sampler.h"
#include "train/split.h"

mt_status mt_session_check_split(mt_session *s, mt_dataset *ds, const char *file, const char *split, mt_error *err)
{
    const mt_dataset_info *in = mt_dataset_get_info(ds);
    const mt_ints *want = &s->model.input_shape;
    int same = in->sample_rank == want->n;
    for (int i = 0; same && i < want->n; i++)
        same = in->sample_shape[i] == (uint64_t)want->v[i];
    if (!same) {
        char have[96] = "", model[96] = "";
        for (int i = 0; i < in->sample_rank; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", i ? ", " : "",
                     (unsigned long long)in->sample_shape[i]);
        for (int i = 0; i < want->n; i++)
            snprintf(model + strlen(model), sizeof model - strlen(model), "%s%d", i ? ", " : "", want->v[i]);
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s/x: sample shape [%s] does not match model.input [%s]", file, split,
                       have, model);
    }
    size_t k = s->model.output_size;
    if (in->label_kind == MT_LABELS_CLASS) {
        int32_t lo, hi;
        mt_loss_label_range(&s->loss, &lo, &hi);
        if (lo < 0)
            return MT_OK; /* margin labels -1/1 (hinge): any sign is valid */
        return mt_dataset_check_labels(ds, (int64_t)hi + 1, err);
    }
    if (in->target_size != k)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s/y: %llu targets per sample, but the model has %zu outputs", file,
                       split, (unsigned long long)in->target_size, k);
    return mt_dataset_check_labels(ds, 0, err); /* float targets: every value finite */
}

static mt_status parse_metrics(mt_session *s, const mt_node *node, mt_error *err)
{
    char where[64], list[256];
    if (!node || (node->kind == MT_NODE_SCALAR && node->value[0] == '\0'))
        return MT_OK;
    size_t n = node->kind == MT_NODE_SEQ ? node->n_items : 1;
    for (size_t i = 0; i < n; i++) {
        const mt_node *item = node->kind == MT_NODE_SEQ ? node->items[i] : node;
        int m = item->kind == MT_NODE_SCALAR ? mt_choice_find(mt_metric_names, item->value) : -1;
        if (m < 0)
            return mt_fail(err, MT_ERR_CONFIG, "%s: metrics: unknown metric '%s'; valid: %s",
                           mt_node_where(item, where, sizeof where),
                           item->kind == MT_NODE_SCALAR ? item->value : "(not a name)",
                           mt_choice_list(mt_metric_names, list, sizeof list));
        s->metrics[m] = 1;
    }
    return MT_OK;
}

/* Opens a split as a view of all its rows, with its weights. */
static mt_status open_view(mt_session *s, mt_split_view *v, const char *file, const char *split, mt_error *err)
{
    snprintf(v->file, sizeof v->file, "%s", file);
    snprintf(v->name, sizeof v->name, "%s", split);
    mt_status st = mt_dataset_open(file, split, &v->ds, err);
    if (st)
        return st;
    v->owns_ds = 1;
    st = mt_session_check_split(s, v->ds, file, split, err);
    uint64_t n = mt_dataset_get_info(v->ds)->rows;
    if (!st)
        st = mt_dataset_read_weights(file, split, n, &v->weights, err);
    if (!st && !(v->rows = malloc((n ? n : 1) * sizeof *v->rows)))
        st = mt_fail(err, MT_ERR_NOMEM, "%s: /%s: cannot allocate the row list", file, split);
    for (uint64_t i = 0; !st && i < n; i++)
        v->rows[i] = i;
    v->n = n;
    return st;
}

/* The training split, and the validation rows a fraction or fold takes from it. */
static mt_status open_train(mt_session *s, mt_error *err)
{
    const mt_data_config *d = &s->cfg->data;
    mt_status st = open_view(s, &s->train, d->file, d->train, err);
    if (st)
        return st;
    double *order = NULL;
    if (!strcmp(d->split, "ordered"))
        st = mt_dataset_read_column(d->file, d->train, "order", s->train.n, &order, err);
    mt_split_rows sr = {0};
    if (!st)
        st = mt_split_from_config(d, (uint64_t)s->cfg->training.seed, s->train.n, order, &sr, err);
    free(order);
    if (st)
        return st;
    free(s->train.rows);
    s->train.rows = sr.train, s->train.n = sr.n_train;
    if (sr.n_val > 0) {
        mt_split_view *v = &s->validation;
        *v = (mt_split_view){
            .ds = s->train.ds, .owns_ds = 0, .rows = sr.val, .n = sr.n_val, .weights = s->train.weights};
        snprintf(v->file, sizeof v->file, "%s", d->file);
        snprintf(v->name, sizeof v->name, "%.48s (held out)", d->train);
    }
    return MT_OK;
}

/* Local part of the setup: everything that needs no other rank. */
static mt_status open_local(mt_session *s, const mt_config *cfg, int nranks, mt_error *err)
{
    const mt_data_config *d = &cfg->data;
    mt_status st = mt_optimizer_create(cfg->optimizer, s->model.n_params, &s->opt, err);
    if (!st)
        st = mt_data_config_check(d, mt_node_get(cfg->root, "data"), err);
    if (!st)
        st = mt_prep_init(&s->prep, d, s->model.input_size, err);
    if (!st)
        st = mt_augment_init(&s->augment, d->augment, &s->model.input_shape, err);
    if (!st)
        st = open_train(s, err);
    if (!st && d->validation[0])
        st = open_view(s, &s->validation, d->file, d->validation, err);
    if (!st && d->test[0])
        st = open_view(s, &s->test, d->file, d->test, err);
    if (!st && (uint64_t)cfg->training.batch_size < (uint64_t)nranks)
        st = mt_fail(err, MT_ERR_CONFIG,
                     "%s: training.batch_size: the global batch %d is smaller than the %d "
                     "ranks; each rank needs at least one sample",
                     cfg->origin, cfg->training.batch_size, nranks);
    return st;
}

/* Collective part: preprocessing fitted on the training rows, missing-value policy on the others. */
static mt_status fit(mt_session *s, mt_comm *comm, int nranks, mt_error *err)
{
    const mt_config *cfg = s->cfg;
    mt_prep_free(&s->prep); /* open_local's mt_prep_init checked the names; the fit starts afresh */
    mt_status st = mt_prep_fit(&s->prep, &cfg->data, s->train.ds, s->train.rows, &s->train.n, comm, err);
    if (mt_comm_agree(comm, err))
        return err->code;
    mt_split_view *others[2] = {&s->validation, &s->test};
    for (int i = 0; i < 2 && !st; i++) {
        if (!others[i]->ds)
            continue;
        st = mt_prep_filter_rows(&s->prep, others[i]->ds, others[i]->file, others[i]->name, others[i]->rows,
                                 &others[i]->n, comm, err);
        if (mt_comm_agree(comm, err))
            return err->code;
    }
    if (s->train.n < (uint64_t)nranks)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu training rows cannot be shared by %d ranks", cfg->data.file,
                       cfg->data.train, (unsigned long long)s->train.n, nranks);
    uint64_t b = (uint64_t)cfg->training.batch_size < s->train.n ? (uint64_t)cfg->training.batch_size : s->train.n;
    return mt_session_reserve(s, (int)mt_sampler_max_slice(b, nranks), err);
}

mt_status mt_session_open(mt_session *s, const mt_config *cfg, mt_session_mode mode, mt_comm *comm, mt_error *err)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    mt_error_clear(err);
    if (cfg->gan.enabled) { /* two networks, no model: the GAN kind's (gan_kind.c) */
        mt_fail(err, MT_ERR_CONFIG,
                "%s: a GAN config (gan:) is trained by mpitrain train; it has no single model "
                "to evaluate here",
                cfg->origin);
        return mt_comm_agree(comm, err);
    }
    mt_status st = mt_model_build(cfg, mt_optimizer_slots(cfg->optimizer), &s->model, err);
    if (!st)
        st = mt_loss_setup(&s->loss, cfg->loss, &s->model, err);
    if (!st)
        st = parse_metrics(s, cfg->metrics, err);
    if (mode == MT_SESSION_EVAL) {
        if (!st)
            st = mt_prep_init(&s->prep, &cfg->data, s->model.input_size, err);
        return mt_comm_agree(comm, err);
    }
    int nranks = mt_comm_size(comm);
    if (!st)
        st = open_local(s, cfg, nranks, err);
    if (!st)
        s->classes = mt_dataset_get_info(s->train.ds)->label_kind == MT_LABELS_CLASS;
    if (mt_comm_agree(comm, err))
        return err->code;
    st = fit(s, comm, nranks, err);
    return mt_comm_agree(comm, err);
}

mt_status mt_session_add_split(mt_session *s, const char *file, const char *split, mt_comm *comm, mt_error *err)
{
    mt_error_clear(err);
    mt_status st = open_view(s, &s->test, file, split, err);
    if (!st)
        s->classes = mt_dataset_get_info(s->test.ds)->label_kind == MT_LABELS_CLASS;
    if (mt_comm_agree(comm, err))
        return err->code;
    st = mt_prep_filter_rows(&s->prep, s->test.ds, file, split, s->test.rows, &s->test.n, comm, err);
    if (!st)
        st = mt_session_reserve(s, 256, err);
    return mt_comm_agree(comm, err);
}

mt_status mt_session_reserve(mt_session *s, int capacity, mt_error *err)
{
    if (capacity <= s->capacity)
        return MT_OK;
    size_t k = s->model.output_size, cap = (size_t)capacity;
    void *p[5] = {realloc(s->rows, cap * sizeof *s->rows), NULL, NULL, NULL, NULL};
    if (p[0])
        s->rows = p[0];
    if ((p[1] = realloc(s->y_class, cap * sizeof *s->y_class)))
        s->y_class = p[1];
    if ((p[2] = realloc(s->y_target, cap * k * sizeof *s->y_target)))
        s->y_target = p[2];
    if ((p[3] = realloc(s->dout, cap * k * sizeof *s->dout)))
        s->dout = p[3];
    if ((p[4] = realloc(s->weights, cap * sizeof *s->weights)))
        s->weights = p[4];
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4])
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate batch buffers for %d rows", capacity);
    s->capacity = capacity;
    mt_status st = mt_model_reserve(&s->model, capacity, err);
    mt_split_view *views[3] = {&s->train, &s->validation, &s->test};
    for (int i = 0; i < 3 && !st; i++)
        if (views[i]->ds && views[i]->owns_ds)
            st = mt_dataset_reserve(views[i]->ds, cap, err);
    return st;
}

mt_status mt_session_read(mt_session *s, const mt_split_view *v, const uint64_t *rows, int n, mt_error *err)
{
    mt_status st = mt_dataset_read_rows(v->ds, rows, (size_t)n, s->model.acts[0], s->classes ? s->y_class : NULL,
                                        s->classes ? NULL : s->y_target, err);
    if (st)
        return st;
    mt_prep_apply(&s->prep, s->model.acts[0], (size_t)n);
    for (int i = 0; v->weights && i < n; i++)
        s->weights[i] = v->weights[rows[i]];
    return MT_OK;
}

void mt_session_values(const mt_session *s, const mt_eval_sums *sums, mt_eval_values *out)
{
    double n = sums->m[MT_METRIC_SUM_SAMPLES];
    out->loss = n > 0 ? mt_loss_report(&s->loss, sums->loss, n) + sums->penalty / n : NAN;
    out->accuracy = s->classes || mt_loss_is_classification(&s->loss) ? mt_metric_value(MT_METRIC_ACCURACY, sums->m)
                                                                      : NAN;
    out->binary_accuracy = s->metrics[MT_METRIC_BINARY_ACCURACY] ? mt_metric_value(MT_METRIC_BINARY_ACCURACY, sums->m)
                                                                 : NAN;
    out->mae = s->metrics[MT_METRIC_MAE] ? mt_metric_value(MT_METRIC_MAE, sums->m) : NAN;
    out->rmse = s->metrics[MT_METRIC_RMSE] ? mt_metric_value(MT_METRIC_RMSE, sums->m) : NAN;
}

mt_status mt_session_evaluate(mt_session *s, const mt_split_view *v, mt_comm *comm, mt_eval_values *out, mt_error *err)
{
    uint64_t first, count;
    mt_sampler_slice(v->n, mt_comm_size(comm), mt_comm_rank(comm), &first, &count);
    mt_eval_sums sums;
    memset(&sums, 0, sizeof sums);
    mt_status st = MT_OK;
    const uint64_t invalid = mt_model_invalid_inputs(&s->model);
    mt_error_clear(err);
    if (mt_fault_check(MT_FAULT_EVAL) == MT_FAULT_FAIL)
        st = mt_fail(err, MT_ERR_IO, "%s: /%s/x: reading failed during evaluation (injected by MPITRAIN_FAULT)",
                     v->file, v->name);
    for (uint64_t done = 0; done < count && !st;) {
        int n = (int)(count - done < (uint64_t)s->capacity ? count - done : (uint64_t)s->capacity);
        const uint64_t *rows = v->rows + first + done;
        st = mt_session_read(s, v, rows, n, err);
        if (st)
            break;
        mt_pass pass = {.training = 0, .first = first + done, .global_n = v->n};
        const float *out_;
        if ((st = mt_model_forward(&s->model, n, &pass, &out_, err)))
            break;
        const int32_t *yc = s->classes ? s->y_class : NULL;
        const float *yt = s->classes ? NULL : s->y_target;
        sums.loss += mt_loss_compute(&s->loss, out_, mt_model_logits(&s->model), yc, yt, v->weights ? s->weights : NULL,
                                     n, NULL, 0.0f, NULL);
        mt_metrics_accumulate(&s->loss, out_, yc, yt, n, sums.m);
        done += (uint64_t)n;
    }
    if (!st && mt_model_invalid_inputs(&s->model) != invalid)
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s: /%s/x: %llu token id(s) are not integers in [0, input_dim) of the "
                     "embedding",
                     v->file, v->name, (unsigned long long)(mt_model_invalid_inputs(&s->model) - invalid));
    if (mt_comm_agree(comm, err))
        return err->code;
    st = mt_comm_allreduce_sum_f64(comm, (double *)&sums, sizeof sums / sizeof(double), err);
    if (!st)
        mt_session_values(s, &sums, out);
    return st;
}

static void close_view(mt_split_view *v)
{
    if (v->ds && v->owns_ds) {
        mt_dataset_close(v->ds);
        free(v->weights);
    }
    free(v->rows);
    memset(v, 0, sizeof *v);
}

void mt_session_close(mt_session *s)
{
    mt_model_free(&s->model);
    mt_optimizer_free(&s->opt);
    mt_prep_free(&s->prep);
    mt_augment_free(&s->augment);
    close_view(&s->validation);
    close_view(&s->test);
    close_view(&s->train);
    free(s->rows), free(s->y_class), free(s->y_target), free(s->dout), free(s->weights);
    memset(s, 0, sizeof *s);
}
