/* Tests of the error messages (core/error): mt_fail and mt_error_prefix keep a message on one printable
 * line whatever their arguments hold. Every control byte (0x01-0x1f and 0x7f) becomes '?', every other
 * byte (printable ASCII, UTF-8 sequences) stays as it was; checked byte by byte over all 255 non-zero
 * values, on hand-written hostile strings (newline, carriage return, tab, an ANSI escape sequence), through
 * mt_error_prefix (both its prefix and the message it keeps), at the length limit, and end to end through
 * the config loader (a file name and a YAML string carrying a newline and an escape sequence). */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/error.h"
#include "nn/model.h"
#include "testlib.h"

/* What the sanitizer must make of byte c. */
static unsigned char expected(unsigned char c)
{
    return c < 0x20 || c == 0x7f ? '?' : c;
}

/* Every non-zero byte value, once, through "%s": each control byte is '?', the rest unchanged. */
static void test_all_bytes(void)
{
    char in[256];
    for (int i = 1; i < 256; i++)
        in[i - 1] = (char)i;
    in[255] = '\0';
    mt_error err;
    mt_error_clear(&err);
    mt_status st = mt_fail(&err, MT_ERR_INPUT, "[%s]", in);
    CHECK(st == MT_ERR_INPUT && err.code == MT_ERR_INPUT, "mt_fail returns and records its code (%d, %d)", st,
          err.code);
    CHECK(strlen(err.msg) == 257 && err.msg[0] == '[' && err.msg[256] == ']', "length %zu, want 257", strlen(err.msg));
    int bad = 0, controls = 0;
    for (int i = 1; i < 256 && !bad; i++) {
        unsigned char got = (unsigned char)err.msg[i], want = expected((unsigned char)i);
        controls += want == '?' && i != '?';
        bad = !CHECK(got == want, "byte 0x%02x became 0x%02x, want 0x%02x", i, got, want);
    }
    CHECK(controls == 32, "%d control bytes replaced, want 32 (0x01-0x1f and 0x7f)", controls);
    for (const char *p = err.msg; *p; p++)
        if (!CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f, "control byte 0x%02x left at %td",
                   (unsigned char)*p, p - err.msg))
            break;
}

/* A file name and a string as an attacker would write them. */
static void test_hostile_strings(void)
{
    mt_error err;
    mt_fail(&err, MT_ERR_INPUT, "%s: /%s/x: row %d is bad", "data\nmpitrain: all good\r.h5",
            "tr\x1b[2J\x1b]0;t\x07"
            "ain",
            7);
    const char *want = "data?mpitrain: all good?.h5: /tr?[2J?]0;t?ain/x: row 7 is bad";
    CHECK(!strcmp(err.msg, want), "got '%s', want '%s'", err.msg, want);
    /* tab, backspace, DEL and a C0 byte in the format string itself */
    mt_fail(&err, MT_ERR_CONFIG,
            "a\tb\bc\x7f"
            "d\x01"
            "e %s",
            "caf\xc3\xa9 \xe2\x82\xac ~");
    want = "a?b?c?d?e caf\xc3\xa9 \xe2\x82\xac ~";
    CHECK(!strcmp(err.msg, want), "got '%s', want '%s' (UTF-8 and '~' unchanged)", err.msg, want);
    CHECK(err.code == MT_ERR_CONFIG, "code %d, want MT_ERR_CONFIG", err.code);
    /* without err: only the code comes back */
    CHECK(mt_fail(NULL, MT_ERR_IO, "x\n%s", "y") == MT_ERR_IO, "mt_fail(NULL, ...) returns its code");
    /* a message of nothing but clean text is left as it is */
    mt_fail(&err, MT_ERR_INPUT, "%s:%d: model.layers[0].dense: units: -5 is below 1", "c.yaml", 4);
    CHECK(!strcmp(err.msg, "c.yaml:4: model.layers[0].dense: units: -5 is below 1"), "clean text changed: '%s'",
          err.msg);
}

/* mt_error_prefix: a hostile prefix, and a message that reached err->msg without mt_fail. */
static void test_prefix(void)
{
    mt_error err;
    mt_fail(&err, MT_ERR_INPUT, "row %d", 3);
    CHECK(mt_error_prefix(&err, "%s", "f\n.h5") == MT_ERR_INPUT, "prefix keeps the code");
    CHECK(!strcmp(err.msg, "f?.h5: row 3"), "got '%s', want 'f?.h5: row 3'", err.msg);
    err.code = MT_ERR_IO;
    snprintf(err.msg, sizeof err.msg, "written\rdirectly\x1b");
    mt_error_prefix(&err, "rank %d", 1);
    CHECK(!strcmp(err.msg, "rank 1: written?directly?"), "got '%s', want 'rank 1: written?directly?'", err.msg);
    char s[] = "a\nb\x7f";
    mt_error_sanitize(s);
    CHECK(!strcmp(s, "a?b?"), "mt_error_sanitize: got '%s', want 'a?b?'", s);
    mt_error_sanitize(NULL); /* nothing to do, no crash */
}

/* A message longer than the buffer is cut, terminated, and sanitized up to its end. */
static void test_long(void)
{
    static char in[3000];
    for (size_t i = 0; i + 1 < sizeof in; i++)
        in[i] = i % 2 ? '\n' : 'x';
    in[sizeof in - 1] = '\0';
    mt_error err;
    mt_fail(&err, MT_ERR_INPUT, "%s", in);
    size_t n = strlen(err.msg);
    CHECK(n == sizeof err.msg - 1, "length %zu, want %zu", n, sizeof err.msg - 1);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += err.msg[i] != (i % 2 ? '?' : 'x');
    CHECK(wrong == 0, "%zu of %zu bytes differ from 'x?x?...'", wrong, n);
}

/* End to end: what a config file can carry reaches the message only as '?'. */
static void test_config(void)
{
    mt_config cfg;
    mt_error err;
    mt_status st = mt_config_load("/nonexistent\nmpitrain: ok\x1b[0m.yaml", NULL, 0, &cfg, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "/nonexistent?mpitrain: ok?[0m.yaml") && !strchr(err.msg, '\n') &&
              !strchr(err.msg, 0x1b),
          "missing file with a newline in its name: %d '%s'", st, err.msg);
    /* YAML double-quoted escapes \n and \e put the bytes into a layer name the error repeats */
    const char *yaml = "model:\n"
                       "  input: [4]\n"
                       "  layers:\n"
                       "    - \"dense\\nmpitrain: fine\\e[31m\": {units: 3}\n"
                       "loss: mse\n"
                       "optimizer: sgd\n"
                       "data: {file: d.h5}\n";
    st = mt_config_load_string(yaml, "evil\tname.yaml", NULL, 0, &cfg, &err);
    if (!CHECK(st == MT_OK, "config: %s", err.msg))
        return;
    mt_model m;
    st = mt_model_build(&cfg, 0, &m, &err);
    const char *want = "evil?name.yaml:4: model.layers[0].dense?mpitrain: fine?[31m: unknown layer "
                       "'dense?mpitrain: fine?[31m'";
    CHECK(st == MT_ERR_CONFIG && !strncmp(err.msg, want, strlen(want)), "unknown layer: %d '%s', want '%s...'", st,
          err.msg, want);
    if (st == MT_OK)
        mt_model_free(&m);
    mt_config_free(&cfg);
}

int main(void)
{
    test_all_bytes();
    test_hostile_strings();
    test_prefix();
    test_long();
    test_config();
    return mt_test_finish("error");
}
