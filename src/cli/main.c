/* mpitrain: command dispatch, --help and --version, SIGPIPE ignored. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train,
     "train CONFIG.yaml [--set key=value]... [--resume [CKPT]]   train (data-parallel under mpirun)"},
    {"eval", cmd_eval, "eval CHECKPOINT.h5 [--data FILE.h5] [--split NAME]         loss, accuracy, confusion matrix"},
    {"predict", cmd_predict,
     "predict CHECKPOINT.h5 INPUT.h5 -o OUT.h5|OUT.csv           class probabilities / outputs"},
    {"import", cmd_import,
     "import idx --train-images F --train-labels F [--test-images F --test-labels F] -o OUT.h5\n"
     "  import csv FILE.csv --label COLUMN -o OUT.h5                turns numeric CSV into a dataset"},
    {"inspect", cmd_inspect,
     "inspect FILE.h5                                          what a dataset or checkpoint holds"},
    {"plot", cmd_plot,
     "plot RUN_DIR [-o DIR]                                      learning curves, decision regions, image grids"},
    {"reference", cmd_reference,
     "reference [-o FILE.md]                                     every config key, layer, name and exit status"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mpitrain COMMAND [ARGS]\n       mpirun -np N mpitrain train CONFIG.yaml\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].summary);
    fprintf(f, "\n'mpitrain COMMAND --help' describes a command. Exit status: 0 success, 2 usage/config/input "
               "error, 1 run-time failure.\n");
}

int main(int argc, char **argv)
{
    /* A write to the socket of a rank that died must fail with an error the program reports (and the
     * watchdog name the rank), not end this rank silently; output to a closed pipe then fails quietly. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mpitrain %s\n", mt_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    cli_error_line(
        "unknown command '%s'; valid: train, eval, predict, import, inspect, plot, reference (see mpitrain --help)",
        argv[1]);
    return 2;
}
