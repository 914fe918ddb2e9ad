/* Table-driven option parsing: a table of {name, type, default, range, choices, doc} fills a C struct
 * from a YAML map with strict checking. The same tables generate the reference documentation. */
#ifndef MT_CONFIG_OPTIONS_H
#define MT_CONFIG_OPTIONS_H

#include <stddef.h>
#include "config/yaml_tree.h"

#define MT_NAME_MAX 64
#define MT_PATH_MAX 1024
#define MT_INTS_MAX 8

typedef enum mt_opt_type {
    MT_OPT_INT,    /* stored as int; range [min, max] */
    MT_OPT_FLOAT,  /* stored as double; range [min, max]; must be finite */
    MT_OPT_BOOL,   /* stored as int 0/1; accepts true/false/yes/no/on/off/1/0 */
    MT_OPT_NAME,   /* stored as char[MT_NAME_MAX]; must be one of choices (canonical name stored) */
    MT_OPT_STRING, /* stored as char[MT_PATH_MAX]; any scalar */
    MT_OPT_INTS,   /* stored as mt_ints; a sequence of ints (or one int) each in [min, max] */
    MT_OPT_NODE    /* stored as const mt_node *; any node, validated by whoever consumes it */
} mt_opt_type;

typedef struct mt_ints {
    int n;
    int v[MT_INTS_MAX];
} mt_ints;

typedef struct mt_option {
    const char *name;
    mt_opt_type type;
    size_t offset;              /* offsetof(struct, field) */
    const char *dflt;           /* default as YAML scalar text; NULL = required */
    double min, max;            /* for INT, FLOAT, INTS */
    const char *const *choices; /* for NAME: NULL-terminated; "canonical|alias|alias" per entry */
    const char *doc;            /* one line for the reference documentation */
} mt_option;

/* Table end marker. */
#define MT_OPT_END                         \
    {                                      \
        NULL, 0, 0, NULL, 0, 0, NULL, NULL \
    }

/* Fills *out from map (NULL or an empty scalar means: all defaults). Every key of map must be in table;
 * every option without default must be present. section is the dotted path used in messages
 * ("training", "model.layers[1].dense"). Errors are MT_ERR_CONFIG: "origin:line: section.key: what". */
mt_status mt_options_parse(const mt_option *table, const mt_node *map, const char *section, void *out, mt_error *err);

/* Looks name up in a NULL-terminated choices list ("canonical|alias" entries); returns the canonical
 * name's index or -1. */
int mt_choice_find(const char *const *choices, const char *name);

/* Writes "a, b, c" (canonical names) into buf for messages. Returns buf. */
const char *mt_choice_list(const char *const *choices, char *buf, size_t size);

#endif
