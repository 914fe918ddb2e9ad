/* Layer speed against the machine's own sgemm, one thread: forward and backward time and GFLOP/s of the
 * conv layers of launch/configs/fashion_cnn.yaml (conv 32 3x3 on [1, 28, 28] without dX, as a first
 * layer; conv 64 3x3 on [32, 14, 14] with dX), next to OpenBLAS sgemm on 2048^3 and at the conv's own
 * GEMM shape. Each layer's output is checked against a direct computation of a few output values before
 * timing.
 *
 * Then the dense layers of launch/configs/fashion_mlp.yaml (784-256-256-10) at batch 128 and 32: each
 * layer's three products (forward Y = X W^T, dX = dY W, dW += dY^T X) with our GEMM (core/gemm.c)
 * and with OpenBLAS, whose results are compared first; and the whole MLP training step (forward,
 * softmax cross-entropy, backward, Adam; the loss must fall over the repeated steps) in GFLOP/s
 * counting 6 x parameters x samples, against OpenBLAS sgemm on 2048^3 measured in the same run. This
 * part counts CPU time of the thread and alternates the contenders over several rounds, so that other
 * jobs on a shared machine distort the ratios less.
 * --fusion: the MLP step with and without the fusions of the passes around its products, alternating:
 * the relu's gradient folded into the next layer's dX product (mt_layer dx_relu_mask) or a pass of its
 * own, and the gradient slab zeroed by a memset or lazily (mt_model_zero_grads_lazy: the weight gradient
 * products write it).
 * --parts: the MLP step at batch 128 and 32 cut into forward + loss + backward and the optimizer (Adam over
 * every parameter), each timed over the same steps: the GEMM rate of the first part (the dense layers'
 * work, 1,211,392 FLOP per sample), the optimizer's time and the bytes it moves per second (28 per
 * parameter: parameter, gradient and two moments read, three written), and the optimizer's share of the
 * step, which no fusion of the passes around the products can remove.
 * Usage: build/bench/layer_gflops [BATCH] [--dense | --fusion | --parts]  (BATCH: of the conv part,
 * default 64; --dense: only the dense part). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/blas.h"
#include "core/gemm.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/optimizer.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Output (f, y, x) of sample 0 of a 3x3 'same' convolution with relu, computed directly. */
/* Ends the benchmark when a pass failed. */
static void check_pass(mt_status st, const mt_error *err)
{
    if (st) {
        fprintf(stderr, "layer_gflops: %s\n", err->msg);
        exit(1);
    }
}

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
    if (mt_config_load_string(yaml, "bench", NULL, 0, &cfg, &err) || mt_model_build(&cfg, 0, &m, &err) ||
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
    check_pass(l->ops->forward(l, m.acts[0], m.acts[1], n, &pass, &err), &err);
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
        check_pass(l->ops->forward(l, m.acts[0], m.acts[1], n, &pass, &err), &err);
        double b = now();
        for (size_t i = 0; i < (size_t)n * l->out_size; i++)
            dy[i] = 0.01f;
        double c = now();
        check_pass(l->ops->backward(l, m.acts[0], m.acts[1], dy, with_dx ? dx : NULL, n, &pass, &err), &err);
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

/* GFLOP/s of OpenBLAS sgemm at M x N x K. */
static double sgemm(int M, int N, int K, const char *what)
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
    double gf = 2.0 * M * N * K * reps / t / 1e9;
    printf("OpenBLAS sgemm %-14s %dx%dx%d: %6.1f GFLOP/s\n", what, M, N, K, gf);
    free(a), free(b), free(c);
    return gf;
}

/* ---- dense layers ---- */

/* CPU time of this thread: other jobs on a shared machine slow it down less than the wall clock. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1], v[j - 1] = x;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

enum { ROUNDS = 7 };

/* Seconds per call of gemm on these operands over about 30 ms of CPU time. */
static double time_gemm(gemm_fn gemm, int ta, int tb, int m, int n, int k, const float *a, const float *b, float beta,
                        float *c)
{
    const int lda = ta ? m : k, ldb = tb ? k : n;
    int reps = 0;
    double t0 = cpu_now(), t;
    do {
        gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
        reps++;
    } while ((t = cpu_now() - t0) < 0.03);
    return t / reps;
}

/* One dense product: ours against OpenBLAS, checked, then timed in alternating rounds (medians). */
static void dense_product(const char *what, int ta, int tb, int m, int n, int k, float beta)
{
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b);
    float *c1 = malloc((size_t)m * n * sizeof *c1), *c2 = malloc((size_t)m * n * sizeof *c2);
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)((i * 7919) % 61) * 0.01f - 0.3f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b[i] = (float)((i * 104729) % 53) * 0.01f - 0.26f;
    for (size_t i = 0; i < (size_t)m * n; i++)
        c1[i] = c2[i] = (float)(i % 11) * 0.1f;
    mt_gemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, beta, c1, n);
    mt_sgemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, beta, c2, n);
    double worst = 0;
    for (size_t i = 0; i < (size_t)m * n; i++)
        worst = fmax(worst, fabs((double)c1[i] - c2[i]) / (1.0 + fabs((double)c2[i])));
    if (worst > 1e-4) {
        fprintf(stderr, "layer_gflops: mt_gemm differs from OpenBLAS by %g (relative) at %s\n", worst, what);
        exit(1);
    }
    double ours[ROUNDS], blas[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        ours[r] = time_gemm(mt_gemm, ta, tb, m, n, k, a, b, beta, c1);
        blas[r] = time_gemm(mt_sgemm, ta, tb, m, n, k, a, b, beta, c2);
    }
    const double to = median(ours, ROUNDS), tbl = median(blas, ROUNDS), flops = 2.0 * m * n * k;
    printf("  %-18s %c%c %4dx%4dx%4d: mt_gemm %6.1f GFLOP/s, OpenBLAS %6.1f GFLOP/s, speedup %5.2f\n", what,
           ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, flops / to / 1e9, flops / tbl / 1e9, tbl / to);
    free(a), free(b), free(c1), free(c2);
}

/* The MLP's dense layers: the three products of each, at batch n. */
static void dense_products(int n)
{
    static const int dims[3][2] = {{784, 256}, {256, 256}, {256, 10}};
    printf("dense layers of the MLP at batch %d (training skips dX of the first layer):\n", n);
    for (int l = 0; l < 3; l++) {
        char what[64];
        const int in = dims[l][0], out = dims[l][1];
        snprintf(what, sizeof what, "%d->%d forward", in, out);
        dense_product(what, 0, 1, n, out, in, 1.0f);
        snprintf(what, sizeof what, "%d->%d dX", in, out);
        dense_product(what, 0, 0, n, in, out, 0.0f);
        snprintf(what, sizeof what, "%d->%d dW", in, out);
        dense_product(what, 1, 0, out, in, n, 1.0f);
    }
}

/* The training step of launch/configs/fashion_mlp.yaml at batch n as the trainer runs it at one rank:
 * zero the gradients, forward, softmax cross-entropy, backward, Adam. */
typedef struct mlp {
    mt_config cfg;
    mt_model m;
    mt_loss loss;
    mt_optimizer opt;
    int n, steps;
    int lazy_zero;        /* mt_model_zero_grads_lazy rather than mt_model_zero_grads */
    double t_pass, t_opt; /* CPU seconds in forward + loss + backward, and in the optimizer, so far */
    int32_t *y;
    float *dout;
    double first_loss, last_loss;
} mlp;

static void mlp_create(mlp *s, int n)
{
    const char *yaml = "model: {input: [28, 28], layers: [{dense: {units: 256, activation: relu}},"
                       " {dense: {units: 256, activation: relu}}, {dense: {units: 10, activation: softmax}}]}\n"
                       "loss: categorical_crossentropy\noptimizer: {name: adam, learning_rate: 0.001}\n"
                       "data: {file: x.h5}\n";
    mt_error err = {0};
    memset(s, 0, sizeof *s);
    if (mt_config_load_string(yaml, "bench", NULL, 0, &s->cfg, &err) || mt_model_build(&s->cfg, 0, &s->m, &err) ||
        mt_model_reserve(&s->m, n, &err) || mt_loss_setup(&s->loss, s->cfg.loss, &s->m, &err) ||
        mt_optimizer_create(s->cfg.optimizer, s->m.n_params, &s->opt, &err)) {
        fprintf(stderr, "layer_gflops: %s\n", err.msg);
        exit(1);
    }
    mt_model_init_params(&s->m, 1);
    s->n = n;
    s->y = malloc((size_t)n * sizeof *s->y);
    s->dout = malloc((size_t)n * s->m.output_size * sizeof *s->dout);
    for (int i = 0; i < n; i++)
        s->y[i] = (i * 7) % 10;
    for (size_t i = 0; i < (size_t)n * s->m.input_size; i++)
        s->m.acts[0][i] = (float)((i * 31) % 256) / 255.0f;
}

static void mlp_step(mlp *s)
{
    if (s->lazy_zero)
        mt_model_zero_grads_lazy(&s->m);
    else
        mt_model_zero_grads(&s->m);
    mt_pass pass = {.training = 1, .step = (uint64_t)s->steps, .global_n = (uint64_t)s->n};
    const float *out;
    mt_error err = {0};
    const double t0 = cpu_now();
    check_pass(mt_model_forward(&s->m, s->n, &pass, &out, &err), &err);
    const double l = mt_loss_compute(&s->loss, out, mt_model_logits(&s->m), s->y, NULL, NULL, s->n, s->dout,
                                     1.0f / (float)s->n, NULL) /
                     s->n;
    check_pass(mt_model_backward(&s->m, s->dout, s->n, &pass, NULL, &err), &err);
    const double t1 = cpu_now();
    mt_optimizer_step(&s->opt, s->m.params, s->m.grads, 0.001);
    const double t2 = cpu_now();
    s->t_pass += t1 - t0;
    s->t_opt += t2 - t1;
    if (s->steps++ == 0)
        s->first_loss = l;
    s->last_loss = l;
}

/* Seconds per step over about 0.3 s of CPU time. */
static double mlp_time(mlp *s)
{
    int reps = 0;
    double t0 = cpu_now(), t;
    do {
        mlp_step(s);
        reps++;
    } while ((t = cpu_now() - t0) < 0.3);
    return t / reps;
}

static void mlp_free(mlp *s)
{
    free(s->y), free(s->dout);
    mt_optimizer_free(&s->opt);
    mt_model_free(&s->m);
    mt_config_free(&s->cfg);
}

/* The MLP step at batch 128 and 32 against OpenBLAS sgemm 2048^3, in alternating rounds (medians). */
static void mlp_vs_sgemm(void)
{
    const int N = 2048;
    float *a = malloc((size_t)N * N * sizeof *a), *b = malloc((size_t)N * N * sizeof *b);
    float *c = malloc((size_t)N * N * sizeof *c);
    for (size_t i = 0; i < (size_t)N * N; i++)
        a[i] = 0.001f * (float)(i % 7), b[i] = 0.001f * (float)(i % 5);
    mlp s128, s32;
    mlp_create(&s128, 128);
    mlp_create(&s32, 32);
    for (int i = 0; i < 5; i++) /* warm up */
        mlp_step(&s128), mlp_step(&s32);
    double large[ROUNDS], t128[ROUNDS], t32[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = cpu_now();
        mt_sgemm(0, 0, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        large[r] = 2.0 * N * N * N / (cpu_now() - t0) / 1e9;
        t128[r] = mlp_time(&s128);
        t32[r] = mlp_time(&s32);
    }
    /* the same batch over and over: the loss must fall, or the step is broken */
    const mlp *all[2] = {&s128, &s32};
    for (int i = 0; i < 2; i++)
        if (!(all[i]->last_loss < 0.8 * all[i]->first_loss)) {
            fprintf(stderr, "layer_gflops: MLP loss went from %g to %g over %d steps\n", all[i]->first_loss,
                    all[i]->last_loss, all[i]->steps);
            exit(1);
        }
    const double gl = median(large, ROUNDS), flops = 6.0 * (double)s128.m.n_params;
    const double step[2] = {median(t128, ROUNDS), median(t32, ROUNDS)};
    printf("OpenBLAS sgemm 2048^3: %.1f GFLOP/s\n", gl);
    for (int i = 0; i < 2; i++) {
        const double gf = flops * all[i]->n / step[i] / 1e9;
        printf("MLP 784-256-256-10 training step, batch %3d: %6.3f ms, %6.0f samples/s, %6.1f GFLOP/s at "
               "6 x %zu params x samples = %.2f x sgemm 2048^3%s (loss %.3f -> %.3f)\n",
               all[i]->n, step[i] * 1e3, all[i]->n / step[i], gf, s128.m.n_params, gf / gl,
               i == 0 ? " (target 0.75)" : "", all[i]->first_loss, all[i]->last_loss);
    }
    mlp_free(&s128), mlp_free(&s32);
    free(a), free(b), free(c);
}

/* Turns the relu-gradient folding of model m on (as the model set it up) or off. */
static void relu_fold(mt_model *m, int on)
{
    for (int i = 0; i + 1 < m->n_layers; i++)
        m->layers[i].dy_relu_masked = m->layers[i + 1].dx_relu_mask = on && m->layers[i].out_activation == MT_ACT_RELU;
}

/* The MLP step at batch 128 and 32 with each combination of relu folding and lazy zeroing, alternating. */
static void fusion(void)
{
    static const char *const names[4] = {"relu pass, memset", "relu folded, memset", "relu pass, lazy zero",
                                         "relu folded, lazy zero"};
    static const int batches[2] = {128, 32};
    for (int bi = 0; bi < 2; bi++) {
        mlp s;
        mlp_create(&s, batches[bi]);
        double t[4][ROUNDS];
        for (int i = 0; i < 5; i++)
            mlp_step(&s);
        for (int r = 0; r < ROUNDS; r++)
            for (int v = 0; v < 4; v++) {
                relu_fold(&s.m, v & 1);
                s.lazy_zero = v >> 1;
                t[v][r] = mlp_time(&s);
            }
        for (int v = 0; v < 4; v++) {
            const double step = median(t[v], ROUNDS);
            printf("MLP step, batch %3d, %-24s %6.3f ms, %6.0f samples/s\n", s.n, names[v], step * 1e3, s.n / step);
        }
        mlp_free(&s);
    }
}

/* The MLP step at batch 128 and 32 cut into forward + loss + backward and the optimizer (medians of the
 * rounds' shares). */
static void parts(void)
{
    static const int batches[2] = {128, 32};
    const double work = 6.0 * (784 * 256 + 256 * 256 + 256 * 10) - 2.0 * 784 * 256; /* FLOP per sample */
    for (int bi = 0; bi < 2; bi++) {
        mlp s;
        mlp_create(&s, batches[bi]);
        s.lazy_zero = 1; /* as the trainer's steps */
        for (int i = 0; i < 5; i++)
            mlp_step(&s);
        double pass[ROUNDS], opt[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            const int steps = s.steps;
            s.t_pass = s.t_opt = 0;
            mlp_time(&s);
            pass[r] = s.t_pass / (s.steps - steps);
            opt[r] = s.t_opt / (s.steps - steps);
        }
        const double tp = median(pass, ROUNDS), to = median(opt, ROUNDS);
        printf("MLP step, batch %3d: forward, loss and backward %.3f ms (%.1f GFLOP/s of GEMM work at %.0f FLOP per "
               "sample) + Adam %.3f ms (%zu params, %.1f GB/s at 28 bytes each) = %.3f ms; Adam's share %.3f\n",
               s.n, tp * 1e3, work * s.n / tp / 1e9, work, to * 1e3, s.m.n_params,
               28.0 * (double)s.m.n_params / to / 1e9, (tp + to) * 1e3, to / (tp + to));
        printf("mlp_parts batch=%d pass_ms=%.4f adam_ms=%.4f gemm_gflops_pass=%.1f gemm_gflops_step=%.1f "
               "adam_share=%.3f\n",
               s.n, tp * 1e3, to * 1e3, work * s.n / tp / 1e9, work * s.n / (tp + to) / 1e9, to / (tp + to));
        mlp_free(&s);
    }
}

int main(int argc, char **argv)
{
    const int dense_only = argc > 1 && !strcmp(argv[argc - 1], "--dense");
    const int fusion_only = argc == 2 && !strcmp(argv[1], "--fusion");
    const int parts_only = argc == 2 && !strcmp(argv[1], "--parts");
    const int n = argc > 1 + dense_only && !fusion_only && !parts_only ? atoi(argv[1]) : 64;
    if (n < 1 || n > 4096 || argc > 2 + dense_only) {
        fprintf(stderr, "usage: layer_gflops [BATCH] [--dense | --fusion | --parts]\n");
        return 2;
    }
    mt_blas_set_threads(1);
    mt_flush_denormals();
    if (fusion_only || parts_only) {
        if (fusion_only)
            fusion();
        else
            parts();
        return 0;
    }
    if (!dense_only) {
        conv("[28, 28]", "{conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu}}", n, 0,
             2.0 * n * 32 * 9 * 784);
        conv("[32, 14, 14]", "{conv2d: {filters: 64, kernel_size: 3, padding: same, activation: relu}}", n, 1,
             2.0 * n * 64 * 288 * 196);
        sgemm(2048, 2048, 2048, "(large)");
        sgemm(64, 196 * n, 288, "(conv 2 shape)");
        printf("\n");
    }
    printf("our GEMM: %s kernel; CPU time of the thread, medians of %d alternating rounds\n", mt_gemm_kernel_name(),
           ROUNDS);
    dense_products(128);
    dense_products(32);
    mlp_vs_sgemm();
    return 0;
}
