/* --log-format json: the option, the process-wide format, and a small streaming writer of one JSON
 * object per line (escaped strings, finite numbers or null, nested objects and arrays). */
#include "cli/log_json.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static int json_on;
static struct timespec started;

static double since_start(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started.tv_sec) + 1e-9 * (double)(now.tv_nsec - started.tv_nsec);
}

void cli_log_init(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &started);
    for (int i = 1; i < argc; i++)
        if ((!strcmp(argv[i], "--log-format") && i + 1 < argc && !strcmp(argv[i + 1], "json")) ||
            !strcmp(argv[i], "--log-format=json"))
            json_on = 1;
}

int cli_log_is_json(void)
{
    return json_on;
}

int cli_log_format_option(const char *command, int argc, char **argv, int *i)
{
    const char *s = argv[*i], *value;
    if (!strncmp(s, "--log-format=", 13)) {
        value = s + 13;
    } else if (!strcmp(s, "--log-format")) {
        if (*i + 1 >= argc)
            return cli_usage_error(command, "--log-format needs a value: text or json");
        value = argv[++*i];
    } else {
        return -1;
    }
    if (!strcmp(value, "json")) {
        json_on = 1;
    } else if (!strcmp(value, "text")) {
        json_on = 0;
    } else {
        json_on = 0; /* the error about the option is not written in the format it failed to name */
        return cli_usage_error(command, "--log-format must be text or json, got '%s'", value);
    }
    return 0;
}

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

void cli_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_length(p);
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else if (n == 0)
            fputs("\\ufffd", f);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

/* The comma before a value and its key. */
static void key(cli_json *j, const char *k)
{
    if (j->count[j->depth]++)
        fputs(", ", j->f);
    if (k) {
        cli_json_write_string(j->f, k);
        fputs(": ", j->f);
    }
}

void cli_json_string(cli_json *j, const char *k, const char *value)
{
    key(j, k);
    if (value)
        cli_json_write_string(j->f, value);
    else
        fputs("null", j->f);
}

void cli_json_number(cli_json *j, const char *k, double value)
{
    key(j, k);
    if (isfinite(value))
        fprintf(j->f, "%.10g", value);
    else
        fputs("null", j->f);
}

void cli_json_integer(cli_json *j, const char *k, long long value)
{
    key(j, k);
    fprintf(j->f, "%lld", value);
}

void cli_json_bool(cli_json *j, const char *k, int value)
{
    key(j, k);
    fputs(value ? "true" : "false", j->f);
}

void cli_json_open(cli_json *j, const char *k, char bracket)
{
    if (j->depth >= CLI_JSON_DEPTH)
        return;
    key(j, k);
    fputc(bracket, j->f);
    j->depth++;
    j->count[j->depth] = 0;
    j->close[j->depth] = bracket == '[' ? ']' : '}';
}

void cli_json_close(cli_json *j)
{
    if (j->depth <= 0)
        return;
    fputc(j->close[j->depth], j->f);
    j->depth--;
}

void cli_event_begin(cli_json *j, const char *event)
{
    struct timespec now;
    struct tm utc;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", now.tv_nsec / 1000000);
    memset(j, 0, sizeof *j);
    j->f = stdout;
    fputc('{', j->f);
    cli_json_string(j, "event", event);
    cli_json_string(j, "time", stamp);
    key(j, "elapsed");
    fprintf(j->f, "%.3f", since_start());
}

void cli_event_end(cli_json *j)
{
    while (j->depth > 0)
        cli_json_close(j);
    fputs("}\n", j->f);
    fflush(j->f);
}

void cli_log_error_event(int status, const char *message)
{
    if (!json_on)
        return;
    cli_json j;
    cli_event_begin(&j, "error");
    cli_json_integer(&j, "status", status);
    cli_json_string(&j, "message", message);
    cli_event_end(&j);
}
