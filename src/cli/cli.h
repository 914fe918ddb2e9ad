/* Shared pieces of the command-line layer: the one place that prints errors and chooses exit codes. */
#ifndef MT_CLI_CLI_H
#define MT_CLI_CLI_H

#include <mpitrain/mpitrain.h>

#include "comm/comm.h"

/* Prints "mpitrain: MESSAGE" once per job (rank 0) on stderr. */
void cli_error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "mpitrain: <message>" on stderr (rank 0 only when MPI is running) and returns the exit code. */
int cli_report(const mt_error *err);
/* Prints err on this rank (whichever it is) and ends every rank of the job: for errors after which the
 * ranks cannot agree (mt_status_breaks_comm). Does not return. */
void cli_abort(const mt_error *err) __attribute__((noreturn));

/* Prints a usage error for a command (rank 0 only) and returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a command that runs under mpirun works with: the world communicator and this process's rank. */
typedef struct cli_context {
    mt_comm *comm;
    int rank;
} cli_context;

/* The start of every command that runs under mpirun, after its arguments are parsed: MPI initialized,
 * one BLAS thread per rank unless the user set OPENBLAS_NUM_THREADS, denormals flushed to zero, the world
 * communicator made, MPITRAIN_FAULT read (src/core/fault.h). 0; or the exit status after reporting why
 * the command cannot run (MPI then finalized). */
int cli_start(cli_context *ctx, int *argc, char ***argv);

/* The end of every command that cli_start started, given the status of its run and its error: a status
 * after which this rank cannot take part in collectives (mt_status_breaks_comm: a stall, a failed MPI
 * call) ends the whole job through cli_abort; otherwise a failure is reported, the communicator destroyed
 * and MPI finalized. Returns the exit status. */
int cli_finish(cli_context *ctx, mt_status st, const mt_error *err);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_reference(int argc, char **argv);

#endif
