/* Batch normalization (torch.nn.BatchNorm1d/2d): per feature of a flat input, or per channel (first
 * sample dimension) of [C, H, W] feature maps. Training normalizes with the batch statistics (biased
 * variance) and updates running statistics with momentum (unbiased variance, as torch); inference uses
 * the running statistics. With `sync: true` the statistics and the backward sums are reduced over the
 * global batch across ranks, so np ranks normalize exactly like one rank with the same global batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/comm.h"
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
    float *mean, *invstd;   /* [C] of the latest training batch */
    double *sums;           /* [2C + 1] reduction buffer */
} bn_state;

static mt_status bn_setup(mt_layer *l, mt_error *err)
{
    int c = l->in_shape.v[0];
    size_t spatial = l->in_size / (size_t)c;
    bn_state *s = calloc(1, sizeof *s + 2 * (size_t)c * sizeof(float) + (2 * (size_t)c + 1) * sizeof(double));
    if (!s)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    s->channels = c;
    s->spatial = (int)spatial;
    s->sums = (double *)(s + 1);
    s->mean = (float *)(s->sums + 2 * c + 1);
    s->invstd = s->mean + c;
    l->state = s;
    l->out_shape = l->in_shape;
    l->out_size = l->in_size;
    l->tensors[0] = (mt_tensor_desc){.name = "weight", .rank = 1, .shape = {c}, .offset = 0, .size = (size_t)c,
                                     .init = "ones"};
    l->tensors[1] = (mt_tensor_desc){.name = "bias", .rank = 1, .shape = {c}, .offset = (size_t)c,
                                     .size = (size_t)c, .init = "zeros"};
    l->n_tensors = 2;
    l->n_params = 2 * (size_t)c;
    l->buffer_tensors[0] = (mt_tensor_desc){.name = "running_mean", .rank = 1, .shape = {c}, .offset = 0,
                                            .size = (size_t)c, .init = "zeros"};
    l->buffer_tensors[1] = (mt_tensor_desc){.name = "running_var", .rank = 1, .shape = {c}, .offset = (size_t)c,
                                            .size = (size_t)c, .init = "ones"};
    l->n_buffer_tensors = 2;
    l->n_buffers = 2 * (size_t)c;
    l->scratch_per_sample = l->in_size; /* normalized input, for backward */
    return MT_OK;
}

/* Sums over the P positions of one channel of one sample: *sa = sum a, *sb = sum a * b. Eight partial
 * sums per quantity (a fixed order, so results do not depend on the machine) let the loop vectorize. */
static void row_sums(const float *restrict a, const float *restrict b, int P, float *sa, float *sb)
{
    float pa[8] = {0}, pb[8] = {0};
    int p = 0;
    for (; p + 8 <= P; p += 8)
        for (int k = 0; k < 8; k++) {
            pa[k] += a[p + k];
            pb[k] += a[p + k] * b[p + k];
        }
    for (; p < P; p++) {
        pa[p & 7] += a[p];
        pb[p & 7] += a[p] * b[p];
    }
    *sa = ((pa[0] + pa[1]) + (pa[2] + pa[3])) + ((pa[4] + pa[5]) + (pa[6] + pa[7]));
    *sb = ((pb[0] + pb[1]) + (pb[2] + pb[3])) + ((pb[4] + pb[5]) + (pb[6] + pb[7]));
}

/* Sums over samples and positions of a channel: sums[c] += a, sums[C + c] += a * b (b NULL: a * a). */
static void channel_sums(const bn_state *s, const float *a, const float *b, int n, double *sums)
{
    int C = s->channels, P = s->spatial;
    memset(sums, 0, (2 * (size_t)C + 1) * sizeof *sums);
    if (P == 1) { /* flat input: one value per feature and sample */
        for (int i = 0; i < n; i++) {
            const float *pa = a + (size_t)i * C, *pb = b ? b + (size_t)i * C : pa;
            for (int c = 0; c < C; c++) {
                sums[c] += pa[c];
                sums[C + c] += (double)pa[c] * pb[c];
            }
        }
    } else {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++) {
                const float *pa = a + ((size_t)i * C + c) * P;
                float sa, sb;
                row_sums(pa, b ? b + ((size_t)i * C + c) * P : pa, P, &sa, &sb);
                sums[c] += sa;
                sums[C + c] += sb;
            }
    }
    sums[2 * C] = (double)n * P;
}

static void reduce(const mt_layer *l, const mt_pass *pass, double *sums)
{
    const bn_opts *o = l->opts;
    const bn_state *s = l->state;
    if (o->sync && pass->comm)
        mt_comm_allreduce_sum_f64(pass->comm, sums, 2 * (size_t)s->channels + 1, NULL);
}

static void normalize(const mt_layer *l, const float *x, float *y, float *xhat, int n, const float *mean,
                      const float *invstd)
{
    const bn_state *s = l->state;
    int C = s->channels, P = s->spatial;
    const float *gamma = l->params, *beta = l->params + C;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            size_t off = ((size_t)i * C + c) * P;
            const float m = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
            for (int p = 0; p < P; p++) {
                float h = (x[off + p] - m) * is;
                if (xhat)
                    xhat[off + p] = h;
                y[off + p] = g * h + b;
            }
        }
}

static void bn_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass)
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
        normalize(l, x, y, NULL, n, s->mean, s->invstd);
        return;
    }
    channel_sums(s, x, NULL, n, s->sums);
    reduce(l, pass, s->sums);
    double count = s->sums[2 * C];
    if (count <= 0)
        return;
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
    normalize(l, x, y, l->scratch, n, s->mean, s->invstd);
}

static void bn_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                        const mt_pass *pass)
{
    (void)x, (void)y;
    bn_state *s = l->state;
    int C = s->channels, P = s->spatial;
    const float *xhat = l->scratch, *gamma = l->params;
    float *dgamma = l->grads, *dbeta = l->grads + C;
    channel_sums(s, dy, xhat, n, s->sums); /* sum dy, sum dy * xhat */
    for (int c = 0; c < C; c++) {
        dbeta[c] += (float)s->sums[c];
        dgamma[c] += (float)s->sums[C + c];
    }
    reduce(l, pass, s->sums);
    double count = s->sums[2 * C];
    if (!dx || count <= 0)
        return;
    for (int c = 0; c < C; c++) {
        const float k = gamma[c] * s->invstd[c], mdy = (float)(s->sums[c] / count);
        const float mdyx = (float)(s->sums[C + c] / count);
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * C + c) * P;
            for (int p = 0; p < P; p++)
                dx[off + p] = k * (dy[off + p] - mdy - xhat[off + p] * mdyx);
        }
    }
}

const mt_layer_ops mt_batch_norm_layer = {
    .name = "batch_norm",
    .options = bn_options,
    .options_size = sizeof(bn_opts),
    .doc = "batch normalization per feature (flat input) or per channel (feature maps), as torch BatchNorm1d/2d",
    .setup = bn_setup,
    .forward = bn_forward,
    .backward = bn_backward,
};
