/* Table-driven option parsing: fills a C struct from a YAML map following a table of
 * {name, type, default, range, choices, doc}, strictly (unknown keys, missing keys, bad values are
 * errors), with one-line messages "origin:line: section.key: what is wrong"; choice-list helpers.
 *
 * Conventions (the header leaves them open):
 * - MT_OPT_NAME with choices == NULL accepts any name that fits char[MT_NAME_MAX] (split names).
 * - An empty value is accepted for STRING/NAME only when the option's default is "" (meaning "none").
 * - INT accepts integral decimal numbers, also written as 1e3 or 10.0; hex, inf and nan are rejected.
 * - Scalars are read by their text whether quoted or not ("10" is 10).
 * - A NODE option with any default is NULL when absent. INTS defaults are written "a, b" or "[a, b]". */
#include "config/options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* What a message names: "origin:line: section.key[index]: ". */
typedef struct where {
    const mt_node *node; /* location; NULL for none (defaults) */
    const char *section;
    const char *key; /* NULL: the section itself */
    int index;       /* >= 0: item of a list */
} where;

static mt_status fail(mt_error *err, const where *w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static mt_status fail(mt_error *err, const where *w, const char *fmt, ...)
{
    char what[700], loc[300], name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mt_node_where(w->node, loc, sizeof loc);
    int n = snprintf(name, sizeof name, "%s%s%.100s", w->section, w->section[0] && w->key ? "." : "",
                     w->key ? w->key : "");
    if (w->index >= 0 && n >= 0 && (size_t)n < sizeof name)
        snprintf(name + n, sizeof name - (size_t)n, "[%d]", w->index);
    return mt_fail(err, MT_ERR_CONFIG, "%s%s%s%s%s", loc, loc[0] ? ": " : "", name, name[0] ? ": " : "", what);
}

/* Copies a value for a message: at most size-4 bytes, control characters as '?', "..." when cut. */
static const char *show(const char *v, char *buf, size_t size)
{
    size_t i, max = size - 4;
    for (i = 0; v[i] && i < max; i++)
        buf[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    if (!v[i]) {
        buf[i] = '\0';
        return buf;
    }
    while (i > 0 && ((unsigned char)v[i] & 0xC0) == 0x80) /* do not cut a UTF-8 character */
        i--;
    memcpy(buf + i, "...", 4);
    return buf;
}

/* "'text'", "an empty value", "a list" or "a map", for "expected X, got Y". */
static const char *describe(const mt_node *n, char *buf, size_t size)
{
    char shown[64];
    if (n->kind == MT_NODE_SEQ)
        snprintf(buf, size, "a list");
    else if (n->kind == MT_NODE_MAP)
        snprintf(buf, size, "a map");
    else if (!n->value[0])
        snprintf(buf, size, "an empty value");
    else
        snprintf(buf, size, "'%s'", show(n->value, shown, sizeof shown));
    return buf;
}

static mt_status expected(mt_error *err, const where *w, const mt_node *n, const char *what)
{
    char got[80];
    return fail(err, w, "expected %s, got %s", what, describe(n, got, sizeof got));
}

/* Writes a range bound: integers without exponent, others with %g. */
static const char *bound(double x, char *buf, size_t size)
{
    if (x == floor(x) && fabs(x) < 1e17)
        snprintf(buf, size, "%.0f", x);
    else
        snprintf(buf, size, "%g", x);
    return buf;
}

static mt_status out_of_range(mt_error *err, const where *w, const char *text, double lo, double hi)
{
    char shown[64], a[32], b[32];
    return fail(err, w, "%s is out of range [%s, %s]", show(text, shown, sizeof shown), bound(lo, a, sizeof a),
                bound(hi, b, sizeof b));
}

/* Reads a decimal number (digits, sign, point, exponent only). Returns 0 when text is not one.
 * *x may be +-HUGE_VAL on overflow; the caller's range check reports it. */
static int read_number(const char *text, double *x)
{
    if (!text[0] || strspn(text, "0123456789+-.eE") != strlen(text) || !strpbrk(text, "0123456789"))
        return 0;
    char *end;
    errno = 0;
    *x = strtod(text, &end);
    return *end == '\0';
}

static mt_status parse_int(const char *text, const where *w, const mt_option *o, int *out, mt_error *err)
{
    char shown[64];
    double x;
    if (!text[0])
        return fail(err, w, "expected an integer, got an empty value");
    int underflow = 0;
    if (read_number(text, &x))
        underflow = errno == ERANGE && fabs(x) < 1;
    else
        x = NAN;
    if (isnan(x) || underflow || (isfinite(x) && x != floor(x)))
        return fail(err, w, "expected an integer, got '%s'", show(text, shown, sizeof shown));
    if (!(x >= o->min && x <= o->max && x >= INT_MIN && x <= INT_MAX))
        return out_of_range(err, w, text, o->min, o->max);
    *out = (int)x;
    return MT_OK;
}

static mt_status parse_float(const char *text, const where *w, const mt_option *o, double *out, mt_error *err)
{
    char shown[64];
    double x;
    if (!text[0])
        return fail(err, w, "expected a number, got an empty value");
    if (!read_number(text, &x))
        return fail(err, w, "expected a number, got '%s'", show(text, shown, sizeof shown));
    if (!isfinite(x) || x < o->min || x > o->max)
        return out_of_range(err, w, text, o->min, o->max);
    *out = x;
    return MT_OK;
}

static int same_word(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (ca != *b)
            return 0;
    }
    return *a == *b;
}

static mt_status parse_bool(const char *text, const where *w, int *out, mt_error *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    char shown[64];
    for (int i = 0; i < 4; i++) {
        if (same_word(text, yes[i]) || same_word(text, no[i])) {
            *out = same_word(text, yes[i]);
            return MT_OK;
        }
    }
    return fail(err, w, "expected true or false, got '%s'", show(text, shown, sizeof shown));
}

/* Copies a choice's canonical name (up to '|') into buf. */
static void canonical(const char *entry, char *buf, size_t size)
{
    size_t n = strcspn(entry, "|");
    if (n >= size)
        n = size - 1;
    memcpy(buf, entry, n);
    buf[n] = '\0';
}

int mt_choice_find(const char *const *choices, const char *name)
{
    if (!choices || !name)
        return -1;
    size_t len = strlen(name);
    for (int i = 0; choices[i]; i++) {
        for (const char *p = choices[i];; p++) {
            size_t n = strcspn(p, "|");
            if (n == len && memcmp(p, name, n) == 0)
                return i;
            p += n;
            if (!*p)
                break;
        }
    }
    return -1;
}

const char *mt_choice_list(const char *const *choices, char *buf, size_t size)
{
    size_t used = 0;
    if (!buf || !size)
        return buf;
    buf[0] = '\0';
    for (int i = 0; choices && choices[i] && used + 1 < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%.*s", i ? ", " : "", (int)strcspn(choices[i], "|"), choices[i]);
        if (n < 0)
            break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    return buf;
}

/* The value of a NAME or STRING option into a char[cap]. */
static mt_status parse_text(const mt_option *o, const char *text, const where *w, char *out, size_t cap, mt_error *err)
{
    char shown[64], valid[400];
    if (o->type == MT_OPT_NAME && o->choices) {
        int i = mt_choice_find(o->choices, text);
        if (i < 0 && !text[0])
            return fail(err, w, "expected one of: %s; got an empty value",
                        mt_choice_list(o->choices, valid, sizeof valid));
        if (i < 0)
            return fail(err, w, "unknown name '%s'; valid: %s", show(text, shown, sizeof shown),
                        mt_choice_list(o->choices, valid, sizeof valid));
        canonical(o->choices[i], out, cap);
        return MT_OK;
    }
    if (!text[0] && !(o->dflt && !o->dflt[0]))
        return fail(err, w, "expected a %s, got an empty value", o->type == MT_OPT_NAME ? "name" : "string");
    if (strlen(text) >= cap)
        return fail(err, w, "'%s' is longer than %zu characters", show(text, shown, sizeof shown), cap - 1);
    memcpy(out, text, strlen(text) + 1);
    return MT_OK;
}

static mt_status parse_ints(const mt_option *o, const mt_node *n, const where *w, mt_ints *out, mt_error *err)
{
    mt_ints v = {0};
    if (n->kind == MT_NODE_MAP)
        return expected(err, w, n, "a list of integers");
    if (n->kind == MT_NODE_SCALAR) {
        mt_status st = parse_int(n->value, w, o, &v.v[0], err);
        v.n = 1;
        if (!st)
            *out = v;
        return st;
    }
    if (n->n_items > MT_INTS_MAX)
        return fail(err, w, "expected at most %d integers, got %zu", MT_INTS_MAX, n->n_items);
    for (size_t i = 0; i < n->n_items; i++) {
        const mt_node *item = n->items[i];
        where wi = {item, w->section, w->key, (int)i};
        mt_status st = item->kind != MT_NODE_SCALAR ? expected(err, &wi, item, "an integer")
                                                    : parse_int(item->value, &wi, o, &v.v[i], err);
        if (st)
            return st;
    }
    v.n = (int)n->n_items;
    *out = v;
    return MT_OK;
}

/* Stores the value of option o read from node n into out. */
static mt_status set_value(const mt_option *o, const mt_node *n, const where *w, void *out, mt_error *err)
{
    void *field = (char *)out + o->offset;
    static const char *const what[] = {[MT_OPT_INT] = "an integer",
                                       [MT_OPT_FLOAT] = "a number",
                                       [MT_OPT_BOOL] = "true or false",
                                       [MT_OPT_NAME] = "a name",
                                       [MT_OPT_STRING] = "a string"};
    if (o->type == MT_OPT_NODE) {
        *(const mt_node **)field = n;
        return MT_OK;
    }
    if (o->type == MT_OPT_INTS)
        return parse_ints(o, n, w, field, err);
    if ((unsigned)o->type >= sizeof what / sizeof what[0])
        return mt_fail(err, MT_ERR_INTERNAL, "%s.%s: unknown option type %d", w->section, o->name, (int)o->type);
    if (n->kind != MT_NODE_SCALAR)
        return expected(err, w, n, what[o->type]);
    switch (o->type) {
    case MT_OPT_INT:
        return parse_int(n->value, w, o, field, err);
    case MT_OPT_FLOAT:
        return parse_float(n->value, w, o, field, err);
    case MT_OPT_BOOL:
        return parse_bool(n->value, w, field, err);
    case MT_OPT_NAME:
        return parse_text(o, n->value, w, field, MT_NAME_MAX, err);
    default:
        return parse_text(o, n->value, w, field, MT_PATH_MAX, err);
    }
}

/* INTS default text "a, b" or "[a, b]" (or "" / "[]" for none). */
static mt_status default_ints(const mt_option *o, const where *w, mt_ints *out, mt_error *err)
{
    const char *sep = "[], ";
    mt_ints v = {0};
    for (const char *p = o->dflt + strspn(o->dflt, sep); *p; p += strspn(p, sep)) {
        char tok[32];
        size_t n = strcspn(p, sep);
        if (v.n == MT_INTS_MAX || n >= sizeof tok)
            return fail(err, w, "expected at most %d short integers", MT_INTS_MAX);
        memcpy(tok, p, n);
        tok[n] = '\0';
        mt_status st = parse_int(tok, w, o, &v.v[v.n++], err);
        if (st)
            return st;
        p += n;
    }
    *out = v;
    return MT_OK;
}

static mt_status set_default(const mt_option *o, const char *section, void *out, mt_error *err)
{
    where w = {NULL, section, o->name, -1};
    mt_node text = {0};
    mt_status st;
    text.kind = MT_NODE_SCALAR;
    text.value = (char *)o->dflt;
    if (o->type == MT_OPT_NODE) {
        *(const mt_node **)((char *)out + o->offset) = NULL;
        return MT_OK;
    }
    if (o->type == MT_OPT_INTS)
        st = default_ints(o, &w, (mt_ints *)((char *)out + o->offset), err);
    else
        st = set_value(o, &text, &w, out, err);
    if (st && err) {
        err->code = MT_ERR_INTERNAL;
        mt_error_prefix(err, "bad default '%s'", o->dflt);
    }
    return st ? MT_ERR_INTERNAL : MT_OK;
}

static const mt_option *find_option(const mt_option *table, const char *name)
{
    for (const mt_option *o = table; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static const char *key_list(const mt_option *table, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const mt_option *o = table; o->name && used + 1 < size; o++) {
        int n = snprintf(buf + used, size - used, "%s%s", o == table ? "" : ", ", o->name);
        if (n < 0)
            break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    return buf;
}

static mt_status check_keys(const mt_option *table, const mt_node *map, const char *section, mt_error *err)
{
    char keys[400], shown[64];
    for (size_t i = 0; i < map->n_items; i++) {
        const mt_node *item = map->items[i];
        const char *key = item->key ? item->key : "";
        if (!find_option(table, key)) {
            where w = {item, section, NULL, -1};
            return fail(err, &w, "unknown key '%s'; valid keys: %s", show(key, shown, sizeof shown),
                        key_list(table, keys, sizeof keys));
        }
    }
    return MT_OK;
}

mt_status mt_options_parse(const mt_option *table, const mt_node *map, const char *section, void *out, mt_error *err)
{
    char keys[400], got[80];
    if (!table || !out)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_options_parse: NULL table or output");
    if (!section)
        section = "";
    const mt_node *loc = map; /* where "missing required key" points */
    if (map && map->kind == MT_NODE_SCALAR && !map->value[0])
        map = NULL;
    if (map && map->kind != MT_NODE_MAP) {
        where w = {map, section, NULL, -1};
        return fail(err, &w, "expected a map (keys: %s), got %s", key_list(table, keys, sizeof keys),
                    describe(map, got, sizeof got));
    }
    mt_status st = map ? check_keys(table, map, section, err) : MT_OK;
    for (const mt_option *o = table; !st && o->name; o++) {
        const mt_node *n = mt_node_get(map, o->name);
        where w = {n ? n : loc, section, n ? o->name : NULL, -1};
        if (n)
            st = set_value(o, n, &w, out, err);
        else if (o->dflt)
            st = set_default(o, section, out, err);
        else
            st = fail(err, &w, "missing required key '%s'", o->name);
    }
    return st;
}
