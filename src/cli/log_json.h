/* --log-format text|json for the commands, and the writer of the JSON events: with json, rank 0 prints one
 * JSON object per line on stdout for every progress event, each starting with "event", "time" (UTC, ISO
 * 8601 with milliseconds: "2025-01-31T12:00:00.123Z") and "elapsed" (seconds since the command started);
 * errors go to stderr as always and also to stdout as {"event": "error", "status": N, "message": "..."}. */
#ifndef MT_CLI_LOG_JSON_H
#define MT_CLI_LOG_JSON_H

#include <stdio.h>

/* Called first by a command: notes the start time and, when argv holds "--log-format json" (or
 * "--log-format=json") anywhere, turns JSON events on at once, so that a usage error found earlier on the
 * line than the option is reported in both forms too. */
void cli_log_init(int argc, char **argv);

/* Whether JSON events are on. */
int cli_log_is_json(void);

/* For a command's option loop: -1 when argv[*i] is not --log-format; 0 when it is (and its value was
 * taken, *i advanced past it, the format set); 2 after printing a usage error for a missing or bad value. */
int cli_log_format_option(const char *command, int argc, char **argv, int *i);

/* Writes {"event": "error", "time": ..., "elapsed": ..., "status": status, "message": message} on stdout
 * when JSON events are on (the caller decides which rank reports). */
void cli_log_error_event(int status, const char *message);

/* One event being written: cli_event_begin, fields and nested values, cli_event_end. Nesting is limited
 * to CLI_JSON_DEPTH levels. Field functions take key NULL for an element of an array. */
#define CLI_JSON_DEPTH 8
typedef struct cli_json {
    FILE *f;
    int depth;
    int count[CLI_JSON_DEPTH + 1];  /* values written so far at each level */
    char close[CLI_JSON_DEPTH + 1]; /* the bracket that ends each level */
} cli_json;

/* Starts {"event": event, "time": ..., "elapsed": ... on stdout. */
void cli_event_begin(cli_json *j, const char *event);
/* Closes the object, ends the line and flushes stdout. */
void cli_event_end(cli_json *j);

void cli_json_string(cli_json *j, const char *key, const char *value);  /* NULL value: null */
void cli_json_number(cli_json *j, const char *key, double value);       /* %.10g; null when not finite */
void cli_json_integer(cli_json *j, const char *key, long long value);
void cli_json_bool(cli_json *j, const char *key, int value);
/* Opens an object ('{') or an array ('[') as the value of key; cli_json_close ends it. */
void cli_json_open(cli_json *j, const char *key, char bracket);
void cli_json_close(cli_json *j);

/* Writes s as a JSON string literal: quotes, backslashes and control bytes escaped, a byte that does not
 * belong to a valid UTF-8 sequence written as \ufffd, so that the line stays valid JSON whatever s holds. */
void cli_json_write_string(FILE *f, const char *s);

#endif
