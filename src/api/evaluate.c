/* Evaluation and prediction for the public API: the trainer's model run on arrays in memory (forward
 * passes of at most MT_API_BATCH rows through the session's buffers, the fitted preprocessing applied to
 * the copy, loss and metric sums combined over the ranks as mt_session_evaluate does for a split), and on a
 * split of an HDF5 file through a session of its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/error.h"

/* Copies rows [from, ...) of a into the model input and label buffers until the batch is full or the rows
 * run out, applying data.missing to NaN features (error: refused; drop: the row is skipped) and refusing
 * infinities. Returns the rows placed in *placed and advances *from. */
static mt_status fill_batch(mt_session *s, const mt_arrays *a, uint64_t *from, int *placed, mt_error *err)
{
    const size_t F = s->model.input_size, k = s->model.output_size;
    float *x = s->model.acts[0];
    int n = 0;
    *placed = 0;
    for (; *from < a->n && n < s->capacity; (*from)++) {
        const uint64_t i = *from;
        const float *row = a->x + i * F;
        int nan = 0;
        for (size_t j = 0; j < F; j++) {
            if (isinf(row[j]))
                return mt_fail(err, MT_ERR_INPUT,
                               "arrays: row %llu, feature %zu is %s (features must be finite or "
                               "NaN for missing)",
                               (unsigned long long)i, j, row[j] > 0 ? "+inf" : "-inf");
            nan |= isnan(row[j]);
        }
        if (nan && s->prep.missing == MT_MISSING_ERROR)
            return mt_fail(err, MT_ERR_INPUT,
                           "arrays: row %llu has a missing (NaN) feature (set data.missing to "
                           "drop, mean or median)",
                           (unsigned long long)i);
        if (nan && s->prep.missing == MT_MISSING_DROP)
            continue;
        memcpy(x + (size_t)n * F, row, F * sizeof *x);
        if (a->y_class)
            s->y_class[n] = a->y_class[i];
        else
            memcpy(s->y_target + (size_t)n * k, a->y_target + i * k, k * sizeof *s->y_target);
        s->weights[n] = a->weights ? a->weights[i] : 1.0f;
        n++;
    }
    mt_prep_apply(&s->prep, x, (size_t)n);
    *placed = n;
    return MT_OK;
}

mt_status mt_trainer_evaluate_arrays(mt_trainer *t, const mt_arrays *data, mt_eval_report *report, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    mt_error_clear(err);
    if (!report)
        mt_fail(err, MT_ERR_USAGE, "mt_trainer_evaluate_arrays: report is NULL");
    int kind = 0;
    if (!err->code)
        mt_api_check_arrays(t, data, "arrays", 1, &kind, err);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    /* The ranks agree on the label kind: [any class labels, any float targets]. */
    double kinds[2] = {kind == 1, kind == 2};
    mt_status st = mt_comm_allreduce_max_f64(t->comm, kinds, 2, err);
    if (st)
        return st;
    if (kinds[0] && kinds[1])
        return mt_fail(err, MT_ERR_INPUT,
                       "arrays: some ranks pass class labels (y_class) and others float targets "
                       "(y_target); every rank must pass the same kind");
    mt_session *s = &t->s;
    s->classes = kinds[0] != 0;
    mt_eval_sums sums;
    memset(&sums, 0, sizeof sums);
    const uint64_t invalid = mt_model_invalid_inputs(&s->model);
    for (uint64_t from = 0; kind && from < data->n && !st;) {
        int n;
        const uint64_t first = from;
        st = fill_batch(s, data, &from, &n, err);
        if (st || n == 0)
            break;
        mt_pass pass = {.training = 0, .first = first, .global_n = data->n};
        const float *out;
        if ((st = mt_model_forward(&s->model, n, &pass, &out, err)))
            break;
        const int32_t *yc = data->y_class ? s->y_class : NULL;
        const float *yt = data->y_class ? NULL : s->y_target;
        sums.loss += mt_loss_compute(&s->loss, out, mt_model_logits(&s->model), yc, yt,
                                     data->weights ? s->weights : NULL, n, NULL, 0.0f, NULL);
        mt_metrics_accumulate(&s->loss, out, yc, yt, n, sums.m);
    }
    if (!st && mt_model_invalid_inputs(&s->model) != invalid)
        st = mt_fail(err, MT_ERR_INPUT, "arrays: %llu token id(s) are not integers in [0, input_dim) of the embedding",
                     (unsigned long long)(mt_model_invalid_inputs(&s->model) - invalid));
    if (mt_comm_agree(t->comm, err))
        return err->code;
    st = mt_comm_allreduce_sum_f64(t->comm, (double *)&sums, sizeof sums / sizeof(double), err);
    if (st)
        return st;
    mt_eval_values v;
    mt_session_values(s, &sums, &v);
    *report = (mt_eval_report){.rows = (uint64_t)sums.m[MT_METRIC_SUM_SAMPLES],
                               .loss = v.loss,
                               .accuracy = v.accuracy,
                               .binary_accuracy = v.binary_accuracy,
                               .mae = v.mae,
                               .rmse = v.rmse};
    return MT_OK;
}

mt_status mt_trainer_evaluate_file(mt_trainer *t, const char *file, const char *split, mt_eval_report *report,
                                   mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    mt_error_clear(err);
    const mt_data_config *d = &t->cfg.data;
    if (!file)
        file = d->file;
    if (!split)
        split = d->test[0] ? d->test : d->validation[0] ? d->validation : "test";
    if (!report)
        mt_fail(err, MT_ERR_USAGE, "mt_trainer_evaluate_file: report is NULL");
    else if (!strcmp(file, MT_API_NO_FILE))
        mt_fail(err, MT_ERR_CONFIG, "%s: data.file: not set and no file given to evaluate", t->origin);
    if (mt_comm_agree(t->comm, err))
        return err->code;
    /* A session of its own holding a copy of the model: the split stays open only for this call. */
    mt_session e;
    mt_status st = mt_session_open(&e, &t->cfg, MT_SESSION_EVAL, t->comm, err);
    const mt_prep *p = &t->s.prep;
    mt_prep copy;
    if (!st) {
        memcpy(e.model.params, t->s.model.params, t->s.model.n_params * sizeof(float));
        memcpy(e.model.buffers, t->s.model.buffers, t->s.model.n_buffers * sizeof(float));
        if (!(st = mt_prep_set(&copy, mt_scaling_name(p->scaling), mt_missing_name(p->missing), p->features, p->shift,
                               p->scale, p->fill, err))) {
            mt_prep_free(&e.prep);
            e.prep = copy;
        }
    }
    if (!mt_comm_agree(t->comm, err))
        st = mt_session_add_split(&e, file, split, t->comm, err);
    else
        st = err->code;
    mt_eval_values v;
    if (!st)
        st = mt_session_evaluate(&e, &e.test, t->comm, &v, err);
    if (!st)
        *report = (mt_eval_report){.rows = e.test.n,
                                   .loss = v.loss,
                                   .accuracy = v.accuracy,
                                   .binary_accuracy = v.binary_accuracy,
                                   .mae = v.mae,
                                   .rmse = v.rmse};
    mt_session_close(&e);
    return st;
}

mt_status mt_trainer_predict(mt_trainer *t, const float *x, uint64_t n, float *out, mt_error *err)
{
    mt_error local;
    if (!err)
        err = &local;
    mt_error_clear(err);
    if (n > 0 && (!x || !out))
        return mt_fail(err, MT_ERR_USAGE, "mt_trainer_predict: %s is NULL", x ? "out" : "x");
    mt_model *m = &t->s.model;
    const size_t F = m->input_size, k = m->output_size;
    for (uint64_t done = 0; done < n;) {
        const int b = (int)(n - done < (uint64_t)t->s.capacity ? n - done : (uint64_t)t->s.capacity);
        memcpy(m->acts[0], x + done * F, (size_t)b * F * sizeof *x);
        mt_prep_apply(&t->s.prep, m->acts[0], (size_t)b);
        mt_pass pass = {.training = 0, .first = done, .global_n = n};
        const float *y;
        mt_status st = mt_model_forward(m, b, &pass, &y, err);
        if (st)
            return st;
        memcpy(out + done * k, y, (size_t)b * k * sizeof *out);
        done += (uint64_t)b;
    }
    return MT_OK;
}
