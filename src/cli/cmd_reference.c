/* `mpitrain reference [-o FILE.md]`: the reference of every config key, layer, activation, loss, metric,
 * optimizer, schedule, initializer and exit status, as Markdown on stdout or into FILE (no MPI). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/reference.h"
#include "core/error.h"

static void help(void)
{
    printf("usage: mpitrain reference [-o FILE.md]\n\n"
           "Writes the reference of every config key, layer, activation, loss, metric, optimizer, learning-rate\n"
           "schedule and initializer (options, types, defaults, ranges, choices and aliases) and of every exit\n"
           "status with an example message, as Markdown. It is generated from the tables the program checks\n"
           "configs with; docs/reference.md is its output, regenerated with\n"
           "'mpitrain reference -o docs/reference.md'. Needs no MPI launcher.\n\n"
           "  -o, --output FILE  write to FILE (replaced) instead of standard output\n\n"
           "Exit status: 0 written; 2 usage errors; 1 run-time failures (FILE cannot be written, a table entry\n"
           "without its doc line).\n");
}

/* Writes the reference into path (NULL: stdout). It is composed in memory first, so that a table entry without
 * its doc line leaves no file behind. */
static mt_status write_reference(const char *path, mt_error *err)
{
    char *text = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&text, &size);
    if (!m)
        return mt_fail(err, MT_ERR_NOMEM, "reference: out of memory");
    mt_status st = mt_reference_write(m, err);
    if (fclose(m) != 0 && !st)
        st = mt_fail(err, MT_ERR_NOMEM, "reference: out of memory");
    if (st) {
        free(text);
        return st;
    }
    const char *name = path ? path : "standard output";
    FILE *f = path ? fopen(path, "w") : stdout;
    int e = f ? 0 : errno;
    errno = 0;
    if (f && fwrite(text, 1, size, f) != size)
        e = errno ? errno : EIO;
    if (f && (path ? fclose(f) : fflush(f)) != 0 && !e)
        e = errno ? errno : EIO;
    free(text);
    return e ? mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", name, strerror(e)) : MT_OK;
}

int cmd_reference(int argc, char **argv)
{
    const char *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return cli_usage_error("reference", "%s needs FILE.md", a);
            output = argv[++i];
        } else if (a[0] == '-') {
            return cli_usage_error("reference", "unknown option '%s'", a);
        } else {
            return cli_usage_error("reference", "unexpected argument '%s'", a);
        }
    }
    mt_error err = {0};
    mt_status st = write_reference(output, &err);
    return st ? cli_report(&err) : 0;
}
