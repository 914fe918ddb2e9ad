/* Tests of the losses and metrics (nn/loss.c): values computed by hand, gradients against central
 * differences (w.r.t. the outputs, or the logits for the fused softmax/sigmoid paths), per-sample weights,
 * rmse's global-batch gradient and reported value, stability for logits of 1e4, accuracy counting, the
 * metric sums, and config names (aliases, options, unknown names listing the valid ones). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "testlib.h"

/* The canonical name of a names-table entry ("canonical|alias|..."), for messages. */
static const char *loss_name(int i)
{
    static char buf[4][64];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 64, "%.*s", (int)strcspn(mt_loss_names[i], "|"), mt_loss_names[i]);
    return b;
}

enum { MAXV = 64 };

static mt_loss make(mt_loss_kind kind, int k, int fused)
{
    return (mt_loss){
        .kind = kind, .k = k, .fused = fused, .delta = 1.0f, .threshold = kind == MT_LOSS_HINGE ? 0.0f : 0.5f};
}

/* The model output for the loss's input x: softmax or sigmoid of the logits when fused, else x itself. */
static void output_of(const mt_loss *loss, const float *x, float *out, int n)
{
    mt_activation a = mt_activation_make(loss->kind == MT_LOSS_BCE ? MT_ACT_SIGMOID : MT_ACT_SOFTMAX);
    if (loss->fused)
        mt_activation_forward(&a, x, out, n, loss->k);
    else
        memcpy(out, x, (size_t)n * loss->k * sizeof *out);
}

static double value_at(const mt_loss *loss, const float *x, const int32_t *yc, const float *yt, const float *w, int n)
{
    float out[MAXV];
    output_of(loss, x, out, n);
    return mt_loss_compute(loss, out, loss->fused ? x : NULL, yc, yt, w, n, NULL, 0.0f, NULL);
}

/* dout (with grad_scale 0.5) against central differences of 0.5 * loss for every input value. */
static void check_grad(const char *name, const mt_loss *loss, const float *in, const int32_t *yc, const float *yt,
                       const float *w, int n)
{
    int m = n * loss->k;
    float x[MAXV], out[MAXV], dout[MAXV];
    memcpy(x, in, (size_t)m * sizeof *x);
    output_of(loss, x, out, n);
    mt_loss_compute(loss, out, loss->fused ? x : NULL, yc, yt, w, n, dout, 0.5f, NULL);
    for (int i = 0; i < m; i++) {
        const float h = 1e-3f, x0 = x[i];
        x[i] = x0 + h;
        double up = value_at(loss, x, yc, yt, w, n);
        x[i] = x0 - h;
        double down = value_at(loss, x, yc, yt, w, n);
        x[i] = x0;
        double num = 0.5 * (up - down) / ((double)(x0 + h) - (double)(x0 - h));
        char what[160];
        snprintf(what, sizeof what, "%s: d/d%s[%d]", name, loss->fused ? "logit" : "out", i);
        CHECK_CLOSE(dout[i], num, 1e-2, 1e-4, what);
    }
}

static void hand_values(void)
{
    /* mse: e = [1 - 0.5, 2 - 4] = [0.5, -2]; (0.25 + 4) / 2 = 2.125 */
    mt_loss l = make(MT_LOSS_MSE, 2, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){1, 2}, NULL, NULL, (float[]){0.5f, 4}, NULL, 1, NULL, 0, NULL), 2.125,
                1e-6, 0, "mse by hand");
    /* mae: |e| = [1, 1, 0.5]; 2.5 / 3 = 0.8333333 */
    l = make(MT_LOSS_MAE, 3, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){1, -1, 0.5f}, NULL, NULL, (float[]){0, 0, 1}, NULL, 1, NULL, 0, NULL),
                2.5 / 3, 1e-6, 0, "mae by hand");
    /* huber, delta 1: e = 0.5 -> 0.5 * 0.25 = 0.125 (quadratic); e = -3 -> 1 * (3 - 0.5) = 2.5 (linear);
     * mean 1.3125. delta 2: 0.125 and 2 * (3 - 1) = 4; mean 2.0625. */
    l = make(MT_LOSS_HUBER, 2, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){0.5f, -3}, NULL, NULL, (float[]){0, 0}, NULL, 1, NULL, 0, NULL), 1.3125,
                1e-6, 0, "huber delta 1 by hand");
    l.delta = 2.0f;
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){0.5f, -3}, NULL, NULL, (float[]){0, 0}, NULL, 1, NULL, 0, NULL), 2.0625,
                1e-6, 0, "huber delta 2 by hand");
    /* hinge, one output: out [0.3, 0.3, 2] with labels [1, 0, 1] or [1, -1, 1]:
     * max(0, 1 - 0.3) + max(0, 1 + 0.3) + max(0, 1 - 2) = 0.7 + 1.3 + 0 = 2 */
    l = make(MT_LOSS_HINGE, 1, 0);
    float ho[] = {0.3f, 0.3f, 2.0f};
    CHECK_CLOSE(mt_loss_compute(&l, ho, NULL, (int32_t[]){1, 0, 1}, NULL, NULL, 3, NULL, 0, NULL), 2.0, 1e-6, 0,
                "hinge labels 0/1 by hand");
    CHECK_CLOSE(mt_loss_compute(&l, ho, NULL, (int32_t[]){1, -1, 1}, NULL, NULL, 3, NULL, 0, NULL), 2.0, 1e-6, 0,
                "hinge labels -1/1 by hand");
    CHECK_CLOSE(mt_loss_compute(&l, ho, NULL, NULL, (float[]){1, -1, 1}, NULL, 3, NULL, 0, NULL), 2.0, 1e-6, 0,
                "hinge float targets -1/1 by hand");
    /* multi-class hinge (MultiMarginLoss): out [0.1, 0.5, -0.2], class 1:
     * (max(0, 1 - 0.5 + 0.1) + max(0, 1 - 0.5 - 0.2)) / 3 = (0.6 + 0.3) / 3 = 0.3 */
    l = make(MT_LOSS_HINGE, 3, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){0.1f, 0.5f, -0.2f}, NULL, (int32_t[]){1}, NULL, NULL, 1, NULL, 0, NULL),
                0.3, 1e-6, 0, "multi-class hinge by hand");
    /* binary cross-entropy on probabilities: p = 0.8 with t = 1: -ln 0.8 = 0.22314355; with t = 0:
     * -ln 0.2 = 1.60943791; sum 1.83258146 */
    l = make(MT_LOSS_BCE, 1, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){0.8f, 0.8f}, NULL, (int32_t[]){1, 0}, NULL, NULL, 2, NULL, 0, NULL),
                1.83258146, 1e-6, 0, "bce unfused by hand");
    /* fused with sigmoid: z = 2, t = 1: ln(1 + e^-2) = 0.12692801; z = -1e4, t = 1: 1e4; z = 1e4, t = 1: 0 */
    l = make(MT_LOSS_BCE, 1, 1);
    float z[] = {2, -1e4f, 1e4f}, p[3];
    output_of(&l, z, p, 3);
    CHECK_CLOSE(mt_loss_compute(&l, p, z, (int32_t[]){1, 1, 1}, NULL, NULL, 3, NULL, 0, NULL), 0.12692801 + 1e4, 1e-9,
                1e-6, "bce fused by hand");
    /* categorical cross-entropy, z = [1, 2, 3], class 2: lse = 3 + ln(e^-2 + e^-1 + 1) = 3.40760596, loss
     * lse - 3 = 0.40760596; on the probabilities softmax(z) = [0.09003057, 0.24472847, 0.66524096]: -ln 0.66524096 */
    l = make(MT_LOSS_CCE, 3, 1);
    float zc[] = {1, 2, 3}, pc[3];
    output_of(&l, zc, pc, 1);
    CHECK_CLOSE(mt_loss_compute(&l, pc, zc, (int32_t[]){2}, NULL, NULL, 1, NULL, 0, NULL), 0.40760596, 1e-6, 0,
                "cce fused by hand");
    l.fused = 0;
    CHECK_CLOSE(mt_loss_compute(&l, pc, NULL, (int32_t[]){2}, NULL, NULL, 1, NULL, 0, NULL), 0.40760596, 1e-6, 0,
                "cce on probabilities by hand");
    /* kl_divergence, t = [0.5, 0.5, 0], p as above: 0.5 ln(0.5 / 0.09003057) + 0.5 ln(0.5 / 0.24472847) + 0
     * = 0.5 * 1.71445887 + 0.5 * 0.71445870 = 1.21445878 */
    float tk[] = {0.5f, 0.5f, 0};
    l = make(MT_LOSS_KL, 3, 1);
    CHECK_CLOSE(mt_loss_compute(&l, pc, zc, NULL, tk, NULL, 1, NULL, 0, NULL), 1.21445878, 1e-6, 0, "kl fused by hand");
    l.fused = 0;
    CHECK_CLOSE(mt_loss_compute(&l, pc, NULL, NULL, tk, NULL, 1, NULL, 0, NULL), 1.21445878, 1e-6, 0,
                "kl on probabilities by hand");
    /* weights: the same mse sample twice with weights 2 and 0.5 gives (2 + 0.5) * 2.125 */
    l = make(MT_LOSS_MSE, 2, 0);
    CHECK_CLOSE(mt_loss_compute(&l, (float[]){1, 2, 1, 2}, NULL, NULL, (float[]){0.5f, 4, 0.5f, 4}, (float[]){2, 0.5f},
                                2, NULL, 0, NULL),
                2.5 * 2.125, 1e-6, 0, "weighted mse by hand");
}

/* Every loss, every label convention and path: dout against central differences, with weights. */
static void gradients(void)
{
    const float w[] = {1.5f, 0.5f, 2.0f};
    /* Errors kept away from the kinks of mae, huber (delta 1) and hinge by more than the step. */
    const float out3[] = {0.3f, -1.2f, 2.5f, 0.9f, 0.05f, -0.4f, 1.7f, -2.2f, 0.6f};
    const float tgt3[] = {0.1f, 0.4f, 0.2f, -0.5f, 1.0f, 0.3f, 0.2f, 0.0f, 0.9f};
    const mt_loss_kind reg[] = {MT_LOSS_MSE, MT_LOSS_MAE, MT_LOSS_HUBER};
    const char *reg_names[] = {"mse", "mae", "huber (both regions)"};
    for (int r = 0; r < 3; r++) {
        mt_loss l = make(reg[r], 3, 0);
        check_grad(reg_names[r], &l, out3, NULL, tgt3, w, 3);
        check_grad(reg_names[r], &l, out3, (int32_t[]){2, 0, 1}, NULL, NULL, 3);
    }
    mt_loss h = make(MT_LOSS_HUBER, 3, 0);
    h.delta = 0.3f;
    check_grad("huber delta 0.3", &h, out3, NULL, tgt3, w, 3);
    /* hinge, one output: active and inactive margins, both label conventions */
    mt_loss hb = make(MT_LOSS_HINGE, 1, 0);
    const float o1[] = {0.3f, -0.4f, 1.6f};
    check_grad("hinge labels 0/1", &hb, o1, (int32_t[]){1, 0, 0}, NULL, w, 3);
    check_grad("hinge labels -1/1", &hb, o1, (int32_t[]){1, -1, 1}, NULL, w, 3);
    check_grad("hinge float targets -1/1", &hb, o1, NULL, (float[]){-1, 1, 1}, w, 3);
    mt_loss hm = make(MT_LOSS_HINGE, 3, 0);
    check_grad("multi-class hinge", &hm, out3, (int32_t[]){1, 0, 2}, NULL, w, 3);
    check_grad("hinge multi-output float targets 0/1", &hm, out3, NULL, (float[]){1, 0, 0, 0, 1, 1, 0, 0, 1}, w, 3);
    /* binary cross-entropy: fused on logits, unfused on probabilities; class labels and multi-label targets */
    mt_loss bf = make(MT_LOSS_BCE, 1, 1), bu = make(MT_LOSS_BCE, 1, 0);
    check_grad("bce fused, labels 0/1", &bf, o1, (int32_t[]){1, 0, 1}, NULL, w, 3);
    check_grad("bce on probabilities, labels 0/1", &bu, (float[]){0.3f, 0.8f, 0.55f}, (int32_t[]){1, 0, 1}, NULL, w, 3);
    mt_loss bf3 = make(MT_LOSS_BCE, 3, 1), bu3 = make(MT_LOSS_BCE, 3, 0);
    const float soft3[] = {0.2f, 0.9f, 0.5f, 0.1f, 0.3f, 1.0f, 0.7f, 0.0f, 0.4f};
    const float prob3[] = {0.15f, 0.6f, 0.35f, 0.8f, 0.45f, 0.25f, 0.7f, 0.05f, 0.9f};
    check_grad("bce fused, multi-label float targets", &bf3, out3, NULL, soft3, w, 3);
    check_grad("bce on probabilities, multi-label", &bu3, prob3, NULL, soft3, w, 3);
    /* categorical cross-entropy and KL divergence, fused and on probabilities */
    const float dist3[] = {0.2f, 0.5f, 0.3f, 0.0f, 1.0f, 0.0f, 0.6f, 0.0f, 0.4f};
    for (int kl = 0; kl < 2; kl++) {
        mt_loss f = make(kl ? MT_LOSS_KL : MT_LOSS_CCE, 3, 1), u = make(kl ? MT_LOSS_KL : MT_LOSS_CCE, 3, 0);
        char what[64];
        snprintf(what, sizeof what, "%s fused, class labels", kl ? "kl" : "cce");
        check_grad(what, &f, out3, (int32_t[]){0, 2, 1}, NULL, w, 3);
        snprintf(what, sizeof what, "%s fused, distributions", kl ? "kl" : "cce");
        check_grad(what, &f, out3, NULL, dist3, w, 3);
        snprintf(what, sizeof what, "%s on probabilities, distributions", kl ? "kl" : "cce");
        check_grad(what, &u, prob3, NULL, dist3, w, 3);
    }
}

/* Weighted loss and gradient equal the weighted sums of the per-sample ones, for every loss. */
static void weights(void)
{
    const float x[] = {0.3f, -1.2f, 2.5f, 0.9f, 0.05f, -0.4f};
    const int32_t y[] = {2, 0};
    const float w[] = {3.0f, 0.25f};
    for (int kind = 0; kind < MT_LOSS_COUNT; kind++)
        for (int fused = 0; fused < 2; fused++) {
            if (fused && kind != MT_LOSS_CCE && kind != MT_LOSS_KL && kind != MT_LOSS_BCE)
                continue;
            mt_loss l = make((mt_loss_kind)kind, 3, fused);
            float out[6], dw[6], d1[6];
            output_of(&l, fused ? x : (float[]){0.3f, 0.2f, 0.5f, 0.1f, 0.6f, 0.3f}, out, 2);
            const float *z = fused ? x : NULL;
            double lw = mt_loss_compute(&l, out, z, y, NULL, w, 2, dw, 1.0f, NULL);
            double l0 = mt_loss_compute(&l, out, z, y, NULL, NULL, 1, d1, 1.0f, NULL);
            double l1 = mt_loss_compute(&l, out + 3, z ? z + 3 : NULL, y + 1, NULL, NULL, 1, d1 + 3, 1.0f, NULL);
            char what[96];
            snprintf(what, sizeof what, "%s%s: weighted loss", loss_name(kind), fused ? " fused" : "");
            CHECK_CLOSE(lw, 3.0 * l0 + 0.25 * l1, 1e-6, 1e-9, what);
            for (int j = 0; j < 6; j++) {
                snprintf(what, sizeof what, "%s%s: weighted gradient [%d]", loss_name(kind), fused ? " fused" : "", j);
                CHECK_CLOSE(dw[j], w[j / 3] * d1[j], 1e-6, 1e-9, what);
            }
        }
}

/* rmse: the per-batch sum is the weighted sum of per-sample mse; sqrt of the global mean is reported, and
 * the gradient scaled by mt_loss_grad_factor is the derivative of sqrt(mean) (central differences). */
static void rmse(void)
{
    mt_loss l = make(MT_LOSS_RMSE, 1, 0);
    CHECK(mt_loss_needs_global_mean(&l) && !mt_loss_needs_global_mean(&(mt_loss){.kind = MT_LOSS_MSE}),
          "only rmse needs the global mean");
    /* out [3, 0], t [1, 0]: per-sample mse [4, 0], mean 2, rmse sqrt 2 = 1.41421356; d rmse / d out_0 =
     * (1 / (2 sqrt 2)) * 2 * 2 / 2 = 0.70710678 */
    float out[] = {3, 0}, t[] = {1, 0}, d[2];
    double s = mt_loss_compute(&l, out, NULL, NULL, t, NULL, 2, d, 0.5f, NULL);
    CHECK_CLOSE(s, 4.0, 1e-9, 0, "rmse batch sum (of squared errors)");
    CHECK_CLOSE(mt_loss_report(&l, s, 2), 1.41421356, 1e-8, 0, "rmse reported by hand");
    CHECK_CLOSE(mt_loss_grad_factor(&l, s, 2), 0.35355339, 1e-7, 0, "rmse gradient factor 1/(2 sqrt 2)");
    CHECK_CLOSE(d[0] * mt_loss_grad_factor(&l, s, 2), 0.70710678, 1e-6, 0, "rmse gradient by hand");
    CHECK(mt_loss_grad_factor(&l, 0, 2) == 0.0, "rmse factor at zero error is 0, not inf");
    mt_loss m = make(MT_LOSS_MSE, 1, 0);
    CHECK(mt_loss_grad_factor(&m, s, 2) == 1.0 && mt_loss_report(&m, s, 2) == 2.0, "mse: factor 1, mean reported");
    CHECK(isnan(mt_loss_report(&m, 0, 0)), "no samples: NAN");
    /* Weighted, 3 outputs, split over two "ranks": sums add, then one factor for the whole batch. */
    const float x[] = {0.3f, -1.2f, 2.5f, 0.9f, 0.05f, -0.4f, 1.7f, -2.2f, 0.6f}, w[] = {1.5f, 0.5f, 2.0f};
    const float tg[] = {0.1f, 0.4f, 0.2f, -0.5f, 1.0f, 0.3f, 0.2f, 0.0f, 0.9f};
    l.k = 3;
    float g[9], xx[9];
    double sum = mt_loss_compute(&l, x, NULL, NULL, tg, w, 1, g, 1.0f / 3, NULL) +
                 mt_loss_compute(&l, x + 3, NULL, NULL, tg + 3, w + 1, 2, g + 3, 1.0f / 3, NULL);
    double f = mt_loss_grad_factor(&l, sum, 3);
    memcpy(xx, x, sizeof xx);
    for (int i = 0; i < 9; i++) {
        const float h = 1e-3f, x0 = xx[i];
        xx[i] = x0 + h;
        double up = sqrt(mt_loss_compute(&l, xx, NULL, NULL, tg, w, 3, NULL, 0, NULL) / 3);
        xx[i] = x0 - h;
        double down = sqrt(mt_loss_compute(&l, xx, NULL, NULL, tg, w, 3, NULL, 0, NULL) / 3);
        xx[i] = x0;
        char what[64];
        snprintf(what, sizeof what, "rmse global gradient [%d]", i);
        CHECK_CLOSE(g[i] * f, (up - down) / ((double)(x0 + h) - (double)(x0 - h)), 1e-2, 1e-4, what);
    }
}

/* No inf or NaN for logits of magnitude 1e4, nor for probabilities 0 and 1. */
static void stability(void)
{
    float z[] = {1e4f, -1e4f, 0, -1e4f, 1e4f, 3}, p[6], d[6];
    for (int kind = 0; kind < 3; kind++) {
        mt_loss_kind kinds[] = {MT_LOSS_CCE, MT_LOSS_KL, MT_LOSS_BCE};
        mt_loss l = make(kinds[kind], 3, 1);
        output_of(&l, z, p, 2);
        double v = mt_loss_compute(&l, p, z, (int32_t[]){1, 0}, NULL, NULL, 2, d, 1.0f, NULL);
        int ok = isfinite(v);
        for (int j = 0; j < 6; j++)
            ok &= isfinite(d[j]);
        CHECK(ok, "%s fused at |z| = 1e4: loss %g, gradient %g %g %g %g %g %g", loss_name(kinds[kind]), v, d[0], d[1],
              d[2], d[3], d[4], d[5]);
    }
    /* cce: sample 0 has class 1 at logit -1e4 against 1e4: loss 2e4; sample 1 class 0 at -1e4 against 1e4: 2e4 */
    mt_loss c = make(MT_LOSS_CCE, 3, 1);
    output_of(&c, z, p, 2);
    CHECK_CLOSE(mt_loss_compute(&c, p, z, (int32_t[]){1, 0}, NULL, NULL, 2, NULL, 0, NULL), 4e4, 1e-6, 0,
                "cce fused at 1e4");
    float p01[] = {0, 1}, d2[2];
    mt_loss b = make(MT_LOSS_BCE, 1, 0);
    double v = mt_loss_compute(&b, p01, NULL, (int32_t[]){1, 0}, NULL, NULL, 2, d2, 1.0f, NULL);
    /* both clipped to 1e-7 from the wrong side: 2 * -ln(1e-7) = 32.236191 (float 1 - 1e-7 rounds) */
    CHECK(isfinite(v) && isfinite(d2[0]) && isfinite(d2[1]) && fabs(v - 32.236191) < 0.2,
          "bce on probabilities 0/1: loss %g (about 32.24), gradient %g %g", v, d2[0], d2[1]);
}

static void accuracy_and_metrics(void)
{
    int64_t c = -1;
    /* one sigmoid output, threshold 0.5: [0.7 vs 1 yes, 0.2 vs 0 yes, 0.6 vs 0 no] -> 2 */
    mt_loss b = make(MT_LOSS_BCE, 1, 0);
    mt_loss_compute(&b, (float[]){0.7f, 0.2f, 0.6f}, NULL, (int32_t[]){1, 0, 0}, NULL, NULL, 3, NULL, 0, &c);
    CHECK(c == 2, "binary accuracy count at 0.5: %lld, expected 2", (long long)c);
    /* hinge margins, threshold 0: [0.3 vs 1 yes, -0.5 vs -1 yes, 0.2 vs -1 no] -> 2 */
    mt_loss h = make(MT_LOSS_HINGE, 1, 0);
    mt_loss_compute(&h, (float[]){0.3f, -0.5f, 0.2f}, NULL, (int32_t[]){1, -1, -1}, NULL, NULL, 3, NULL, 0, &c);
    CHECK(c == 2, "hinge accuracy count at 0: %lld, expected 2", (long long)c);
    /* arg-max: [class 2 at 0.5 yes, class 0 at 0.1 no] -> 1; with one-hot targets the same */
    mt_loss cc = make(MT_LOSS_CCE, 3, 0);
    float po[] = {0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f};
    mt_loss_compute(&cc, po, NULL, (int32_t[]){2, 0}, NULL, NULL, 2, NULL, 0, &c);
    CHECK(c == 1, "arg-max accuracy: %lld, expected 1", (long long)c);
    mt_loss_compute(&cc, po, NULL, NULL, (float[]){0, 0, 1, 1, 0, 0}, NULL, 2, NULL, 0, &c);
    CHECK(c == 1, "arg-max accuracy, one-hot targets: %lld, expected 1", (long long)c);
    /* multi-label bce: a sample counts when every output is on the right side of 0.5: [0.2, 0.3, 0.5] vs
     * [0, 0, 0] yes (0.5 is not above); [0.1, 0.8, 0.1] vs [0, 1, 1] no -> 1 */
    mt_loss b3 = make(MT_LOSS_BCE, 3, 0);
    mt_loss_compute(&b3, po, NULL, NULL, (float[]){0, 0, 0, 0, 1, 1}, NULL, 2, NULL, 0, &c);
    CHECK(c == 1, "multi-label accuracy: %lld, expected 1", (long long)c);

    /* metric sums: out [[1, 2]] vs t [[0, 4]]: |e| = 1 + 2 = 3, e^2 = 1 + 4 = 5, 2 outputs; binary:
     * 1 > 0.5 vs 0 > 0.5 wrong, 2 > 0.5 vs 4 > 0.5 right; then out [[0.2, 0.9]] vs class 1 (one-hot [0, 1]):
     * |e| 0.2 + 0.1, e^2 0.04 + 0.01, both right, arg-max right. */
    double sums[MT_METRIC_SUMS] = {0};
    mt_loss m = make(MT_LOSS_MSE, 2, 0);
    mt_metrics_accumulate(&m, (float[]){1, 2}, NULL, (float[]){0, 4}, 1, sums);
    mt_metrics_accumulate(&m, (float[]){0.2f, 0.9f}, (int32_t[]){1}, NULL, 1, sums);
    CHECK_CLOSE(mt_metric_value(MT_METRIC_MAE, sums), 3.3 / 4, 1e-6, 0, "mae metric by hand");
    CHECK_CLOSE(mt_metric_value(MT_METRIC_RMSE, sums), sqrt(5.05 / 4), 1e-6, 0, "rmse metric by hand");
    CHECK_CLOSE(mt_metric_value(MT_METRIC_BINARY_ACCURACY, sums), 0.75, 1e-12, 0, "binary_accuracy by hand");
    CHECK_CLOSE(mt_metric_value(MT_METRIC_ACCURACY, sums), 1.0, 1e-12, 0, "accuracy by hand (argmax of targets)");
    CHECK(sums[MT_METRIC_SUM_SAMPLES] == 2 && sums[MT_METRIC_SUM_OUTPUTS] == 4, "sample and output counts");
    double none[MT_METRIC_SUMS] = {0};
    CHECK(isnan(mt_metric_value(MT_METRIC_ACCURACY, none)), "empty sums give NAN");
    CHECK(mt_choice_find(mt_metric_names, "acc") == MT_METRIC_ACCURACY &&
              mt_choice_find(mt_metric_names, "binary_accuracy") == MT_METRIC_BINARY_ACCURACY &&
              mt_choice_find(mt_metric_names, "mean_absolute_error") == MT_METRIC_MAE &&
              mt_choice_find(mt_metric_names, "rmse") == MT_METRIC_RMSE && mt_choice_find(mt_metric_names, "f1") < 0,
          "metric names");
    int32_t lo, hi;
    mt_loss_label_range(&h, &lo, &hi);
    CHECK(lo == -1 && hi == 1, "hinge label range [%d, %d]", lo, hi);
    mt_loss_label_range(&b, &lo, &hi);
    CHECK(lo == 0 && hi == 1, "bce label range [%d, %d]", lo, hi);
    mt_loss_label_range(&cc, &lo, &hi);
    CHECK(lo == 0 && hi == 2, "cce label range [%d, %d]", lo, hi);
}

/* Builds a model "layers" on 3 inputs and sets the loss up; returns the status, message in err. */
static mt_status setup(const char *layers, const char *loss_yaml, mt_loss *loss, mt_model *m, mt_config *cfg,
                       mt_error *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "model: {input: [3], layers: %s}\nloss: %s\noptimizer: sgd\ndata: {file: none.h5}\n",
             layers, loss_yaml);
    mt_status st = mt_config_load_string(yaml, "losses.yaml", NULL, 0, cfg, err);
    if (st)
        return st;
    st = mt_model_build(cfg, 0, m, err);
    if (!st)
        st = mt_model_reserve(m, 4, err);
    if (!st)
        st = mt_loss_setup(loss, cfg->loss, m, err);
    return st;
}

static void config_case(const char *layers, const char *loss_yaml, int want_kind, int want_fused, float delta)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_status st = setup(layers, loss_yaml, &l, &m, &cfg, &err);
    if (CHECK(st == MT_OK, "loss %s on %s: %s", loss_yaml, layers, err.msg))
        CHECK(l.kind == (mt_loss_kind)want_kind && l.fused == want_fused &&
                  m.layers[m.n_layers - 1].fused_output == want_fused && l.delta == delta,
              "loss %s on %s: kind %d fused %d delta %g, expected %d %d %g", loss_yaml, layers, l.kind, l.fused,
              l.delta, want_kind, want_fused, delta);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void config_error(const char *layers, const char *loss_yaml, const char *want)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_status st = setup(layers, loss_yaml, &l, &m, &cfg, &err);
    CHECK(st == MT_ERR_CONFIG && strstr(err.msg, want), "loss %s: status %d, message '%s', expected it to contain '%s'",
          loss_yaml, st, err.msg, want);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void names(void)
{
    const char *dense_sig1 = "[{dense: {units: 1, activation: sigmoid}}]";
    const char *dense_soft3 = "[{dense: {units: 3, activation: softmax}}]";
    const char *dense_lin3 = "[{dense: {units: 3}}]";
    config_case(dense_lin3, "mse", MT_LOSS_MSE, 0, 1.0f);
    config_case(dense_lin3, "mean_squared_error", MT_LOSS_MSE, 0, 1.0f);
    config_case(dense_lin3, "root_mean_squared_error", MT_LOSS_RMSE, 0, 1.0f);
    config_case(dense_lin3, "mean_absolute_error", MT_LOSS_MAE, 0, 1.0f);
    config_case(dense_lin3, "huber", MT_LOSS_HUBER, 0, 1.0f);
    config_case(dense_lin3, "{name: huber_loss, delta: 2.5}", MT_LOSS_HUBER, 0, 2.5f);
    config_case(dense_lin3, "hinge", MT_LOSS_HINGE, 0, 1.0f);
    config_case(dense_sig1, "binary_crossentropy", MT_LOSS_BCE, 1, 1.0f);
    config_case(dense_sig1, "{name: bce}", MT_LOSS_BCE, 1, 1.0f);
    config_case("[{dense: {units: 1}}, sigmoid]", "binary_crossentropy", MT_LOSS_BCE, 1, 1.0f);
    config_case("[{dense: {units: 1}}]", "binary_crossentropy", MT_LOSS_BCE, 0, 1.0f);
    config_case(dense_soft3, "categorical_crossentropy", MT_LOSS_CCE, 1, 1.0f);
    config_case(dense_soft3, "sparse_categorical_crossentropy", MT_LOSS_CCE, 1, 1.0f);
    config_case("[{dense: {units: 3}}, softmax]", "categorical_crossentropy", MT_LOSS_CCE, 1, 1.0f);
    config_case("[{dense: {units: 3}}, {activation: {name: softmax}}]", "kl_divergence", MT_LOSS_KL, 1, 1.0f);
    config_case(dense_soft3, "kld", MT_LOSS_KL, 1, 1.0f);
    config_case(dense_soft3, "kullback_leibler_divergence", MT_LOSS_KL, 1, 1.0f);
    config_case("[{dense: {units: 3, activation: sigmoid}}]", "kl_divergence", MT_LOSS_KL, 0, 1.0f);
    config_case(dense_soft3, "mse", MT_LOSS_MSE, 0, 1.0f); /* not fused: mse goes through the softmax */
    config_error(dense_lin3, "cross_entropy_loss",
                 "valid: categorical_crossentropy, mse, rmse, mae, huber, hinge, "
                 "binary_crossentropy, kl_divergence");
    config_error(dense_lin3, "{name: nope}", "kl_divergence");
    config_error(dense_lin3, "{name: mse, delta: 2}", "unknown key 'delta'");
    config_error(dense_lin3, "{name: huber, delta: 0}", "loss.delta");
    config_error(dense_lin3, "{delta: 1}", "missing required key 'name'");
    config_error(dense_sig1, "categorical_crossentropy", "at least 2 outputs");
    config_error(dense_sig1, "kl_divergence", "at least 2 outputs");
    /* hinge with tanh outputs decides at 0; bce at 0.5 */
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    if (CHECK(setup("[{dense: {units: 1, activation: tanh}}]", "mse", &l, &m, &cfg, &err) == MT_OK, "%s", err.msg))
        CHECK(l.threshold == 0.0f, "tanh output decides at 0, got %g", l.threshold);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

int main(void)
{
    hand_values();
    gradients();
    weights();
    rmse();
    stability();
    accuracy_and_metrics();
    names();
    return mt_test_finish("losses");
}
