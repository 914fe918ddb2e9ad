/* Confusion matrices and per-class precision, recall and F1 against values computed by hand: a 3-class case
 * (every ratio a small fraction), a case with a class never predicted (zero-division rule) and a class that
 * never occurs (left out of the macro average), pairs outside the classes, counts added in pieces; and the
 * class decisions of train/predict.h (arg-max with ties, one-output threshold, hinge and one-hot labels). */
#include <math.h>
#include <stdio.h>

#include "testlib.h"
#include "train/confusion.h"
#include "train/predict.h"

static void three_classes(void)
{
    const int32_t t[10] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    const int32_t p[10] = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
    mt_confusion c;
    mt_error err = {0};
    if (!CHECK(mt_confusion_init(&c, 3, &err) == MT_OK, "init: %s", err.msg))
        return;
    mt_confusion_add(&c, t, p, 4); /* in two pieces: the sums do not depend on it */
    mt_confusion_add(&c, t + 4, p + 4, 6);
    const double want[9] = {2, 1, 1, 1, 2, 0, 0, 1, 2};
    for (int i = 0; i < 9; i++)
        CHECK(c.counts[i] == want[i], "counts[%d][%d] = %g, want %g", i / 3, i % 3, c.counts[i], want[i]);
    CHECK(mt_confusion_total(&c) == 10, "total %g, want 10", mt_confusion_total(&c));
    CHECK(c.other == 0, "other %llu", (unsigned long long)c.other);
    mt_class_stats s;
    if (!CHECK(mt_class_stats_compute(&c, &s, &err) == MT_OK, "stats: %s", err.msg))
        return;
    const double prec[3] = {2.0 / 3, 0.5, 2.0 / 3}, rec[3] = {0.5, 2.0 / 3, 2.0 / 3},
                 f1[3] = {4.0 / 7, 4.0 / 7, 2.0 / 3};
    const double sup[3] = {4, 3, 3};
    char what[64];
    for (int j = 0; j < 3; j++) {
        snprintf(what, sizeof what, "precision[%d]", j);
        CHECK_CLOSE(s.precision[j], prec[j], 1e-12, 0, what);
        snprintf(what, sizeof what, "recall[%d]", j);
        CHECK_CLOSE(s.recall[j], rec[j], 1e-12, 0, what);
        snprintf(what, sizeof what, "f1[%d]", j);
        CHECK_CLOSE(s.f1[j], f1[j], 1e-12, 0, what);
        CHECK(s.support[j] == sup[j], "support[%d] = %g, want %g", j, s.support[j], sup[j]);
    }
    CHECK_CLOSE(s.accuracy, 0.6, 1e-12, 0, "accuracy");
    CHECK(s.classes_present == 3, "classes present %d", s.classes_present);
    CHECK_CLOSE(s.macro_precision, 11.0 / 18, 1e-12, 0, "macro precision");
    CHECK_CLOSE(s.macro_recall, 11.0 / 18, 1e-12, 0, "macro recall");
    CHECK_CLOSE(s.macro_f1, 38.0 / 63, 1e-12, 0, "macro f1");
    CHECK_CLOSE(s.weighted_precision, 37.0 / 60, 1e-12, 0, "weighted precision");
    CHECK_CLOSE(s.weighted_recall, 0.6, 1e-12, 0, "weighted recall");
    CHECK_CLOSE(s.weighted_f1, 0.6, 1e-12, 0, "weighted f1");
    mt_class_stats_free(&s);
    mt_confusion_free(&c);
}

static void missing_classes(void)
{
    /* 4 classes: class 2 occurs but is never predicted, class 3 neither occurs nor is predicted. */
    const int32_t t[6] = {0, 1, 2, 2, 5, 0};
    const int32_t p[6] = {0, 1, 0, 1, 0, -1};
    mt_confusion c;
    mt_error err = {0};
    if (!CHECK(mt_confusion_init(&c, 4, &err) == MT_OK, "init: %s", err.msg))
        return;
    mt_confusion_add(&c, t, p, 6);
    CHECK(c.other == 2, "pairs outside the classes: %llu, want 2", (unsigned long long)c.other);
    CHECK(mt_confusion_total(&c) == 4, "total %g, want 4", mt_confusion_total(&c));
    mt_class_stats s;
    if (!CHECK(mt_class_stats_compute(&c, &s, &err) == MT_OK, "stats: %s", err.msg))
        return;
    CHECK(s.precision[2] == 0 && s.recall[2] == 0 && s.f1[2] == 0, "class 2: P %g R %g F1 %g, want 0 0 0",
          s.precision[2], s.recall[2], s.f1[2]);
    CHECK(s.precision[3] == 0 && s.support[3] == 0, "class 3: P %g support %g", s.precision[3], s.support[3]);
    CHECK_CLOSE(s.precision[0], 0.5, 1e-12, 0, "precision[0]");
    CHECK_CLOSE(s.recall[0], 1.0, 1e-12, 0, "recall[0]");
    CHECK_CLOSE(s.f1[1], 2.0 / 3, 1e-12, 0, "f1[1]");
    CHECK(s.classes_present == 3, "classes present %d, want 3 (class 3 left out)", s.classes_present);
    CHECK_CLOSE(s.macro_precision, 1.0 / 3, 1e-12, 0, "macro precision");
    CHECK_CLOSE(s.macro_recall, 2.0 / 3, 1e-12, 0, "macro recall");
    CHECK_CLOSE(s.macro_f1, 4.0 / 9, 1e-12, 0, "macro f1");
    CHECK_CLOSE(s.accuracy, 0.5, 1e-12, 0, "accuracy");
    mt_class_stats_free(&s);
    mt_confusion_free(&c);

    mt_confusion empty;
    if (CHECK(mt_confusion_init(&empty, 2, &err) == MT_OK, "init 2: %s", err.msg) &&
        CHECK(mt_class_stats_compute(&empty, &s, &err) == MT_OK, "stats of nothing: %s", err.msg)) {
        CHECK(isnan(s.accuracy) && isnan(s.macro_f1) && s.classes_present == 0,
              "no samples: accuracy %g macro f1 %g present %d, want NaN NaN 0", s.accuracy, s.macro_f1,
              s.classes_present);
        mt_class_stats_free(&s);
    }
    mt_confusion_free(&empty);
    CHECK(mt_confusion_init(&empty, 0, &err) == MT_ERR_INTERNAL, "0 classes accepted");
}

static void decisions(void)
{
    mt_loss multi = {.kind = MT_LOSS_CCE, .k = 3};
    const float out[12] = {0.1f, 0.7f, 0.2f, 0.4f, 0.4f, 0.2f, 0.1f, 0.2f, 0.7f, NAN, 0.3f, 0.2f};
    int32_t cls[4];
    mt_predict_decide(&multi, out, 4, cls);
    const int32_t want[4] = {1, 0, 2, 1};
    for (int i = 0; i < 4; i++)
        CHECK(cls[i] == want[i], "arg-max of row %d: %d, want %d (first on ties, NaN never wins)", i, cls[i], want[i]);

    mt_loss one = {.kind = MT_LOSS_BCE, .k = 1, .threshold = 0.5f};
    const float p[4] = {0.2f, 0.5f, 0.51f, 0.99f};
    mt_predict_decide(&one, p, 4, cls);
    CHECK(cls[0] == 0 && cls[1] == 0 && cls[2] == 1 && cls[3] == 1, "threshold 0.5: %d %d %d %d, want 0 0 1 1", cls[0],
          cls[1], cls[2], cls[3]);
    mt_loss hinge = {.kind = MT_LOSS_HINGE, .k = 1, .threshold = 0.0f};
    const float margin[3] = {-0.3f, 0.0f, 0.2f};
    mt_predict_decide(&hinge, margin, 3, cls);
    CHECK(cls[0] == 0 && cls[1] == 0 && cls[2] == 1, "margins: %d %d %d, want 0 0 1", cls[0], cls[1], cls[2]);

    const int32_t labels[3] = {-1, 1, 0};
    mt_predict_true_class(&hinge, labels, NULL, 3, cls);
    CHECK(cls[0] == 0 && cls[1] == 1 && cls[2] == 0, "hinge labels -1 1 0 -> %d %d %d, want 0 1 0", cls[0], cls[1],
          cls[2]);
    const float onehot[6] = {0, 0, 1, 0, 1, 0};
    mt_predict_true_class(&multi, NULL, onehot, 2, cls);
    CHECK(cls[0] == 2 && cls[1] == 1, "one-hot rows -> %d %d, want 2 1", cls[0], cls[1]);
}

int main(void)
{
    three_classes();
    missing_classes();
    decisions();
    return mt_test_finish("confusion");
}
