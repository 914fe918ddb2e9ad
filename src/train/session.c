/* Run setup: model, loss, optimizer and datasets from a config, with every cross-check (sample shape,
 * labels) done before training; and sharded evaluation of a split. */
#include "train/session.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "train/sampler.h"

mt_status mt_session_check_split(mt_session *s, mt_dataset *ds, const char *file, const char *split,
                                 mt_error *err)
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
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s/x: sample shape [%s] does not match model.input [%s]", file,
                       split, have, model);
    }
    size_t k = s->model.output_size;
    if (in->label_kind == MT_LABELS_CLASS) {
        if (k < 2 && s->loss.kind == MT_LOSS_CCE)
            return mt_fail(err, MT_ERR_INPUT, "%s: /%s/y: class labels need a model with at least 2 outputs",
                           file, split);
        return mt_dataset_check_labels(ds, (int64_t)k, err);
    }
    if (in->target_size != k)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s/y: %llu targets per sample, but the model has %zu outputs", file,
                       split, (unsigned long long)in->target_size, k);
    return MT_OK;
}

static mt_status open_split(mt_session *s, const char *split, mt_dataset **out, mt_error *err)
{
    const char *file = s->cfg->data.file;
    mt_status st = mt_dataset_open(file, split, out, err);
    if (!st)
        st = mt_session_check_split(s, *out, file, split, err);
    return st;
}

mt_status mt_session_open(mt_session *s, const mt_config *cfg, mt_session_mode mode, int nranks, mt_error *err)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    mt_status st = mt_model_build(cfg, &s->model, err);
    if (!st)
        st = mt_loss_setup(&s->loss, cfg->loss, &s->model, err);
    if (st || mode == MT_SESSION_EVAL)
        return st;
    st = mt_optimizer_create(cfg->optimizer, s->model.n_params, &s->opt, err);
    if (!st)
        st = open_split(s, cfg->data.train, &s->train, err);
    if (!st && cfg->data.validation[0])
        st = open_split(s, cfg->data.validation, &s->validation, err);
    if (!st && cfg->data.test[0])
        st = open_split(s, cfg->data.test, &s->test, err);
    if (st)
        return st;
    uint64_t n = mt_dataset_get_info(s->train)->rows;
    if ((uint64_t)cfg->training.batch_size < (uint64_t)nranks)
        return mt_fail(err, MT_ERR_CONFIG, "%s: training.batch_size: the global batch %d is smaller than the %d "
                       "ranks; each rank needs at least one sample", cfg->origin, cfg->training.batch_size, nranks);
    if (n < (uint64_t)nranks)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s: %llu rows cannot be shared by %d ranks", cfg->data.file,
                       cfg->data.train, (unsigned long long)n, nranks);
    uint64_t b = (uint64_t)cfg->training.batch_size < n ? (uint64_t)cfg->training.batch_size : n;
    return mt_session_reserve(s, (int)mt_sampler_max_slice(b, nranks), err);
}

mt_status mt_session_reserve(mt_session *s, int capacity, mt_error *err)
{
    if (capacity <= s->capacity)
        return MT_OK;
    size_t k = s->model.output_size, cap = (size_t)capacity;
    uint64_t *rows = realloc(s->rows, cap * sizeof *rows);
    if (rows)
        s->rows = rows;
    int32_t *yc = realloc(s->y_class, cap * sizeof *yc);
    if (yc)
        s->y_class = yc;
    float *yt = realloc(s->y_target, cap * k * sizeof *yt);
    if (yt)
        s->y_target = yt;
    float *d = realloc(s->dout, cap * k * sizeof *d);
    if (d)
        s->dout = d;
    if (!rows || !yc || !yt || !d)
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate batch buffers for %d rows", capacity);
    s->capacity = capacity;
    mt_status st = mt_model_reserve(&s->model, capacity, err);
    if (!st && s->train)
        st = mt_dataset_reserve(s->train, cap, err);
    if (!st && s->validation)
        st = mt_dataset_reserve(s->validation, cap, err);
    if (!st && s->test)
        st = mt_dataset_reserve(s->test, cap, err);
    return st;
}

mt_status mt_session_evaluate(mt_session *s, mt_dataset *ds, mt_comm *comm, double *loss, double *accuracy,
                              mt_error *err)
{
    const mt_dataset_info *info = mt_dataset_get_info(ds);
    uint64_t first, count;
    mt_sampler_slice(info->rows, mt_comm_size(comm), mt_comm_rank(comm), &first, &count);
    int classes = info->label_kind == MT_LABELS_CLASS;
    int has_accuracy = classes || s->loss.kind == MT_LOSS_CCE;
    mt_error_clear(err);
    double sums[3] = {0, 0, 0}; /* loss, correct, rows */
    mt_status st = MT_OK;
    for (uint64_t done = 0; done < count && !st; ) {
        int n = (int)(count - done < (uint64_t)s->capacity ? count - done : (uint64_t)s->capacity);
        st = mt_dataset_read_range(ds, first + done, (size_t)n, s->model.acts[0], classes ? s->y_class : NULL,
                                   classes ? NULL : s->y_target, err);
        if (st)
            break;
        mt_pass pass = {.training = 0, .first = first + done, .global_n = info->rows};
        const float *out = mt_model_forward(&s->model, n, &pass);
        int64_t correct = 0;
        sums[0] += mt_loss_compute(&s->loss, out, mt_model_logits(&s->model), classes ? s->y_class : NULL,
                                   classes ? NULL : s->y_target, NULL, n, NULL, 0.0f, &correct);
        sums[1] += (double)correct;
        sums[2] += n;
        done += (uint64_t)n;
    }
    if (mt_comm_agree(comm, err))
        return err->code;
    st = mt_comm_allreduce_sum_f64(comm, sums, 3, err);
    if (st)
        return st;
    *loss = sums[2] > 0 ? sums[0] / sums[2] : NAN;
    *accuracy = sums[2] > 0 && has_accuracy ? sums[1] / sums[2] : NAN;
    return MT_OK;
}

void mt_session_close(mt_session *s)
{
    mt_model_free(&s->model);
    mt_optimizer_free(&s->opt);
    if (s->train)
        mt_dataset_close(s->train);
    if (s->validation)
        mt_dataset_close(s->validation);
    if (s->test)
        mt_dataset_close(s->test);
    free(s->rows), free(s->y_class), free(s->y_target), free(s->dout);
    memset(s, 0, sizeof *s);
}
