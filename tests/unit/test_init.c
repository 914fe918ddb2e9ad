/* Initializers: every name gives values with the distribution its definition states (bounds of the
 * uniform ones: limit = sqrt(6 / (fan_in + fan_out)) for Glorot, sqrt(6 / fan_in) for He, sqrt(3 / fan_in)
 * for LeCun; standard deviations of the normal ones: sqrt(2 / (fan_in + fan_out)), sqrt(2 / fan_in),
 * sqrt(1 / fan_in)), arguments of constant/uniform/normal are honoured, the same seed gives the same
 * weights, and unknown names or malformed arguments are refused with the list of valid names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "nn/init.h"
#include "nn/model.h"
#include "testlib.h"

enum { N = 20000, FAN_IN = 300, FAN_OUT = 100 };
static float w[N];

static void stats(const char *spec, double *mean, double *std, double *lo, double *hi)
{
    char canon[512];
    CHECK(mt_init_parse(spec, canon, sizeof canon) == 0, "%s: %s", spec, canon);
    mt_rng rng = mt_rng_make(mt_key(1, 2));
    CHECK(mt_init_fill(canon, w, N, FAN_IN, FAN_OUT, &rng) == 0, "%s: fill failed", spec);
    double s = 0, s2 = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < N; i++) {
        s += w[i], s2 += (double)w[i] * w[i];
        *lo = fmin(*lo, w[i]), *hi = fmax(*hi, w[i]);
    }
    *mean = s / N;
    *std = sqrt(s2 / N - *mean * *mean);
}

static void uniform(const char *spec, double low, double high)
{
    double m, s, lo, hi;
    stats(spec, &m, &s, &lo, &hi);
    CHECK(lo >= low && hi <= high && lo < low + 0.01 * (high - low) && hi > high - 0.01 * (high - low),
          "%s: range [%g, %g], expected [%g, %g]", spec, lo, hi, low, high);
    CHECK_CLOSE(s, (high - low) / sqrt(12.0), 0.03, 0, spec);
}

static void normal(const char *spec, double mean, double std)
{
    double m, s, lo, hi;
    stats(spec, &m, &s, &lo, &hi);
    CHECK_CLOSE(m, mean, 0, 0.03 * std, spec);
    CHECK_CLOSE(s, std, 0.03, 0, spec);
}

int main(void)
{
    uniform("glorot_uniform", -sqrt(6.0 / 400), sqrt(6.0 / 400));
    uniform("xavier_uniform", -sqrt(6.0 / 400), sqrt(6.0 / 400));
    uniform("he_uniform", -sqrt(6.0 / 300), sqrt(6.0 / 300));
    uniform("lecun_uniform", -sqrt(3.0 / 300), sqrt(3.0 / 300));
    uniform("uniform", -0.05, 0.05);
    uniform("uniform(-1, 3)", -1, 3);
    normal("glorot_normal", 0, sqrt(2.0 / 400));
    normal("he_normal", 0, sqrt(2.0 / 300));
    normal("lecun_normal", 0, sqrt(1.0 / 300));
    normal("normal", 0, 0.05);
    normal("normal(2, 0.5)", 2, 0.5);
    const char *consts[][2] = {{"zeros", "0"}, {"ones", "1"}, {"constant(0.25)", "0.25"}, {"constant", "0"}};
    for (int c = 0; c < 4; c++) {
        char canon[512];
        mt_init_parse(consts[c][0], canon, sizeof canon);
        mt_init_fill(canon, w, N, FAN_IN, FAN_OUT, NULL);
        CHECK(w[0] == (float)atof(consts[c][1]) && w[N - 1] == w[0], "%s gave %g", consts[c][0], w[0]);
    }
    const char *bad[] = {"glorot", "constant(1, 2)", "uniform(0,", "normal(x)", "he_uniform(1)"};
    for (int b = 0; b < 5; b++) {
        char msg[512];
        CHECK(mt_init_parse(bad[b], msg, sizeof msg) != 0, "'%s' accepted", bad[b]);
    }
    char msg[512];
    mt_init_parse("glorot", msg, sizeof msg);
    CHECK(strstr(msg, "glorot_uniform") && strstr(msg, "lecun_normal"), "message lacks the valid names: %s", msg);

    /* Through the config: the same seed gives the same weights, and options reach the tensors. */
    const char *yaml = "model: {input: [3], layers: [{dense: {units: 2, kernel_initializer: 'constant(0.5)',"
                       " bias_initializer: ones}}, {dense: {units: 2, kernel_initializer: he_normal}}]}\n"
                       "loss: mse\noptimizer: sgd\ndata: {file: none.h5}\n";
    mt_config cfg;
    mt_model a, b;
    mt_error err = {0};
    if (CHECK(mt_config_load_string(yaml, "t", NULL, 0, &cfg, &err) == MT_OK &&
                  mt_model_build(&cfg, 0, &a, &err) == MT_OK && mt_model_build(&cfg, 0, &b, &err) == MT_OK,
              "%s", err.msg)) {
        mt_model_init_params(&a, 9);
        mt_model_init_params(&b, 9);
        CHECK(a.params[0] == 0.5f && a.params[5] == 0.5f && a.params[6] == 1.0f, "constant/ones not applied");
        CHECK(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0, "same seed, different weights");
        mt_model_init_params(&b, 10);
        CHECK(memcmp(a.params + 8, b.params + 8, 4 * sizeof(float)) != 0, "another seed, same random weights");
        mt_model_free(&a), mt_model_free(&b);
        mt_config_free(&cfg);
    }
    CHECK(mt_config_load_string("model: {input: [3], layers: [{dense: {units: 2, kernel_initializer: glorot}}]}\n"
                                "loss: mse\noptimizer: sgd\ndata: {file: none.h5}\n",
                                "t", NULL, 0, &cfg, &err) == MT_OK &&
              mt_model_build(&cfg, 0, &a, &err) == MT_ERR_CONFIG && strstr(err.msg, "kernel_initializer"),
          "unknown initializer in a layer: %s", err.msg);
    mt_config_free(&cfg);
    return mt_test_finish("init");
}
