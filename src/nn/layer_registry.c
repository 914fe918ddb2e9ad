/* The layer registry: the table of every layer type (its mt_layer_ops, found by the config name in its
 * .name), and small helpers every layer type uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/init.h"
#include "nn/layer.h"

/* Layer types that nothing but the registry names (layer.h declares the others). */
extern const mt_layer_ops mt_reshape_layer;          /* reshape.c */
extern const mt_layer_ops mt_upsample2d_layer;       /* upsample2d.c */
extern const mt_layer_ops mt_conv2d_transpose_layer; /* conv2d_transpose.c */

static const mt_layer_ops *const registry[] = {
    &mt_dense_layer,      &mt_activation_layer,
    &mt_relu_layer,       &mt_leaky_relu_layer,
    &mt_prelu_layer,      &mt_sigmoid_layer,
    &mt_tanh_layer,       &mt_softmax_layer,
    &mt_gelu_layer,       &mt_step_layer,
    &mt_dropout_layer,    &mt_batch_norm_layer,
    &mt_conv2d_layer,     &mt_conv2d_transpose_layer,
    &mt_max_pool2d_layer, &mt_min_pool2d_layer,
    &mt_avg_pool2d_layer, &mt_global_avg_pool_layer,
    &mt_flatten_layer,    &mt_reshape_layer,
    &mt_upsample2d_layer, &mt_embedding_layer,
    &mt_rnn_layer,        &mt_lstm_layer,
    &mt_gru_layer,
};

const mt_layer_ops *mt_layer_find(const char *name)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (!strcmp(registry[i]->name, name))
            return registry[i];
    return NULL;
}

const mt_layer_ops *const *mt_layer_all(size_t *count)
{
    *count = sizeof registry / sizeof registry[0];
    return registry;
}

size_t mt_shape_size(const mt_ints *shape)
{
    size_t s = 1;
    for (int i = 0; i < shape->n; i++)
        s *= (size_t)shape->v[i];
    return s;
}

mt_status mt_layer_set_init(const mt_layer *l, mt_tensor_desc *d, const char *spec, const char *key, mt_error *err)
{
    char canon[512];
    if (mt_init_parse(spec, canon, sizeof canon) != 0)
        return mt_fail(err, MT_ERR_CONFIG, "%s.%s: %s", l->section, key, canon);
    snprintf(d->init, sizeof d->init, "%.63s", canon);
    return MT_OK;
}

mt_status mt_layer_pair(const mt_layer *l, const char *key, const mt_ints *in, int v[2], mt_error *err)
{
    if (in->n != 1 && in->n != 2)
        return mt_fail(err, MT_ERR_CONFIG, "%s.%s: expected one number or [height, width], got %d numbers", l->section,
                       key, in->n);
    v[0] = in->v[0];
    v[1] = in->v[in->n - 1];
    return MT_OK;
}

/* A padding amount in [0, 65536] from a scalar node of digits: 0, or -1. */
static int pad_number(const mt_node *n, int *out)
{
    if (n->kind != MT_NODE_SCALAR || !n->value[0] || strspn(n->value, "0123456789") != strlen(n->value))
        return -1;
    long v = strtol(n->value, NULL, 10); /* LONG_MAX for more digits than a long holds */
    if (v > (1 << 16))
        return -1;
    *out = (int)v;
    return 0;
}

mt_status mt_layer_padding(const mt_layer *l, const mt_node *n, const char *numbers, int *same, int p[2], mt_error *err)
{
    *same = 0;
    p[0] = p[1] = 0;
    if (!n || (n->kind == MT_NODE_SCALAR && !strcmp(n->value, "valid")))
        return MT_OK;
    if (n->kind == MT_NODE_SCALAR && !strcmp(n->value, "same")) {
        *same = 1;
        return MT_OK;
    }
    int ok = n->kind == MT_NODE_SCALAR ? pad_number(n, &p[0]) == 0
             : n->kind == MT_NODE_SEQ && n->n_items == 2
                 ? pad_number(n->items[0], &p[0]) == 0 && pad_number(n->items[1], &p[1]) == 0
                 : 0;
    if (!ok)
        return mt_fail(err, MT_ERR_CONFIG, "%s.padding: expected same, valid, %s in [0, 65536] or [ph, pw], got %s%s%s",
                       l->section, numbers, n->kind == MT_NODE_SCALAR ? "'" : "",
                       n->kind == MT_NODE_SCALAR ? n->value
                       : n->kind == MT_NODE_SEQ  ? "a list"
                                                 : "a map",
                       n->kind == MT_NODE_SCALAR ? "'" : "");
    if (n->kind == MT_NODE_SCALAR)
        p[1] = p[0];
    return MT_OK;
}
