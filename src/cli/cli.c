/* Command-line helpers: error printing (rank 0 only; with --log-format json also as an error event on
 * stdout), usage errors, and the start and end of the commands that run under mpirun. */
#include "cli/cli.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "core/blas.h"
#include "core/fault.h"
#include "cli/log_json.h"
#include "comm/comm.h"

/* The world rank cli_start found, kept for the messages printed after MPI is finalized; -1 before. */
static int started_rank = -1;

/* This process's rank: from cli_start once it ran, before that from the launcher's environment, so that
 * a usage error under mpirun is printed once, not once per rank. */
static int my_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    if (started_rank >= 0)
        return started_rank;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return atoi(v);
    }
    return 0;
}

int cli_report(const mt_error *err)
{
    const char *msg = err->msg[0] ? err->msg : mt_status_name(err->code);
    if (my_rank() == 0) {
        fprintf(stderr, "mpitrain: %s\n", msg);
        fflush(stderr);
        cli_log_error_event(mt_status_exit_code(err->code), msg);
    }
    return mt_status_exit_code(err->code);
}

/* Seconds MPI_Abort gets to end the job before this rank leaves by itself: when the launcher cannot be
 * reached (a link cut between this node and mpirun's), the abort may never come back. */
#define ABORT_DEADLINE 5

static int abort_status = 1;

static void leave_now(int sig)
{
    (void)sig;
    _exit(abort_status);
}

/* Whether process pid is Open MPI's daemon (orted), from /proc/PID/comm. */
static int is_orted(pid_t pid)
{
    char path[64], comm[16] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    return n == 6 && memcmp(comm, "orted\n", 6) == 0;
}

/* Before an abort under Open MPI's daemon: a detached child that ends the daemon if it is still there
 * 2 x ABORT_DEADLINE s later. On a node cut off from mpirun the daemon kills this node's ranks, then
 * waits for minutes on its unanswered connection to mpirun (TCP retransmissions); anywhere else mpirun
 * has ended it long before. The child leaves the job's process group and closes the job's pipes. */
static void watch_daemon(void)
{
    const pid_t daemon = getppid();
    if (!is_orted(daemon) || fork() != 0)
        return;
    setsid();
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    sleep(2 * ABORT_DEADLINE);
    if (is_orted(daemon))
        kill(daemon, SIGKILL);
    _exit(0);
}

void cli_abort(const mt_error *err)
{
    const char *msg = err->msg[0] ? err->msg : mt_status_name(err->code);
    fprintf(stderr, "mpitrain: %s\n", msg);
    fflush(stderr);
    cli_log_error_event(mt_status_exit_code(err->code), msg); /* from this rank, whichever it is */
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) {
        abort_status = mt_status_exit_code(err->code);
        watch_daemon();
        signal(SIGALRM, leave_now);
        alarm(ABORT_DEADLINE);
        MPI_Abort(MPI_COMM_WORLD, abort_status); /* ends every rank of the job */
    }
    exit(mt_status_exit_code(err->code)); /* without MPI: this process is the job */
}

void cli_error_line(const char *fmt, ...)
{
    if (my_rank() != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("mpitrain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    if (my_rank() == 0) {
        char msg[4096], line[4096 + 200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(line, sizeof line, "%s: %s (see 'mpitrain %s --help')", command, msg, command);
        fprintf(stderr, "mpitrain %s\n", line);
        cli_log_error_event(2, line);
    }
    return 2;
}

int cli_start(cli_context *ctx, int *argc, char ***argv)
{
    ctx->comm = NULL;
    ctx->rank = 0;
    if (mt_comm_init(argc, argv) != 0) {
        fprintf(stderr, "mpitrain: MPI initialization failed\n");
        return 1;
    }
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        mt_blas_set_threads(1);
    mt_flush_denormals();
    started_rank = ctx->rank = mt_comm_world_rank();
    mt_error err = {0};
    mt_status st = mt_comm_create_world(&ctx->comm, &err);
    if (!st && mt_fault_setup(ctx->rank, err.msg, sizeof err.msg) != 0)
        st = err.code = MT_ERR_USAGE;
    return st ? cli_finish(ctx, st, &err) : 0;
}

int cli_finish(cli_context *ctx, mt_status st, const mt_error *err)
{
    if (mt_status_breaks_comm(st)) /* other ranks may wait for ever: this rank reports and ends the job */
        cli_abort(err);
    int rc = st ? cli_report(err) : 0;
    mt_comm_destroy(ctx->comm);
    ctx->comm = NULL;
    mt_comm_finalize();
    return rc;
}
