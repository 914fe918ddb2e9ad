/* The passes fused into the dense layers' products give the bits of the separate passes: the relu's
 * gradient folded into the next dense layer's dX product (mt_layer dy_relu_masked / dx_relu_mask, set by
 * the model between two dense layers) against the relu's own backward pass, and the gradient slab zeroed
 * lazily (mt_model_zero_grads_lazy: stale gradients written by the next backward pass) against a memset,
 * with one and two backward passes per zeroing (accumulation), an empty pass, a layer that only adds
 * (batch_norm) and mt_model_settle_grads. Models of dense layers with relu, an odd batch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

enum { N = 13, IN = 20, NMAX = 2 * N };

typedef struct fixture {
    mt_config cfg;
    mt_model m;
    mt_loss loss;
    int32_t y[NMAX];
    float x[NMAX * IN], dout[NMAX * 8], dx[NMAX * IN];
    mt_pass pass;
} fixture;

static int setup(fixture *f, const char *layers)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model: {input: [%d], layers: %s}\nloss: categorical_crossentropy\noptimizer: sgd\n"
             "data: {file: none.h5}\n",
             IN, layers);
    memset(f, 0, sizeof *f);
    f->pass = (mt_pass){.training = 1, .seed = 1, .global_n = N};
    mt_error err = {0};
    if (!MODEL_BUILD(yaml, NMAX, &f->cfg, &f->m))
        return 0;
    if (!CHECK(mt_loss_setup(&f->loss, f->cfg.loss, &f->m, &err) == MT_OK, "%s: %s", layers, err.msg))
        return 0;
    mt_model_init_params(&f->m, 3);
    for (int i = 0; i < NMAX * IN; i++)
        f->x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < NMAX; i++)
        f->y[i] = i % 3;
    return 1;
}

/* One forward and backward pass over samples [first, first + n) into the gradient slab, dx0 written. */
static void pass(fixture *f, int first, int n)
{
    memcpy(f->m.acts[0], f->x + first * IN, (size_t)n * IN * sizeof *f->x);
    const float *out = MODEL_FORWARD(&f->m, n, &f->pass);
    mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->y + first, NULL, NULL, n, f->dout, 1.0f / N, NULL);
    MODEL_BACKWARD(&f->m, f->dout, n, &f->pass, f->dx);
}

static void fixture_free(fixture *f)
{
    mt_model_free(&f->m);
    mt_config_free(&f->cfg);
}

/* Relu folded or not (the flags the model set, or none), lazy zeroing or not: the same bits. */
static void same_bits(const char *name, const char *layers, int expect_folds)
{
    fixture f;
    if (!setup(&f, layers)) {
        fixture_free(&f);
        return;
    }
    int folds = 0;
    for (int i = 0; i < f.m.n_layers; i++)
        folds += f.m.layers[i].dx_relu_mask;
    CHECK(folds == expect_folds, "%s: %d relu gradient(s) folded into a dX product, expected %d", name, folds,
          expect_folds);
    const size_t np = f.m.n_params;
    static float ref[4096], ref_dx[NMAX * IN], got[4096];
    if (!CHECK(np <= 4096, "%s: %zu parameters: too many for the test", name, np)) {
        fixture_free(&f);
        return;
    }
    int saved[16][2];
    for (int i = 0; i < f.m.n_layers; i++)
        saved[i][0] = f.m.layers[i].dy_relu_masked, saved[i][1] = f.m.layers[i].dx_relu_mask;
    for (int variant = 0; variant < 4; variant++) {
        const int fold = variant & 1, lazy = variant >> 1;
        for (int i = 0; i < f.m.n_layers; i++) {
            f.m.layers[i].dy_relu_masked = fold && saved[i][0];
            f.m.layers[i].dx_relu_mask = fold && saved[i][1];
        }
        for (int step = 0; step < 2; step++) { /* the second step zeroes a slab that holds the first's sums */
            if (lazy)
                mt_model_zero_grads_lazy(&f.m);
            else
                mt_model_zero_grads(&f.m);
            pass(&f, 0, N);
            if (step == 1) /* accumulation: a second micro-batch added */
                pass(&f, N, N);
        }
        if (variant == 0) {
            memcpy(ref, f.m.grads, np * sizeof *ref);
            memcpy(ref_dx, f.dx, sizeof ref_dx);
            double s = 0;
            for (size_t i = 0; i < np; i++)
                s += fabs(ref[i]);
            CHECK(s > 0 && isfinite(s), "%s: the gradients are all zero or not finite", name);
            continue;
        }
        memcpy(got, f.m.grads, np * sizeof *got);
        CHECK(memcmp(got, ref, np * sizeof *got) == 0,
              "%s: gradients with relu %s and %s zeroing differ from the "
              "separate passes'",
              name, fold ? "folded" : "as a pass", lazy ? "lazy" : "memset");
        CHECK(memcmp(f.dx, ref_dx, sizeof ref_dx) == 0, "%s: dx0 with relu %s and %s zeroing differs", name,
              fold ? "folded" : "as a pass", lazy ? "lazy" : "memset");
    }
    /* an empty pass after lazy zeroing leaves zeros; so does settling the slab */
    f.m.grads[0] = NAN;
    mt_model_zero_grads_lazy(&f.m);
    pass(&f, 0, 0);
    int zeros = 1;
    for (size_t i = 0; i < np; i++)
        zeros &= f.m.grads[i] == 0.0f;
    CHECK(zeros, "%s: an empty backward pass after lazy zeroing left non-zero gradients", name);
    f.m.grads[0] = 5.0f;
    mt_model_zero_grads_lazy(&f.m);
    mt_model_settle_grads(&f.m);
    CHECK(f.m.grads[0] == 0.0f, "%s: mt_model_settle_grads after lazy zeroing left %g", name, (double)f.m.grads[0]);
    CHECK(mt_model_nonfinite_grad_layer(&f.m, f.m.grads) == -1, "%s: settled gradients are not finite", name);
    fixture_free(&f);
}

int main(void)
{
    same_bits("mlp",
              "[{dense: {units: 16, activation: relu}}, {dense: {units: 40, activation: relu}},"
              " {dense: {units: 3, activation: softmax}}]",
              2);
    same_bits("no bias",
              "[{dense: {units: 33, activation: relu, use_bias: false}},"
              " {dense: {units: 3, activation: softmax, use_bias: false}}]",
              1);
    same_bits("relu then tanh",
              "[{dense: {units: 9, activation: relu}}, {dense: {units: 17, activation: tanh}},"
              " {dense: {units: 3, activation: softmax}}]",
              1);
    same_bits("batch_norm between",
              "[{dense: {units: 8, activation: relu}}, {batch_norm: {}},"
              " {dense: {units: 5, activation: relu}}, {dense: {units: 3, activation: softmax}}]",
              1);
    return mt_test_finish("fused_passes");
}
