/* Finite-difference gradient checks: for small models of dense layers with every activation and every
 * loss, the analytic gradient (backward pass) is compared with central differences of the loss, both
 * along random directions over all parameters (one backward, two forwards per direction) and for
 * single coordinates of every tensor; for models of conv2d, dense, tanh and batch_norm layers, the
 * gradient by the input that mt_model_backward writes into dx0 likewise. Computation is float32, so the
 * step and tolerance suit it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "model_pass.h"
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
    const float *out = MODEL_FORWARD(&f->m, N, &f->pass);
    return mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->use_targets ? NULL : f->y,
                           f->use_targets ? f->t : NULL, NULL, N, NULL, 0, NULL) /
           N;
}

static void analytic(fixture *f)
{
    static float dout[N * 8];
    mt_model_zero_grads(&f->m);
    const float *out = MODEL_FORWARD(&f->m, N, &f->pass);
    mt_loss_compute(&f->loss, out, mt_model_logits(&f->m), f->use_targets ? NULL : f->y, f->use_targets ? f->t : NULL,
                    NULL, N, dout, 1.0f / N, NULL);
    MODEL_BACKWARD(&f->m, dout, N, &f->pass, NULL);
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
    snprintf(yaml, sizeof yaml, "model: {input: [%d], layers: %s}\nloss: %s\noptimizer: sgd\ndata: {file: none.h5}\n",
             IN, layers, loss);
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
    const char *layers[] = {"{activation: {name: leaky_relu, alpha: 0.2}}",
                            "{leaky_relu: {alpha: 0.05}}",
                            "gelu",
                            "relu",
                            "sigmoid",
                            "tanh",
                            "softmax",
                            "prelu",
                            "{prelu: {init: -0.3}}"};
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
                "[{dense: {units: 4, activation: gelu}}, {dense: {units: 3, activation: softmax}}]", "kl_divergence", 3,
                1);
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
    check_model("hinge, multi-class labels", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 3}}]", "hinge", 3,
                0);
    check_model("hinge, one output", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 1}}]", "hinge", 1, 0);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* r . model(x0 + eps dir) for the n samples of x0 [n, input_size]. */
static double probe(mt_model *m, const mt_pass *pass, const float *x0, const float *dir, double eps, const float *r,
                    int n)
{
    const size_t in = (size_t)n * m->input_size;
    for (size_t i = 0; i < in; i++)
        m->acts[0][i] = (float)(x0[i] + eps * dir[i]);
    return dot(MODEL_FORWARD(m, n, pass), r, (size_t)n * m->output_size);
}

/* The gradient by the input (mt_model_backward's dx0) of the loss r . model(x) against central differences,
 * along random directions and at the first and last input value of the batch. */
static void check_input_gradient(const char *name, const char *input, const char *layers)
{
    enum { NI = 3 };
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "model: {input: %s, layers: %s}\nloss: mse\noptimizer: sgd\ndata: {file: none.h5}\n",
             input, layers);
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, name, NULL, 0, &cfg, &err) == MT_OK, "%s: %s", name, err.msg))
        return;
    if (!CHECK(mt_model_build(&cfg, 0, &m, &err) == MT_OK && mt_model_reserve(&m, NI, &err) == MT_OK, "%s: %s", name,
               err.msg)) {
        mt_config_free(&cfg);
        return;
    }
    mt_model_init_params(&m, 5);
    mt_rng rng = mt_rng_make(mt_key(11, (uint64_t)strlen(name)));
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] += 0.1f * mt_rng_normal(&rng);
    const size_t in = NI * m.input_size, out = NI * m.output_size;
    float *x0 = malloc(in * sizeof *x0), *dir = malloc(in * sizeof *dir), *dx0 = malloc(in * sizeof *dx0);
    float *r = malloc(out * sizeof *r), *dy = malloc(out * sizeof *dy);
    for (size_t i = 0; i < in; i++) {
        x0[i] = mt_rng_normal(&rng);
        dx0[i] = 1e30f; /* left there if the backward pass does not write dx0 */
    }
    for (size_t i = 0; i < out; i++)
        r[i] = mt_rng_normal(&rng);
    const mt_pass pass = {.training = 1, .seed = 1, .global_n = NI};
    memcpy(m.acts[0], x0, in * sizeof *x0);
    MODEL_FORWARD(&m, NI, &pass);
    memcpy(dy, r, out * sizeof *dy);
    MODEL_BACKWARD(&m, dy, NI, &pass, dx0);
    const double eps = 1e-3;
    for (int trial = 0; trial < 5; trial++) {
        char what[160];
        if (trial < 3) {
            for (size_t i = 0; i < in; i++)
                dir[i] = mt_rng_normal(&rng);
            snprintf(what, sizeof what, "%s: input gradient along direction %d", name, trial);
        } else {
            const size_t at = trial == 3 ? 0 : in - 1;
            memset(dir, 0, in * sizeof *dir);
            dir[at] = 1;
            snprintf(what, sizeof what, "%s: input gradient at value %zu", name, at);
        }
        const double num = (probe(&m, &pass, x0, dir, eps, r, NI) - probe(&m, &pass, x0, dir, -eps, r, NI)) / (2 * eps);
        CHECK_CLOSE(dot(dir, dx0, in), num, 2e-2, 2e-4, what);
    }
    free(x0), free(dir), free(dx0), free(r), free(dy);
    mt_model_free(&m);
    mt_config_free(&cfg);
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
    check_model(
        "batch_norm (training statistics) between dense layers",
        "[{dense: {units: 4}}, {batch_norm: {}}, {dense: {units: 3, activation: tanh}}, {batch_norm: {sync: true}},"
        " {dense: {units: 2}}]",
        "mse", 2, 1);
    check_model(
        "dropout (fixed mask for a fixed seed and step)",
        "[{dense: {units: 8, activation: tanh}}, {dropout: {rate: 0.5}}, {dense: {units: 3, activation: softmax}}]",
        "categorical_crossentropy", 3, 0);
    activations_and_losses();
    check_input_gradient("conv2d (stride 1, same) + dense + tanh", "[2, 5, 4]",
                         "[{conv2d: {filters: 3, kernel_size: 3, padding: same, activation: tanh}}, flatten, "
                         "{dense: {units: 4}}, tanh, {dense: {units: 2}}]");
    check_input_gradient("conv2d (stride 2) + batch_norm + dense", "[2, 6, 5]",
                         "[{conv2d: {filters: 2, kernel_size: [3, 2], strides: 2}}, {batch_norm: {}}, flatten, "
                         "{dense: {units: 3, activation: tanh}}]");
    check_input_gradient("dense + tanh", "[5]", "[{dense: {units: 4, activation: tanh}}, {dense: {units: 2}}]");
    return mt_test_finish("gradcheck");
}
