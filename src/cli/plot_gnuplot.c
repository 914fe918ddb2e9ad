/* mpitrain plot: the gnuplot program: finding it, asking it for its terminals, and running the scripts
 * of a job in their directory, each in a child process with its output in a log (see plot.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/plot.h"

/* Finds prog in PATH (or as given when it holds a '/'); 1 when found. */
int find_program(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", prog);
        if (access(buf, X_OK) == 0)
            return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* Runs `gnuplot ARG...` in directory dir with stdout and stderr to log (relative to dir); returns the
 * exit status (-1 when it could not run). */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *log, const char *a1, const char *a2)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dir && chdir(dir) != 0)
            _exit(127);
        FILE *f = freopen(log, "w", stdout);
        if (!f || dup2(fileno(stdout), 2) < 0)
            _exit(127);
        execlp(gnuplot, gnuplot, a1, a2, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Asks gnuplot which terminals it has. */
void probe_terminals(plot_job *job)
{
    char log[] = "/tmp/mpitrain-gnuplot-terminals.XXXXXX";
    int fd = mkstemp(log);
    job->png_term = "png";
    job->svg = 1;
    if (fd < 0)
        return;
    close(fd);
    run_gnuplot(job->gnuplot, NULL, log, "-e", "set terminal");
    FILE *f = fopen(log, "r");
    char line[512];
    int svg = 0, pngcairo = 0;
    while (f && fgets(line, sizeof line, f)) {
        char name[64];
        if (sscanf(line, " %63s", name) == 1) {
            pngcairo |= !strcmp(name, "pngcairo");
            svg |= !strcmp(name, "svg");
        }
    }
    if (f)
        fclose(f);
    remove(log);
    job->png_term = pngcairo ? "pngcairo" : "png";
    job->svg = svg;
}

/* Runs every script; MT_ERR_IO with gnuplot's first message when one fails or an output is missing. */
mt_status draw(plot_job *job, mt_error *err)
{
    for (int i = 0; i < job->n_scripts; i++) {
        char script[128], log[128];
        snprintf(script, sizeof script, "gnuplot/%s.gp", job->scripts[i]);
        snprintf(log, sizeof log, "gnuplot/%s.log", job->scripts[i]);
        int rc = run_gnuplot(job->gnuplot, job->dir, log, script, NULL);
        if (rc != 0) {
            char path[4400], line[300] = "";
            snprintf(path, sizeof path, "%s/%s", job->dir, log);
            FILE *f = fopen(path, "r");
            while (f && fgets(line, sizeof line, f))
                if (strstr(line, "rror") || strstr(line, "line "))
                    break;
            if (f)
                fclose(f);
            line[strcspn(line, "\n")] = '\0';
            return mt_fail(err, MT_ERR_IO, "%s/gnuplot/%s.gp: gnuplot failed (%s%d)%s%s", job->dir, job->scripts[i],
                           rc < 0 ? "could not run, " : "exit status ", rc, line[0] ? ": " : "", line);
        }
    }
    for (int i = 0; i < job->n_outputs; i++) {
        char path[4300];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", job->dir, job->outputs[i]);
        if (stat(path, &sb) != 0 || sb.st_size == 0)
            return mt_fail(err, MT_ERR_IO, "%s: gnuplot wrote nothing (see %s/gnuplot/*.log)", path, job->dir);
    }
    return MT_OK;
}
