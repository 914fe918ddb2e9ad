/* --log-format json: the option, the process-wide format, and the events, one JSON object per line
 * (io/json_doc.h). */
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

void cli_event_begin(cli_json *j, const char *event)
{
    struct timespec now;
    struct tm utc;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", now.tv_nsec / 1000000);
    mt_json_begin(j, '{');
    mt_json_string(j, "event", event);
    mt_json_string(j, "time", stamp);
    mt_json_number(j, "elapsed", round(since_start() * 1000) / 1000);
}

void cli_event_end(cli_json *j)
{
    json_t *event = mt_json_take(j);
    if (event)
        mt_json_write(stdout, event, 0);
    fflush(stdout);
    json_decref(event);
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
