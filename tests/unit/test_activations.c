/* Tests of the activations (nn/activation.c) and the standalone activation and prelu layers: values by
 * hand, derivatives against central differences (every activation, and the layers' input and weight
 * gradients), stability at |x| = 1e4, step's zero gradient and the warning the trainer prints for it,
 * config names, aliases, options and errors (listing the valid names). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/rng.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

/* The canonical name of a names-table entry ("canonical|alias|..."), for messages. */
static const char *act_name(int i)
{
    static char buf[4][64];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 64, "%.*s", (int)strcspn(mt_activation_names[i], "|"), mt_activation_names[i]);
    return b;
}

static mt_activation act(mt_activation_kind kind)
{
    return mt_activation_make(kind);
}

static void hand_values(void)
{
    struct {
        mt_activation a;
        float x, y;
        const char *what; /* how y was obtained */
    } cases[] = {
        {act(MT_ACT_LINEAR), -3.5f, -3.5f, "identity"},
        {act(MT_ACT_RELU), -1, 0, "max(-1, 0)"},
        {act(MT_ACT_RELU), 2, 2, "max(2, 0)"},
        {act(MT_ACT_SIGMOID), 2, 0.88079708f, "1 / (1 + e^-2) = 1 / 1.13533528"},
        {act(MT_ACT_SIGMOID), -2, 0.11920292f, "e^-2 / (1 + e^-2)"},
        {act(MT_ACT_SIGMOID), 0, 0.5f, "1 / 2"},
        {act(MT_ACT_TANH), 0.5f, 0.46211716f, "(e - 1) / (e + 1) with e = e^1"},
        {act(MT_ACT_LEAKY_RELU), -2, -0.02f, "0.01 * -2 (default alpha)"},
        {act(MT_ACT_LEAKY_RELU), 3, 3, "x > 0"},
        {{MT_ACT_LEAKY_RELU, 0.2f, 0}, -2, -0.4f, "0.2 * -2"},
        {act(MT_ACT_GELU), 1, 0.84134475f, "1 * Phi(1)"},
        {act(MT_ACT_GELU), -1, -0.15865525f, "-1 * Phi(-1) = -(1 - 0.84134475)"},
        {act(MT_ACT_GELU), 2, 1.95449974f, "2 * Phi(2) = 2 * 0.97724987"},
        {act(MT_ACT_GELU), -5, -1.4332579e-6f, "-5 * Phi(-5) = -5 * 2.8665157e-7 (1 + erf would lose it)"},
        {act(MT_ACT_STEP), 0, 0, "0 > 0 is false"},
        {act(MT_ACT_STEP), 1e-6f, 1, "1e-6 > 0"},
        {act(MT_ACT_STEP), -3, 0, "-3 > 0 is false"},
        {{MT_ACT_STEP, 0.01f, 0.5f}, 0.5f, 0, "0.5 > 0.5 is false"},
        {{MT_ACT_STEP, 0.01f, 0.5f}, 0.51f, 1, "0.51 > 0.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float y;
        mt_activation_forward(&cases[i].a, &cases[i].x, &y, 1, 1);
        char what[160];
        snprintf(what, sizeof what, "%s(%g): %s", act_name(cases[i].a.kind), cases[i].x, cases[i].what);
        CHECK_CLOSE(y, cases[i].y, 1e-5, 1e-9, what);
    }
    /* softmax([1, 2, 3]) = e^(x - 3) / (e^-2 + e^-1 + 1) = [0.13533528, 0.36787944, 1] / 1.50321472 */
    float z[] = {1, 2, 3, 0, 0, 0}, y[6];
    mt_activation s = act(MT_ACT_SOFTMAX);
    mt_activation_forward(&s, z, y, 2, 3);
    const float want[] = {0.09003057f, 0.24472847f, 0.66524096f, 1.0f / 3, 1.0f / 3, 1.0f / 3};
    for (int j = 0; j < 6; j++)
        CHECK_CLOSE(y[j], want[j], 1e-6, 0, "softmax by hand");
    /* in place: z and y may alias */
    mt_activation_forward(&s, z, z, 2, 3);
    CHECK_CLOSE(z[2], want[2], 1e-6, 0, "softmax in place");
}

/* Backward (d * f'(z)) against central differences of sum_i d_i f(z)_i, for every activation. */
static void derivatives(void)
{
    enum { N = 2, W = 5 };
    mt_rng rng = mt_rng_make(11);
    for (int kind = 0; kind < MT_ACT_COUNT; kind++) {
        mt_activation a = act((mt_activation_kind)kind);
        if (kind == MT_ACT_LEAKY_RELU)
            a.alpha = 0.3f;
        if (kind == MT_ACT_STEP)
            a.threshold = 0.25f;
        float z[N * W], y[N * W], d[N * W], g[N * W], yp[N * W];
        for (int i = 0; i < N * W; i++) {
            do /* away from the kinks of relu, leaky_relu and step */
                z[i] = 3.0f * mt_rng_normal(&rng);
            while (fabsf(z[i]) < 0.05f || fabsf(z[i] - a.threshold) < 0.05f);
            g[i] = d[i] = mt_rng_normal(&rng);
        }
        mt_activation_forward(&a, z, y, N, W);
        mt_activation_backward(&a, z, y, g, N, W);
        for (int i = 0; i < N * W; i++) {
            const float h = 1e-3f, z0 = z[i];
            double up = 0, down = 0;
            z[i] = z0 + h;
            mt_activation_forward(&a, z, yp, N, W);
            for (int j = 0; j < N * W; j++)
                up += (double)d[j] * yp[j];
            z[i] = z0 - h;
            mt_activation_forward(&a, z, yp, N, W);
            for (int j = 0; j < N * W; j++)
                down += (double)d[j] * yp[j];
            z[i] = z0;
            char what[96];
            snprintf(what, sizeof what, "%s: derivative at z = %g", act_name(kind), z0);
            CHECK_CLOSE(g[i], (up - down) / ((double)(z0 + h) - (double)(z0 - h)), 1e-2, 2e-4, what);
        }
        if (kind == MT_ACT_STEP) {
            int zero = 1;
            for (int i = 0; i < N * W; i++)
                zero &= g[i] == 0.0f;
            CHECK(zero, "step: the gradient is zero everywhere");
        }
    }
    CHECK(!mt_activation_is_trainable(MT_ACT_STEP) && mt_activation_is_trainable(MT_ACT_RELU) &&
              mt_activation_is_trainable(MT_ACT_GELU) && mt_activation_is_trainable(-1),
          "only step is not trainable");
}

/* No inf or NaN at |x| up to 1e4, in forward and backward; limits where they are known. */
static void stability(void)
{
    enum { W = 12 };
    const float z[W] = {1e4f, -1e4f, 1e3f, -1e3f, 100, -100, 89, -89, 20, -20, 0, 1e-30f};
    for (int kind = 0; kind < MT_ACT_COUNT; kind++) {
        mt_activation a = act((mt_activation_kind)kind);
        float y[W], d[W];
        mt_activation_forward(&a, z, y, 1, W);
        for (int i = 0; i < W; i++)
            d[i] = 1.0f;
        mt_activation_backward(&a, z, y, d, 1, W);
        for (int i = 0; i < W; i++)
            CHECK(isfinite(y[i]) && isfinite(d[i]), "%s at %g: f = %g, f' = %g", act_name(kind), z[i], y[i], d[i]);
    }
    const float big[] = {1e4f, -1e4f};
    struct {
        mt_activation_kind kind;
        float y[2], dy[2];
    } lim[] = {
        {MT_ACT_SIGMOID, {1, 0}, {0, 0}},
        {MT_ACT_TANH, {1, -1}, {0, 0}},
        {MT_ACT_GELU, {1e4f, 0}, {1, 0}},
        {MT_ACT_RELU, {1e4f, 0}, {1, 0}},
        {MT_ACT_LEAKY_RELU, {1e4f, -100}, {1, 0.01f}},
    };
    for (size_t c = 0; c < sizeof lim / sizeof *lim; c++) {
        mt_activation a = act(lim[c].kind);
        float y[2], d[2] = {1, 1};
        mt_activation_forward(&a, big, y, 1, 2);
        mt_activation_backward(&a, big, y, d, 1, 2);
        for (int i = 0; i < 2; i++) {
            char what[96];
            snprintf(what, sizeof what, "%s(%g)", act_name(lim[c].kind), big[i]);
            CHECK_CLOSE(y[i], lim[c].y[i], 1e-6, 0, what);
            snprintf(what, sizeof what, "%s'(%g)", act_name(lim[c].kind), big[i]);
            CHECK_CLOSE(d[i], lim[c].dy[i], 1e-6, 0, what);
        }
    }
    /* softmax of [1e4, -1e4, 0] is [1, 0, 0] */
    float sz[] = {1e4f, -1e4f, 0}, sy[3];
    mt_activation s = act(MT_ACT_SOFTMAX);
    mt_activation_forward(&s, sz, sy, 1, 3);
    CHECK(sy[0] == 1.0f && sy[1] == 0.0f && sy[2] == 0.0f, "softmax at 1e4: %g %g %g", sy[0], sy[1], sy[2]);
}

static void aliases(void)
{
    struct {
        const char *name;
        int kind;
    } cases[] = {
        {"linear", MT_ACT_LINEAR},
        {"identity", MT_ACT_LINEAR},
        {"none", MT_ACT_LINEAR},
        {"relu", MT_ACT_RELU},
        {"ReLU", MT_ACT_RELU},
        {"sigmoid", MT_ACT_SIGMOID},
        {"logistic", MT_ACT_SIGMOID},
        {"tanh", MT_ACT_TANH},
        {"softmax", MT_ACT_SOFTMAX},
        {"leaky_relu", MT_ACT_LEAKY_RELU},
        {"leakyrelu", MT_ACT_LEAKY_RELU},
        {"lrelu", MT_ACT_LEAKY_RELU},
        {"LeakyReLU", MT_ACT_LEAKY_RELU},
        {"gelu", MT_ACT_GELU},
        {"GELU", MT_ACT_GELU},
        {"step", MT_ACT_STEP},
        {"heaviside", MT_ACT_STEP},
        {"binary_step", MT_ACT_STEP},
        {"swish", -1},
        {"silu", -1},
        {"prelu", -1},
        {"gelu_tanh", -1},
        {"", -1},
        {"relu|sigmoid", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mt_activation a = {.kind = MT_ACT_COUNT};
        int r = mt_activation_find(cases[i].name, &a);
        int got = r ? -1 : (int)a.kind;
        CHECK(got == cases[i].kind, "activation name '%s': %d, expected %d", cases[i].name, got, cases[i].kind);
        CHECK(r || (a.alpha == 0.01f && a.threshold == 0.0f), "'%s': default parameters", cases[i].name);
    }
}

/* A model of `layers` on inputs of shape `input`. */
static mt_status build(const char *input, const char *layers, const char *loss, mt_config *cfg, mt_model *m, mt_loss *l,
                       mt_error *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "model: {input: %s, layers: %s}\nloss: %s\noptimizer: sgd\ndata: {file: none.h5}\n",
             input, layers, loss);
    mt_status st = mt_config_load_string(yaml, "acts.yaml", NULL, 0, cfg, err);
    if (!st)
        st = mt_model_build(cfg, 0, m, err);
    if (!st)
        st = mt_model_reserve(m, 4, err);
    if (!st)
        st = mt_loss_setup(l, cfg->loss, m, err);
    return st;
}

/* Forward of a one-layer model on [-2, 0.5, 3] (and, for two-dimensional inputs, more). */
static void layer_values(const char *layers, const float *want)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_pass pass = {.training = 1, .seed = 1, .global_n = 1};
    if (CHECK(build("[3]", layers, "mse", &cfg, &m, &l, &err) == MT_OK, "%s: %s", layers, err.msg)) {
        const float x[] = {-2, 0.5f, 3};
        memcpy(m.acts[0], x, sizeof x);
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        CHECK(m.n_params == 0 && m.output_size == 3, "%s: %zu params, %zu outputs", layers, m.n_params, m.output_size);
        for (int j = 0; j < 3; j++) {
            char what[160];
            snprintf(what, sizeof what, "%s at x = %g", layers, x[j]);
            CHECK_CLOSE(y[j], want[j], 1e-5, 1e-7, what);
        }
    }
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void layer_error(const char *input, const char *layers, const char *want)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_status st = build(input, layers, "mse", &cfg, &m, &l, &err);
    CHECK(st == MT_ERR_CONFIG && strstr(err.msg, want), "%s: status %d, message '%s', expected it to contain '%s'",
          layers, st, err.msg, want);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void layers_from_config(void)
{
    /* x = [-2, 0.5, 3] */
    layer_values("[{activation: {name: leaky_relu, alpha: 0.1}}]", (float[]){-0.2f, 0.5f, 3});
    layer_values("[{leaky_relu: {alpha: 0.2}}]", (float[]){-0.4f, 0.5f, 3});
    layer_values("[leaky_relu]", (float[]){-0.02f, 0.5f, 3});
    layer_values("[{activation: {name: lrelu}}]", (float[]){-0.02f, 0.5f, 3});
    layer_values("[{step: {threshold: 0.5}}]", (float[]){0, 0, 1});
    layer_values("[{activation: {name: step, threshold: 0.5}}]", (float[]){0, 0, 1});
    layer_values("[step]", (float[]){0, 1, 1});
    layer_values("[relu]", (float[]){0, 0.5f, 3});
    layer_values("[{activation: {name: linear}}]", (float[]){-2, 0.5f, 3});
    /* tanh(0.5) = 0.46211716, tanh(3) = 0.99505475; sigmoid: 1 / (1 + e^2) = 0.11920292, 1 / (1 + e^-0.5)
     * = 0.62245933, 1 / (1 + e^-3) = 0.95257413; gelu: -2 Phi(-2) = -0.04550026, 0.5 Phi(0.5) = 0.5 *
     * 0.69146246, 3 Phi(3) = 3 * 0.99865010; softmax: e^(x - 3) / (e^-5 + e^-2.5 + 1) */
    layer_values("[tanh]", (float[]){-0.96402758f, 0.46211716f, 0.99505475f});
    layer_values("[sigmoid]", (float[]){0.11920292f, 0.62245933f, 0.95257413f});
    layer_values("[gelu]", (float[]){-0.04550026f, 0.34573123f, 2.99595031f});
    float den = expf(-5) + expf(-2.5f) + 1;
    layer_values("[softmax]", (float[]){expf(-5) / den, expf(-2.5f) / den, 1 / den});
    layer_values("[{activation: {name: Softmax}}]", (float[]){expf(-5) / den, expf(-2.5f) / den, 1 / den});

    const char *valid = "valid: linear, relu, sigmoid, tanh, softmax, leaky_relu, gelu, step";
    layer_error("[3]", "[{activation: {name: relu, alpha: 0.1}}]", "alpha: applies only to leaky_relu");
    layer_error("[3]", "[{activation: {name: gelu, threshold: 0.1}}]", "threshold: applies only to step");
    layer_error("[3]", "[{activation: {name: leaky_relu, alpha: -1}}]", "alpha: -1 is below the minimum 0");
    layer_error("[3]", "[{activation: {name: step, threshold: abc}}]", "threshold: expected a number, got abc");
    layer_error("[3]", "[{activation: {name: swish}}]", valid);
    layer_error("[3]", "[{activation: {}}]", "missing required key 'name'");
    layer_error("[3]", "[{leaky_relu: {alpha: -1}}]", "out of range");
    layer_error("[3]", "[{relu: {alpha: 1}}]", "unknown key 'alpha'");
    layer_error("[3]", "[{dense: {units: 2, activation: swish}}]", valid);
    layer_error("[3]", "[{dense: {units: 2, activation: prelu}}]", valid);
    layer_error("[3]", "[lrelu]", "unknown layer 'lrelu'");
}

/* Softmax over the last axis for 2-D samples; not fused then (the loss would need the whole sample). */
static void softmax_last_axis(void)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_pass pass = {.training = 0};
    if (CHECK(build("[2, 3]", "[softmax]", "categorical_crossentropy", &cfg, &m, &l, &err) == MT_OK, "%s", err.msg)) {
        const float x[] = {1, 2, 3, 0, 0, 0};
        memcpy(m.acts[0], x, sizeof x);
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        CHECK_CLOSE(y[2], 0.66524096, 1e-6, 0, "softmax over the last axis, row 0");
        CHECK_CLOSE(y[4], 1.0 / 3, 1e-6, 0, "softmax over the last axis, row 1");
        CHECK(!l.fused && m.layers[0].out_shape.n == 2, "2-D softmax is not fused");
    }
    mt_model_free(&m);
    mt_config_free(&cfg);
}

/* A layer's backward (input gradient, weight gradient) against central differences of sum d * y. */
static void layer_gradcheck(const char *name, mt_layer *l, int n, uint64_t seed)
{
    enum { MAXV = 64 };
    size_t in = l->in_size * (size_t)n, out = l->out_size * (size_t)n;
    float x[MAXV], y[MAXV], d[MAXV], dy[MAXV], dx[MAXV];
    mt_rng rng = mt_rng_make(seed);
    mt_pass pass = {.training = 1, .seed = 1, .global_n = (uint64_t)n};
    for (size_t i = 0; i < in; i++) {
        do
            x[i] = 2.0f * mt_rng_normal(&rng);
        while (fabsf(x[i]) < 0.05f);
    }
    for (size_t i = 0; i < out; i++)
        dy[i] = d[i] = mt_rng_normal(&rng);
    memset(l->grads, 0, l->n_params * sizeof *l->grads);
    LAYER_FORWARD(l, x, y, n, &pass);
    LAYER_BACKWARD(l, x, y, dy, dx, n, &pass);
    size_t total = in + l->n_params;
    for (size_t i = 0; i < total; i++) {
        float *v = i < in ? &x[i] : &l->params[i - in];
        const float h = 1e-3f, v0 = *v;
        double s[2] = {0, 0};
        for (int side = 0; side < 2; side++) {
            *v = side ? v0 - h : v0 + h;
            LAYER_FORWARD(l, x, y, n, &pass);
            for (size_t j = 0; j < out; j++)
                s[side] += (double)d[j] * y[j];
        }
        *v = v0;
        char what[224];
        snprintf(what, sizeof what, "%s: d/d%s[%zu]", name, i < in ? "x" : "weight", i < in ? i : i - in);
        CHECK_CLOSE(i < in ? dx[i] : l->grads[i - in], (s[0] - s[1]) / ((double)(v0 + h) - (double)(v0 - h)), 1e-2,
                    2e-4, what);
    }
}

static void layer_gradients(void)
{
    struct {
        const char *input, *layers;
    } cases[] = {
        {"[5]", "[{activation: {name: leaky_relu, alpha: 0.3}}]"},
        {"[5]", "[gelu]"},
        {"[5]", "[softmax]"},
        {"[2, 3]", "[softmax]"},
        {"[5]", "[sigmoid]"},
        {"[5]", "[tanh]"},
        {"[5]", "[relu]"},
        {"[5]", "[{step: {threshold: 0.3}}]"},
        {"[5]", "[{prelu: {init: 0.25}}]"},
        {"[2, 3]", "[{prelu: {init: -0.5}}]"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        mt_config cfg = {0};
        mt_model m = {0};
        mt_loss l;
        mt_error err = {0};
        char name[160];
        snprintf(name, sizeof name, "%s on %s", cases[c].layers, cases[c].input);
        if (CHECK(build(cases[c].input, cases[c].layers, "mse", &cfg, &m, &l, &err) == MT_OK, "%s: %s", name,
                  err.msg)) {
            mt_model_init_params(&m, 3);
            for (size_t i = 0; i < m.n_params; i++) /* distinct slopes */
                m.params[i] += 0.1f * (float)i;
            layer_gradcheck(name, &m.layers[0], 2, 100 + c);
        }
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

static void prelu(void)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_pass pass = {.training = 0};
    if (CHECK(build("[3]", "[prelu]", "mse", &cfg, &m, &l, &err) == MT_OK, "%s", err.msg)) {
        const mt_tensor_desc *t = &m.layers[0].tensors[0];
        CHECK(m.layers[0].n_tensors == 1 && !strcmp(t->name, "weight") && t->rank == 1 && t->shape[0] == 3 &&
                  m.n_params == 3,
              "prelu on [3]: one tensor 'weight' [3], got %d '%s' rank %d [%lld], %zu params", m.layers[0].n_tensors,
              t->name, t->rank, (long long)t->shape[0], m.n_params);
        mt_model_init_params(&m, 1);
        CHECK(m.params[0] == 0.25f && m.params[2] == 0.25f,
              "prelu slopes start at 0.25 (torch; the tensor's init is \"%s\"): %g %g", t->init, m.params[0],
              m.params[2]);
        memcpy(m.params, (float[]){0.25f, 0.5f, -1}, 3 * sizeof(float));
        memcpy(m.acts[0], (float[]){-2, -2, 4}, 3 * sizeof(float));
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        /* [0.25 * -2, 0.5 * -2, 4] */
        CHECK(y[0] == -0.5f && y[1] == -1.0f && y[2] == 4.0f, "prelu forward: %g %g %g", y[0], y[1], y[2]);
    }
    mt_model_free(&m);
    mt_config_free(&cfg);
    /* [C, S] = [2, 3]: one slope per channel (first sample dimension), shared by its 3 positions */
    if (CHECK(build("[2, 3]", "[{prelu: {init: 0.1}}]", "mse", &cfg, &m, &l, &err) == MT_OK, "%s", err.msg)) {
        CHECK(m.n_params == 2 && m.layers[0].tensors[0].shape[0] == 2, "prelu on [2, 3]: weight [2]");
        mt_model_init_params(&m, 1);
        CHECK(m.params[0] == 0.1f && m.params[1] == 0.1f, "prelu init 0.1 (the tensor's init is \"%s\"): %g %g",
              m.layers[0].tensors[0].init, m.params[0], m.params[1]);
        m.params[0] = 0.1f, m.params[1] = 0.3f;
        memcpy(m.acts[0], (float[]){-1, 2, -3, -1, -2, 5}, 6 * sizeof(float));
        const float *y = MODEL_FORWARD(&m, 1, &pass);
        /* channel 0 slope 0.1: [-0.1, 2, -0.3]; channel 1 slope 0.3: [-0.3, -0.6, 5] */
        const float want[] = {-0.1f, 2, -0.3f, -0.3f, -0.6f, 5};
        for (int j = 0; j < 6; j++)
            CHECK_CLOSE(y[j], want[j], 1e-6, 0, "prelu per channel");
    }
    mt_model_free(&m);
    mt_config_free(&cfg);
}

/* step blocks all gradient before it; the warning names the layer. */
static void step_warning(void)
{
    mt_config cfg = {0};
    mt_model m = {0};
    mt_loss l;
    mt_error err = {0};
    mt_pass pass = {.training = 1, .seed = 1, .global_n = 4};
    char msg[256];
    if (CHECK(build("[3]", "[{dense: {units: 4, activation: step}}, {dense: {units: 2}}]", "mse", &cfg, &m, &l, &err) ==
                  MT_OK,
              "%s", err.msg)) {
        mt_model_init_params(&m, 5);
        mt_rng rng = mt_rng_make(9);
        for (int i = 0; i < 12; i++)
            m.acts[0][i] = mt_rng_normal(&rng);
        float t[8] = {1, 0, 0, 1, 1, 1, 0, 0}, dout[8];
        mt_model_zero_grads(&m);
        const float *out = MODEL_FORWARD(&m, 4, &pass);
        mt_loss_compute(&l, out, NULL, NULL, t, NULL, 4, dout, 0.25f, NULL);
        MODEL_BACKWARD(&m, dout, 4, &pass, NULL);
        double g0 = 0, g1 = 0;
        for (size_t i = 0; i < m.layers[0].n_params; i++)
            g0 += fabs(m.layers[0].grads[i]);
        for (size_t i = 0; i < m.layers[1].n_params; i++)
            g1 += fabs(m.layers[1].grads[i]);
        CHECK(g0 == 0 && g1 > 0, "step: no gradient reaches the weights before it (%g), the next layer's do (%g)", g0,
              g1);
        CHECK(mt_activation_warning(&m.layers[0], msg, sizeof msg) == 1 && strstr(msg, "model.layers[0].dense") &&
                  strstr(msg, "step") && strstr(msg, "this layer's weights"),
              "warning for a dense step layer: '%s'", msg);
        CHECK(mt_activation_warning(&m.layers[1], msg, sizeof msg) == 0, "no warning for a linear dense layer");
    }
    mt_model_free(&m);
    mt_config_free(&cfg);
    if (CHECK(build("[3]", "[{dense: {units: 4}}, {step: {threshold: 0.5}}]", "mse", &cfg, &m, &l, &err) == MT_OK, "%s",
              err.msg))
        CHECK(mt_activation_warning(&m.layers[1], msg, sizeof msg) == 1 && strstr(msg, "model.layers[1].step") &&
                  !strstr(msg, "this layer's weights"),
              "warning for a step layer: '%s'", msg);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

/* A standalone softmax or sigmoid last layer is fused with the cross-entropy: logits are its input. */
static void fused_standalone(void)
{
    const char *cases[][2] = {{"[{dense: {units: 3}}, softmax]", "categorical_crossentropy"},
                              {"[{dense: {units: 3}}, {activation: {name: softmax}}]", "kl_divergence"},
                              {"[{dense: {units: 1}}, sigmoid]", "binary_crossentropy"}};
    for (int c = 0; c < 3; c++) {
        mt_config cfg = {0};
        mt_model m = {0};
        mt_loss l;
        mt_error err = {0};
        mt_pass pass = {.training = 0};
        if (CHECK(build("[3]", cases[c][0], cases[c][1], &cfg, &m, &l, &err) == MT_OK, "%s", err.msg)) {
            mt_model_init_params(&m, 2);
            for (int i = 0; i < 12; i++)
                m.acts[0][i] = 0.5f * (float)(i % 5) - 1.0f;
            MODEL_FORWARD(&m, 4, &pass);
            const float *z = mt_model_logits(&m);
            int same = z != NULL;
            for (size_t i = 0; same && i < 4 * m.output_size; i++)
                same = z[i] == m.acts[1][i];
            CHECK(l.fused && m.layers[1].fused_output && same, "%s + %s: fused %d, logits are the layer's input %d",
                  cases[c][0], cases[c][1], l.fused, same);
        }
        mt_model_free(&m);
        mt_config_free(&cfg);
    }
}

int main(void)
{
    hand_values();
    derivatives();
    stability();
    aliases();
    layers_from_config();
    softmax_last_axis();
    layer_gradients();
    prelu();
    step_warning();
    fused_standalone();
    return mt_test_finish("activations");
}
