/* Recurrent layers as PyTorch defines them (torch.nn.RNN with tanh, torch.nn.LSTM, torch.nn.GRU; one layer,
 * batch_first, zero initial state), with backpropagation through time over the whole sequence.
 *
 * Per sample the input is [T, F] and the output [T, H] (return_sequences) or [H] (the last hidden state).
 * Parameters, in torch's names and shapes (G gates: rnn 1, lstm 4 in the order i f g o, gru 3 in the order
 * r z n): weight_ih_l0 [G*H, F], weight_hh_l0 [G*H, H], bias_ih_l0 [G*H], bias_hh_l0 [G*H].
 *
 *   rnn:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 *   lstm: i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*), g = tanh(...); c' = f c + i g; h' = o tanh(c')
 *   gru:  r, z = sigmoid(W_i* x + b_i* + W_h* h + b_h*); n = tanh(W_in x + b_in + r (W_hn h + b_hn));
 *         h' = (1 - z) n + z h
 *
 * Batched over samples: one sgemm projects the inputs of all time steps ([n*T, F] W_ih^T), one sgemm per
 * step adds the recurrent part ([n, H] W_hh^T); backward mirrors it (per step: dh_prev and dW_hh; after the
 * loop: dW_ih and dx over all steps at once). Scratch per sample (offsets times the capacity, so each
 * region holds the whole batch): the gates [T, G*H] (pre-activations, then activations, then in backward
 * their gradients), the hidden states [T, H], lstm cell states / gru W_hn h + b_hn [T, H], and per-step
 * temporaries (dh [H], lstm dc [H], gru recurrent projection [G*H]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/init.h"
#include "nn/layer.h"

/* As in activation.c: the SIMD variants of expf/tanhf, so that the element loops vectorize (libmvec). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(__FAST_MATH__) && __GLIBC_PREREQ(2, 35)
__attribute__((__simd__("notinbranch"))) float expf(float);
__attribute__((__simd__("notinbranch"))) float tanhf(float);
#endif

typedef enum cell_kind { CELL_RNN, CELL_LSTM, CELL_GRU } cell_kind;

typedef struct rec_opts {
    int units;
    int return_sequences;
    char kernel_initializer[MT_NAME_MAX];
    char recurrent_initializer[MT_NAME_MAX];
    char bias_initializer[MT_NAME_MAX];
} rec_opts;

static const mt_option rec_options[] = {
    {"units", MT_OPT_INT, offsetof(rec_opts, units), NULL, 1, 1 << 20, NULL, "size H of the hidden state"},
    {"return_sequences", MT_OPT_BOOL, offsetof(rec_opts, return_sequences), "false", 0, 0, NULL,
     "output the hidden state of every step [T, H] (to feed another recurrent layer) instead of the last [H]"},
    {"kernel_initializer", MT_OPT_NAME, offsetof(rec_opts, kernel_initializer), "auto", 0, 0, NULL,
     "initializer of weight_ih_l0; auto = uniform(-1/sqrt(H), 1/sqrt(H)) as torch (dense's names otherwise)"},
    {"recurrent_initializer", MT_OPT_NAME, offsetof(rec_opts, recurrent_initializer), "auto", 0, 0, NULL,
     "initializer of weight_hh_l0; auto = uniform(-1/sqrt(H), 1/sqrt(H)) as torch"},
    {"bias_initializer", MT_OPT_NAME, offsetof(rec_opts, bias_initializer), "auto", 0, 0, NULL,
     "initializer of bias_ih_l0 and bias_hh_l0; auto = uniform(-1/sqrt(H), 1/sqrt(H)) as torch"},
    MT_OPT_END,
};

/* Dimensions and the per-sample offsets of the scratch regions. */
typedef struct rec_state {
    cell_kind cell;
    int T, F, H, G;
    size_t off_gates, off_h, off_aux, off_dh, off_dc, off_tmp;
    float zeros[]; /* [H]: the initial state h_0 = c_0 = 0 */
} rec_state;

/* Pointers to the scratch regions for the current capacity. */
typedef struct rec_bufs {
    float *gates; /* [n, T, G*H] */
    float *h;     /* [n, T, H] hidden states */
    float *aux;   /* [n, T, H] lstm: cell states; gru: W_hn h_prev + b_hn */
    float *dh;    /* [n, H] */
    float *dc;    /* [n, H] (lstm) */
    float *tmp;   /* [n, G*H] (gru) */
} rec_bufs;

static rec_bufs bufs_of(const mt_layer *l)
{
    const rec_state *s = l->state;
    size_t cap = (size_t)l->capacity;
    return (rec_bufs){.gates = l->scratch + s->off_gates * cap,
                      .h = l->scratch + s->off_h * cap,
                      .aux = l->scratch + s->off_aux * cap,
                      .dh = l->scratch + s->off_dh * cap,
                      .dc = l->scratch + s->off_dc * cap,
                      .tmp = l->scratch + s->off_tmp * cap};
}

/* Stable logistic function: exp of a non-positive argument never overflows. */
static inline float sigm(float z)
{
    float e = expf(-fabsf(z));
    float p = 1.0f / (1.0f + e);
    return z >= 0.0f ? p : e * p;
}

static cell_kind cell_of(const mt_layer *l);

static mt_status set_tensor(mt_layer *l, int t, const char *name, int rank, int64_t rows, int64_t cols, size_t offset,
                            const char *init, const char *key, mt_error *err)
{
    const rec_opts *o = l->opts;
    mt_tensor_desc *d = &l->tensors[t];
    *d = (mt_tensor_desc){.rank = rank,
                          .shape = {rows, cols},
                          .offset = offset,
                          .size = (size_t)rows * (size_t)(rank == 2 ? cols : 1),
                          .fan_in = (int)(rank == 2 ? cols : 1),
                          .fan_out = (int)rows};
    snprintf(d->name, sizeof d->name, "%s", name);
    char torch_default[96];
    if (!strcmp(init, "auto")) { /* torch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) */
        double a = 1.0 / sqrt((double)o->units);
        snprintf(torch_default, sizeof torch_default, "uniform(%.9g, %.9g)", -a, a);
        init = torch_default;
    }
    return mt_layer_set_init(l, d, init, key, err);
}

static mt_status rec_setup(mt_layer *l, mt_error *err)
{
    const rec_opts *o = l->opts;
    cell_kind cell = cell_of(l);
    if (l->in_shape.n != 2) {
        char shape[96] = "";
        for (int i = 0; i < l->in_shape.n; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", i ? ", " : "", l->in_shape.v[i]);
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: expects a sequence [time, features] per sample, got an input of shape [%s] (token ids "
                       "[time] go through an embedding layer first; a recurrent layer feeding another needs "
                       "return_sequences: true)",
                       l->section, shape);
    }
    int T = l->in_shape.v[0], F = l->in_shape.v[1], H = o->units, G = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
    size_t GH = (size_t)G * H;
    size_t n_params = GH * ((size_t)F + (size_t)H + 2);
    size_t per_sample = (size_t)T * GH + 2 * (size_t)T * H + 2 * (size_t)H + GH;
    if (n_params > ((size_t)1 << 31) || per_sample > ((size_t)1 << 30))
        return mt_fail(err, MT_ERR_CONFIG,
                       "%s: %d units on a sequence of %d steps of %d features is too large "
                       "(%zu parameters, %zu floats of state per sample)",
                       l->section, H, T, F, n_params, per_sample);
    rec_state *s = calloc(1, sizeof *s + (size_t)H * sizeof(float));
    if (!s)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", l->section);
    l->state = s;
    *s = (rec_state){.cell = cell, .T = T, .F = F, .H = H, .G = G};
    size_t off = 0;
    s->off_gates = off, off += (size_t)T * GH;
    s->off_h = off, off += (size_t)T * H;
    s->off_aux = off, off += cell == CELL_RNN ? 0 : (size_t)T * H;
    s->off_dh = off, off += (size_t)H;
    s->off_dc = off, off += cell == CELL_LSTM ? (size_t)H : 0;
    s->off_tmp = off, off += cell == CELL_GRU ? GH : 0;
    l->scratch_per_sample = off;

    l->out_shape.n = o->return_sequences ? 2 : 1;
    l->out_shape.v[0] = o->return_sequences ? T : H;
    l->out_shape.v[1] = H;
    l->out_size = o->return_sequences ? (size_t)T * H : (size_t)H;

    size_t w_hh = GH * F, b_ih = w_hh + GH * H, b_hh = b_ih + GH;
    mt_status st = set_tensor(l, 0, "weight_ih_l0", 2, (int64_t)GH, F, 0, o->kernel_initializer, "kernel_initializer",
                              err);
    if (!st)
        st = set_tensor(l, 1, "weight_hh_l0", 2, (int64_t)GH, H, w_hh, o->recurrent_initializer,
                        "recurrent_initializer", err);
    if (!st)
        st = set_tensor(l, 2, "bias_ih_l0", 1, (int64_t)GH, 0, b_ih, o->bias_initializer, "bias_initializer", err);
    if (!st)
        st = set_tensor(l, 3, "bias_hh_l0", 1, (int64_t)GH, 0, b_hh, o->bias_initializer, "bias_initializer", err);
    if (st)
        return st;
    l->n_tensors = 4;
    l->n_params = n_params;
    return MT_OK;
}

/* The input projection of all steps: gates[r] = b_ih + b_hh (gru: b_hh of r and z only) + W_ih x[r]. */
static void project_inputs(const mt_layer *l, const float *x, float *gates, int n)
{
    const rec_state *s = l->state;
    const int GH = s->G * s->H, F = s->F;
    const size_t rows = (size_t)n * s->T;
    const float *w_ih = l->params, *b_ih = l->params + (size_t)GH * (F + s->H), *b_hh = b_ih + GH;
    const int shared = s->cell == CELL_GRU ? 2 * s->H : GH; /* gru's b_hn sits inside r * (.) */
    for (size_t r = 0; r < rows; r++) {
        float *g = gates + r * GH;
        for (int j = 0; j < shared; j++)
            g[j] = b_ih[j] + b_hh[j];
        for (int j = shared; j < GH; j++)
            g[j] = b_ih[j];
    }
    mt_sgemm(0, 1, (int)rows, GH, F, 1.0f, x, F, w_ih, F, 1.0f, gates, GH);
}

/* Element-wise part of step t for one sample (recurrent projection already added for rnn and lstm). The
 * rows are separate restrict parameters so that the loops vectorize without run-time alias checks. */
static inline void rnn_row(int H, const float *restrict a, float *restrict h)
{
    for (int j = 0; j < H; j++)
        h[j] = tanhf(a[j]);
}

/* gi, gf, gg, go: pre-activations in, gate values out; cp: c_{t-1}. */
static inline void lstm_row(int H, float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                            const float *restrict cp, float *restrict c, float *restrict h)
{
    for (int j = 0; j < H; j++) {
        gi[j] = sigm(gi[j]);
        gf[j] = sigm(gf[j]);
        gg[j] = tanhf(gg[j]);
        go[j] = sigm(go[j]);
    }
    for (int j = 0; j < H; j++) {
        c[j] = gf[j] * cp[j] + gi[j] * gg[j];
        h[j] = go[j] * tanhf(c[j]);
    }
}

/* rec: W_hh h_{t-1} without bias (zero at t = 0), its three parts; hn = rec_n + b_hn is kept for backward. */
static inline void gru_row(int H, float *restrict gr, float *restrict gz, float *restrict gn,
                           const float *restrict rec_r, const float *restrict rec_z, const float *restrict rec_n,
                           const float *restrict b_hn, const float *restrict hp, float *restrict hn, float *restrict h)
{
    for (int j = 0; j < H; j++) {
        gr[j] = sigm(gr[j] + rec_r[j]);
        gz[j] = sigm(gz[j] + rec_z[j]);
        hn[j] = rec_n[j] + b_hn[j];
        gn[j] = tanhf(gn[j] + gr[j] * hn[j]);
        h[j] = (1.0f - gz[j]) * gn[j] + gz[j] * hp[j];
    }
}

static void cell_step(const rec_state *s, const rec_bufs *b, const float *b_hh, int n, int t)
{
    const int T = s->T, H = s->H, GH = s->G * H;
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * T + t;
        float *g = b->gates + at * GH, *h = b->h + at * H, *aux = b->aux + at * H;
        const float *hp = t ? h - H : s->zeros;
        if (s->cell == CELL_RNN)
            rnn_row(H, g, h);
        else if (s->cell == CELL_LSTM)
            lstm_row(H, g, g + H, g + 2 * H, g + 3 * H, t ? aux - H : s->zeros, aux, h);
        else {
            const float *rec = b->tmp + (size_t)i * GH;
            gru_row(H, g, g + H, g + 2 * H, rec, rec + H, rec + 2 * H, b_hh + 2 * H, hp, aux, h);
        }
    }
}

static mt_status rec_forward(mt_layer *l, const float *x, float *y, int n, const mt_pass *pass, mt_error *err)
{
    (void)pass, (void)err;
    if (n == 0)
        return MT_OK;
    const rec_state *s = l->state;
    const rec_opts *o = l->opts;
    const int T = s->T, H = s->H, GH = s->G * s->H;
    const float *w_hh = l->params + (size_t)GH * s->F, *b_hh = w_hh + (size_t)GH * H + GH;
    rec_bufs b = bufs_of(l);
    project_inputs(l, x, b.gates, n);
    for (int t = 0; t < T; t++) {
        const float *hprev = t ? b.h + (size_t)(t - 1) * H : NULL; /* row i at + i * T * H */
        if (s->cell == CELL_GRU) {
            if (t)
                mt_sgemm(0, 1, n, GH, H, 1.0f, hprev, T * H, w_hh, H, 0.0f, b.tmp, GH);
            else
                memset(b.tmp, 0, (size_t)n * GH * sizeof *b.tmp);
        } else if (t)
            mt_sgemm(0, 1, n, GH, H, 1.0f, hprev, T * H, w_hh, H, 1.0f, b.gates + (size_t)t * GH, T * GH);
        cell_step(s, &b, b_hh, n, t);
    }
    if (o->return_sequences)
        memcpy(y, b.h, (size_t)n * T * H * sizeof *y);
    else
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * H, b.h + ((size_t)i * T + T - 1) * H, (size_t)H * sizeof *y);
    return MT_OK;
}

/* Backward of step t for one sample: from dh (total gradient into h_t) writes the gates' pre-activation
 * gradients over the gates. */
static inline void rnn_row_back(int H, float *restrict a, const float *restrict h, const float *restrict dh)
{
    for (int j = 0; j < H; j++)
        a[j] = dh[j] * (1.0f - h[j] * h[j]);
}

/* Also carries dc (gradient into c_t from later steps) back to c_{t-1}. */
static inline void lstm_row_back(int H, float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                                 const float *restrict c, const float *restrict cp, const float *restrict dh,
                                 float *restrict dc)
{
    for (int j = 0; j < H; j++) {
        float tc = tanhf(c[j]), vi = gi[j], vf = gf[j], vg = gg[j], vo = go[j];
        float dcj = dc[j] + dh[j] * vo * (1.0f - tc * tc);
        gi[j] = dcj * vg * vi * (1.0f - vi);
        gf[j] = dcj * cp[j] * vf * (1.0f - vf);
        gg[j] = dcj * vi * (1.0f - vg * vg);
        go[j] = dh[j] * tc * vo * (1.0f - vo);
        dc[j] = dcj * vf;
    }
}

/* Also writes the gradient of the recurrent projection (r, z, r * dn) into rec and leaves in dh the direct
 * path z * dh to h_{t-1}. */
static inline void gru_row_back(int H, float *restrict gr, float *restrict gz, float *restrict gn,
                                const float *restrict hn, const float *restrict hp, float *restrict dh,
                                float *restrict rec_r, float *restrict rec_z, float *restrict rec_n)
{
    for (int j = 0; j < H; j++) {
        float d = dh[j], r = gr[j], z = gz[j], nn = gn[j];
        float dan = d * (1.0f - z) * (1.0f - nn * nn);
        float dar = dan * hn[j] * r * (1.0f - r);
        float daz = d * (hp[j] - nn) * z * (1.0f - z);
        gr[j] = dar, gz[j] = daz, gn[j] = dan;
        rec_r[j] = dar, rec_z[j] = daz, rec_n[j] = dan * r;
        dh[j] = d * z;
    }
}

static inline void add_row(int n, float *restrict acc, const float *restrict v)
{
    for (int j = 0; j < n; j++)
        acc[j] += v[j];
}

/* gru: also adds the recurrent projection's gradient (its bias part) into gb_hh. */
static void cell_step_back(const rec_state *s, const rec_bufs *b, float *gb_hh, int n, int t)
{
    const int T = s->T, H = s->H, GH = s->G * H;
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)i * T + t;
        float *g = b->gates + at * GH, *dh = b->dh + (size_t)i * H;
        const float *h = b->h + at * H, *aux = b->aux + at * H;
        if (s->cell == CELL_RNN)
            rnn_row_back(H, g, h, dh);
        else if (s->cell == CELL_LSTM)
            lstm_row_back(H, g, g + H, g + 2 * H, g + 3 * H, aux, t ? aux - H : s->zeros, dh, b->dc + (size_t)i * H);
        else {
            float *rec = b->tmp + (size_t)i * GH;
            gru_row_back(H, g, g + H, g + 2 * H, aux, t ? h - H : s->zeros, dh, rec, rec + H, rec + 2 * H);
            add_row(GH, gb_hh, rec);
        }
    }
}

static mt_status rec_backward(mt_layer *l, const float *x, const float *y, float *dy, float *dx, int n,
                              const mt_pass *pass, mt_error *err)
{
    (void)y, (void)pass, (void)err;
    if (n == 0)
        return MT_OK;
    const rec_state *s = l->state;
    const rec_opts *o = l->opts;
    const int T = s->T, H = s->H, F = s->F, GH = s->G * s->H;
    const float *w_ih = l->params, *w_hh = w_ih + (size_t)GH * F;
    float *gw_ih = l->grads, *gw_hh = gw_ih + (size_t)GH * F, *gb_ih = gw_hh + (size_t)GH * H, *gb_hh = gb_ih + GH;
    rec_bufs b = bufs_of(l);
    memset(b.dh, 0, (size_t)n * H * sizeof *b.dh);
    if (s->cell == CELL_LSTM)
        memset(b.dc, 0, (size_t)n * H * sizeof *b.dc);
    for (int t = T - 1; t >= 0; t--) {
        if (o->return_sequences || t == T - 1)
            for (int i = 0; i < n; i++)
                add_row(H, b.dh + (size_t)i * H,
                        o->return_sequences ? dy + ((size_t)i * T + t) * H : dy + (size_t)i * H);
        cell_step_back(s, &b, gb_hh, n, t);
        if (!t)
            break;
        /* dh_{t-1} = dR W_hh (+ gru's direct path z dh, left in dh), dW_hh += dR^T h_{t-1}, where dR is the
         * gradient of the recurrent projection: the gates' (rnn, lstm; row i at + i T GH) or gru's tmp. */
        const float *hprev = b.h + (size_t)(t - 1) * H; /* row i at + i * T * H */
        const float *dr = s->cell == CELL_GRU ? b.tmp : b.gates + (size_t)t * GH;
        const int ld = s->cell == CELL_GRU ? GH : T * GH;
        mt_sgemm(0, 0, n, H, GH, 1.0f, dr, ld, w_hh, H, s->cell == CELL_GRU ? 1.0f : 0.0f, b.dh, H);
        mt_sgemm(1, 0, GH, H, n, 1.0f, dr, ld, hprev, T * H, 1.0f, gw_hh, H);
    }
    /* Over all steps at once: bias sums (rnn and lstm: b_hh enters exactly as b_ih), dW_ih, dx. */
    const size_t rows = (size_t)n * T;
    for (size_t r = 0; r < rows; r++)
        add_row(GH, gb_ih, b.gates + r * GH);
    if (s->cell != CELL_GRU)
        for (size_t r = 0; r < rows; r++)
            add_row(GH, gb_hh, b.gates + r * GH);
    mt_sgemm(1, 0, GH, F, (int)rows, 1.0f, b.gates, GH, x, F, 1.0f, gw_ih, F);
    if (dx)
        mt_sgemm(0, 0, (int)rows, F, GH, 1.0f, b.gates, GH, w_ih, F, 0.0f, dx, F);
    return MT_OK;
}

const mt_layer_ops mt_rnn_layer = {
    .name = "rnn",
    .options = rec_options,
    .options_size = sizeof(rec_opts),
    .doc = "simple recurrent layer h' = tanh(W_ih x + b_ih + W_hh h + b_hh) over inputs [time, features], "
           "as torch.nn.RNN (batch_first)",
    .torch = "torch.nn.RNN(batch_first=True) state_dict: weight_ih_l0 [H, F], weight_hh_l0 [H, H], bias_ih_l0, "
             "bias_hh_l0 [H]",
    .setup = rec_setup,
    .forward = rec_forward,
    .backward = rec_backward,
};

const mt_layer_ops mt_lstm_layer = {
    .name = "lstm",
    .options = rec_options,
    .options_size = sizeof(rec_opts),
    .doc = "long short-term memory over inputs [time, features], gates i f g o as torch.nn.LSTM (batch_first)",
    .torch = "torch.nn.LSTM(batch_first=True) state_dict, gates i f g o: weight_ih_l0 [4H, F], weight_hh_l0 "
             "[4H, H], bias_ih_l0, bias_hh_l0 [4H]",
    .setup = rec_setup,
    .forward = rec_forward,
    .backward = rec_backward,
};

const mt_layer_ops mt_gru_layer = {
    .name = "gru",
    .options = rec_options,
    .options_size = sizeof(rec_opts),
    .doc = "gated recurrent unit over inputs [time, features], gates r z n as torch.nn.GRU (batch_first)",
    .torch = "torch.nn.GRU(batch_first=True) state_dict, gates r z n: weight_ih_l0 [3H, F], weight_hh_l0 "
             "[3H, H], bias_ih_l0, bias_hh_l0 [3H]",
    .setup = rec_setup,
    .forward = rec_forward,
    .backward = rec_backward,
};

static cell_kind cell_of(const mt_layer *l)
{
    return l->ops == &mt_lstm_layer ? CELL_LSTM : l->ops == &mt_gru_layer ? CELL_GRU : CELL_RNN;
}
