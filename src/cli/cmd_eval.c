/* `mpitrain eval CHECKPOINT.h5 [--data FILE.h5] [--split NAME] [--json FILE] [--quiet] [--log-format F]`:
 * loss and metrics of a checkpoint on a split and, for classifiers, the confusion matrix with per-class
 * precision, recall and F1, evaluated in shards when run under mpirun. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/log_json.h"
#include "core/error.h"
#include "train/confusion.h"
#include "train/predict.h"

#define MAX_CLASSES 1024
/* Larger confusion matrices are left to --json (a table wider than a terminal helps no one). */
#define MAX_TABLE_CLASSES 20

static void help(void)
{
    printf("usage: [mpirun -np N] mpitrain eval CHECKPOINT.h5 [--data FILE.h5] [--split NAME] [--json FILE]\n"
           "                                    [--quiet] [--log-format text|json]\n\n"
           "Loss and accuracy of the model in CHECKPOINT.h5 on a dataset split, with the preprocessing stored in\n"
           "the checkpoint. The defaults come from the config stored in the checkpoint: its data.file, and its\n"
           "test split, else its validation split. Under mpirun each rank evaluates a contiguous part.\n\n"
           "Prints 'loss X' and one line per metric ('accuracy X', 'mae X', ...). For classifiers it adds the\n"
           "confusion matrix (rows: true class, columns: predicted class; up to %d classes) and a table of\n"
           "per-class precision, recall, F1 and support with macro and support-weighted averages, using the\n"
           "class names of the dataset's classes attribute. A ratio with a zero denominator is 0; the macro\n"
           "average is over the classes that occur as true or predicted class (as scikit-learn).\n\n"
           "  --data FILE.h5   dataset file (default: data.file of the stored config)\n"
           "  --split NAME     split to evaluate (default: data.test, else data.validation, else test)\n"
           "  --json FILE      also write every value (and the whole confusion matrix) as one JSON object\n"
           "  --quiet          only the loss and metric lines (no confusion matrix or per-class table)\n"
           "  --log-format F   text (default) or json: rank 0 prints one JSON object per line on stdout\n"
           "                   instead, each with \"event\", \"time\" (UTC, ISO 8601) and \"elapsed\" (s):\n"
           "                   start (checkpoint, world_size), summary (checkpoint, data, split, rows, loss,\n"
           "                   the metrics, and for classifiers classes, confusion_matrix, macro_avg and\n"
           "                   weighted_avg), error (status, message; also on stderr). --quiet: no start\n\n"
           "Under mpirun the watchdog of the checkpoint's training.stall_timeout ends the job when a rank waits\n"
           "that long for another in a collective.\n\n"
           "Exit status: 0 success; 2 usage, checkpoint or dataset errors (one line naming the file); 1 run-time\n"
           "failures, including a stalled rank.\n",
           MAX_TABLE_CLASSES);
}

static void print_values(const char *ckpt, const char *file, const char *split, uint64_t rows, const mt_eval_values *v)
{
    printf("checkpoint %s on %s split '%s' (%llu rows)\n", ckpt, file, split, (unsigned long long)rows);
    printf("loss %.6f\n", v->loss);
    const char *names[4] = {"accuracy", "binary_accuracy", "mae", "rmse"};
    const double values[4] = {v->accuracy, v->binary_accuracy, v->mae, v->rmse};
    for (int i = 0; i < 4; i++)
        if (!isnan(values[i]))
            printf("%s %.6f\n", names[i], values[i]);
}

/* Class names: the dataset's classes attribute when it names exactly k classes, else the indices. */
typedef struct class_names {
    char (*name)[64];
    int k, named;
} class_names;

/* The name printed after class index j: none when the name is the index itself ("0" for class 0). */
static const char *shown_name(const class_names *cn, int j)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", j);
    return cn->named && strcmp(cn->name[j], idx) ? cn->name[j] : "";
}

static void print_confusion(const mt_confusion *c, const class_names *cn)
{
    int k = c->k;
    if (k > MAX_TABLE_CLASSES) {
        printf("confusion matrix: %d classes, more than the %d shown here (see --json)\n", k, MAX_TABLE_CLASSES);
        return;
    }
    int width = 6;
    for (size_t i = 0; i < (size_t)k * (size_t)k; i++) {
        int w = snprintf(NULL, 0, "%.0f", c->counts[i]) + 1;
        width = w > width ? w : width;
    }
    printf("confusion matrix (rows: true class, columns: predicted class)\n%-18s", "true \\ predicted");
    for (int p = 0; p < k; p++)
        printf("%*d", width, p);
    printf("\n");
    for (int t = 0; t < k; t++) {
        char label[32];
        snprintf(label, sizeof label, "%d %.15s", t, shown_name(cn, t));
        printf("%-18s", label);
        for (int p = 0; p < k; p++)
            printf("%*.0f", width, c->counts[(size_t)t * (size_t)k + (size_t)p]);
        printf("\n");
    }
}

static void print_class_table(const mt_class_stats *s, const class_names *cn)
{
    printf("per-class metrics\n%-24s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
    for (int j = 0; j < s->k; j++) {
        char label[40];
        snprintf(label, sizeof label, "%d %.21s", j, shown_name(cn, j));
        printf("%-24s %9.4f %9.4f %9.4f %9.0f\n", label, s->precision[j], s->recall[j], s->f1[j], s->support[j]);
    }
    printf("%-24s %9.4f %9.4f %9.4f %9.0f\n", "macro avg", s->macro_precision, s->macro_recall, s->macro_f1, s->total);
    printf("%-24s %9.4f %9.4f %9.4f %9.0f\n", "weighted avg", s->weighted_precision, s->weighted_recall, s->weighted_f1,
           s->total);
}

typedef struct options {
    const char *ckpt, *data, *split, *json;
    int quiet;
} options;

/* The evaluation as fields of the object open in j: checkpoint, data, split, rows, loss, the metrics and,
 * for classifiers, classes, confusion_matrix, per_class (with per_class), macro_avg and weighted_avg. */
static void json_values(mt_json *j, const char *ckpt, const char *file, const char *split, uint64_t rows,
                        const mt_eval_values *v, const mt_confusion *c, const mt_class_stats *s, const class_names *cn,
                        int per_class)
{
    mt_json_string(j, "checkpoint", ckpt);
    mt_json_string(j, "data", file);
    mt_json_string(j, "split", split);
    mt_json_integer(j, "rows", (long long)rows);
    mt_json_number(j, "loss", v->loss);
    const char *names[4] = {"accuracy", "binary_accuracy", "mae", "rmse"};
    const double values[4] = {v->accuracy, v->binary_accuracy, v->mae, v->rmse};
    for (int i = 0; i < 4; i++)
        if (!isnan(values[i]))
            mt_json_number(j, names[i], values[i]);
    if (!c)
        return;
    mt_json_open(j, "classes", '[');
    for (int k = 0; k < c->k; k++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        mt_json_string(j, NULL, cn->named ? cn->name[k] : idx);
    }
    mt_json_close(j);
    mt_json_open(j, "confusion_matrix", '[');
    for (int t = 0; t < c->k; t++) {
        mt_json_open(j, NULL, '[');
        for (int p = 0; p < c->k; p++)
            mt_json_number(j, NULL, c->counts[(size_t)t * (size_t)c->k + (size_t)p]);
        mt_json_close(j);
    }
    mt_json_close(j);
    if (per_class) {
        mt_json_open(j, "per_class", '[');
        for (int k = 0; k < s->k; k++) {
            mt_json_open(j, NULL, '{');
            mt_json_integer(j, "class", k);
            mt_json_number(j, "precision", s->precision[k]);
            mt_json_number(j, "recall", s->recall[k]);
            mt_json_number(j, "f1", s->f1[k]);
            mt_json_number(j, "support", s->support[k]);
            mt_json_close(j);
        }
        mt_json_close(j);
    }
    const char *avg[2] = {"macro_avg", "weighted_avg"};
    const double prf[2][3] = {{s->macro_precision, s->macro_recall, s->macro_f1},
                              {s->weighted_precision, s->weighted_recall, s->weighted_f1}};
    for (int a = 0; a < 2; a++) {
        mt_json_open(j, avg[a], '{');
        mt_json_number(j, "precision", prf[a][0]);
        mt_json_number(j, "recall", prf[a][1]);
        mt_json_number(j, "f1", prf[a][2]);
        mt_json_close(j);
    }
}

/* --json FILE: the values, per class too, and the version that computed them. */
static mt_status write_json(const char *path, const char *ckpt, const char *file, const char *split, uint64_t rows,
                            const mt_eval_values *v, const mt_confusion *c, const mt_class_stats *s,
                            const class_names *cn, mt_error *err)
{
    mt_json j;
    mt_json_begin(&j, '{');
    json_values(&j, ckpt, file, split, rows, v, c, s, cn, 1);
    mt_json_string(&j, "version", mt_version());
    json_t *doc = mt_json_take(&j);
    mt_status st = doc ? mt_json_write_file(path, doc, 0, err) : mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    json_decref(doc);
    return st;
}

/* --log-format json: the summary event. */
static void json_summary(const char *ckpt, const char *file, const char *split, uint64_t rows, const mt_eval_values *v,
                         const mt_confusion *c, const mt_class_stats *s, const class_names *cn)
{
    cli_json j;
    cli_event_begin(&j, "summary");
    json_values(&j, ckpt, file, split, rows, v, c, s, cn, 0);
    cli_event_end(&j);
}

/* Rank 0: the tables and the JSON file. */
static mt_status report(const options *o, const char *file, const char *name, const mt_session *s,
                        const mt_eval_values *v, const mt_confusion *c, mt_error *err)
{
    static char names[MAX_CLASSES][64];
    class_names cn = {names, c ? c->k : 0, 0};
    mt_class_stats stats = {0};
    mt_status st = c ? mt_class_stats_compute(c, &stats, err) : MT_OK;
    if (st)
        return st;
    if (c) {
        mt_error ignored = {0};
        cn.named = mt_dataset_class_names(file, names, MAX_CLASSES, &ignored) == c->k;
    }
    if (cli_log_is_json()) {
        json_summary(o->ckpt, file, name, s->test.n, v, c, &stats, &cn);
    } else {
        print_values(o->ckpt, file, name, s->test.n, v);
        if (c && !o->quiet) {
            print_confusion(c, &cn);
            print_class_table(&stats, &cn);
        }
    }
    if (o->json)
        st = write_json(o->json, o->ckpt, file, name, s->test.n, v, c, &stats, &cn, err);
    mt_class_stats_free(&stats);
    return st;
}

/* Loads the checkpoint's config, parameters and preprocessing, opens the split and evaluates it. */
static mt_status run(const options *o, mt_comm *comm, mt_error *err)
{
    mt_predictor pr;
    mt_status st = mt_predictor_open(&pr, o->ckpt, comm, err);
    if (st)
        return st;
    const mt_config *cfg = &pr.cfg;
    const char *file = o->data ? o->data : cfg->data.file;
    const char *name = o->split                  ? o->split
                       : cfg->data.test[0]       ? cfg->data.test
                       : cfg->data.validation[0] ? cfg->data.validation
                                                 : "test";
    mt_comm_set_stall_timeout(comm, cfg->training.stall_timeout);
    mt_comm_set_phase(comm, "evaluating %s split '%s'", file, name);
    mt_confusion conf = {0}, *c = NULL;
    mt_eval_values v;
    st = mt_session_add_split(&pr.s, file, name, comm, err);
    if (!st)
        st = mt_session_evaluate(&pr.s, &pr.s.test, comm, &v, err);
    int k = st ? 0 : mt_predict_class_count(&pr.s);
    if (k > 0 && !(st = mt_confusion_init(&conf, k, err)))
        c = &conf;
    if (mt_comm_agree(comm, err))
        goto done;
    if (c && (st = mt_predict_split(&pr.s, comm, 0, NULL, c, err)))
        goto done;
    if (mt_comm_rank(comm) == 0)
        st = report(o, file, name, &pr.s, &v, c, err);
    mt_comm_agree(comm, err);
done:
    st = err->code;
    mt_confusion_free(&conf);
    mt_predictor_close(&pr);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    options o = {0};
    cli_log_init(argc, argv);
    for (int i = 1; i < argc; i++) {
        int lf = cli_log_format_option("eval", argc, argv, &i);
        if (lf > 0)
            return lf;
        if (lf == 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            o.data = argv[++i];
        } else if (!strcmp(argv[i], "--split") && i + 1 < argc) {
            o.split = argv[++i];
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            o.json = argv[++i];
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            o.quiet = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("eval", "unknown option or missing value '%s'", argv[i]);
        } else if (!o.ckpt) {
            o.ckpt = argv[i];
        } else {
            return cli_usage_error("eval", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!o.ckpt)
        return cli_usage_error("eval", "missing CHECKPOINT.h5");
    cli_context ctx;
    int rc = cli_start(&ctx, &argc, &argv);
    if (rc)
        return rc;
    if (ctx.rank == 0 && cli_log_is_json() && !o.quiet) {
        cli_json j;
        cli_event_begin(&j, "start");
        cli_json_string(&j, "version", mt_version());
        cli_json_string(&j, "command", "eval");
        cli_json_string(&j, "checkpoint", o.ckpt);
        cli_json_integer(&j, "world_size", mt_comm_size(ctx.comm));
        cli_event_end(&j);
    }
    mt_error err = {0};
    mt_status st = run(&o, ctx.comm, &err);
    return cli_finish(&ctx, st, &err);
}
