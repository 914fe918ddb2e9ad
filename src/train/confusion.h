/* Confusion matrices of classifiers and the per-class precision, recall and F1 that follow from them,
 * with macro and support-weighted averages (the definitions of scikit-learn's classification_report). */
#ifndef MT_TRAIN_CONFUSION_H
#define MT_TRAIN_CONFUSION_H

#include <stdint.h>

#include <mpitrain/mpitrain.h>

/* counts[t * k + p]: samples of true class t predicted as class p. Plain sums, so ranks add theirs. */
typedef struct mt_confusion {
    int k;
    double *counts; /* [k, k] (double, so one allreduce of f64 sums it; exact up to 2^53) */
    uint64_t other; /* samples whose true or predicted class lies outside [0, k) (not counted) */
} mt_confusion;

/* Per-class values and their averages. A ratio whose denominator is 0 is 0 (scikit-learn's
 * zero_division=0): precision_c = TP / (TP + FP), recall_c = TP / (TP + FN), F1_c = 2 P R / (P + R).
 * The macro average is the unweighted mean over the classes that occur among the true or the predicted
 * classes (scikit-learn's default labels); the weighted average weights each class by its support. */
typedef struct mt_class_stats {
    int k;
    double *precision, *recall, *f1; /* [k] */
    double *support;                 /* [k] samples of each true class */
    double *predicted;               /* [k] samples predicted as each class */
    double total;                    /* samples counted */
    double accuracy;                 /* trace / total (NaN when total is 0) */
    int classes_present;             /* classes in the macro average */
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
} mt_class_stats;

/* An all-zero k x k matrix (k >= 1). MT_ERR_NOMEM / MT_ERR_INTERNAL. */
mt_status mt_confusion_init(mt_confusion *c, int k, mt_error *err);

/* Counts n (true, predicted) pairs. Pairs outside [0, k) go to c->other. */
void mt_confusion_add(mt_confusion *c, const int32_t *y_true, const int32_t *y_pred, int n);

/* The sum of all counts. */
double mt_confusion_total(const mt_confusion *c);

/* Derives the per-class values and averages from c. */
mt_status mt_class_stats_compute(const mt_confusion *c, mt_class_stats *s, mt_error *err);

void mt_class_stats_free(mt_class_stats *s);
void mt_confusion_free(mt_confusion *c);

#endif
