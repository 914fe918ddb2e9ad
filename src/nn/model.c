/* Sequential model: builds layers from config specs, owns the parameter/gradient slabs and the
 * activation buffers, and runs forward and backward passes without allocating. Before allocating either,
 * it adds up the bytes they will take (with the optimizer's state) in saturating arithmetic and refuses a
 * model that would not fit in the machine's physical memory. */
#include "nn/model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/timeline.h"
#include "nn/activation.h"
#include "nn/init.h"

static void *alloc_floats(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

static mt_status build_layer(mt_layer *l, const mt_layer_spec *spec, const mt_ints *in_shape, mt_error *err)
{
    char where[64], list[512];
    const mt_layer_ops *ops = mt_layer_find(spec->type);
    if (!ops) {
        size_t n;
        const mt_layer_ops *const *all = mt_layer_all(&n);
        list[0] = '\0';
        for (size_t i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", all[i]->name);
        return mt_fail(err, MT_ERR_CONFIG, "%s: %s: unknown layer '%s'; valid: %s",
                       mt_node_where(spec->node, where, sizeof where), spec->section, spec->type, list);
    }
    l->ops = ops;
    snprintf(l->section, sizeof l->section, "%s", spec->section);
    l->opts = calloc(1, ops->options_size ? ops->options_size : 1);
    if (!l->opts)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", spec->section);
    mt_status st = mt_options_parse(ops->options, spec->options, spec->section, l->opts, err);
    if (st && !spec->options) /* written bare ("- dense"): the message has no line of its own */
        return mt_error_prefix(err, "%s", mt_node_where(spec->node, where, sizeof where));
    if (st)
        return st;
    l->in_shape = *in_shape;
    l->in_size = mt_shape_size(in_shape);
    l->out_activation = -1;
    st = ops->setup(l, err);
    if (st) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return mt_fail(err, st, "%s: %s", mt_node_where(spec->node, where, sizeof where), msg);
    }
    return MT_OK;
}

/* ---- memory needed, checked before allocating ------------------------------------------------------ */

/* a + b and a * b, saturating at SIZE_MAX (which the messages report as an overflow). */
static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

size_t mt_model_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return SIZE_MAX;
    return mul_sat((size_t)pages, (size_t)page);
}

/* Bytes of layer l's parameters, gradients and optimizer state, and its non-trainable buffers. */
static size_t layer_state_bytes(const mt_layer *l, int slots)
{
    size_t params = mul_sat(l->n_params, (size_t)(2 + slots) * sizeof(float));
    return add_sat(params, mul_sat(l->n_buffers, sizeof(float)));
}

/* Floats per sample of layer l's activation buffers: its output and its scratch. */
static size_t layer_act_floats(const mt_layer *l)
{
    return add_sat(l->out_size, l->scratch_per_sample);
}

/* "12345 bytes", or "more than 18446744073709551614 bytes" for a saturated count. */
static const char *show_bytes(size_t bytes, char *buf, size_t size)
{
    if (bytes == SIZE_MAX)
        snprintf(buf, size, "more than %zu bytes", SIZE_MAX - 1);
    else
        snprintf(buf, size, "%zu bytes", bytes);
    return buf;
}

/* The model's memory for batches of capacity samples (0: parameters and state only, what mt_model_build
 * allocates with the optimizer): params x (2 + slots) x 4 bytes + buffers x 4, plus, for capacity > 0,
 * capacity x (input + every layer's output and scratch + 2 x the widest, the gradient ping-pong) x 4.
 * MT_ERR_CONFIG naming the layer that needs the most when the total exceeds the physical memory or
 * overflows size_t. */
static mt_status check_memory(const mt_model *m, int slots, size_t capacity, mt_error *err)
{
    size_t params = 0, total = 0, acts = m->input_size, widest = m->input_size, most = 0;
    int big = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        size_t own = add_sat(layer_state_bytes(l, slots),
                             mul_sat(mul_sat(capacity, layer_act_floats(l)), sizeof(float)));
        if (own > most)
            most = own, big = i;
        params = add_sat(params, l->n_params);
        total = add_sat(total, own);
        acts = add_sat(acts, layer_act_floats(l));
        widest = l->out_size > widest ? l->out_size : widest;
    }
    acts = add_sat(acts, mul_sat(2, widest));
    if (capacity)
        total = add_sat(total, mul_sat(mul_sat(capacity, add_sat(m->input_size, mul_sat(2, widest))), sizeof(float)));
    const size_t limit = mt_model_physical_memory();
    if (total < SIZE_MAX && total <= limit)
        return MT_OK;
    char need[96], own[96], batch[160] = "", over[96] = "a size that overflows size_t";
    if (capacity)
        snprintf(batch, sizeof batch, " + %zu floats of activations per sample x a batch of %zu x 4 bytes", acts,
                 capacity);
    if (total < SIZE_MAX)
        snprintf(over, sizeof over, "more than the %zu bytes of this machine's memory", limit);
    return mt_fail(err, MT_ERR_CONFIG,
                   "%s: %s: the model needs %s (%zu parameters x (2 + %d optimizer slots) x "
                   "4 bytes%s%s), %s; this layer needs %s of it",
                   m->where ? m->where[big] : "?", m->layers[big].section, show_bytes(total, need, sizeof need), params,
                   slots, m->n_buffers ? " + buffers" : "", batch, over, show_bytes(most, own, sizeof own));
}

/* ---- building ------------------------------------------------------------------------------------------ */

mt_status mt_model_build(const mt_config *cfg, int opt_slots, mt_model *m, mt_error *err)
{
    memset(m, 0, sizeof *m);
    m->input_shape = cfg->input;
    m->input_size = mt_shape_size(&cfg->input);
    m->layers = calloc(cfg->n_layers, sizeof *m->layers);
    m->where = calloc(cfg->n_layers, sizeof *m->where);
    if (!m->layers || !m->where) {
        mt_model_free(m);
        return mt_fail(err, MT_ERR_NOMEM, "model: out of memory");
    }
    mt_ints shape = cfg->input;
    for (size_t i = 0; i < cfg->n_layers; i++) {
        mt_layer *l = &m->layers[i];
        l->index = (int)i;
        m->n_layers = (int)i + 1;
        mt_node_where(cfg->layers[i].node, m->where[i], sizeof m->where[i]);
        mt_status st = build_layer(l, &cfg->layers[i], &shape, err);
        if (st) {
            mt_model_free(m);
            return st;
        }
        shape = l->out_shape;
        m->n_params += l->n_params;
        m->n_buffers += l->n_buffers;
    }
    /* A relu's derivative applied where the product that makes its gradient is stored (the next layer's
     * dx), when both layers can do it. */
    for (int i = 0; i + 1 < m->n_layers; i++) {
        mt_layer *l = &m->layers[i], *next = &m->layers[i + 1];
        if (l->ops->relu_grad_fusion && next->ops->relu_grad_fusion && l->out_activation == MT_ACT_RELU)
            l->dy_relu_masked = next->dx_relu_mask = 1;
    }
    m->output_size = m->layers[m->n_layers - 1].out_size;
    m->slots = opt_slots;
    mt_status st = check_memory(m, m->slots, 0, err);
    if (st) {
        mt_model_free(m);
        return st;
    }
    m->params = alloc_floats(m->n_params);
    m->grad_block = alloc_floats(MT_GRAD_TRAILER + m->n_params); /* 16 floats keep grads 64-byte aligned */
    m->grads = m->grad_block ? m->grad_block + MT_GRAD_TRAILER : NULL;
    m->buffers = alloc_floats(m->n_buffers);
    if (!m->params || !m->grads || !m->buffers) {
        mt_model_free(m);
        return mt_fail(err, MT_ERR_NOMEM, "model: cannot allocate %zu parameters", m->n_params);
    }
    size_t off = 0, boff = 0;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].params = m->params + off;
        m->layers[i].grads = m->grads + off;
        m->layers[i].buffers = m->buffers + boff;
        off += m->layers[i].n_params;
        boff += m->layers[i].n_buffers;
    }
    return MT_OK;
}

mt_status mt_model_reserve(mt_model *m, int capacity, mt_error *err)
{
    if (capacity <= m->capacity)
        return MT_OK;
    mt_status st = check_memory(m, m->slots, (size_t)capacity, err);
    if (st)
        return st;
    size_t cap = (size_t)capacity, widest = m->input_size, scratch = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].out_size > widest)
            widest = m->layers[i].out_size;
        scratch += m->layers[i].scratch_per_sample;
    }
    float **acts = calloc((size_t)m->n_layers + 1, sizeof *acts);
    if (!acts)
        return mt_fail(err, MT_ERR_NOMEM, "model: out of memory");
    int ok = 1;
    acts[0] = alloc_floats(cap * m->input_size);
    ok &= acts[0] != NULL;
    for (int i = 0; i < m->n_layers; i++) {
        acts[i + 1] = alloc_floats(cap * m->layers[i].out_size);
        ok &= acts[i + 1] != NULL;
    }
    float *d0 = alloc_floats(cap * widest), *d1 = alloc_floats(cap * widest), *sc = alloc_floats(cap * scratch);
    ok &= d0 && d1 && sc;
    if (!ok) {
        for (int i = 0; i <= m->n_layers; i++)
            free(acts[i]);
        free(acts), free(d0), free(d1), free(sc);
        return mt_fail(err, MT_ERR_NOMEM, "model: cannot allocate buffers for a batch of %d", capacity);
    }
    if (m->acts)
        for (int i = 0; i <= m->n_layers; i++)
            free(m->acts[i]);
    free(m->acts), free(m->dbuf[0]), free(m->dbuf[1]), free(m->scratch);
    m->acts = acts, m->dbuf[0] = d0, m->dbuf[1] = d1, m->scratch = sc;
    size_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].scratch = sc + off * cap;
        m->layers[i].capacity = capacity;
        off += m->layers[i].scratch_per_sample;
    }
    m->capacity = capacity;
    return MT_OK;
}

void mt_model_init_params(mt_model *m, uint64_t seed)
{
    uint64_t key = mt_key(seed, 0x1417);
    for (int i = 0; i < m->n_layers; i++) {
        mt_layer *l = &m->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            mt_tensor_desc *d = &l->tensors[t];
            mt_rng rng = mt_rng_make(mt_key(mt_key(key, (uint64_t)i), (uint64_t)t));
            mt_init_fill(d->init, l->params + d->offset, d->size, d->fan_in, d->fan_out, &rng);
        }
        for (int t = 0; t < l->n_buffer_tensors; t++) {
            mt_tensor_desc *d = &l->buffer_tensors[t];
            mt_init_fill(d->init, l->buffers + d->offset, d->size, d->fan_in, d->fan_out, NULL);
        }
    }
}

mt_status mt_model_forward(mt_model *m, int n, const mt_pass *pass, const float **out, mt_error *err)
{
    for (int i = 0; i < m->n_layers; i++) {
        double t0 = pass->timeline ? mt_wtime() : 0;
        mt_status st = m->layers[i].ops->forward(&m->layers[i], m->acts[i], m->acts[i + 1], n, pass, err);
        if (st)
            return st;
        if (pass->timeline)
            mt_timeline_add(pass->timeline, MT_TL_FORWARD, pass->timeline_layer0 + i, t0, mt_wtime());
    }
    if (out)
        *out = m->acts[m->n_layers];
    return MT_OK;
}

const float *mt_model_logits(const mt_model *m)
{
    const mt_layer *last = &m->layers[m->n_layers - 1];
    return last->scratch_per_sample == last->out_size ? last->scratch : NULL;
}

/* Zeroes layer l's gradients if they are stale. */
static void settle_layer(mt_layer *l)
{
    if (l->grads_stale)
        memset(l->grads, 0, l->n_params * sizeof *l->grads);
    l->grads_stale = 0;
}

void mt_model_settle_grads(mt_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        settle_layer(&m->layers[i]);
}

mt_status mt_model_backward(mt_model *m, float *dout, int n, const mt_pass *pass, float *dx0, mt_error *err)
{
    float *dy = dout;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        mt_layer *l = &m->layers[i];
        float *dx = i > 0 ? (dy == m->dbuf[0] ? m->dbuf[1] : m->dbuf[0]) : dx0;
        double t0 = pass->timeline ? mt_wtime() : 0;
        if (n == 0 || !l->ops->overwrites_grads)
            settle_layer(l);
        mt_status st = l->ops->backward(l, m->acts[i], m->acts[i + 1], dy, dx, n, pass, err);
        l->grads_stale = 0;
        if (st) {
            mt_model_settle_grads(m); /* the layers before it: zeros, as their gradients count */
            return st;
        }
        if (pass->timeline)
            mt_timeline_add(pass->timeline, MT_TL_BACKWARD, pass->timeline_layer0 + i, t0, mt_wtime());
        if (pass->grads_ready)
            pass->grads_ready(pass->hook_user, i);
        dy = dx;
    }
    return MT_OK;
}

double mt_model_apply_penalties(const mt_model *m, float *grads, size_t lo, size_t hi)
{
    double penalty = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        for (int t = 0; t < l->n_tensors; t++) {
            const mt_tensor_desc *d = &l->tensors[t];
            const size_t at = (size_t)(l->params - m->params) + d->offset;
            size_t a = at > lo ? at : lo, b = at + d->size < hi ? at + d->size : hi;
            if ((d->l1 == 0 && d->l2 == 0) || a >= b)
                continue;
            const float *w = m->params + a;
            const float l1 = d->l1, two_l2 = 2 * d->l2;
            float s1 = 0, s2 = 0;
            if (grads) {
                float *g = grads + a;
                for (size_t k = 0; k < b - a; k++) {
                    float sign = (float)((w[k] > 0) - (w[k] < 0));
                    g[k] += l1 * sign + two_l2 * w[k];
                }
            }
            for (size_t k = 0; k < b - a; k++) {
                s1 += fabsf(w[k]);
                s2 += w[k] * w[k];
            }
            penalty += (double)d->l1 * s1 + (double)d->l2 * s2;
        }
    }
    return penalty;
}

mt_status mt_model_own_slabs(mt_model *m, mt_error *err)
{
    float *p = m->shared_params ? alloc_floats(m->n_params) : m->params;
    float *g = m->shared_grads ? alloc_floats(MT_GRAD_TRAILER + m->n_params) : m->grad_block;
    if (!p || !g) {
        if (p != m->params)
            free(p);
        if (g != m->grad_block)
            free(g);
        return mt_fail(err, MT_ERR_NOMEM, "model: cannot allocate %zu parameters", m->n_params);
    }
    if (m->shared_params)
        memcpy(p, m->params, m->n_params * sizeof *p);
    m->params = p, m->grad_block = g, m->grads = g + MT_GRAD_TRAILER;
    m->shared_params = m->shared_grads = 0;
    mt_model_use_slabs(m, NULL, NULL, 0);
    return MT_OK;
}

void mt_model_use_slabs(mt_model *m, float *params, float *grad_block, int copy)
{
    if (params) {
        if (copy)
            memcpy(params, m->params, m->n_params * sizeof *params);
        if (!m->shared_params)
            free(m->params);
        m->params = params;
        m->shared_params = 1;
    }
    if (grad_block) {
        if (!m->shared_grads)
            free(m->grad_block);
        m->grad_block = grad_block;
        m->grads = grad_block + MT_GRAD_TRAILER;
        m->shared_grads = 1;
    }
    size_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].params = m->params + off;
        m->layers[i].grads = m->grads + off;
        off += m->layers[i].n_params;
    }
}

uint64_t mt_model_invalid_inputs(const mt_model *m)
{
    uint64_t total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += mt_embedding_invalid_ids(&m->layers[i]);
    return total;
}

size_t mt_model_layer_offset(const mt_model *m, int i)
{
    return i < m->n_layers ? (size_t)(m->layers[i].params - m->params) : m->n_params;
}

static int all_finite(const float *x, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= !(fabsf(x[i]) <= FLT_MAX); /* false for NaN */
    return !bad;
}

int mt_model_nonfinite_grad_layer(const mt_model *m, const float *grads)
{
    if (all_finite(grads, m->n_params))
        return -1;
    for (int i = 0; i < m->n_layers; i++)
        if (!all_finite(grads + (m->layers[i].grads - m->grads), m->layers[i].n_params))
            return i;
    return -1;
}

void mt_model_zero_grads(mt_model *m)
{
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].grads_stale = 0;
}

void mt_model_zero_grads_lazy(mt_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].grads_stale = m->layers[i].n_params > 0;
}

void mt_model_free(mt_model *m)
{
    if (m->layers)
        for (int i = 0; i < m->n_layers; i++)
            free(m->layers[i].opts), free(m->layers[i].state);
    if (m->acts)
        for (int i = 0; i <= m->n_layers; i++)
            free(m->acts[i]);
    free(m->acts), free(m->dbuf[0]), free(m->dbuf[1]), free(m->scratch);
    free(m->layers), free(m->where), free(m->buffers);
    if (!m->shared_params)
        free(m->params);
    if (!m->shared_grads)
        free(m->grad_block);
    memset(m, 0, sizeof *m);
}
