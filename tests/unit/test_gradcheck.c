/* Finite-difference gradient checks: for small models of dense layers with every activation and every
 * loss, the analytic gradient (backward pass) is compared with central differences of the loss, both
 * along random directions over all parameters (one backward, two forwards per direction) and for
 * single coordinates of every tensor. Computation is float32, so the step and tolerance suit it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "testlib.h"

enum { N = 6, IN = 5 };

typedef struct fixture {
    mt_config cfg;
    mt_model m;
    mt_loss loss;
    int32_t y[N];
    float t[N * 8];
    int use_targets;
    mt_pass pass;
} fixture;

static double batch_loss(fixture *f)
{
    const float *out = mt_model_forward(&f->m, N, &f->pass);
    return mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->use_targets ? NULL : f->y,
                           f->use_targets ? f->t : NULL, NULL, N, NULL, 0, NULL) / N;
}

static void analytic(fixture *f)
{
    static float dout[N * 8];
    mt_model_zero_grads(&f->m);
    const float *out = mt_model_forward(&f->m, N, &f->pass);
    mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->use_targets ? NULL : f->y,
                    f->use_targets ? f->t : NULL, NULL, N, dout, 1.0f / N, NULL);
    mt_model_backward(&f->m, dout, N, &f->pass);
}

static double numeric_dir(fixture *f, const float *dir, double eps)
{
    float *p = f->m.params;
    size_t n = f->m.n_params;
    for (size_t i = 0; i < n; i++)
        p[i] += (float)(eps * dir[i]);
    double up = batch_loss(f);
    for (size_t i = 0; i < n; i++)
        p[i] -= (float)(2 * eps * dir[i]);
    double down = batch_loss(f);
    for (size_t i = 0; i < n; i++)
        p[i] += (float)(eps * dir[i]);
    return (up - down) / (2 * eps);
}

static void check_model(const char *name, const char *layers, const char *loss, int k, int use_targets)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: {input: [%d], layers: %s}\nloss: %s\noptimizer: sgd\ndata: {file: none.h5}\n", IN, layers,
             loss);
    fixture f = {.use_targets = use_targets, .pass = {.training = 1, .seed = 1, .global_n = N}};
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, &f.cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return;
    if (!CHECK(mt_model_build(&f.cfg, 0, &f.m, &err) == MT_OK && mt_model_reserve(&f.m, N, &err) == MT_OK &&
                   mt_loss_setup(&f.loss, f.cfg.loss, &f.m, &err) == MT_OK,
               "%s: %s", name, err.msg)) {
        mt_config_free(&f.cfg);
        return;
    }
    mt_model_init_params(&f.m, 42);
    mt_rng rng = mt_rng_make(mt_key(7, (uint64_t)strlen(name)));
    for (size_t i = 0; i < f.m.n_params; i++) /* non-zero biases too */
        f.m.params[i] += 0.1f * mt_rng_normal(&rng);
    for (int i = 0; i < N * IN; i++)
        f.m.acts[0][i] = mt_rng_normal(&rng);
    for (int i = 0; i < N; i++) {
        f.y[i] = (int32_t)mt_rng_below(&rng, (uint64_t)k);
        float sum = 0;
        for (int j = 0; j < k; j++)
            sum += f.t[i * k + j] = 0.1f + mt_rng_uniform(&rng);
        for (int j = 0; j < k && !strstr(loss, "mse"); j++)
            f.t[i * k + j] /= sum; /* probability targets for cross-entropy */
    }
    analytic(&f);
    float *g = malloc(f.m.n_params * sizeof *g), *dir = malloc(f.m.n_params * sizeof *dir);
    memcpy(g, f.m.grads, f.m.n_params * sizeof *g);
    for (int trial = 0; trial < 3; trial++) {
        double dot = 0;
        for (size_t i = 0; i < f.m.n_params; i++) {
            dir[i] = mt_rng_normal(&rng);
            dot += (double)dir[i] * g[i];
        }
        double num = numeric_dir(&f, dir, 1e-3);
        char what[160];
        snprintf(what, sizeof what, "%s: directional derivative %d", name, trial);
        CHECK_CLOSE(dot, num, 2e-2, 2e-4, what);
    }
    /* Single coordinates: the first and last element of every tensor. */
    for (int li = 0; li < f.m.n_layers; li++) {
        const mt_layer *l = &f.m.layers[li];
        for (int t = 0; t < l->n_tensors; t++) {
            size_t idx[2] = {l->tensors[t].offset, l->tensors[t].offset + l->tensors[t].size - 1};
            for (int e = 0; e < 2; e++) {
                size_t at = (size_t)(l->params - f.m.params) + idx[e];
                memset(dir, 0, f.m.n_params * sizeof *dir);
                dir[at] = 1;
                char what[160];
                snprintf(what, sizeof what, "%s: layer %d %s[%zu]", name, li, l->tensors[t].name, idx[e]);
                CHECK_CLOSE(g[at], numeric_dir(&f, dir, 1e-3), 2e-2, 2e-4, what);
            }
        }
    }
    free(g), free(dir);
    mt_model_free(&f.m);
    mt_config_free(&f.cfg);
}

/* Activations (in dense layers and as layers, prelu's slopes) and losses (fused and not) in whole models. */
static void activations_and_losses(void)
{
    const char *acts[] = {"leaky_relu", "lrelu", "gelu"};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        char layers[256], name[64];
        snprintf(layers, sizeof layers, "[{dense: {units: 4, activation: %s}}, {dense: {units: 3}}]", acts[a]);
        snprintf(name, sizeof name, "dense+%s, mse", acts[a]);
        check_model(name, layers, "mse", 3, 1);
    }
    const char *layers[] = {"{activation: {name: leaky_relu, alpha: 0.2}}", "{leaky_relu: {alpha: 0.05}}", "gelu",
                            "relu", "sigmoid", "tanh", "softmax", "prelu", "{prelu: {init: -0.3}}"};
    for (size_t a = 0; a < sizeof layers / sizeof *layers; a++) {
        char spec[256], name[96];
        snprintf(spec, sizeof spec, "[{dense: {units: 4}}, %s, {dense: {units: 3}}]", layers[a]);
        snprintf(name, sizeof name, "layer %s, mse", layers[a]);
        check_model(name, spec, "mse", 3, 1);
    }
    check_model("softmax layer + categorical_crossentropy (fused), class labels",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}, softmax]", "categorical_crossentropy", 3,
                0);
    check_model("softmax layer + kl_divergence (fused), distributions",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}, {activation: {name: softmax}}]",
                "kl_divergence", 3, 1);
    check_model("softmax + kl_divergence (fused), distributions",
                "[{dense: {units: 4, activation: gelu}}, {dense: {units: 3, activation: softmax}}]", "kl_divergence",
                3, 1);
    check_model("sigmoid layer + binary_crossentropy (fused), one output, labels",
                "[{dense: {units: 4, activation: relu}}, {dense: {units: 1}}, sigmoid]", "binary_crossentropy", 1, 0);
    check_model("sigmoid + binary_crossentropy (fused), multi-label targets",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3, activation: sigmoid}}]",
                "binary_crossentropy", 3, 1);
    check_model("softmax + binary_crossentropy (on probabilities)",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3, activation: softmax}}]",
                "binary_crossentropy", 3, 1);
    check_model("huber delta 0.5", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}]",
                "{name: huber, delta: 0.5}", 3, 1);
    check_model("mae", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}]", "mae", 3, 1);
    check_model("hinge, multi-class labels", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}]", "hinge",
                3, 0);
    check_model("hinge, one output", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 1}}]", "hinge", 1, 0);
}

int main(void)
{
    const char *acts[] = {"linear", "relu", "sigmoid", "tanh", "softmax"};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        char layers[256], name[64];
        snprintf(layers, sizeof layers, "[{dense: {units: 4, activation: %s}}, {dense: {units: 3}}]", acts[a]);
        snprintf(name, sizeof name, "dense+%s, mse", acts[a]);
        check_model(name, layers, "mse", 3, 1);
    }
    check_model("softmax + categorical_crossentropy (fused), class labels",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3, activation: softmax}}]",
                "categorical_crossentropy", 3, 0);
    check_model("softmax + categorical_crossentropy (fused), probability targets",
                "[{dense: {units: 4, activation: relu}}, {dense: {units: 3, activation: softmax}}]",
                "categorical_crossentropy", 3, 1);
    check_model("sigmoid outputs + categorical_crossentropy (unfused)",
                "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3, activation: sigmoid}}]",
                "categorical_crossentropy", 3, 1);
    check_model("mse with class labels (one-hot)",
                "[{dense: {units: 4, activation: sigmoid}}, {dense: {units: 3, activation: softmax}}]", "mse", 3, 0);
    check_model("no bias", "[{dense: {units: 4, activation: relu, use_bias: false}}, {dense: {units: 2}}]", "mse", 2,
                1);
    check_model("batch_norm (training statistics) between dense layers",
                "[{dense: {units: 4}}, {batch_norm: {}}, {dense: {units: 3, activation: tanh}}, {batch_norm: {sync: true}},"
                " {dense: {units: 2}}]", "mse", 2, 1);
    check_model("dropout (fixed mask for a fixed seed and step)",
                "[{dense: {units: 8, activation: tanh}}, {dropout: {rate: 0.5}}, {dense: {units: 3, activation: softmax}}]",
                "categorical_crossentropy", 3, 0);
    activations_and_losses();
    return mt_test_finish("gradcheck");
}
