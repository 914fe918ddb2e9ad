/* `mpitrain predict CHECKPOINT.h5 INPUT.h5 -o OUT.h5|OUT.csv [--split NAME] [--batch N] [--quiet]
 * [--log-format text|json]`: the outputs of a checkpoint's model (class probabilities and decided classes for classifiers) for the rows of a dataset
 * split, computed in shards under mpirun and written by rank 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/log_json.h"
#include "core/error.h"
#include "io/predictions.h"
#include "train/predict.h"

#define MAX_SPLITS 64
#define MAX_CLASSES 1024

static void help(void)
{
    printf("usage: [mpirun -np N] mpitrain predict CHECKPOINT.h5 INPUT.h5 -o OUT.h5|OUT.csv [--split NAME]\n"
           "                                       [--batch N] [--quiet] [--log-format text|json]\n\n"
           "Runs the model of CHECKPOINT.h5 (with the preprocessing stored in it, as eval does) on every row of\n"
           "a split of the dataset file INPUT.h5 and writes what it outputs. Under mpirun each rank predicts\n"
           "its own contiguous part of the rows; rank 0 writes the file.\n\n"
           "  -o, --output FILE  OUT.h5 / OUT.hdf5: HDF5 with\n"
           "                       /probabilities float32 [N, k]  classifiers with a softmax output (k classes)\n"
           "                                                      or a sigmoid output (k = 1: p(class 1))\n"
           "                       /scores float32 [N, k]         other classifiers (hinge margins, logits)\n"
           "                       /outputs float32 [N, k]        regression and multi-label models\n"
           "                       /predicted int32 [N]           classifiers: arg-max class (k = 1: p > threshold)\n"
           "                       /row int64 [N]                 row of the input split (all rows, in order,\n"
           "                                                      unless data.missing: drop left some out)\n"
           "                       /y                             the split's labels, copied\n"
           "                     and attributes checkpoint, input, split, outputs, classes (when INPUT names them)\n"
           "                     OUT.csv: a header line, then row, y, predicted, p0..p<k-1> (or score0.., out0..)\n"
           "  --split NAME       split of INPUT.h5 (default: test, else the only split in the file)\n"
           "  --batch N          rows per forward pass and rank (default 256)\n"
           "  --quiet            print nothing but errors (the file is the result)\n"
           "  --log-format F     text (default) or json: rank 0 prints one JSON object per line on stdout\n"
           "                     instead of the summary line, each with \"event\", \"time\" (UTC, ISO 8601)\n"
           "                     and \"elapsed\" (s): start (checkpoint, input, world_size), summary (output,\n"
           "                     input, split, rows, per_row, values, and for classifiers with labels\n"
           "                     correct and accuracy), error (status, message; also on stderr).\n"
           "                     --quiet with json: summary and error only\n\n"
           "INPUT.h5 uses the dataset layout (/<split>/x and /<split>/y; see 'mpitrain import'); its samples must\n"
           "have the shape of the model's input.\n\n"
           "Under mpirun the watchdog of the checkpoint's training.stall_timeout ends the job when a rank waits\n"
           "that long for another in a collective.\n\n"
           "Exit status: 0 written; 2 usage, checkpoint or input errors (one line naming the file); 1 run-time\n"
           "failures (writing the output, a stalled rank).\n");
}

/* Output format from the extension: 1 HDF5, 2 CSV, 0 unknown. */
static int output_format(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return 0;
    if (!strcmp(dot, ".h5") || !strcmp(dot, ".hdf5") || !strcmp(dot, ".H5"))
        return 1;
    if (!strcmp(dot, ".csv") || !strcmp(dot, ".CSV"))
        return 2;
    return 0;
}

/* The split to read: the one asked for, else "test", else the only one. */
static mt_status choose_split(const char *input, const char *asked, char *out, size_t size, mt_error *err)
{
    if (asked) {
        snprintf(out, size, "%s", asked);
        return MT_OK;
    }
    char names[MAX_SPLITS][64];
    int n = mt_dataset_list_splits(input, names, MAX_SPLITS, err);
    if (n < 0)
        return err->code;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], "test")) {
            snprintf(out, size, "test");
            return MT_OK;
        }
    if (n == 1) {
        snprintf(out, size, "%s", names[0]);
        return MT_OK;
    }
    if (n == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no split (a group holding x) in the file", input);
    char list[512] = "";
    for (int i = 0; i < n; i++) { /* as many names as fit */
        size_t used = strlen(list), add = strlen(names[i]) + (i ? 2 : 0);
        if (used + add >= sizeof list)
            break;
        strcat(strcat(list, i ? ", " : ""), names[i]);
    }
    return mt_fail(err, MT_ERR_INPUT, "%s: no split 'test' and several others (%s); choose one with --split", input,
                   list);
}

typedef struct options {
    const char *ckpt, *input, *output, *split;
    int batch, format, quiet;
} options;

/* Rank 0: writes the file and prints one summary line. */
static mt_status write_output(const options *o, const char *split, mt_session *s, const mt_predictions *p,
                              mt_error *err)
{
    static char names[MAX_CLASSES][64];
    const char *classes[MAX_CLASSES];
    mt_error ignored = {0};
    int n_names = mt_dataset_class_names(o->input, names, MAX_CLASSES, &ignored);
    for (int i = 0; i < n_names; i++)
        classes[i] = names[i];
    mt_output_kind kind = mt_predict_output_kind(s);
    mt_prediction_file f = {.n = p->n,
                            .k = p->k,
                            .values = p->out,
                            .predicted = p->predicted,
                            .rows = p->rows,
                            .y_class = p->y_class,
                            .y_target = p->y_target,
                            .target_k = p->target_k,
                            .classes = n_names > 0 ? classes : NULL,
                            .n_classes = n_names > 0 ? n_names : 0,
                            .checkpoint = o->ckpt,
                            .input = o->input,
                            .split = split,
                            .values_name = kind == MT_OUTPUT_PROBABILITIES ? "probabilities"
                                           : kind == MT_OUTPUT_SCORES      ? "scores"
                                                                           : "outputs"};
    mt_status st = o->format == 1 ? mt_predictions_write_h5(o->output, &f, err)
                                  : mt_predictions_write_csv(o->output, &f, err);
    if (st)
        return st;
    const int json = cli_log_is_json();
    if (o->quiet && !json)
        return MT_OK;
    uint64_t right = 0;
    int scored = 0;
    if (p->predicted && p->y_class) {
        int32_t *truth = malloc((p->n ? p->n : 1) * sizeof *truth);
        if (truth) {
            mt_predict_true_class(&s->loss, p->y_class, NULL, (int)p->n, truth);
            for (uint64_t i = 0; i < p->n; i++)
                right += truth[i] == p->predicted[i];
            scored = 1;
        }
        free(truth);
    }
    if (json) {
        cli_json j;
        cli_event_begin(&j, "summary");
        cli_json_string(&j, "output", o->output);
        cli_json_string(&j, "input", o->input);
        cli_json_string(&j, "split", split);
        cli_json_integer(&j, "rows", (long long)p->n);
        cli_json_integer(&j, "per_row", p->k);
        cli_json_string(&j, "values", f.values_name);
        if (scored) {
            cli_json_integer(&j, "correct", (long long)right);
            cli_json_number(&j, "accuracy", p->n ? (double)right / (double)p->n : NAN);
        }
        cli_event_end(&j);
        return MT_OK;
    }
    printf("wrote %s: %llu rows of %s split '%s', %d %s per row", o->output, (unsigned long long)p->n, o->input, split,
           p->k, f.values_name);
    if (scored)
        printf(", predicted class agrees with y on %llu (accuracy %.6f)", (unsigned long long)right,
               p->n ? (double)right / (double)p->n : NAN);
    printf("\n");
    return MT_OK;
}

static mt_status run(const options *o, mt_comm *comm, mt_error *err)
{
    mt_predictor pr;
    mt_status st = mt_predictor_open(&pr, o->ckpt, comm, err);
    if (st)
        return st;
    char split[256] = "";
    st = choose_split(o->input, o->split, split, sizeof split, err);
    mt_comm_set_stall_timeout(comm, pr.cfg.training.stall_timeout);
    mt_comm_set_phase(comm, "predicting %s split '%s'", o->input, split);
    if (mt_comm_agree(comm, err))
        goto done;
    if ((st = mt_session_add_split(&pr.s, o->input, split, comm, err)))
        goto done;
    mt_predictions p;
    if ((st = mt_predict_split(&pr.s, comm, o->batch, &p, NULL, err)))
        goto done;
    if (mt_comm_rank(comm) == 0)
        st = write_output(o, split, &pr.s, &p, err);
    mt_predictions_free(&p);
    mt_comm_agree(comm, err);
done:
    st = err->code;
    mt_predictor_close(&pr);
    return st;
}

int cmd_predict(int argc, char **argv)
{
    options o = {.batch = 256};
    cli_log_init(argc, argv);
    for (int i = 1; i < argc; i++) {
        int lf = cli_log_format_option("predict", argc, argv, &i);
        if (lf > 0)
            return lf;
        if (lf == 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            o.output = argv[++i];
        } else if (!strcmp(a, "--split") && i + 1 < argc) {
            o.split = argv[++i];
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            char *end;
            long b = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || b < 1 || b > 1 << 20)
                return cli_usage_error("predict", "--batch: expected an integer in 1..1048576, got '%s'", argv[i]);
            o.batch = (int)b;
        } else if (a[0] == '-') {
            return cli_usage_error("predict", "unknown option or missing value '%s'", a);
        } else if (!o.ckpt) {
            o.ckpt = a;
        } else if (!o.input) {
            o.input = a;
        } else {
            return cli_usage_error("predict", "unexpected argument '%s'", a);
        }
    }
    if (!o.ckpt || !o.input)
        return cli_usage_error("predict", "expected CHECKPOINT.h5 and INPUT.h5");
    if (!o.output)
        return cli_usage_error("predict", "missing -o OUT.h5 or -o OUT.csv");
    if (!(o.format = output_format(o.output)))
        return cli_usage_error("predict", "-o %s: the name must end in .h5, .hdf5 or .csv", o.output);
    cli_context ctx;
    int rc = cli_start(&ctx, &argc, &argv);
    if (rc)
        return rc;
    if (ctx.rank == 0 && cli_log_is_json() && !o.quiet) {
        cli_json j;
        cli_event_begin(&j, "start");
        cli_json_string(&j, "version", mt_version());
        cli_json_string(&j, "command", "predict");
        cli_json_string(&j, "checkpoint", o.ckpt);
        cli_json_string(&j, "input", o.input);
        cli_json_integer(&j, "world_size", mt_comm_size(ctx.comm));
        cli_event_end(&j);
    }
    mt_error err = {0};
    mt_status st = run(&o, ctx.comm, &err);
    return cli_finish(&ctx, st, &err);
}
