/* JSON documents with jansson: the builder, the writer (layout, number format, strings escaped by
 * jansson), the atomic file writer and the JSON-lines reader (see json_doc.h). */
#include "io/json_doc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"

/* ---- strings ---------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p, or 0 when the byte at p does not start one. */
static int utf8_length(const unsigned char *p)
{
    int n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int k = 2; k < n; k++)
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    return n;
}

/* A JSON string of s: s itself when it is valid UTF-8, else a copy with U+FFFD for each byte outside a
 * valid sequence. NULL when out of memory. */
static json_t *utf8_string(const char *s)
{
    size_t bad = 0, len = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_length(p);
        bad += n == 0;
        p += n ? n : 1;
        len += n ? (size_t)n : 1;
    }
    if (!bad)
        return json_stringn_nocheck(s, len);
    char *copy = malloc(len + 2 * bad + 1), *out = copy;
    if (!copy)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_length(p);
        if (n) {
            memcpy(out, p, (size_t)n);
            out += n, p += n;
        } else {
            memcpy(out, "\xef\xbf\xbd", 3);
            out += 3, p++;
        }
    }
    json_t *v = json_stringn_nocheck(copy, (size_t)(out - copy));
    free(copy);
    return v;
}

/* ---- building ------------------------------------------------------------------------------------------ */

void mt_json_begin(mt_json *j, char bracket)
{
    memset(j, 0, sizeof *j);
    j->open[0] = bracket == '[' ? json_array() : json_object();
    j->failed = j->open[0] == NULL;
    j->depth = j->failed ? 0 : 1;
}

/* Adds value (a new reference, taken over; NULL after a failed allocation) under key to the innermost
 * open object, or to the innermost open array when key is NULL. */
static void put(mt_json *j, const char *key, json_t *value)
{
    int bad = j->failed || !value || j->depth < 1;
    json_t *k = !bad && key ? utf8_string(key) : NULL;
    if (!bad && key && !k) {
        bad = 1;
    } else if (!bad && key) { /* jansson takes value over, or frees it when it fails */
        bad = json_object_set_new_nocheck(j->open[j->depth - 1], json_string_value(k), value) != 0;
        value = NULL;
    } else if (!bad) {
        bad = json_array_append_new(j->open[j->depth - 1], value) != 0;
        value = NULL;
    }
    json_decref(k);
    json_decref(value);
    j->failed |= bad;
}

void mt_json_string(mt_json *j, const char *key, const char *value)
{
    put(j, key, value ? utf8_string(value) : json_null());
}

void mt_json_number(mt_json *j, const char *key, double value)
{
    put(j, key, isfinite(value) ? json_real(value) : json_null());
}

void mt_json_integer(mt_json *j, const char *key, long long value)
{
    put(j, key, json_integer(value));
}

void mt_json_bool(mt_json *j, const char *key, int value)
{
    put(j, key, json_boolean(value));
}

void mt_json_open(mt_json *j, const char *key, char bracket)
{
    if (j->failed || j->depth >= MT_JSON_DEPTH) {
        j->failed = 1;
        return;
    }
    json_t *v = bracket == '[' ? json_array() : json_object();
    put(j, key, json_incref(v));
    if (!j->failed)
        j->open[j->depth++] = v;
    json_decref(v);
}

void mt_json_close(mt_json *j)
{
    if (j->depth > 1)
        j->depth--;
}

json_t *mt_json_take(mt_json *j)
{
    json_t *root = j->depth > 0 ? j->open[0] : NULL;
    if (j->failed) {
        json_decref(root);
        root = NULL;
    }
    memset(j, 0, sizeof *j);
    j->failed = 1; /* taken: later calls do nothing */
    return root;
}

/* ---- writing ------------------------------------------------------------------------------------------- */

/* The shortest of %.15g, %.16g and %.17g that reads back as v (%.17g always does). */
static void format_number(double v, char *buf, size_t size)
{
    for (int digits = 15; digits < 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
    snprintf(buf, size, "%.17g", v);
}

static int to_stream(const char *buffer, size_t size, void *data)
{
    return fwrite(buffer, 1, size, data) == size ? 0 : -1;
}

/* A string value, escaped by jansson. */
static void write_string(FILE *f, const json_t *s)
{
    json_dump_callback(s, to_stream, f, JSON_ENCODE_ANY);
}

static void write_key(FILE *f, const char *key)
{
    json_t *k = json_string_nocheck(key);
    if (k)
        write_string(f, k);
    json_decref(k);
}

/* Newline and indentation before a member or element of level `level` (1 = the root's), or ", " between
 * values on one line. */
static void separate(FILE *f, int first, int level, int levels)
{
    if (level <= levels)
        fprintf(f, "%s\n%*s", first ? "" : ",", 2 * level, "");
    else if (!first)
        fputs(", ", f);
}

static void write_value(FILE *f, const json_t *v, int level, int levels)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *member;
        int first = 1;
        fputc('{', f);
        json_object_foreach((json_t *)v, key, member)
        {
            separate(f, first, level + 1, levels);
            first = 0;
            write_key(f, key);
            fputs(": ", f);
            write_value(f, member, level + 1, levels);
        }
        if (!first && level < levels)
            fprintf(f, "\n%*s", 2 * level, "");
        fputc('}', f);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *element;
        fputc('[', f);
        json_array_foreach(v, i, element)
        {
            separate(f, i == 0, level + 1, levels);
            write_value(f, element, level + 1, levels);
        }
        if (json_array_size(v) > 0 && level < levels)
            fprintf(f, "\n%*s", 2 * level, "");
        fputc(']', f);
        break;
    }
    case JSON_STRING:
        write_string(f, v);
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        format_number(json_real_value(v), num, sizeof num);
        fputs(num, f);
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs("null", f);
        break;
    }
}

int mt_json_write(FILE *f, const json_t *doc, int levels)
{
    write_value(f, doc, 0, levels);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

char *mt_json_text(const json_t *doc, int levels)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    write_value(f, doc, 0, levels);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(text);
        return NULL;
    }
    return text;
}

mt_status mt_json_write_file(const char *path, const json_t *doc, int levels, mt_error *err)
{
    mt_atomic_file out;
    mt_status st = mt_atomic_open(&out, path, err);
    if (st)
        return st;
    mt_json_write(out.f, doc, levels);
    return mt_atomic_commit(&out, err);
}

/* ---- reading ------------------------------------------------------------------------------------------- */

mt_status mt_json_read_lines(const char *path, json_t **rows, mt_error *err)
{
    *rows = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    mt_status st = all ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    for (long number = 1; !st && (len = getline(&line, &cap, f)) >= 0; number++) {
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        json_error_t why;
        json_t *row = json_loadb(line, (size_t)len, 0, &why);
        if (!row)
            st = mt_fail(err, MT_ERR_INPUT, "%s:%ld: not JSON: %s", path, number, why.text);
        else if (json_array_append_new(all, row) != 0)
            st = mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!st && ferror(f))
        st = mt_fail(err, MT_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (st)
        json_decref(all);
    else
        *rows = all;
    return st;
}

double mt_json_get_number(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : NAN;
}
