/* A YAML document as a tree of nodes that remember where they came from (file and line, or --set),
 * built with libyaml; overrides of the form "a.b.0.c=value"; emission back to YAML text. */
#ifndef MT_CONFIG_YAML_TREE_H
#define MT_CONFIG_YAML_TREE_H

#include <stddef.h>
#include <mpitrain/mpitrain.h>

typedef enum mt_node_kind { MT_NODE_SCALAR, MT_NODE_SEQ, MT_NODE_MAP } mt_node_kind;

typedef struct mt_node {
    mt_node_kind kind;
    char *key;              /* key under which this node sits in its parent map, or NULL */
    char *value;            /* scalar text (kind == MT_NODE_SCALAR); "" for an empty/null scalar */
    int quoted;             /* scalar was written in quotes */
    int line;               /* 1-based line of the node in its source; 0 when created by an override */
    const char *origin;     /* source name: the config file path, or "--set" (points into a string the tree owns) */
    struct mt_node **items; /* children: sequence items, or map values (each with its key) */
    size_t n_items;
} mt_node;

/* Parses a YAML file / string into a tree. Syntax errors, duplicate keys, anchors/aliases, tags and
 * multiple documents are errors (MT_ERR_CONFIG) naming "origin:line". An empty document gives an empty map.
 * A missing or unreadable file is MT_ERR_INPUT naming the path. *root is owned by the caller. */
mt_status mt_yaml_parse_file(const char *path, mt_node **root, mt_error *err);
mt_status mt_yaml_parse_string(const char *text, const char *origin, mt_node **root, mt_error *err);
void mt_node_free(mt_node *node);

/* Child of a map by key, or NULL. */
const mt_node *mt_node_get(const mt_node *map, const char *key);

/* Writes "origin:line" (or "--set" when line is 0) into buf. Returns buf. */
const char *mt_node_where(const mt_node *node, char *buf, size_t size);

/* Applies "path=value": path is dot-separated map keys or decimal sequence indices; value is parsed as
 * YAML (so "[28, 28]" and "{name: sgd}" work). Missing map keys are created (validation then reports
 * unknown ones); an index past the end of a sequence, or a path through a scalar, is MT_ERR_CONFIG. */
mt_status mt_node_override(mt_node *root, const char *assignment, mt_error *err);

/* Emits the tree as YAML text that mt_yaml_parse_string reads back to an equal tree. Caller frees. */
char *mt_node_emit(const mt_node *root, mt_error *err);

#endif
