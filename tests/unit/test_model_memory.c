/* Tests of the model-size cap (nn/model): mt_model_build and mt_model_reserve add up the bytes a model
 * needs before allocating them and refuse (MT_ERR_CONFIG, the layer's file:line and section, the bytes)
 * what exceeds the physical memory or overflows size_t. Expected byte counts are computed here from the
 * layer sizes by hand (dense: (in + 1) x units parameters; parameters x (2 + optimizer slots) x 4 bytes;
 * activations: input + each layer's output and scratch + 2 x the widest, per sample, x batch x 4 bytes),
 * for optimizers with 0, 1, 2 and 3 state slots; a reserve that overflows size_t is reported as such;
 * a refused reserve allocates nothing and keeps the model's earlier buffers; the physical memory matches
 * /proc/meminfo. Cases whose sizes a machine could hold are skipped there (they would really allocate). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/error.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "testlib.h"

/* A config of `input` and the layer lines (each "    - ...\n"), with optimizer opt. */
static int load(mt_config *cfg, const char *input, const char *layers, const char *opt, mt_error *err)
{
    char yaml[8192];
    snprintf(yaml, sizeof yaml,
             "model:\n  input: %s\n  layers:\n%sloss: categorical_crossentropy\noptimizer: %s\ndata: {file: d.h5}\n",
             input, layers, opt);
    return CHECK(mt_config_load_string(yaml, "t.yaml", NULL, 0, cfg, err) == MT_OK, "config: %s", err->msg);
}

/* Ten pairs of dense 16777216 and dense 1024 on 784 inputs, then dense 10: 339738644490 parameters. */
static const char *huge_dense(char *buf, size_t size, uint64_t *params, uint64_t *largest)
{
    buf[0] = '\0';
    uint64_t in = 784, p = 0, big = 0;
    for (int i = 0; i < 21; i++) {
        uint64_t units = i == 20 ? 10 : i % 2 ? 1024 : 16777216, n = (in + 1) * units;
        p += n;
        big = n > big ? n : big;
        snprintf(buf + strlen(buf), size - strlen(buf), "    - dense: {units: %llu, activation: %s}\n",
                 (unsigned long long)units, i == 20 ? "softmax" : "relu");
        in = units;
    }
    *params = p;
    *largest = big;
    return buf;
}

/* The build of huge_dense is refused with the optimizer's slot count and hand-computed bytes. */
static void check_build(const char *opt, int slots)
{
    static char layers[4096];
    uint64_t params, largest;
    huge_dense(layers, sizeof layers, &params, &largest);
    CHECK(params == 339738644490ull && largest == 17196646400ull, "hand count: %llu parameters, largest %llu",
          (unsigned long long)params, (unsigned long long)largest);
    uint64_t bytes = params * (2 + (uint64_t)slots) * 4, layer_bytes = largest * (2 + (uint64_t)slots) * 4;
    if (bytes <= mt_model_physical_memory()) {
        printf("skip - %s: this machine holds %llu bytes\n", opt, (unsigned long long)bytes);
        return;
    }
    mt_config cfg;
    mt_error err;
    if (!load(&cfg, "[28, 28]", layers, opt, &err))
        return;
    mt_model m;
    mt_status st = mt_model_build(&cfg, mt_optimizer_slots(cfg.optimizer), &m, &err);
    /* the largest layer is the first dense 16777216 on 1024 inputs: model.layers[2], line 6 */
    char want[512], tail[128];
    snprintf(want, sizeof want,
             "t.yaml:6: model.layers[2].dense: the model needs %llu bytes (%llu parameters x "
             "(2 + %d optimizer slots) x 4 bytes), more than the %zu bytes of this machine's memory",
             (unsigned long long)bytes, (unsigned long long)params, slots, mt_model_physical_memory());
    snprintf(tail, sizeof tail, "; this layer needs %llu bytes of it", (unsigned long long)layer_bytes);
    CHECK(st == MT_ERR_CONFIG && !strncmp(err.msg, want, strlen(want)) && strstr(err.msg, tail),
          "%s: %d '%s'\n    want '%s%s'", opt, st, err.msg, want, tail);
    CHECK(m.params == NULL && m.layers == NULL && m.where == NULL, "%s: a refused model holds no memory", opt);
    if (st == MT_OK)
        mt_model_free(&m);
    mt_config_free(&cfg);
}

/* Reserve: token ids [1024] through an embedding of 1024 (2^20 floats per sample) and relu layers. */
static void check_reserve(void)
{
    mt_config cfg;
    mt_error err;
    const char *layers = "    - embedding: {input_dim: 4, output_dim: 1024}\n    - relu\n    - relu\n";
    if (!load(&cfg, "[1024]", layers, "adam", &err))
        return;
    mt_model m;
    if (!CHECK(mt_model_build(&cfg, mt_optimizer_slots(cfg.optimizer), &m, &err) == MT_OK, "build: %s", err.msg)) {
        mt_config_free(&cfg);
        return;
    }
    CHECK(m.slots == 2, "adam has %d slots, want 2", m.slots);
    CHECK(mt_model_reserve(&m, 8, &err) == MT_OK && m.capacity == 8, "reserve 8: %s", err.msg);
    float *acts0 = m.acts ? m.acts[0] : NULL;
    /* per sample: input 1024 + 3 outputs of 2^20 (no scratch: embedding and relu keep none) + 2 x 2^20 */
    const uint64_t per_sample = 1024 + 5 * ((uint64_t)1 << 20), state = 4 * 1024 * 16;
    const int cap = INT_MAX;
    uint64_t bytes = state + (uint64_t)cap * per_sample * 4; /* 2^31 x 5 Mi x 4: about 4.5e16, no overflow */
    if (bytes > mt_model_physical_memory()) {
        mt_status st = mt_model_reserve(&m, cap, &err);
        char want[400];
        snprintf(want, sizeof want,
                 "t.yaml:4: model.layers[0].embedding: the model needs %llu bytes (4096 "
                 "parameters x (2 + 2 optimizer slots) x 4 bytes + %llu floats of activations per sample x a batch of "
                 "%d x 4 bytes)",
                 (unsigned long long)bytes, (unsigned long long)per_sample, cap);
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, want), "reserve %d: %d '%s'\n    want '%s'", cap, st, err.msg,
              want);
        CHECK(m.capacity == 8 && m.acts && m.acts[0] == acts0,
              "a refused reserve keeps the buffers of 8 "
              "(capacity %d)",
              m.capacity);
    }
    mt_model_free(&m);
    mt_config_free(&cfg);

    /* 2^30 floats per sample in each of 4 outputs: at 2^31 - 1 samples the bytes overflow 64 bits */
    layers = "    - embedding: {input_dim: 1, output_dim: 1048576}\n    - relu\n    - relu\n    - relu\n";
    if (!load(&cfg, "[1024]", layers, "sgd", &err))
        return;
    if (CHECK(mt_model_build(&cfg, mt_optimizer_slots(cfg.optimizer), &m, &err) == MT_OK, "build: %s", err.msg)) {
        mt_status st = mt_model_reserve(&m, INT_MAX, &err);
        char want[400];
        snprintf(want, sizeof want,
                 "t.yaml:4: model.layers[0].embedding: the model needs more than %zu bytes "
                 "(1048576 parameters x (2 + 0 optimizer slots) x 4 bytes + %llu floats of activations per sample x "
                 "a batch of %d x 4 bytes), a size that overflows size_t; this layer needs %llu bytes of it",
                 (size_t)SIZE_MAX - 1, 1024 + 6 * (1ull << 30), INT_MAX,
                 1048576ull * 8 + (unsigned long long)INT_MAX * (1ull << 30) * 4);
        CHECK(st == MT_ERR_CONFIG && !strcmp(err.msg, want), "overflowing reserve: %d '%s'\n    want '%s'", st, err.msg,
              want);
        CHECK(m.capacity == 0 && m.acts == NULL && m.scratch == NULL, "an overflowing reserve allocates nothing");
        mt_model_free(&m);
    }
    mt_config_free(&cfg);
}

/* sysconf's physical memory against the kernel's MemTotal (same count, rounded down to whole pages). */
static void check_physical(void)
{
    size_t phys = mt_model_physical_memory();
    long page = sysconf(_SC_PAGE_SIZE);
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (!kb) {
        printf("skip - no MemTotal in /proc/meminfo\n");
        return;
    }
    unsigned long long total = kb * 1024;
    CHECK(phys <= total && total - phys < (unsigned long long)page + 1024,
          "physical memory %zu bytes, /proc/meminfo says %llu", phys, total);
}

int main(void)
{
    check_build("adam", 2);
    check_build("sgd", 0);
    check_build("{name: sgd, momentum: 0.9}", 1);
    check_build("{name: rmsprop, momentum: 0.9, centered: true}", 3);
    check_reserve();
    check_physical();
    return mt_test_finish("model_memory");
}
