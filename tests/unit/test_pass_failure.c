/* A sum over the ranks that fails inside a pass reaches the caller: with batch_norm {sync: true}, the
 * training forward pass and the backward pass return the status and message of mt_pass's sum_over_ranks
 * hook, stop at the layer whose sum failed (the layers after it in the forward pass do not run, the layers
 * before it in the backward pass neither), and an inference pass does not call the hook. */
#include <string.h>

#include "config/config.h"
#include "core/error.h"
#include "model_pass.h"
#include "nn/model.h"
#include "testlib.h"

enum { N = 4 };

/* The hook: sums nothing (one rank), counts its calls and fails on call number fail_at (1-based). */
typedef struct hook_state {
    int calls, fail_at;
    int ready[8]; /* grads_ready calls per layer */
} hook_state;

static mt_status sum_hook(void *user, double *v, size_t n, mt_error *err)
{
    (void)v, (void)n;
    hook_state *h = user;
    if (++h->calls == h->fail_at)
        return mt_fail(err, MT_ERR_MPI, "MPI_Allreduce: the peer went away (injected)");
    return MT_OK;
}

static void ready_hook(void *user, int layer)
{
    ((hook_state *)user)->ready[layer]++;
}

int main(void)
{
    const char *yaml = "model: {input: [3], layers: [{dense: {units: 5}}, {batch_norm: {sync: true}}, tanh, "
                       "{dense: {units: 2}}]}\nloss: mse\noptimizer: sgd\ndata: {file: none.h5}\n";
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    if (!MODEL_BUILD(yaml, N, &cfg, &m))
        return mt_test_finish("pass_failure");
    mt_model_init_params(&m, 3);
    for (int i = 0; i < N * 3; i++)
        m.acts[0][i] = 0.25f * (float)(i % 7) - 0.5f;
    hook_state h = {.fail_at = 1};
    mt_pass pass = {.training = 1,
                    .global_n = N,
                    .sum_over_ranks = sum_hook,
                    .sum_user = &h,
                    .grads_ready = ready_hook,
                    .hook_user = &h};

    /* Forward: the first sum (the batch statistics) fails. */
    const float sentinel = -12345.0f;
    for (int i = 0; i < N * 2; i++)
        m.acts[4][i] = sentinel;
    const float *out = NULL;
    mt_status st = mt_model_forward(&m, N, &pass, &out, &err);
    CHECK(st == MT_ERR_MPI, "forward returned %d, expected MT_ERR_MPI (%d)", (int)st, (int)MT_ERR_MPI);
    CHECK(err.code == MT_ERR_MPI && strstr(err.msg, "MPI_Allreduce: the peer went away (injected)") &&
              strstr(err.msg, "model.layers[1].batch_norm"),
          "forward's message: '%s'", err.msg);
    CHECK(out == NULL, "forward gave an output after a failure");
    CHECK(h.calls == 1, "the hook ran %d times in the forward pass, expected 1", h.calls);
    CHECK(m.acts[4][0] == sentinel && m.acts[4][N * 2 - 1] == sentinel, "the last layer ran after the failure");

    /* Forward succeeds; in the backward pass the sum of the gradient statistics (the second call) fails. */
    mt_error_clear(&err);
    h = (hook_state){.fail_at = 2};
    st = mt_model_forward(&m, N, &pass, &out, &err);
    CHECK(st == MT_OK && out == m.acts[4], "forward: %s", err.msg);
    float dout[N * 2], dx0[N * 3];
    for (int i = 0; i < N * 2; i++)
        dout[i] = 0.1f * (float)(i + 1);
    for (int i = 0; i < N * 3; i++)
        dx0[i] = sentinel;
    mt_model_zero_grads(&m);
    st = mt_model_backward(&m, dout, N, &pass, dx0, &err);
    CHECK(st == MT_ERR_MPI, "backward returned %d, expected MT_ERR_MPI (%d)", (int)st, (int)MT_ERR_MPI);
    CHECK(err.code == MT_ERR_MPI && strstr(err.msg, "MPI_Allreduce: the peer went away (injected)") &&
              strstr(err.msg, "model.layers[1].batch_norm"),
          "backward's message: '%s'", err.msg);
    CHECK(h.calls == 2, "the hook ran %d times, expected 2", h.calls);
    CHECK(h.ready[3] == 1 && h.ready[2] == 1 && h.ready[1] == 0 && h.ready[0] == 0,
          "grads_ready per layer %d %d %d %d, expected 0 0 1 1 (layers 3 and 2 only)", h.ready[0], h.ready[1],
          h.ready[2], h.ready[3]);
    int first_grads = 0;
    for (size_t i = 0; i < m.layers[0].n_params; i++)
        first_grads += m.layers[0].grads[i] != 0;
    CHECK(first_grads == 0 && dx0[0] == sentinel, "layer 0's backward ran after the failure");

    /* Inference uses the running statistics: no sum, no failure. */
    h = (hook_state){.fail_at = 1};
    pass.training = 0;
    st = mt_model_forward(&m, N, &pass, &out, &err);
    CHECK(st == MT_OK && h.calls == 0, "inference: status %d, %d sums: %s", (int)st, h.calls, err.msg);

    mt_model_free(&m);
    mt_config_free(&cfg);
    return mt_test_finish("pass_failure");
}
