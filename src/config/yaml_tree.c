/* YAML trees: libyaml parser events -> mt_node tree with origins and line numbers, strict about what
 * configs must not use (anchors, aliases, tags, duplicate keys, several documents); "a.b.0.c=value"
 * overrides; emission back to YAML text through libyaml's emitter.
 *
 * Conventions (the header leaves them open):
 * - A map value's line is the line of its key, so "data: missing 'file'" points at "data:".
 * - A plain ~, null, Null or NULL is stored as the empty plain scalar; keys are kept as written.
 * - `quoted` is set for every non-plain scalar ('...', "...", | and >), and for the rare plain one that
 *   libyaml's emitter can only write quoted (tabs, line breaks, 4-byte UTF-8, a lone "-"), so that
 *   emitting and parsing again gives an equal tree. Such values are strings either way.
 * - Nesting is limited to MAX_DEPTH maps/sequences, also through overrides, so recursion stays shallow.
 * - Nodes of a parsed tree point their origin at one copy stored behind the root node's struct;
 *   nodes made by overrides point at a static "--set". */
#include "config/yaml_tree.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"

#define MAX_DEPTH 64         /* nested maps/sequences; configs need about five */
#define MAX_FILE (64u << 20) /* bytes; a larger "config" is not one */

static const char set_origin[] = "--set";

/* ---- nodes ---- */

static char *dup_text(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static mt_node *node_new(mt_node_kind kind, const char *origin, int line)
{
    mt_node *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->origin = origin;
        n->line = line;
    }
    return n;
}

static mt_node *scalar_new(const char *text, size_t len, int quoted, const char *origin, int line)
{
    mt_node *n = node_new(MT_NODE_SCALAR, origin, line);
    if (n && !(n->value = dup_text(text, len))) {
        free(n);
        return NULL;
    }
    if (n)
        n->quoted = quoted;
    return n;
}

void mt_node_free(mt_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n_items; i++)
        mt_node_free(node->items[i]);
    free(node->items);
    free(node->key);
    free(node->value);
    free(node);
}

static int is_null(const mt_node *n)
{
    return n->kind == MT_NODE_SCALAR && !n->quoted && n->value[0] == '\0';
}

static int is_null_word(const char *v, size_t n)
{
    static const char *const words[] = {"~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], v, n) == 0)
            return 1;
    return 0;
}

/* Appends child to parent's items, growing the array to *cap when full. Returns 0 when out of memory. */
static int push_item(mt_node *parent, size_t *cap, mt_node *child)
{
    if (parent->n_items >= *cap) {
        size_t ncap = parent->n_items ? 2 * parent->n_items : 4;
        mt_node **items = realloc(parent->items, ncap * sizeof *items);
        if (!items)
            return 0;
        parent->items = items;
        *cap = ncap;
    }
    parent->items[parent->n_items++] = child;
    return 1;
}

static void set_origin_all(mt_node *n, const char *from, const char *to)
{
    if (n->origin == from)
        n->origin = to;
    for (size_t i = 0; i < n->n_items; i++)
        set_origin_all(n->items[i], from, to);
}

/* Moves *root into an allocation that also holds a copy of origin, and points the tree at that copy. */
static mt_status adopt_origin(mt_node **root, const char *origin, mt_error *err)
{
    size_t len = strlen(origin) + 1;
    mt_node *r = malloc(sizeof *r + len);
    if (!r) {
        mt_node_free(*root);
        *root = NULL;
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", origin);
    }
    *r = **root;
    char *copy = (char *)(r + 1);
    memcpy(copy, origin, len);
    free(*root);
    set_origin_all(r, origin, copy);
    *root = r;
    return MT_OK;
}

/* ---- building a tree from parser events ---- */

typedef struct frame {
    mt_node *node; /* open map or sequence */
    size_t cap;    /* allocated items */
    char *key;     /* map: key read, value not yet */
    int key_line;
} frame;

typedef struct builder {
    const char *origin; /* what the nodes point to */
    const char *label;  /* what messages start with */
    int lines;          /* record line numbers (0: nodes get line 0, messages have none) */
    int max_depth;      /* nesting allowed */
    const char *text;
    size_t len;
    frame stack[MAX_DEPTH];
    int depth;
    mt_node *root;
    int documents;
    mt_error *err;
} builder;

static mt_status bfail(const builder *b, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static mt_status bfail(const builder *b, int line, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (b->lines)
        return mt_fail(b->err, MT_ERR_CONFIG, "%s:%d: %s", b->label, line, what);
    return mt_fail(b->err, MT_ERR_CONFIG, "%s: %s", b->label, what);
}

static mt_status bnomem(const builder *b)
{
    return mt_fail(b->err, MT_ERR_NOMEM, "%s: out of memory while reading YAML", b->label);
}

static frame *top(builder *b)
{
    return b->depth ? &b->stack[b->depth - 1] : NULL;
}

static int wants_key(builder *b)
{
    frame *f = top(b);
    return f && f->node->kind == MT_NODE_MAP && !f->key;
}

/* Hangs a finished or just-opened node under the open container (or makes it the root). */
static mt_status attach(builder *b, mt_node *node)
{
    frame *f = top(b);
    if (!f) {
        b->root = node;
        return MT_OK;
    }
    if (f->node->kind == MT_NODE_MAP) {
        node->key = f->key;
        f->key = NULL;
        if (b->lines)
            node->line = f->key_line;
    }
    if (!push_item(f->node, &f->cap, node)) {
        mt_node_free(node);
        return bnomem(b);
    }
    return MT_OK;
}

static mt_status check_props(const builder *b, int line, const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (anchor)
        return bfail(b, line, "anchors (&%.40s) are not allowed in a config", (const char *)anchor);
    if (tag)
        return bfail(b, line, "tags (%.60s) are not allowed in a config", (const char *)tag);
    return MT_OK;
}

/* Whether libyaml's emitter writes text as a plain scalar in block context (its analyze rules). */
static int plain_ok(const unsigned char *v, size_t n)
{
    if ((n == 1 && strchr("-?:", v[0])) || (n >= 3 && (memcmp(v, "---", 3) == 0 || memcmp(v, "...", 3) == 0)))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = v[i], c1 = i + 1 < n ? v[i + 1] : 0, c2 = i + 2 < n ? v[i + 2] : 0;
        if (c < 0x20 || c == 0x7f || c >= 0xf0 || (c == 0xc2 && c1 < 0xa0) ||
            (c == 0xe2 && c1 == 0x80 && (c2 == 0xa8 || c2 == 0xa9)) ||
            (c == 0xef && ((c1 == 0xbb && c2 == 0xbf) || (c1 == 0xbf && (c2 == 0xbe || c2 == 0xbf)))))
            return 0;
    }
    return 1;
}

static mt_status on_scalar(builder *b, const yaml_event_t *ev, int line)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    mt_status st = check_props(b, line, ev->data.scalar.anchor, ev->data.scalar.tag);
    if (st)
        return st;
    if (memchr(v, '\0', n))
        return bfail(b, line, "a NUL character is not allowed in a value");
    if (wants_key(b)) {
        frame *f = top(b);
        if (!(f->key = dup_text(v, n)))
            return bnomem(b);
        f->key_line = line;
        return MT_OK;
    }
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && is_null_word(v, n))
        n = 0;
    int quoted = !plain || !plain_ok((const unsigned char *)v, n);
    mt_node *node = scalar_new(v, n, quoted, b->origin, b->lines ? line : 0);
    return node ? attach(b, node) : bnomem(b);
}

static mt_status on_start(builder *b, const yaml_event_t *ev, mt_node_kind kind, int line)
{
    mt_status st = kind == MT_NODE_MAP
                       ? check_props(b, line, ev->data.mapping_start.anchor, ev->data.mapping_start.tag)
                       : check_props(b, line, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
    if (st)
        return st;
    if (wants_key(b))
        return bfail(b, line, "a map key must be a plain value, not a %s", kind == MT_NODE_MAP ? "map" : "list");
    if (b->depth >= b->max_depth)
        return bfail(b, line, "nested deeper than %d levels", b->max_depth);
    mt_node *node = node_new(kind, b->origin, b->lines ? line : 0);
    if (!node)
        return bnomem(b);
    if ((st = attach(b, node)))
        return st;
    b->stack[b->depth++] = (frame){node, 0, NULL, 0};
    return MT_OK;
}

typedef struct keyref {
    const char *key;
    size_t index;
} keyref;

static int keyref_cmp(const void *pa, const void *pb)
{
    const keyref *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* Finds the first key (in document order) that repeats an earlier one; sorting keeps big maps fast. */
static mt_status check_duplicates(const builder *b, const mt_node *map)
{
    size_t n = map->n_items, dup = SIZE_MAX, first = 0;
    if (n < 2)
        return MT_OK;
    keyref *refs = malloc(n * sizeof *refs);
    if (!refs)
        return bnomem(b);
    for (size_t i = 0; i < n; i++)
        refs[i] = (keyref){map->items[i]->key ? map->items[i]->key : "", i};
    qsort(refs, n, sizeof *refs, keyref_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].key, refs[i].key) == 0 && refs[i].index < dup) {
            dup = refs[i].index;
            first = refs[i - 1].index;
        }
    free(refs);
    if (dup == SIZE_MAX)
        return MT_OK;
    const mt_node *d = map->items[dup];
    if (!b->lines)
        return bfail(b, 0, "duplicate key '%.100s'", d->key);
    return bfail(b, d->line, "duplicate key '%.100s' (first at line %d)", d->key, map->items[first]->line);
}

static mt_status on_end(builder *b)
{
    frame *f = &b->stack[--b->depth];
    free(f->key);
    f->key = NULL;
    return f->node->kind == MT_NODE_MAP ? check_duplicates(b, f->node) : MT_OK;
}

static mt_status on_event(builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return bfail(b, line, "only one YAML document is allowed in a config");
        return MT_OK;
    case YAML_ALIAS_EVENT:
        return bfail(b, line, "aliases (*%.40s) are not allowed in a config", (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, line);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, MT_NODE_SEQ, line);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, MT_NODE_MAP, line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return b->depth ? on_end(b) : MT_OK;
    default:
        return MT_OK;
    }
}

static int line_at(const char *text, size_t len, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static mt_status parser_error(const builder *b, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return bnomem(b);
    int line = p->error == YAML_READER_ERROR ? line_at(b->text, b->len, p->problem_offset)
                                             : (int)p->problem_mark.line + 1;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context && b->lines)
        return bfail(b, line, "%s (%s at line %d)", problem, p->context, (int)p->context_mark.line + 1);
    if (p->context)
        return bfail(b, line, "%s (%s)", problem, p->context);
    return bfail(b, line, "%s", problem);
}

/* Runs the parser over b->text; *root is the tree (NULL for a stream without a document). */
static mt_status build(builder *b, mt_node **root)
{
    yaml_parser_t p;
    mt_status st = MT_OK;
    int done = 0;
    *root = NULL;
    if (!yaml_parser_initialize(&p))
        return bnomem(b);
    yaml_parser_set_input_string(&p, (const unsigned char *)b->text, b->len);
    while (!st && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = parser_error(b, &p);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        st = on_event(b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (int i = 0; i < b->depth; i++)
        free(b->stack[i].key);
    b->depth = 0;
    if (st)
        mt_node_free(b->root);
    else
        *root = b->root;
    b->root = NULL;
    return st;
}

static mt_status parse_text(const char *text, size_t len, const char *origin, mt_node **root, mt_error *err)
{
    builder b = {0};
    b.origin = b.label = origin;
    b.lines = 1;
    b.max_depth = MAX_DEPTH;
    b.text = text;
    b.len = len;
    b.err = err;
    mt_node *r;
    mt_status st = build(&b, &r);
    if (st)
        return st;
    if (!r || is_null(r)) {
        mt_node_free(r);
        if (!(r = node_new(MT_NODE_MAP, origin, 1)))
            return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", origin);
    }
    st = adopt_origin(&r, origin, err);
    *root = r;
    return st;
}

/* ---- reading files ---- */

static mt_status read_all(const char *path, char **text, size_t *len, mt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0, cap = 4096, got;
    char *buf = malloc(cap);
    mt_status st = MT_OK;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        if ((n += got) < cap)
            continue;
        char *bigger = cap < MAX_FILE ? realloc(buf, 2 * cap) : NULL;
        if (!bigger) {
            st = cap < MAX_FILE
                     ? mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path)
                     : mt_fail(err, MT_ERR_INPUT, "%s: larger than %u MiB, not a config", path, MAX_FILE >> 20);
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (!buf)
        st = mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    else if (!st && ferror(f))
        st = mt_fail(err, MT_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *text = buf;
    *len = n;
    return MT_OK;
}

mt_status mt_yaml_parse_file(const char *path, mt_node **root, mt_error *err)
{
    char *text = NULL;
    size_t len = 0;
    if (!root)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_yaml_parse_file: root is NULL");
    *root = NULL;
    if (!path)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_yaml_parse_file: path is NULL");
    mt_status st = read_all(path, &text, &len, err);
    if (st)
        return st;
    st = parse_text(text, len, path, root, err);
    free(text);
    return st;
}

mt_status mt_yaml_parse_string(const char *text, const char *origin, mt_node **root, mt_error *err)
{
    if (!root)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_yaml_parse_string: root is NULL");
    *root = NULL;
    if (!text)
        text = "";
    return parse_text(text, strlen(text), origin ? origin : "<string>", root, err);
}

/* ---- lookups ---- */

const mt_node *mt_node_get(const mt_node *map, const char *key)
{
    if (!map || map->kind != MT_NODE_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->n_items; i++)
        if (map->items[i]->key && strcmp(map->items[i]->key, key) == 0)
            return map->items[i];
    return NULL;
}

const char *mt_node_where(const mt_node *node, char *buf, size_t size)
{
    if (!buf || !size)
        return buf;
    if (!node)
        buf[0] = '\0';
    else if (node->line <= 0)
        snprintf(buf, size, "%s", set_origin);
    else
        snprintf(buf, size, "%s:%d", node->origin ? node->origin : "?", node->line);
    return buf;
}

/* ---- overrides ---- */

/* Parses the text after '=' as YAML, every node "--set" with line 0; blank text is the empty value. */
static mt_status parse_value(const char *text, const char *label, int max_depth, mt_node **out, mt_error *err)
{
    builder b = {0};
    b.origin = set_origin;
    b.label = label;
    b.max_depth = max_depth;
    b.text = text;
    b.len = strlen(text);
    b.err = err;
    mt_status st = build(&b, out);
    if (!st && !*out && !(*out = scalar_new("", 0, 0, set_origin, 0)))
        st = mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", label);
    return st;
}

typedef struct path {
    const char *whole; /* the trimmed path as written, for messages (not NUL-terminated) */
    char *text;        /* copy of it, components separated by '\0' after splitting */
    char *part[MAX_DEPTH];
    int n;
} path;

/* Splits the text before '=' into components; the caller frees p->text. */
static mt_status split_path(const char *s, size_t len, const char *label, path *p, mt_error *err)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (!len)
        return mt_fail(err, MT_ERR_CONFIG, "%s: expected key=value", label);
    p->whole = s;
    if (!(p->text = dup_text(s, len)))
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", label);
    p->n = 0;
    for (char *c = p->text;; c++) {
        if (p->n == MAX_DEPTH)
            return mt_fail(err, MT_ERR_CONFIG, "%s: path deeper than %d levels", label, MAX_DEPTH);
        p->part[p->n++] = c;
        c = strchr(c, '.');
        if (!c)
            break;
        *c = '\0';
    }
    for (int i = 0; i < p->n; i++)
        if (!p->part[i][0])
            return mt_fail(err, MT_ERR_CONFIG, "%s: empty key in the path", label);
    return MT_OK;
}

/* Length of "a.b.c" up to and including component i, for messages. */
static int prefix_len(const path *p, int i)
{
    return (int)(p->part[i] - p->text + strlen(p->part[i]));
}

/* The item of seq that component i of the path indexes. */
static mt_status seq_slot(mt_node *seq, const path *p, int i, const char *label, mt_node ***slot, mt_error *err)
{
    const char *s = p->part[i];
    size_t n = strspn(s, "0123456789");
    int before = i ? prefix_len(p, i - 1) : 0;
    if (!n || s[n] || n > 9)
        return mt_fail(err, MT_ERR_CONFIG, "%s: '%.40s' is not an index into the list %.*s", label, s, before,
                       p->whole);
    size_t idx = strtoul(s, NULL, 10);
    if (idx >= seq->n_items)
        return mt_fail(err, MT_ERR_CONFIG, "%s: index %zu is past the end of %.*s (%zu items)", label, idx, before,
                       p->whole, seq->n_items);
    *slot = &seq->items[idx];
    return MT_OK;
}

static mt_node **map_slot(mt_node *map, const char *key)
{
    for (size_t i = 0; i < map->n_items; i++)
        if (map->items[i]->key && strcmp(map->items[i]->key, key) == 0)
            return &map->items[i];
    return NULL;
}

/* Adds child under key to map. On failure child is freed. */
static mt_status map_add(mt_node *map, const char *key, mt_node *child, const char *label, mt_error *err)
{
    size_t cap = map->n_items;
    if (!(child->key = dup_text(key, strlen(key))) || !push_item(map, &cap, child)) {
        mt_node_free(child);
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", label);
    }
    return MT_OK;
}

/* Walks to the parent of the last component (creating maps, turning empty values into maps). */
static mt_status walk(mt_node *root, const path *p, const char *label, mt_node **parent, mt_error *err)
{
    mt_node *cur = root;
    for (int i = 0;; i++) {
        if (is_null(cur)) {
            free(cur->value);
            cur->value = NULL;
            cur->kind = MT_NODE_MAP;
        }
        if (cur->kind == MT_NODE_SCALAR)
            return mt_fail(err, MT_ERR_CONFIG, "%s: %.*s is a value, not a map or list", label,
                           i ? prefix_len(p, i - 1) : 0, p->whole);
        if (i == p->n - 1) {
            *parent = cur;
            return MT_OK;
        }
        mt_node **slot = NULL;
        mt_status st = cur->kind == MT_NODE_SEQ ? seq_slot(cur, p, i, label, &slot, err) : MT_OK;
        if (st)
            return st;
        if (cur->kind == MT_NODE_MAP && !(slot = map_slot(cur, p->part[i]))) {
            mt_node *child = node_new(MT_NODE_MAP, set_origin, 0);
            st = child ? map_add(cur, p->part[i], child, label, err)
                       : mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", label);
            if (st)
                return st;
            slot = &cur->items[cur->n_items - 1];
        }
        cur = *slot;
    }
}

/* Puts value at the last component under parent, replacing what was there. value is consumed. */
static mt_status place(mt_node *parent, const path *p, mt_node *value, const char *label, mt_error *err)
{
    mt_node **slot = NULL;
    mt_status st = MT_OK;
    if (parent->kind == MT_NODE_SEQ)
        st = seq_slot(parent, p, p->n - 1, label, &slot, err);
    else if (!(slot = map_slot(parent, p->part[p->n - 1])))
        return map_add(parent, p->part[p->n - 1], value, label, err);
    if (st) {
        mt_node_free(value);
        return st;
    }
    value->key = (*slot)->key;
    (*slot)->key = NULL;
    mt_node_free(*slot);
    *slot = value;
    return MT_OK;
}

/* "--set ASSIGNMENT" for messages: shortened, control characters replaced. */
static void set_label(char *buf, size_t size, const char *assignment)
{
    int n = snprintf(buf, size, "--set %.120s%s", assignment, strlen(assignment) > 120 ? "..." : "");
    for (int i = 0; i < n && (size_t)i < size && buf[i]; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            buf[i] = '?';
}

mt_status mt_node_override(mt_node *root, const char *assignment, mt_error *err)
{
    char label[160];
    path p = {0};
    mt_node *value = NULL, *parent = NULL;
    if (!root || !assignment)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_node_override: NULL argument");
    set_label(label, sizeof label, assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return mt_fail(err, MT_ERR_CONFIG, "%s: expected key=value", label);
    mt_status st = split_path(assignment, (size_t)(eq - assignment), label, &p, err);
    if (!st)
        st = parse_value(eq + 1, label, MAX_DEPTH - p.n, &value, err);
    if (!st)
        st = walk(root, &p, label, &parent, err);
    if (!st) {
        st = place(parent, &p, value, label, err);
        value = NULL;
    }
    mt_node_free(value);
    free(p.text);
    return st;
}

/* ---- emission ---- */

typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

static int write_out(void *ctx, unsigned char *bytes, size_t size)
{
    outbuf *o = ctx;
    if (o->len + size + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + size + 1)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d)
            return 0;
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, bytes, size);
    o->len += size;
    o->data[o->len] = '\0';
    return 1;
}

/* A value that stays the same plain scalar in a flow collection ([a, b] / {k: v}). */
static int flow_safe(const char *s)
{
    if (!s[0] || (s[0] == '-' && !s[1]))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("_.+/-", *s)))
            return 0;
    return 1;
}

/* Short collections of simple scalars read best in flow style: input: [28, 28], dense: {units: 10}. */
static int use_flow(const mt_node *n)
{
    size_t chars = 0;
    if (n->n_items == 0 || n->n_items > 16)
        return 0;
    for (size_t i = 0; i < n->n_items; i++) {
        const mt_node *c = n->items[i];
        if (c->kind != MT_NODE_SCALAR || !(c->quoted || flow_safe(c->value)))
            return 0;
        if (n->kind == MT_NODE_MAP && !flow_safe(c->key ? c->key : ""))
            return 0;
        chars += strlen(c->value) + (c->key ? strlen(c->key) : 0) + 4;
    }
    return chars <= 60;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, int quoted, int is_key)
{
    yaml_event_t ev;
    if (!is_key && !quoted && !text[0])
        text = "null";
    size_t n = strlen(text);
    yaml_scalar_style_t style = quoted ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
    return n <= INT_MAX &&
           yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)text, (int)n, 1, 1, style) &&
           yaml_emitter_emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const mt_node *n)
{
    yaml_event_t ev;
    int flow = use_flow(n), ok;
    if (n->kind == MT_NODE_SCALAR)
        return emit_scalar(e, n->value ? n->value : "", n->quoted, 0);
    if (n->kind == MT_NODE_SEQ)
        ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    else
        ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    if (!ok || !yaml_emitter_emit(e, &ev))
        return 0;
    for (size_t i = 0; i < n->n_items; i++) {
        if (n->kind == MT_NODE_MAP && !emit_scalar(e, n->items[i]->key ? n->items[i]->key : "", 0, 1))
            return 0;
        if (!emit_node(e, n->items[i]))
            return 0;
    }
    ok = n->kind == MT_NODE_SEQ ? yaml_sequence_end_event_initialize(&ev) : yaml_mapping_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(e, &ev);
}

static int emit_document(yaml_emitter_t *e, const mt_node *root)
{
    yaml_event_t ev;
    return yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(e, &ev) &&
           yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(e, &ev) &&
           emit_node(e, root) && yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(e, &ev) &&
           yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) && yaml_emitter_flush(e);
}

char *mt_node_emit(const mt_node *root, mt_error *err)
{
    yaml_emitter_t e;
    outbuf out = {0};
    if (!root) {
        mt_fail(err, MT_ERR_INTERNAL, "mt_node_emit: root is NULL");
        return NULL;
    }
    if (!yaml_emitter_initialize(&e)) {
        mt_fail(err, MT_ERR_NOMEM, "out of memory while writing YAML");
        return NULL;
    }
    yaml_emitter_set_output(&e, write_out, &out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_indent(&e, 2);
    if (!emit_document(&e, root) || !out.data) {
        mt_fail(err, e.error == YAML_MEMORY_ERROR || e.error == YAML_WRITER_ERROR ? MT_ERR_NOMEM : MT_ERR_INTERNAL,
                "cannot write YAML: %s", e.problem ? e.problem : "out of memory");
        free(out.data);
        out.data = NULL;
    }
    yaml_emitter_delete(&e);
    return out.data;
}
