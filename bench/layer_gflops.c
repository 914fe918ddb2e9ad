/* Layer speed against the machine's own sgemm, one thread: forward and backward time and GFLOP/s of the
 * conv layers of launch/configs/fashion_cnn.yaml (conv 32 3x3 on [1, 28, 28] without dX, as a first
 * layer; conv 64 3x3 on [32, 14, 14] with dX), next to OpenBLAS sgemm on 2048^3 and at the conv's own
 * GEMM shape. Each layer's output is checked against a direct computation of a few output values before
 * timing. Usage: build/bench/layer_gflops [BATCH] (default 64). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/blas.h"
#include "nn/model.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Output (f, y, x) of sample 0 of a 3x3 'same' convolution with relu, computed directly. */
static float direct(const mt_layer *l, const float *in, int f, int y, int x)
{
    int C = l->in_shape.n == 3 ? l->in_shape.v[0] : 1, H = l->in_shape.v[l->in_shape.n - 2];
    int W = l->in_shape.v[l->in_shape.n - 1];
    double s = l->params[l->tensors[1].offset + f];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                int yy = y + i - 1, xx = x + j - 1;
                if (yy >= 0 && yy < H && xx >= 0 && xx < W)
                    s += (double)l->params[((f * C + c) * 3 + i) * 3 + j] * in[(c * H + yy) * W + xx];
            }
    return s > 0 ? (float)s : 0.0f;
}

static void conv(const char *input, const char *layer, int n, int with_dx, double flops_fwd)
{
    char yaml[1024];
    mt_config cfg;
    mt_model m;
    mt_error err = {0};
    snprintf(yaml, sizeof yaml, "model: {input: %s, layers: [%s]}\nloss: mse\noptimizer: sgd\ndata: {file: x.h5}\n",
             input, layer);
    if (mt_config_load_string(yaml, "bench", NULL, 0, &cfg, &err) || mt_model_build(&cfg, &m, &err) ||
        mt_model_reserve(&m, n, &err)) {
        fprintf(stderr, "layer_gflops: %s\n", err.msg);
        exit(1);
    }
    mt_model_init_params(&m, 1);
    for (size_t i = 0; i < (size_t)n * m.input_size; i++)
        m.acts[0][i] = (float)(i % 17) * 0.05f - 0.3f;
    mt_layer *l = &m.layers[0];
    float *dy = malloc((size_t)n * l->out_size * sizeof *dy), *dx = malloc((size_t)n * l->in_size * sizeof *dx);
    mt_pass pass = {.training = 1, .global_n = (uint64_t)n};
    l->ops->forward(l, m.acts[0], m.acts[1], n, &pass);
    int H = l->out_shape.v[1], W = l->out_shape.v[2], F = l->out_shape.v[0];
    const int probes[4][3] = {{0, 0, 0}, {F - 1, H - 1, W - 1}, {F / 2, H / 2, 1}, {1, 2, W / 2}};
    for (int k = 0; k < 4; k++) {
        float want = direct(l, m.acts[0], probes[k][0], probes[k][1], probes[k][2]);
        float got = m.acts[1][((size_t)probes[k][0] * H + probes[k][1]) * W + probes[k][2]];
        if (fabsf(got - want) > 1e-4f * (1 + fabsf(want))) {
            fprintf(stderr, "layer_gflops: %s gives %g at (%d, %d, %d), expected %g\n", layer, got, probes[k][0],
                    probes[k][1], probes[k][2], want);
            exit(1);
        }
    }
    int reps = 0;
    double tf = 0, tb = 0, t0 = now();
    while (now() - t0 < 1.5) {
        double a = now();
        l->ops->forward(l, m.acts[0], m.acts[1], n, &pass);
        double b = now();
        for (size_t i = 0; i < (size_t)n * l->out_size; i++)
            dy[i] = 0.01f;
        double c = now();
        l->ops->backward(l, m.acts[0], m.acts[1], dy, with_dx ? dx : NULL, n, &pass);
        double d = now();
        if (reps++ > 0) /* the first pass warms up */
            tf += b - a, tb += d - c;
    }
    reps--;
    tf /= reps, tb /= reps;
    double fb = flops_fwd * (with_dx ? 2 : 1);
    printf("%-28s batch %d: forward %6.2f ms %6.1f GFLOP/s, backward%s %6.2f ms %6.1f GFLOP/s, total %6.1f GFLOP/s\n",
           input, n, tf * 1e3, flops_fwd / tf / 1e9, with_dx ? " (dW, dX)" : " (dW)    ", tb * 1e3, fb / tb / 1e9,
           (flops_fwd + fb) / (tf + tb) / 1e9);
    free(dy), free(dx);
    mt_model_free(&m);
    mt_config_free(&cfg);
}

static void sgemm(int M, int N, int K, const char *what)
{
    float *a = calloc((size_t)M * K, 4), *b = calloc((size_t)K * N, 4), *c = calloc((size_t)M * N, 4);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = 0.001f * (float)(i % 7);
    for (size_t i = 0; i < (size_t)K * N; i++)
        b[i] = 0.001f * (float)(i % 5);
    mt_sgemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N);
    int reps = 0;
    double t0 = now(), t;
    do {
        mt_sgemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N);
        reps++;
    } while ((t = now() - t0) < 1.0);
    printf("OpenBLAS sgemm %-14s %dx%dx%d: %6.1f GFLOP/s\n", what, M, N, K, 2.0 * M * N * K * reps / t / 1e9);
    free(a), free(b), free(c);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 64;
    if (n < 1 || n > 4096) {
        fprintf(stderr, "usage: layer_gflops [BATCH]\n");
        return 2;
    }
    mt_blas_set_threads(1);
    mt_flush_denormals();
    conv("[28, 28]", "{conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu}}", n, 0,
         2.0 * n * 32 * 9 * 784);
    conv("[32, 14, 14]", "{conv2d: {filters: 64, kernel_size: 3, padding: same, activation: relu}}", n, 1,
         2.0 * n * 64 * 288 * 196);
    sgemm(2048, 2048, 2048, "(large)");
    sgemm(64, 196 * n, 288, "(conv 2 shape)");
    return 0;
}
