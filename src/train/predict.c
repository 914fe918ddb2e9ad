/* Inference with a trained model: checkpoint loading (config, parameters, preprocessing), class decisions,
 * sharded predictions over a split gathered on rank 0, batch predictions for plot grids, and dense-layer
 * pre-activations. */
#include "train/predict.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fault.h"
#include "train/checkpoint.h"
#include "nn/activation.h"
#include "nn/layer.h"
#include "train/sampler.h"

mt_status mt_predictor_open(mt_predictor *p, const char *path, mt_comm *comm, mt_error *err)
{
    memset(p, 0, sizeof *p);
    mt_error_clear(err);
    mt_status st = mt_checkpoint_read_config(path, &p->yaml, err);
    if (!st && !(st = mt_config_load_string(p->yaml, path, NULL, 0, &p->cfg, err)))
        p->have_cfg = 1;
    if (mt_comm_agree(comm, err))
        goto fail;
    st = mt_session_open(&p->s, &p->cfg, MT_SESSION_EVAL, comm, err);
    p->have_session = 1;
    if (!st)
        st = mt_checkpoint_read(path, &(mt_checkpoint){.model = &p->s.model, .prep = &p->s.prep}, err);
    if (!mt_comm_agree(comm, err))
        return MT_OK;
fail:
    st = err->code;
    mt_predictor_close(p);
    return st;
}

void mt_predictor_close(mt_predictor *p)
{
    if (p->have_session)
        mt_session_close(&p->s);
    if (p->have_cfg)
        mt_config_free(&p->cfg);
    free(p->yaml);
    memset(p, 0, sizeof *p);
}

mt_output_kind mt_predict_output_kind(const mt_session *s)
{
    const mt_loss *loss = &s->loss;
    int k = (int)s->model.output_size;
    if (!mt_loss_is_classification(loss) || (loss->kind == MT_LOSS_BCE && k > 1 && !s->classes))
        return MT_OUTPUT_VALUES;
    int act = s->model.layers[s->model.n_layers - 1].out_activation;
    if ((k > 1 && act == MT_ACT_SOFTMAX) || (k == 1 && act == MT_ACT_SIGMOID))
        return MT_OUTPUT_PROBABILITIES;
    return MT_OUTPUT_SCORES;
}

int mt_predict_class_count(const mt_session *s)
{
    if (mt_predict_output_kind(s) == MT_OUTPUT_VALUES)
        return 0;
    return s->model.output_size > 1 ? (int)s->model.output_size : 2;
}

/* Index of the largest of k values (the first on ties; NaN never wins; 0 when all are NaN). */
static int32_t argmax(const float *v, int k)
{
    int32_t best = -1;
    for (int j = 0; j < k; j++)
        if (v[j] == v[j] && (best < 0 || v[j] > v[best]))
            best = j;
    return best < 0 ? 0 : best;
}

void mt_predict_decide(const mt_loss *loss, const float *out, int n, int32_t *cls)
{
    int k = loss->k;
    for (int i = 0; i < n; i++)
        cls[i] = k == 1 ? (out[i] > loss->threshold) : argmax(out + (size_t)i * (size_t)k, k);
}

void mt_predict_true_class(const mt_loss *loss, const int32_t *y_class, const float *y_target, int n, int32_t *cls)
{
    int k = loss->k;
    for (int i = 0; i < n; i++) {
        if (y_class)
            cls[i] = k == 1 ? (y_class[i] > 0) : y_class[i];
        else
            cls[i] = k == 1 ? (y_target[i] > 0.5f) : argmax(y_target + (size_t)i * (size_t)k, k);
    }
}

mt_status mt_predict_batch(mt_session *s, const float *x, uint64_t n, float *out, mt_error *err)
{
    mt_model *m = &s->model;
    int want = n < 1024 ? (int)(n ? n : 1) : 1024;
    mt_status st = mt_session_reserve(s, want, err);
    if (st)
        return st;
    size_t in = m->input_size, k = m->output_size;
    for (uint64_t done = 0; done < n;) {
        int b = (int)(n - done < (uint64_t)s->capacity ? n - done : (uint64_t)s->capacity);
        memcpy(m->acts[0], x + done * in, (size_t)b * in * sizeof *x);
        mt_prep_apply(&s->prep, m->acts[0], (size_t)b);
        mt_pass pass = {.training = 0, .first = done, .global_n = n};
        const float *y;
        if ((st = mt_model_forward(m, b, &pass, &y, err)))
            return st;
        memcpy(out + done * k, y, (size_t)b * k * sizeof *out);
        done += (uint64_t)b;
    }
    return MT_OK;
}

/* This rank's part of the predictions before they are gathered. */
typedef struct local_part {
    float *out;
    int32_t *pred, *y_class;
    float *y_target;
    uint64_t *rows;
} local_part;

static void free_part(local_part *l)
{
    free(l->out), free(l->pred), free(l->y_class), free(l->y_target), free(l->rows);
}

static mt_status alloc_part(local_part *l, uint64_t count, size_t k, size_t tk, int classes, int keep, mt_error *err)
{
    memset(l, 0, sizeof *l);
    if (!keep)
        return MT_OK;
    size_t c = count ? (size_t)count : 1;
    l->out = malloc(c * k * sizeof *l->out);
    l->pred = malloc(c * sizeof *l->pred);
    l->rows = malloc(c * sizeof *l->rows);
    if (classes)
        l->y_class = malloc(c * sizeof *l->y_class);
    else
        l->y_target = malloc(c * tk * sizeof *l->y_target);
    if (!l->out || !l->pred || !l->rows || (classes ? !l->y_class : !l->y_target))
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate predictions for %llu rows", (unsigned long long)count);
    return MT_OK;
}

/* Forward passes over this rank's rows [first, first + count) of the test view. */
static mt_status run_local(mt_session *s, uint64_t first, uint64_t count, int batch, local_part *l, int32_t *cls,
                           int32_t *truth, mt_confusion *conf, mt_error *err)
{
    const mt_split_view *v = &s->test;
    size_t k = s->model.output_size, tk = mt_dataset_get_info(v->ds)->target_size;
    int decide = mt_predict_output_kind(s) != MT_OUTPUT_VALUES;
    for (uint64_t done = 0; done < count;) {
        int n = (int)(count - done < (uint64_t)batch ? count - done : (uint64_t)batch);
        const uint64_t *rows = v->rows + first + done;
        mt_status st = mt_session_read(s, v, rows, n, err);
        if (st)
            return st;
        mt_pass pass = {.training = 0, .first = first + done, .global_n = v->n};
        const float *out;
        if ((st = mt_model_forward(&s->model, n, &pass, &out, err)))
            return st;
        if (decide)
            mt_predict_decide(&s->loss, out, n, cls);
        if (conf) {
            mt_predict_true_class(&s->loss, s->classes ? s->y_class : NULL, s->classes ? NULL : s->y_target, n, truth);
            mt_confusion_add(conf, truth, cls, n);
        }
        if (l->out) {
            memcpy(l->out + done * k, out, (size_t)n * k * sizeof *out);
            memcpy(l->rows + done, rows, (size_t)n * sizeof *rows);
            if (decide)
                memcpy(l->pred + done, cls, (size_t)n * sizeof *cls);
            if (s->classes)
                memcpy(l->y_class + done, s->y_class, (size_t)n * sizeof *s->y_class);
            else
                memcpy(l->y_target + done * tk, s->y_target, (size_t)n * tk * sizeof *s->y_target);
        }
        done += (uint64_t)n;
    }
    return MT_OK;
}

/* Gathers count rows of `bytes` each from every rank into *out on rank 0. */
static mt_status gather(mt_comm *comm, const void *in, uint64_t count, size_t bytes, void **out, mt_error *err)
{
    size_t *counts = calloc((size_t)mt_comm_size(comm), sizeof *counts);
    if (!counts)
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate the gather counts");
    mt_status st = mt_comm_gather_bytes(comm, in, (size_t)count * bytes, out, counts, 0, err);
    free(counts);
    return st;
}

mt_status mt_predict_split(mt_session *s, mt_comm *comm, int batch, mt_predictions *p, mt_confusion *conf,
                           mt_error *err)
{
    const mt_split_view *v = &s->test;
    uint64_t first, count;
    mt_sampler_slice(v->n, mt_comm_size(comm), mt_comm_rank(comm), &first, &count);
    size_t k = s->model.output_size, tk = v->ds ? mt_dataset_get_info(v->ds)->target_size : 1;
    int decide = mt_predict_output_kind(s) != MT_OUTPUT_VALUES;
    if (p)
        memset(p, 0, sizeof *p);
    mt_error_clear(err);
    local_part l = {0};
    mt_status st = v->ds ? MT_OK : mt_fail(err, MT_ERR_INTERNAL, "predict: no split was added to the session");
    if (!st && conf && (!decide || conf->k != mt_predict_class_count(s)))
        st = mt_fail(err, MT_ERR_INTERNAL, "predict: a confusion matrix needs a classifier and its class count");
    if (!st && mt_fault_check(MT_FAULT_EVAL) == MT_FAULT_FAIL)
        st = mt_fail(err, MT_ERR_IO, "%s: /%s/x: reading failed during prediction (injected by MPITRAIN_FAULT)",
                     v->file, v->name);
    if (!st && batch > 0)
        st = mt_session_reserve(s, batch, err);
    if (!st)
        st = alloc_part(&l, count, k, tk, s->classes, p != NULL, err);
    int32_t *cls = NULL, *truth = NULL;
    if (!st &&
        (!(cls = malloc((size_t)s->capacity * sizeof *cls)) || !(truth = malloc((size_t)s->capacity * sizeof *truth))))
        st = mt_fail(err, MT_ERR_NOMEM, "cannot allocate class buffers");
    if (!st)
        st = run_local(s, first, count, batch > 0 ? batch : s->capacity, &l, cls, truth, conf, err);
    free(cls), free(truth);
    if (mt_comm_agree(comm, err))
        goto done;
    if (conf)
        st = mt_comm_allreduce_sum_f64(comm, conf->counts, (size_t)conf->k * (size_t)conf->k, err);
    if (!st && p) {
        p->n = v->n, p->k = (int)k, p->target_k = (int)tk;
        st = gather(comm, l.out, count, k * sizeof(float), (void **)&p->out, err);
        if (!st)
            st = gather(comm, l.rows, count, sizeof(uint64_t), (void **)&p->rows, err);
        if (!st && decide)
            st = gather(comm, l.pred, count, sizeof(int32_t), (void **)&p->predicted, err);
        if (!st && s->classes)
            st = gather(comm, l.y_class, count, sizeof(int32_t), (void **)&p->y_class, err);
        if (!st && !s->classes)
            st = gather(comm, l.y_target, count, tk * sizeof(float), (void **)&p->y_target, err);
    }
done:
    if (p)
        free_part(&l);
    if (err->code && p)
        mt_predictions_free(p);
    return err->code ? err->code : st;
}

void mt_predictions_free(mt_predictions *p)
{
    free(p->out), free(p->predicted), free(p->rows), free(p->y_class), free(p->y_target);
    memset(p, 0, sizeof *p);
}

mt_status mt_predict_dense_preact(const mt_model *m, int layer, int n, float *z, mt_error *err)
{
    if (layer < 0 || layer >= m->n_layers || m->layers[layer].ops != &mt_dense_layer)
        return mt_fail(err, MT_ERR_INTERNAL, "layer %d is not a dense layer", layer);
    if (n > m->capacity)
        return mt_fail(err, MT_ERR_INTERNAL, "%d samples, more than the %d of the last batch", n, m->capacity);
    const mt_layer *l = &m->layers[layer];
    size_t in = l->in_size, units = l->out_size;
    const float *w = l->params;                                                  /* [units, in] */
    const float *b = l->n_tensors > 1 ? l->params + l->tensors[1].offset : NULL; /* [units] */
    const float *a = m->acts[layer];                                             /* [n, in] */
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < units; j++) {
            float sum = b ? b[j] : 0.0f;
            for (size_t t = 0; t < in; t++)
                sum += w[j * in + t] * a[(size_t)i * in + t];
            z[(size_t)i * units + j] = sum;
        }
    return MT_OK;
}
