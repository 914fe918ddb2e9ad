/* JSON documents (io/json_doc.h): numbers in their shortest round-trip form (NaN and infinities as
 * null), the layout (one line, or the first levels one member per line), names with non-ASCII UTF-8,
 * control characters, quotes and backslashes written as valid JSON and read back equal (bytes outside
 * valid UTF-8 as U+FFFD), keys alike, the atomic file writer, the JSON-lines reader and its errors,
 * and a builder nested too deep failing as a whole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_doc.h"
#include "testlib.h"

/* The one-line text of a document holding the single number v. */
static void number_text(double v, char *buf, size_t size)
{
    mt_json j;
    mt_json_begin(&j, '[');
    mt_json_number(&j, NULL, v);
    json_t *doc = mt_json_take(&j);
    char *text = doc ? mt_json_text(doc, 0) : NULL;
    snprintf(buf, size, "%s", text ? text : "(failed)");
    free(text);
    json_decref(doc);
}

static void test_numbers(void)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "[0.1]"},
        {1e-05, "[1e-05]"},
        {3.0, "[3]"},
        {-0.25, "[-0.25]"},
        {1.0 / 3, "[0.3333333333333333]"},
        {0.1 + 0.2, "[0.30000000000000004]"},
        {123456789012.0, "[123456789012]"},
        {1e300, "[1e+300]"},
        {NAN, "[null]"},
        {INFINITY, "[null]"},
        {-INFINITY, "[null]"},
        {(double)0.7f, "[0.699999988079071]"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        number_text(cases[i].v, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].text), "number %.17g: '%s', expected '%s'", cases[i].v, buf, cases[i].text);
    }
    /* every double reads back as itself, in at most 17 significant digits */
    srand(7);
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        double v = ldexp((double)rand() / RAND_MAX - 0.5, rand() % 200 - 100);
        number_text(v, buf, sizeof buf);
        bad += strtod(buf + 1, NULL) != v;
    }
    CHECK(bad == 0, "%d of 20000 random doubles do not read back as themselves", bad);
}

static void test_layout(void)
{
    mt_json j;
    mt_json_begin(&j, '{');
    mt_json_integer(&j, "a", 1);
    mt_json_open(&j, "b", '[');
    mt_json_number(&j, NULL, 2);
    mt_json_bool(&j, NULL, 1);
    mt_json_close(&j);
    mt_json_open(&j, "c", '{');
    mt_json_string(&j, "d", NULL);
    mt_json_open(&j, "e", '[');
    mt_json_close(&j);
    json_t *doc = mt_json_take(&j);
    if (!CHECK(doc != NULL, "build failed"))
        return;
    static const char *const want[3] = {
        "{\"a\": 1, \"b\": [2, true], \"c\": {\"d\": null, \"e\": []}}",
        "{\n  \"a\": 1,\n  \"b\": [2, true],\n  \"c\": {\"d\": null, \"e\": []}\n}",
        "{\n  \"a\": 1,\n  \"b\": [\n    2,\n    true\n  ],\n  \"c\": {\n    \"d\": null,\n    \"e\": []\n  }\n}",
    };
    for (int levels = 0; levels < 3; levels++) {
        char *text = mt_json_text(doc, levels);
        CHECK(text && !strcmp(text, want[levels]), "levels %d:\n%s\nexpected\n%s", levels, text ? text : "(null)",
              want[levels]);
        free(text);
    }
    json_decref(doc);
}

/* Names as they come from file names, config values and dataset attributes; what each reads back as. */
static const struct {
    const char *name, *back;
} names[] = {
    {"plain", "plain"},
    {"Größe café 日本語 😀", "Größe café 日本語 😀"},
    {"tab\there\nnewline\rcr\x01\x1f\x7f", "tab\there\nnewline\rcr\x01\x1f\x7f"},
    {"quote \" backslash \\ slash /", "quote \" backslash \\ slash /"},
    {"bad \xff byte", "bad \xef\xbf\xbd byte"},
    {"cut \xc3", "cut \xef\xbf\xbd"},
    {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
};

static void test_strings_read_back(void)
{
    const size_t n = sizeof names / sizeof names[0];
    mt_json j;
    mt_json_begin(&j, '{');
    mt_json_open(&j, "values", '[');
    for (size_t i = 0; i < n; i++)
        mt_json_string(&j, NULL, names[i].name);
    mt_json_close(&j);
    mt_json_open(&j, "keys", '{');
    for (size_t i = 0; i < n; i++)
        mt_json_integer(&j, names[i].name, (long long)i);
    json_t *doc = mt_json_take(&j);
    const char *path = mt_test_path("names.json");
    mt_error err = {0};
    if (!CHECK(doc != NULL, "build failed") ||
        !CHECK(mt_json_write_file(path, doc, 1, &err) == MT_OK, "write: %s", err.msg)) {
        json_decref(doc);
        return;
    }
    json_decref(doc);
    json_error_t why;
    json_t *back = json_load_file(path, 0, &why); /* jansson refuses invalid JSON and invalid UTF-8 */
    if (!CHECK(back != NULL, "%s is not valid JSON: %s (line %d)", path, why.text, why.line))
        return;
    const json_t *values = json_object_get(back, "values"), *keys = json_object_get(back, "keys");
    CHECK(json_array_size(values) == n && json_object_size(keys) == n, "%zu values, %zu keys read back",
          json_array_size(values), json_object_size(keys));
    for (size_t i = 0; i < n && i < json_array_size(values); i++) {
        const char *v = json_string_value(json_array_get(values, i));
        CHECK(v && !strcmp(v, names[i].back), "value %zu read back as '%s', expected '%s'", i, v ? v : "(null)",
              names[i].back);
        const json_t *k = json_object_get(keys, names[i].back);
        CHECK(json_integer_value(k) == (long long)i, "key %zu ('%s') not read back", i, names[i].back);
    }
    json_decref(back);
    /* the file is whole, with a final newline, and no temporary is left beside it */
    FILE *f = fopen(path, "rb");
    int last = EOF, c;
    while (f && (c = fgetc(f)) != EOF)
        last = c;
    if (f)
        fclose(f);
    CHECK(last == '\n', "the file ends with a newline");
    char tmp[128];
    snprintf(tmp, sizeof tmp, "ls %s | grep -q tmp", mt_test_dir);
    CHECK(system(tmp) != 0, "a temporary file is left in %s", mt_test_dir);
}

static void test_read_lines(void)
{
    const char *path = mt_test_path("rows.jsonl");
    FILE *f = fopen(path, "w");
    fputs("{\"epoch\": 1, \"loss\": 0.5}\n\n{\"epoch\": 2, \"loss\": null, \"x\": \"s\"}\n", f);
    fclose(f);
    json_t *rows = NULL;
    mt_error err = {0};
    if (CHECK(mt_json_read_lines(path, &rows, &err) == MT_OK, "read: %s", err.msg)) {
        CHECK(json_array_size(rows) == 2, "%zu rows", json_array_size(rows));
        const json_t *r1 = json_array_get(rows, 0), *r2 = json_array_get(rows, 1);
        CHECK(mt_json_get_number(r1, "epoch") == 1 && mt_json_get_number(r1, "loss") == 0.5, "row 1: %g %g",
              mt_json_get_number(r1, "epoch"), mt_json_get_number(r1, "loss"));
        CHECK(mt_json_get_number(r2, "epoch") == 2 && isnan(mt_json_get_number(r2, "loss")) &&
                  isnan(mt_json_get_number(r2, "x")) && isnan(mt_json_get_number(r2, "none")),
              "row 2: null, a string and a missing member are NaN");
        json_decref(rows);
    }
    f = fopen(path, "a");
    fputs("{\"epoch\": 3, \"lo\n", f);
    fclose(f);
    CHECK(mt_json_read_lines(path, &rows, &err) == MT_ERR_INPUT && strstr(err.msg, "rows.jsonl:4: not JSON") &&
              rows == NULL,
          "a damaged line: %d '%s'", err.code, err.msg);
    CHECK(mt_json_read_lines(mt_test_path("none.jsonl"), &rows, &err) == MT_ERR_INPUT &&
              strstr(err.msg, "none.jsonl: cannot open"),
          "a missing file: '%s'", err.msg);
}

static void test_too_deep(void)
{
    mt_json j;
    mt_json_begin(&j, '[');
    for (int i = 0; i < MT_JSON_DEPTH + 2; i++)
        mt_json_open(&j, NULL, '[');
    mt_json_integer(&j, NULL, 1);
    CHECK(mt_json_take(&j) == NULL, "a document nested deeper than MT_JSON_DEPTH fails");
    mt_json_begin(&j, '{');
    mt_json_integer(&j, NULL, 1); /* an object member without a key */
    CHECK(mt_json_take(&j) == NULL, "a value without a key in an object fails");
}

int main(void)
{
    if (mt_test_tmpdir_create("mt-json") != 0)
        return 1;
    test_numbers();
    test_layout();
    test_strings_read_back();
    test_read_lines();
    test_too_deep();
    mt_test_tmpdir_remove();
    return mt_test_finish("json_doc");
}
