/* Learning-rate schedules against values computed by hand at chosen steps: constant, step decay,
 * exponential decay, cosine annealing, linear warmup on each, the linear scaling rule; rejected configs.
 * Every expected value below is worked out in its comment (cosines from a calculator / python3 math.cos). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/yaml_tree.h"
#include "optim/schedule.h"
#include "testlib.h"

typedef struct point {
    uint64_t step;
    double lr;
} point;

/* Creates the schedule from yaml (NULL: no lr_schedule key) and checks lr at each point. */
static void check(const char *yaml, double base, int batch, uint64_t spe, int epochs, const point *pts, int n,
                  const char *what)
{
    mt_node *node = NULL;
    mt_error err = {0};
    if (yaml && !CHECK(mt_yaml_parse_string(yaml, what, &node, &err) == MT_OK, "%s: parse: %s", what, err.msg))
        return;
    mt_schedule s;
    if (CHECK(mt_schedule_create(node, base, batch, spe, epochs, &s, &err) == MT_OK, "%s: create: %s", what, err.msg)) {
        for (int i = 0; i < n; i++) {
            char label[128];
            snprintf(label, sizeof label, "%s: lr at step %llu", what, (unsigned long long)pts[i].step);
            CHECK_CLOSE(mt_schedule_lr(&s, pts[i].step), pts[i].lr, 1e-12, 1e-15, label);
        }
        for (int i = n - 1; i >= 0; i--) /* pure: the same value whatever was asked before */
            CHECK(mt_schedule_lr(&s, pts[i].step) == mt_schedule_lr(&s, pts[i].step), "%s: not pure", what);
    }
    mt_node_free(node);
}

/* Refused with code and a message containing word1 and word2. */
static void rejects(const char *yaml, double base, int batch, uint64_t spe, int epochs, mt_status code,
                    const char *word1, const char *word2, const char *what)
{
    mt_node *node = NULL;
    mt_error err = {0};
    if (!CHECK(mt_yaml_parse_string(yaml, "t", &node, &err) == MT_OK, "%s: parse: %s", what, err.msg))
        return;
    mt_schedule s;
    if (CHECK(mt_schedule_create(node, base, batch, spe, epochs, &s, &err) == code, "%s: status %d, want %d (%s)", what,
              (int)err.code, (int)code, err.msg)) {
        CHECK(!word1 || strstr(err.msg, word1), "%s: message lacks '%s': %s", what, word1, err.msg);
        CHECK(!word2 || strstr(err.msg, word2), "%s: message lacks '%s': %s", what, word2, err.msg);
    }
    mt_node_free(node);
}

static void schedules(void)
{
    /* absent, empty, or constant: the base rate at every step */
    const point flat[] = {{0, 0.1}, {1, 0.1}, {12345, 0.1}};
    check(NULL, 0.1, 32, 10, 5, flat, 3, "absent");
    check("", 0.1, 32, 10, 5, flat, 3, "empty");
    check("constant", 0.1, 32, 10, 5, flat, 3, "constant");
    check("none", 0.1, 32, 10, 5, flat, 3, "constant alias");
    check("{name: constant}", 0.1, 32, 10, 5, flat, 3, "constant map");
    check("{}", 0.1, 32, 10, 5, flat, 3, "empty map");

    /* step: 10 steps per epoch, step_size 2 epochs, gamma 0.5: epochs 0-1 (steps 0-19) 0.1, epochs 2-3 0.05,
     * epochs 4-5 0.025, epoch 6 (past the run) 0.0125 */
    const point step[] = {{0, 0.1}, {19, 0.1}, {20, 0.05}, {39, 0.05}, {40, 0.025}, {59, 0.025}, {60, 0.0125}};
    check("{name: step, step_size: 2, gamma: 0.5}", 0.1, 32, 10, 6, step, 7, "step");
    /* default gamma 0.1: epoch 3 with step_size 3 -> 0.1 * 0.1 = 0.01 */
    const point step_dflt[] = {{29, 0.1}, {30, 0.01}};
    check("{name: step_decay, step_size: 3}", 0.1, 32, 10, 6, step_dflt, 2, "step default gamma");

    /* exponential: gamma 0.9 per epoch, 10 steps per epoch: step 35 is in epoch 3 -> 0.1 * 0.9^3 = 0.0729 */
    const point expo[] = {{0, 0.1}, {9, 0.1}, {10, 0.09}, {35, 0.0729}};
    check("{name: exponential, gamma: 0.9}", 0.1, 32, 10, 5, expo, 4, "exponential");

    /* cosine: base 0.1, min_lr 0.01, 5 epochs of 10 steps, T = 50:
     * lr(s) = 0.01 + 0.09 (1 + cos(pi s / 50)) / 2;  s = 10: 0.01 + 0.045 (1 + cos 36deg) = 0.0914057647;
     * s = 25: 0.01 + 0.045 = 0.055;  s = 49: 0.01 + 0.045 (1 + cos(0.98 pi)) = 0.0100887972;
     * s >= 50: min_lr (capped) */
    const point cosine[] = {{0, 0.1},  {10, 0.09140576474687263}, {25, 0.055}, {49, 0.01008879722072778}, {50, 0.01},
                            {80, 0.01}};
    check("{name: cosine, min_lr: 0.01}", 0.1, 32, 10, 5, cosine, 6, "cosine");
    const point cosine0[] = {{0, 0.1}, {25, 0.05}, {50, 0.0}};
    check("cosine_annealing", 0.1, 32, 10, 5, cosine0, 3, "cosine default min_lr");
}

static void warmup(void)
{
    /* constant, 1 warmup epoch of 4 steps: (s + 1) / 4 * 0.1 for s < 4 */
    const point constant[] = {{0, 0.025}, {1, 0.05}, {2, 0.075}, {3, 0.1}, {4, 0.1}, {100, 0.1}};
    check("{name: constant, warmup_epochs: 1}", 0.1, 32, 4, 3, constant, 6, "constant warmup");
    check("{warmup_epochs: 1}", 0.1, 32, 4, 3, constant, 6, "warmup without a name");
    /* cosine, 1 warmup epoch of 10 steps in a 3-epoch run: W = 10, then cosine over 20 steps to 0:
     * s = 0: 0.1 / 10; s = 4: 0.05; s = 9: 0.1; s = 10: 0.1 (u = 0); s = 20: 0.05 (u = 10 of 20);
     * s = 29: 0.05 (1 + cos(19 pi / 20)) = 0.00061558297 */
    const point cosine[] = {{0, 0.01}, {4, 0.05}, {9, 0.1}, {10, 0.1}, {20, 0.05}, {29, 0.0006155829702431171}};
    check("{name: cosine, warmup_epochs: 1}", 0.1, 32, 10, 3, cosine, 6, "cosine warmup");
    /* step (step_size 1, gamma 0.5) with half an epoch of warmup, 4 steps per epoch: W = 2;
     * s = 0: 0.1 * 1/2; s = 1: 0.1; s = 4 (epoch 1): 0.05; s = 8: 0.025 */
    const point step[] = {{0, 0.05}, {1, 0.1}, {3, 0.1}, {4, 0.05}, {8, 0.025}};
    check("{name: step, step_size: 1, gamma: 0.5, warmup_epochs: 0.5}", 0.1, 32, 4, 3, step, 5, "step warmup");
    /* exponential gamma 0.5 with 2 warmup epochs of 2 steps: W = 4 overlapping the decay, which counts
     * epochs from the start: s = 0: 0.1 * 1/4; s = 2 (epoch 1): 0.05 * 3/4; s = 3: 0.05; s = 4: 0.025 */
    const point expo[] = {{0, 0.025}, {2, 0.0375}, {3, 0.05}, {4, 0.025}};
    check("{name: exponential, gamma: 0.5, warmup_epochs: 2}", 0.1, 32, 2, 4, expo, 4, "exponential warmup");
    /* W = round(0.25 * 10) = round(2.5) = 3: s = 0 uses 1/3 of the rate */
    const point rounded[] = {{0, 0.1 / 3}, {1, 0.2 / 3}, {2, 0.1}};
    check("{name: constant, warmup_epochs: 0.25}", 0.1, 32, 10, 2, rounded, 3, "warmup rounding");
    /* 0.01 epochs of 10 steps rounds to 0 steps: no warmup (the full rate at step 0) */
    const point tiny[] = {{0, 0.1}, {1, 0.1}};
    check("{name: constant, warmup_epochs: 0.01}", 0.1, 32, 10, 2, tiny, 2, "tiny warmup");
}

static void scaling(void)
{
    /* linear scaling rule: 0.1 given for batch 256, run with 1024 -> 0.4 */
    const point up[] = {{0, 0.4}, {1000, 0.4}};
    check("{name: constant, reference_batch: 256}", 0.1, 1024, 10, 2, up, 2, "scaling up");
    /* 0.1 for batch 128, run with 64 -> 0.05; cosine to 0.01 over 10 steps: s = 5: 0.01 + 0.04 / 2 = 0.03 */
    const point down[] = {{0, 0.05}, {5, 0.03}};
    check("{name: cosine, min_lr: 0.01, reference_batch: 128}", 0.1, 64, 10, 1, down, 2, "scaling cosine");
    /* scaling with warmup (Goyal et al.): 0.4 reached after W = 4 steps: 0.1, 0.2, 0.3, 0.4 */
    const point warm[] = {{0, 0.1}, {1, 0.2}, {2, 0.3}, {3, 0.4}, {10, 0.4}};
    check("{name: constant, reference_batch: 256, warmup_epochs: 2}", 0.1, 1024, 2, 5, warm, 5, "scaling warmup");

    mt_node *node = NULL;
    mt_error err = {0};
    mt_schedule s;
    if (CHECK(mt_yaml_parse_string("{name: step, step_size: 4, reference_batch: 100}", "t", &node, &err) == MT_OK,
              "parse: %s", err.msg) &&
        CHECK(mt_schedule_create(node, 0.3, 50, 7, 9, &s, &err) == MT_OK, "create: %s", err.msg)) {
        CHECK_CLOSE(s.base_lr, 0.15, 1e-15, 0, "base_lr after scaling");
        CHECK(s.kind == MT_SCHEDULE_STEP && !strcmp(s.opts.name, "step") && s.steps_per_epoch == 7 &&
                  s.total_steps == 63 && s.warmup_steps == 0,
              "fields: kind %d name %s spe %llu total %llu warmup %llu", (int)s.kind, s.opts.name,
              (unsigned long long)s.steps_per_epoch, (unsigned long long)s.total_steps,
              (unsigned long long)s.warmup_steps);
    }
    mt_node_free(node);
}

static void rejections(void)
{
    rejects("linear", 0.1, 32, 10, 5, MT_ERR_CONFIG, "'linear'", "constant, step, exponential, cosine",
            "unknown schedule");
    rejects("{name: warmup}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "t:1:", "valid: constant", "unknown in a map");
    rejects("{step_size: 2}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "'step_size'", NULL, "no name is constant");
    rejects("{name: [step]}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "t:1: lr_schedule.name", "cosine", "name a list");
    rejects("{name: constant, gamma: 0.5}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "'gamma'", "warmup_epochs",
            "constant with gamma");
    rejects("step", 0.1, 32, 10, 5, MT_ERR_CONFIG, "step_size", NULL, "step without step_size");
    rejects("{name: exponential}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "gamma", NULL, "exponential without gamma");
    rejects("{name: exponential, gamma: 0.9, step_size: 2}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "'step_size'", NULL,
            "exponential with step_size");
    rejects("{name: cosine, gamma: 0.9}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "'gamma'", "min_lr", "cosine with gamma");
    rejects("{name: step, step_size: 0}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "step_size", "range", "step_size 0");
    rejects("{name: step, step_size: 2, gamma: 1.5}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "gamma", "range", "gamma above 1");
    rejects("{name: constant, warmup_epochs: -1}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "warmup_epochs", "range",
            "negative warmup");
    rejects("{name: constant, warmup_epochs: 6}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "t:1: lr_schedule.warmup_epochs",
            "5 epochs", "warmup longer than the run");
    rejects("{name: cosine, min_lr: 0.5}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "lr_schedule.min_lr", "0.1",
            "min_lr above the rate");
    rejects("{name: constant, reference_batch: 0.5}", 0.1, 32, 10, 5, MT_ERR_CONFIG, "reference_batch", "integer",
            "fractional reference batch");
    rejects("constant", 0.1, 32, 0, 5, MT_ERR_INTERNAL, "steps per epoch", NULL, "no steps");
    rejects("constant", 0.1, 32, 10, 0, MT_ERR_INTERNAL, "epochs", NULL, "no epochs");
}

int main(void)
{
    schedules();
    warmup();
    scaling();
    rejections();
    for (int k = 0; k < MT_SCHEDULE_COUNT; k++) /* every option documented, for the generated docs */
        for (const mt_option *o = mt_schedule_options((mt_schedule_kind)k); o && o->name; o++)
            CHECK(o->doc && o->doc[0], "%s.%s: no doc", mt_schedule_names[k], o->name);
    return mt_test_finish("schedule");
}
