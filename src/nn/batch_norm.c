/* Batch normalization (torch.nn.BatchNorm1d/2d): per feature of a flat input, or per channel (first
 * sample dimension) of [C, H, W] feature maps. Training normalizes with the batch statistics (biased
 * variance) and updates running statistics with momentum (unbiased variance, as torch); inference uses
 * the running statistics. With `sync: true` the statistics and the backward sums are reduced over the
 * global batch across ranks, so np ranks normalize exactly like one rank with the same global batch.
 * Both passes are two sweeps over the data (channel sums, then one affine map per channel); backward
 * recomputes the normalized input from x rather than keeping a copy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/layer.h"

typedef struct bn_opts {
    double momentum;
    double epsilon;
    int sync;
} bn_opts;

static const mt_option bn_options[] = {
    {"momentum", MT_OPT_FLOAT, offsetof(bn_opts, momentum), "0.1", 0, 1, NULL,
     "weight of the new batch in the running statistics (torch convention: running = (1-m) running + m batch)"},
    {"epsilon", MT_OPT_FLOAT, offsetof(bn_opts, epsilon), "1e-5", 1e-12, 1, NULL, "added to the variance"},
    {"sync", MT_OPT_BOOL, offsetof(bn_opts, sync), "false", 0, 0, NULL,
     "statistics over the global batch across ranks (else each rank's own slice)"},
    MT_OPT_END,
};

typedef struct bn_state {
    int channels, spatial;
    float *mean, *invstd; /* [C] of the latest training batch (running statistics at inference) */
    float *scale, *shift; /* [C] y = scale x + shift; in backward dx = scale dy + shift x + bias */
    float *bias;          /* [C] */
    double *sums;         /* [2C + 1] reduction buffer */
} bn_state;

/* Vectors of 16 floats (GCC vector extensions: one AVX-512 register, two AVX ones, or four SSE ones), read
 * and written unaligned through vfu, and never passed by value (so that the ABI does not depend on the
 * target). Reductions add lanes in a fixed order on every machine. */
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4), may_alias));
enum { VL = 16 };
#define VLOAD(p) (*(const vfu *)(p))
#define VSTORE(p, v) (*(vfu *)(p) = (v))

static float lanes_sum(const vf *v)
{
    float t[VL];
    memcpy(t, v, sizeof t);
    for (int w = VL / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++)
            t[i] += t[i + w];
    return t[0];
}

static mt_status bn_setup(mt_layer *l, mt_error *err)
{
    int c = l->in_shape.v[0];
    size_t spatial = l->in_size / (size_t)c;
    bn_state *s = calloc(1, sizeof *s + 5 * (size_t)c * sizeof(float) + (2 * (size_t)c + 1) * sizeof(double));
    if (!s)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    s->channels = c;
    s->spatial = (int)spatial;
    s->sums = (double *)(s + 1);
    s->mean = (float *)(s->sums + 2 * c + 1);
    s->invstd = s->mean + c;
    s->scale = s->invstd + c;
    s->shift = s->scale + c;
    s->bias = s->shift + c;
    l->state = s;
    l->out_shape = l->in_shape;
    l->out_size = l->in_size;
    l->tensors[0] = (mt_tensor_desc){
        .name = "weight", .rank = 1, .shape = {c}, .offset = 0, .size = (size_t)c, .init = "ones"};
    l->tensors[1] = (mt_tensor_desc){
        .name = "bias", .rank = 1, .shape = {c}, .offset = (size_t)c, .size = (size_t)c, .init = "zeros"};
    l->n_tensors = 2;
    l->n_params = 2 * (size_t)c;
    l->buffer_tensors[0] = (mt_tensor_desc){
        .name = "running_mean", .rank = 1, .shape = {c}, .offset = 0, .size = (size_t)c, .init = "zeros"};
    l->buffer_tensors[1] = (mt_tensor_desc){
        .name = "running_var", .rank = 1, .shape = {c}, .offset = (size_t)c, .size = (size_t)c, .init = "ones"};
    l->n_buffer_tensors = 2;
    l->n_buffers = 2 * (size_t)c;
    l->scratch_per_sample = 0; /* backward recomputes the normalized input from x */
    return MT_OK;
}

/* Over the P values of one channel of one sample: out[0] = sum a, out[1] = sum a (b - m). Two vector
 * accumulators per sum in a fixed order, so results do not depend on the machine. */
static void row_sums(const float *restrict a, const float *restrict b, float m, int P, float out[2])
{
    vf sa0 = {0}, sa1 = {0}, sb0 = {0}, sb1 = {0};
    int p = 0;
    for (; p + 2 * VL <= P; p += 2 * VL) {
        vf a0 = VLOAD(a + p), a1 = VLOAD(a + p + VL);
        sa0 += a0, sa1 += a1;
        sb0 += a0 * (VLOAD(b + p) - m);
        sb1 += a1 * (VLOAD(b + p + VL) - m);
    }
    if (p + VL <= P) {
        vf a0 = VLOAD(a + p);
        sa0 += a0;
        sb0 += a0 * (VLOAD(b + p) - m);
        p += VL;
    }
    sa0 += sa1, sb0 += sb1;
    float ta = lanes_sum(&sa0), tb = lanes_sum(&sb0);
    for (; p < P; p++) {
        ta += a[p];
        tb += a[p] * (b[p] - m);
    }
    out[0] = ta, out[1] = tb;
}

/* sums[c] = sum of a over samples and positions of channel c, sums[C + c] = sum a (b - m[c]) (m NULL:
 * 0), sums[2C] = the count of values. */
static void channel_sums(const bn_state *s, const float *a, const float *b, const float *m, int n, double *sums)
{
    int C = s->channels, P = s->spatial;
    memset(sums, 0, (2 * (size_t)C + 1) * sizeof *sums);
    if (P == 1) { /* flat input: one value per feature and sample */
        for (int i = 0; i < n; i++) {
            const float *pa = a + (size_t)i * C, *pb = b + (size_t)i * C;
            for (int c = 0; c < C; c++) {
                sums[c] += pa[c];
                sums[C + c] += (double)pa[c] * (pb[c] - (m ? m[c] : 0.0f));
            }
        }
    } else {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++) {
                size_t off = ((size_t)i * C + c) * P;
                float t[2];
                row_sums(a + off, b + off, m ? m[c] : 0.0f, P, t);
                sums[c] += t[0];
                sums[C + c] += t[1];
            }
    }
    sums[2 * C] = (double)n * P;
}

/* With `sync`, sums (channel_sums' 2C + 1 values) summed over the ranks by pass->sum_over_ranks: its
 * failure, its message prefixed with the layer's section, else MT_OK. */
static mt_status reduce(const mt_layer *l, const mt_pass *pass, double *sums, mt_error *err)
{
    const bn_opts *o = l->opts;
    const bn_state *s = l->state;
    if (!o->sync || !pass->sum_over_ranks)
        return MT_OK;
    mt_status st = pass->sum_over_ranks(pass->sum_user, sums, 2 * (size_t)s->channels + 1, err);
    return st ? mt_error_prefix(err, "%s: sum of the batch statistics over the ranks", l->section) : MT_OK;
}

/* y = a[c] x + b[c] per channel c (and, with u, + c[c] u: y = a x + b u + c). */
static void affine(const bn_state *s, const float *x, const float *u, float *y, int n, const float *a, const float *b,
                   const float *c)
{
    int C = s->channels, P = s->spatial;
    if (P == 1) {
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * C, *ui = u ? u + (size_t)i * C : NULL;
            float *yi = y + (size_t)i * C;
            if (u)
                for (int k = 0; k < C; k++)
                    yi[k] = a[k] * xi[k] + b[k] * ui[k] + c[k];
            else
                for (int k = 0; k < C; k++)
                    yi[k] = a[k] * xi[k] + b[k];
        }
        return;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < C; k++) {
            size_t off = ((size_t)i * C + k) * P;
            const float *xr = x + off;
            float *yr = y + off;
            const float ak = a[k], bk = b[k], ck = u ? c[k] : 0.0f;
            int p = 0;
            if (u) {
                const float *ur = u + off;
                for (; p + VL <= P; p += VL)
                    VSTORE(yr + p, ak * VLOAD(xr + p) + (bk * VLOAD(ur + p) + ck));
                for (; p < P; p++)
                    yr[p] = ak * xr[p] + (bk * ur[p] + ck);
            } else {
                for (; p + VL <= P; p += VL)
                    VSTORE(yr + p, ak * VLOAD(xr + p) + bk);
                for (; p < P; p++)
                    yr[p] = ak * xr[p] + bk;
            }
        }
}

/* scale = gamma invstd, shift = beta - mean scale. */
static void fold(const mt_layer *l, bn_state *s)
{
    int C = s->channels;
    const float *gamma = l->params, *beta = l->params + C;
    for (int c = 0; c < C; c++) {
        s->scale[c] = gamma[c] * s->invstd[c];
        s->shift[c] = beta[c] - s->mean[c] * s->scale[c];
    }
}

static mt_status bn_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    const bn_opts *o = l->opts;
    bn_state *s = l->state;
    int C = s->channels;
    float *rmean = l->buffers, *rvar = l->buffers + C;
    if (!pass->training) {
        for (int c = 0; c < C; c++) {
            s->mean[c] = rmean[c];
            s->invstd[c] = 1.0f / sqrtf(rvar[c] + (float)o->epsilon);
        }
        fold(l, s);
        affine(s, x, NULL, y, n, s->scale, s->shift, NULL);
        return MT_OK;
    }
    channel_sums(s, x, x, NULL, n, s->sums);
    mt_status st = reduce(l, pass, s->sums, err);
    if (st)
        return st;
    double count = s->sums[2 * C];
    if (count <= 0)
        return MT_OK;
    const float mom = (float)o->momentum;
    for (int c = 0; c < C; c++) {
        double mean = s->sums[c] / count, var = s->sums[C + c] / count - mean * mean;
        var = var > 0 ? var : 0;
        s->mean[c] = (float)mean;
        s->invstd[c] = (float)(1.0 / sqrt(var + o->epsilon));
        double unbiased = count > 1 ? var * count / (count - 1) : var;
        rmean[c] = (1 - mom) * rmean[c] + mom * (float)mean;
        rvar[c] = (1 - mom) * rvar[c] + mom * (float)unbiased;
    }
    fold(l, s);
    affine(s, x, NULL, y, n, s->scale, s->shift, NULL);
    return MT_OK;
}

/* With xhat = (x - mean) invstd: dgamma += sum dy xhat, dbeta += sum dy, and
 * dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)), the means over the (global) batch, computed as
 * dx = a dy + b x + c with a = gamma invstd, b = -a invstd mean(dy xhat), c = -a mean(dy) - b mean. */
static mt_status bn_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                             const mt_pass *pass, mt_error *err)
{
    (void)y;
    bn_state *s = l->state;
    int C = s->channels;
    const float *gamma = l->params;
    float *dgamma = l->grads, *dbeta = l->grads + C;
    channel_sums(s, dy, x, s->mean, n, s->sums); /* sum dy, sum dy (x - mean) */
    for (int c = 0; c < C; c++) {
        s->sums[C + c] *= s->invstd[c];
        dbeta[c] += (float)s->sums[c];
        dgamma[c] += (float)s->sums[C + c];
    }
    mt_status st = reduce(l, pass, s->sums, err);
    if (st)
        return st;
    double count = s->sums[2 * C];
    if (!dx || count <= 0)
        return MT_OK;
    for (int c = 0; c < C; c++) {
        const float a = gamma[c] * s->invstd[c], mdy = (float)(s->sums[c] / count);
        const float mdyx = (float)(s->sums[C + c] / count);
        s->scale[c] = a;
        s->shift[c] = -a * s->invstd[c] * mdyx;
        s->bias[c] = -a * mdy - s->shift[c] * s->mean[c];
    }
    affine(s, dy, x, dx, n, s->scale, s->shift, s->bias);
    return MT_OK;
}

const mt_layer_ops mt_batch_norm_layer = {
    .name = "batch_norm",
    .options = bn_options,
    .options_size = sizeof(bn_opts),
    .doc = "batch normalization per feature (flat input) or per channel (feature maps), as torch BatchNorm1d/2d",
    .torch = "torch.nn.BatchNorm1d (flat input) or BatchNorm2d ([C, H, W] input) state_dict: weight, bias, "
             "running_mean, running_var [C]",
    .setup = bn_setup,
    .forward = bn_forward,
    .backward = bn_backward,
};
