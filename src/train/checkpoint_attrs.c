/* The JSON self-description of a model in its checkpoint: options and layer list built with
 * io/json_doc.h (see checkpoint_attrs.h). */
#include "train/checkpoint_attrs.h"

#include <stdlib.h>

#include "io/json_doc.h"

/* A config node: scalars as strings, sequences as arrays, maps as objects; NULL as null. */
static void node(mt_json *j, const char *key, const mt_node *n)
{
    if (!n || n->kind == MT_NODE_SCALAR) {
        mt_json_string(j, key, n ? n->value : NULL);
        return;
    }
    const int map = n->kind == MT_NODE_MAP;
    mt_json_open(j, key, map ? '{' : '[');
    for (size_t i = 0; i < n->n_items; i++)
        node(j, map ? (n->items[i]->key ? n->items[i]->key : "") : NULL, n->items[i]);
    mt_json_close(j);
}

static void ints(mt_json *j, const char *key, const int *v, int n)
{
    mt_json_open(j, key, '[');
    for (int i = 0; i < n; i++)
        mt_json_integer(j, NULL, v[i]);
    mt_json_close(j);
}

/* The layer's options as the members of the object open in j. */
static void options(mt_json *j, const mt_layer *l)
{
    for (const mt_option *o = l->ops->options; o && o->name; o++) {
        const char *field = (const char *)l->opts + o->offset;
        switch (o->type) {
        case MT_OPT_INT:
            mt_json_integer(j, o->name, *(const int *)field);
            break;
        case MT_OPT_FLOAT:
            mt_json_number(j, o->name, *(const double *)field);
            break;
        case MT_OPT_BOOL:
            mt_json_bool(j, o->name, *(const int *)field);
            break;
        case MT_OPT_NAME:
        case MT_OPT_STRING:
            mt_json_string(j, o->name, field);
            break;
        case MT_OPT_INTS:
            ints(j, o->name, ((const mt_ints *)field)->v, ((const mt_ints *)field)->n);
            break;
        case MT_OPT_NODE:
            node(j, o->name, *(const mt_node *const *)field);
            break;
        }
    }
}

/* The text of the document in j at `levels` levels (json_doc.h), or NULL. */
static char *text(mt_json *j, int levels)
{
    json_t *doc = mt_json_take(j);
    char *s = doc ? mt_json_text(doc, levels) : NULL;
    json_decref(doc);
    return s;
}

char *mt_checkpoint_options_json(const mt_layer *l)
{
    mt_json j;
    mt_json_begin(&j, '{');
    options(&j, l);
    return text(&j, 0);
}

char *mt_checkpoint_layers_json(const mt_model *m)
{
    mt_json j;
    mt_json_begin(&j, '[');
    for (int i = 0; i < m->n_layers; i++) {
        const mt_layer *l = &m->layers[i];
        mt_json_open(&j, NULL, '{');
        mt_json_integer(&j, "index", l->index);
        mt_json_string(&j, "type", l->ops->name);
        mt_json_open(&j, "options", '{');
        options(&j, l);
        mt_json_close(&j);
        ints(&j, "input_shape", l->in_shape.v, l->in_shape.n);
        ints(&j, "output_shape", l->out_shape.v, l->out_shape.n);
        mt_json_close(&j);
    }
    return text(&j, 1);
}
