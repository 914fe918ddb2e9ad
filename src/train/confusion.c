/* Confusion matrices and per-class precision, recall and F1 with macro and weighted averages. */
#include "train/confusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

mt_status mt_confusion_init(mt_confusion *c, int k, mt_error *err)
{
    memset(c, 0, sizeof *c);
    if (k < 1 || k > 65536)
        return mt_fail(err, MT_ERR_INTERNAL, "confusion matrix of %d classes (need 1..65536)", k);
    if (!(c->counts = calloc((size_t)k * (size_t)k, sizeof *c->counts)))
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate a confusion matrix of %d classes", k);
    c->k = k;
    return MT_OK;
}

void mt_confusion_add(mt_confusion *c, const int32_t *y_true, const int32_t *y_pred, int n)
{
    for (int i = 0; i < n; i++) {
        int32_t t = y_true[i], p = y_pred[i];
        if (t < 0 || t >= c->k || p < 0 || p >= c->k)
            c->other++;
        else
            c->counts[(size_t)t * (size_t)c->k + (size_t)p] += 1.0;
    }
}

double mt_confusion_total(const mt_confusion *c)
{
    double sum = 0;
    for (size_t i = 0; i < (size_t)c->k * (size_t)c->k; i++)
        sum += c->counts[i];
    return sum;
}

static double ratio(double num, double den)
{
    return den > 0 ? num / den : 0.0;
}

mt_status mt_class_stats_compute(const mt_confusion *c, mt_class_stats *s, mt_error *err)
{
    memset(s, 0, sizeof *s);
    int k = c->k;
    double *block = calloc((size_t)k * 5, sizeof *block);
    if (!block)
        return mt_fail(err, MT_ERR_NOMEM, "cannot allocate per-class statistics for %d classes", k);
    s->k = k;
    s->precision = block, s->recall = block + k, s->f1 = block + 2 * k;
    s->support = block + 3 * k, s->predicted = block + 4 * k;
    double trace = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            double v = c->counts[(size_t)t * (size_t)k + (size_t)p];
            s->support[t] += v;
            s->predicted[p] += v;
            s->total += v;
            if (t == p)
                trace += v;
        }
    s->accuracy = s->total > 0 ? trace / s->total : NAN;
    for (int j = 0; j < k; j++) {
        double tp = c->counts[(size_t)j * (size_t)k + (size_t)j];
        s->precision[j] = ratio(tp, s->predicted[j]);
        s->recall[j] = ratio(tp, s->support[j]);
        s->f1[j] = ratio(2 * s->precision[j] * s->recall[j], s->precision[j] + s->recall[j]);
        if (s->support[j] > 0 || s->predicted[j] > 0) {
            s->classes_present++;
            s->macro_precision += s->precision[j];
            s->macro_recall += s->recall[j];
            s->macro_f1 += s->f1[j];
        }
        s->weighted_precision += s->precision[j] * s->support[j];
        s->weighted_recall += s->recall[j] * s->support[j];
        s->weighted_f1 += s->f1[j] * s->support[j];
    }
    double m = s->classes_present, w = s->total;
    s->macro_precision = m > 0 ? s->macro_precision / m : NAN;
    s->macro_recall = m > 0 ? s->macro_recall / m : NAN;
    s->macro_f1 = m > 0 ? s->macro_f1 / m : NAN;
    s->weighted_precision = w > 0 ? s->weighted_precision / w : NAN;
    s->weighted_recall = w > 0 ? s->weighted_recall / w : NAN;
    s->weighted_f1 = w > 0 ? s->weighted_f1 / w : NAN;
    return MT_OK;
}

void mt_class_stats_free(mt_class_stats *s)
{
    free(s->precision);
    memset(s, 0, sizeof *s);
}

void mt_confusion_free(mt_confusion *c)
{
    free(c->counts);
    memset(c, 0, sizeof *c);
}
