/* L1/L2 penalties on dense weights (Keras kernel regularizers) against hand-computed values:
 * W = [[1, -2], [0.5, 0]], l1 = 0.1, l2 = 0.01:
 *   penalty = 0.1 * (1 + 2 + 0.5 + 0) + 0.01 * (1 + 4 + 0.25 + 0) = 0.35 + 0.0525 = 0.4025
 *   gradient = l1 sign(w) + 2 l2 w = [0.12, -0.14, 0.11, 0]; the bias gets nothing. */
#include <string.h>

#include "config/config.h"
#include "nn/model.h"
#include "testlib.h"

int main(void)
{
    const char *yaml = "model: {input: [2], layers: [{dense: {units: 2, l1: 0.1, l2: 0.01}}]}\n"
                       "loss: mse\noptimizer: sgd\ndata: {file: none.h5}\n";
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (!CHECK(mt_config_load_string(yaml, "test", NULL, 0, &cfg, &err) == MT_OK &&
                   mt_model_build(&cfg, 0, &m, &err) == MT_OK,
               "%s", err.msg))
        return mt_test_finish("penalties");
    const float w[6] = {1, -2, 0.5f, 0, 3, -3};
    const double g[6] = {0.12, -0.14, 0.11, 0, 0, 0};
    memcpy(m.params, w, sizeof w);
    mt_model_zero_grads(&m);
    CHECK_CLOSE(mt_model_apply_penalties(&m, m.grads, 0, m.n_params), 0.4025, 1e-6, 0, "penalty");
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(m.grads[i], g[i], 1e-6, 1e-7, "gradient");
    mt_model_free(&m);
    mt_config_free(&cfg);
    return mt_test_finish("penalties");
}
