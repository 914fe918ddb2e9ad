/* The dropout mask of a sample depends only on (seed, step, layer, position of the sample in the global
 * batch), not on how the batch is cut into rank slices: one pass over 8 samples equals two passes over
 * samples 0-3 and 4-7 with the matching offsets. Also: the kept fraction is near 1 - rate, kept values
 * are scaled by 1 / (1 - rate), another step gives another mask, and inference is the identity. */
#include <math.h>
#include <string.h>

#include "config/config.h"
#include "nn/model.h"
#include "model_pass.h"
#include "testlib.h"

enum { N = 8, W = 500 };

int main(void)
{
    const char *yaml = "model: {input: [500], layers: [{dropout: {rate: 0.3}}]}\nloss: mse\noptimizer: sgd\n"
                       "data: {file: none.h5}\n";
    mt_config cfg;
    mt_model m;
    if (!MODEL_BUILD(yaml, N, &cfg, &m))
        return mt_test_finish("dropout_mask");
    static float whole[N * W], parts[N * W], other[N * W];
    for (int i = 0; i < N * W; i++)
        m.acts[0][i] = 1.0f;
    mt_pass pass = {.training = 1, .seed = 11, .step = 5, .first = 0, .global_n = N};
    memcpy(whole, MODEL_FORWARD(&m, N, &pass), sizeof whole);
    for (int half = 0; half < 2; half++) {
        mt_pass p = pass;
        p.first = (uint64_t)half * (N / 2);
        memcpy(parts + half * (N / 2) * W, MODEL_FORWARD(&m, N / 2, &p), sizeof whole / 2);
    }
    CHECK(memcmp(whole, parts, sizeof whole) == 0, "mask depends on the slicing of the batch");
    int kept = 0;
    for (int i = 0; i < N * W; i++) {
        kept += whole[i] != 0;
        CHECK(whole[i] == 0 || fabsf(whole[i] - 1 / 0.7f) < 1e-6f, "kept value %g, expected 1/0.7", whole[i]);
        if (mt_test_failures > 5)
            break;
    }
    CHECK(fabs(kept / (double)(N * W) - 0.7) < 0.03, "kept fraction %.3f, expected about 0.7", kept / (double)(N * W));
    pass.step = 6;
    memcpy(other, MODEL_FORWARD(&m, N, &pass), sizeof other);
    CHECK(memcmp(whole, other, sizeof whole) != 0, "another step gave the same mask");
    pass.training = 0;
    const float *y = MODEL_FORWARD(&m, N, &pass);
    CHECK(y[0] == 1.0f && y[N * W - 1] == 1.0f, "inference is not the identity");
    mt_model_free(&m);
    mt_config_free(&cfg);
    return mt_test_finish("dropout_mask");
}
