/* The GAN score: sums of class distributions and their Inception-Score-style figure, the classifier
 * checkpoint that gives the distributions, its pass over the real images, and gan_score.json. */
#include "train/gan_score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "config/yaml_tree.h"
#include "io/dataset.h"
#include "io/json_doc.h"
#include "train/checkpoint.h"
#include "nn/activation.h"
#include "train/sampler.h"

void mt_gan_score_add(mt_gan_score_sums *s, const float *probs, int n, int classes)
{
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * (size_t)classes;
        int best = 0;
        for (int k = 0; k < classes; k++) {
            const double v = p[k];
            s->p[k] += v;
            if (v > 0)
                s->neg_entropy += v * log(v);
            if (p[k] > p[best])
                best = k;
        }
        s->hist[best] += 1;
        s->n += 1;
    }
}

double mt_gan_score_value(const mt_gan_score_sums *s, int classes)
{
    if (!(s->n > 0))
        return NAN;
    double marginal_entropy = 0;
    for (int k = 0; k < classes; k++) {
        const double q = s->p[k] / s->n;
        if (q > 0)
            marginal_entropy -= q * log(q);
    }
    /* E[KL(p(y|x) || p(y))] = H(p(y)) - E[H(p(y|x))]; never below 0 in exact arithmetic */
    const double kl = marginal_entropy + s->neg_entropy / s->n;
    return exp(kl > 0 ? kl : 0);
}

mt_status mt_gan_classifier_open(mt_gan_classifier *c, const char *path, size_t sample_size, mt_comm *comm,
                                 mt_error *err)
{
    memset(c, 0, sizeof *c);
    mt_error_clear(err);
    mt_status st = mt_checkpoint_read_config(path, &c->yaml, err);
    if (!st && !(st = mt_config_load_string(c->yaml, path, NULL, 0, &c->cfg, err)))
        c->have_cfg = 1;
    if (!st && c->cfg.gan.enabled)
        st = mt_fail(err, MT_ERR_INPUT, "%s: this is a GAN's checkpoint, not a classifier's", path);
    if (mt_comm_agree(comm, err))
        return err->code;
    st = mt_session_open(&c->s, &c->cfg, MT_SESSION_EVAL, comm, err);
    c->have_session = 1;
    if (!st)
        st = mt_checkpoint_read(path, &(mt_checkpoint){.model = &c->s.model, .prep = &c->s.prep}, err);
    if (!st && c->s.model.input_size != sample_size)
        st = mt_fail(err, MT_ERR_INPUT, "%s: the classifier takes samples of %zu values, the GAN's data has %zu", path,
                     c->s.model.input_size, sample_size);
    if (!st && (c->s.model.output_size < 2 || c->s.model.output_size > MT_GAN_SCORE_MAX_CLASSES))
        st = mt_fail(err, MT_ERR_INPUT, "%s: the classifier has %zu outputs; the score needs 2 to %d classes", path,
                     c->s.model.output_size, MT_GAN_SCORE_MAX_CLASSES);
    if (!st) {
        c->classes = (int)c->s.model.output_size;
        c->softmax = c->s.model.layers[c->s.model.n_layers - 1].out_activation == MT_ACT_SOFTMAX;
        st = mt_session_reserve(&c->s, 256, err);
    }
    return mt_comm_agree(comm, err);
}

int mt_gan_classifier_capacity(const mt_gan_classifier *c)
{
    return c->s.capacity;
}

/* Forward pass on the n samples already in the model's input (preprocessed); adds their distributions. */
static mt_status classify(mt_gan_classifier *c, int n, mt_gan_score_sums *s, mt_error *err)
{
    mt_pass pass = {.training = 0, .global_n = (uint64_t)n};
    const float *y;
    mt_status st = mt_model_forward(&c->s.model, n, &pass, &y, err);
    if (st)
        return st;
    float *out = (float *)y;
    if (!c->softmax) { /* logits or scores: softmax in place, per row */
        for (int i = 0; i < n; i++) {
            float *row = out + (size_t)i * (size_t)c->classes, top = row[0];
            for (int k = 1; k < c->classes; k++)
                top = row[k] > top ? row[k] : top;
            double sum = 0;
            for (int k = 0; k < c->classes; k++)
                sum += row[k] = expf(row[k] - top);
            for (int k = 0; k < c->classes; k++)
                row[k] = (float)(row[k] / sum);
        }
    }
    mt_gan_score_add(s, out, n, c->classes);
    return MT_OK;
}

mt_status mt_gan_classifier_add(mt_gan_classifier *c, const float *x, int n, mt_gan_score_sums *s, mt_error *err)
{
    float *in = c->s.model.acts[0];
    memcpy(in, x, (size_t)n * c->s.model.input_size * sizeof *in);
    mt_prep_apply(&c->s.prep, in, (size_t)n);
    return classify(c, n, s, err);
}

/* The split of real images the classifier's config names: its test split, else its validation split. */
static const char *real_split(const mt_gan_classifier *c)
{
    const mt_data_config *d = &c->cfg.data;
    return d->test[0] ? d->test : d->validation[0] ? d->validation : "test";
}

mt_status mt_gan_classifier_real(mt_gan_classifier *c, mt_comm *comm, mt_gan_score_sums *s, mt_gan_score *out,
                                 mt_error *err)
{
    const mt_data_config *d = &c->cfg.data;
    const char *split = real_split(c);
    snprintf(out->real_file, sizeof out->real_file, "%s", d->file);
    snprintf(out->real_split, sizeof out->real_split, "%s", split);
    mt_status st = mt_session_add_split(&c->s, d->file, split, comm, err);
    if (st)
        return st;
    const mt_split_view *v = &c->s.test;
    uint64_t first, count;
    mt_sampler_slice(v->n, mt_comm_size(comm), mt_comm_rank(comm), &first, &count);
    mt_error_clear(err);
    for (uint64_t done = 0; done < count && !st;) {
        const int n = (int)(count - done < (uint64_t)c->s.capacity ? count - done : (uint64_t)c->s.capacity);
        st = mt_session_read(&c->s, v, v->rows + first + done, n, err);
        if (!st)
            st = classify(c, n, s, err);
        done += (uint64_t)n;
    }
    if (mt_comm_agree(comm, err))
        return err->code;
    return mt_comm_allreduce_sum_f64(comm, (double *)s, sizeof *s / sizeof(double), err);
}

void mt_gan_classifier_close(mt_gan_classifier *c)
{
    if (c->have_session)
        mt_session_close(&c->s);
    if (c->have_cfg)
        mt_config_free(&c->cfg);
    free(c->yaml);
    memset(c, 0, sizeof *c);
}

mt_status mt_gan_score_check(const mt_config *cfg, mt_comm *comm, mt_error *err)
{
    mt_error_clear(err);
    if (!cfg->gan.classifier[0])
        return MT_OK;
    mt_dataset *ds = NULL;
    size_t sample = 0;
    mt_status st = mt_dataset_open(cfg->data.file, cfg->data.train, &ds, err);
    if (!st) {
        sample = mt_dataset_get_info(ds)->sample_size;
        mt_dataset_close(ds);
    }
    if (mt_comm_agree(comm, err)) /* the data's own error, as the trainer would report it */
        return err->code;
    mt_gan_classifier c;
    st = mt_gan_classifier_open(&c, cfg->gan.classifier, sample, comm, err);
    if (!st)
        st = mt_session_add_split(&c.s, c.cfg.data.file, real_split(&c), comm, err);
    mt_gan_classifier_close(&c);
    if (st && !mt_status_breaks_comm(st)) {
        char where[MT_PATH_MAX + 32], msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        const mt_node *node = mt_node_get(cfg->gan.node, "classifier");
        mt_fail(err, st, "%s: gan.classifier: %s", node ? mt_node_where(node, where, sizeof where) : cfg->origin, msg);
    }
    return st;
}

mt_status mt_gan_score_write_json(const char *path, const mt_gan_score *s, mt_error *err)
{
    mt_json j;
    mt_json_begin(&j, '{');
    mt_json_string(&j, "classifier", s->classifier);
    mt_json_number(&j, "generated_score", s->generated);
    mt_json_number(&j, "real_score", s->real);
    mt_json_number(&j, "ratio", s->ratio);
    mt_json_number(&j, "generated_samples", s->n_generated);
    mt_json_number(&j, "real_samples", s->n_real);
    mt_json_string(&j, "real_data", s->real_file);
    mt_json_string(&j, "real_split", s->real_split);
    mt_json_integer(&j, "classes", s->classes);
    mt_json_open(&j, "generated_histogram", '[');
    for (int k = 0; k < s->classes; k++)
        mt_json_number(&j, NULL, s->hist[k]);
    mt_json_close(&j);
    mt_json_open(&j, "class_names", '[');
    for (int k = 0; k < s->classes; k++)
        mt_json_string(&j, NULL, s->names[k]);
    json_t *doc = mt_json_take(&j);
    mt_status st = doc ? mt_json_write_file(path, doc, 1, err) : mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    json_decref(doc);
    return st;
}
