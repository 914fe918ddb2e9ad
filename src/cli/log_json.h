/* --log-format text|json for the commands, and the writer of the JSON events: with json, rank 0 prints one
 * JSON object per line on stdout for every progress event, each starting with "event", "time" (UTC, ISO
 * 8601 with milliseconds: "2025-01-31T12:00:00.123Z") and "elapsed" (seconds since the command started);
 * errors go to stderr as always and also to stdout as {"event": "error", "status": N, "message": "..."}. */
#ifndef MT_CLI_LOG_JSON_H
#define MT_CLI_LOG_JSON_H

#include "io/json_doc.h"

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

/* One event being written: cli_event_begin, its fields and nested values, cli_event_end. An event is a
 * document of io/json_doc.h: the field functions are its builder's (key NULL for an element of an
 * array; numbers that are not finite are null). */
typedef mt_json cli_json;
#define cli_json_string mt_json_string
#define cli_json_number mt_json_number
#define cli_json_integer mt_json_integer
#define cli_json_bool mt_json_bool
#define cli_json_open mt_json_open
#define cli_json_close mt_json_close

/* Starts {"event": event, "time": ..., "elapsed": ... (elapsed in whole milliseconds). */
void cli_event_begin(cli_json *j, const char *event);
/* Writes the event as one line on stdout and flushes it. */
void cli_event_end(cli_json *j);

#endif
