/* `mpitrain train CONFIG [--set key=value]... [--resume [CKPT]] [--quiet] [--log-format text|json]`: the
 * training command, with an in-place progress bar on a terminal and one plain line per epoch otherwise, or
 * one JSON event per line with --log-format json (rank 0 prints). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/log_json.h"
#include "config/config.h"
#include "core/error.h"
#include "train/gan_score.h"
#include "train/run_dir.h"
#include "train/trainer.h"

typedef struct train_args {
    const char *config;
    const char **overrides;
    size_t n_overrides;
    int resume;
    const char *resume_path;
    int quiet;
    int folds;            /* --folds K: k-fold cross-validation */
    const char *timeline; /* --timeline FILE.json */
} train_args;

/* Which file a name stood for when last looked at. */
typedef struct file_seen {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_seen;

typedef struct printer {
    int tty, quiet, json;
    double last_draw;
    int drawn;
    const char *output;   /* run directory (JSON checkpoint events) */
    file_seen latest;     /* OUTPUT/checkpoint.h5 when last looked at */
    int epoch;            /* the last epoch event's epoch */
    file_seen epoch_file; /* its checkpoint file at that event */
    int look;             /* an epoch ended since the last look: its checkpoint may follow */
} printer;

/* Whether progress may be drawn in place. Open MPI gives every rank a pseudo-terminal even when mpirun's
 * output goes to a file, so under mpirun the answer is taken from the launcher's own stdout. */
static int stdout_is_terminal(void)
{
    if (!isatty(STDOUT_FILENO))
        return 0;
    if (!getenv("OMPI_COMM_WORLD_SIZE"))
        return 1;
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/%ld/fd/1", (long)getppid());
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return !strncmp(target, "/dev/pts/", 9) || !strncmp(target, "/dev/tty", 8);
}

static void help(void)
{
    printf(
        "usage: mpirun -np N mpitrain train CONFIG.yaml [--set key=value]... [--resume [CHECKPOINT.h5]] [--quiet]\n"
        "                                   [--log-format text|json] [--folds K] [--timeline F.json]\n\n"
        "Trains the model of CONFIG.yaml data-parallel: every rank takes its share of each global batch.\n"
        "  --set key=value   override a config key, e.g. --set training.epochs=3 --set model.layers.0.dense.units=64\n"
        "  --resume [CKPT]   continue from CKPT, or from the newest good checkpoint in the output directory\n"
        "                    (starts from scratch, saying so, when there is none)\n"
        "  --quiet           print only errors and the final summary\n"
        "  --log-format F    text (default): one line per epoch, then the summary table; json: rank 0\n"
        "                    prints one JSON object per line on stdout, no progress bar; each has\n"
        "                    \"event\", \"time\" (UTC, ISO 8601, e.g. \"2025-01-31T12:00:00.123Z\") and\n"
        "                    \"elapsed\" (seconds since the start). Events: start (config, world_size,\n"
        "                    parameters), info and warning (message), epoch (every metrics.jsonl field),\n"
        "                    checkpoint (path, epoch, interrupted), fold, summary (final metrics, test,\n"
        "                    scaling with per-rank times, output), cross_validation, error (status =\n"
        "                    exit status, message; also on stderr as usual). With --quiet: summary,\n"
        "                    cross_validation and error only (see docs/cluster.md)\n"
        "  --timeline F.json write every rank's reads, per-layer forward/backward, each gradient bucket's\n"
        "                    sum (start to completion), the wait for them, optimizer steps, evaluations\n"
        "                    and checkpoint writes as a Chrome trace (Perfetto, chrome://tracing)\n"
        "  --folds K         k-fold cross-validation: K trainings, fold i validating (output OUTPUT/foldI);\n"
        "                    prints the mean and spread of the final validation metrics\n"
        "Writes OUTPUT/metrics.jsonl, OUTPUT/scaling.json and OUTPUT/checkpoint.h5.\n"
        "A config with a gan: section trains a generator and a discriminator instead (no --folds or\n"
        "--timeline); it writes OUTPUT/samples_epochNNN.png every epoch and, with gan.classifier,\n"
        "OUTPUT/gan_score.json. Its JSON epoch events hold d_loss, g_loss, d_real, d_fake, seconds,\n"
        "samples_per_sec and samples (the PNG written); its summary the score.\n"
        "Exit status: 0 success; 2 usage, config or input error; 1 run-time failure, including a run stopped\n"
        "by SIGTERM, SIGINT or SIGUSR1 after writing OUTPUT/checkpoint_interrupted.h5 (--resume goes on).\n");
}

static int parse(int argc, char **argv, train_args *a)
{
    a->overrides = calloc((size_t)argc, sizeof *a->overrides);
    if (!a->overrides)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int lf = cli_log_format_option("train", argc, argv, &i);
        if (lf > 0)
            return lf;
        if (lf == 0)
            continue;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help();
            return -1;
        } else if (!strcmp(s, "--set")) {
            if (i + 1 >= argc)
                return cli_usage_error("train", "--set needs key=value");
            a->overrides[a->n_overrides++] = argv[++i];
        } else if (!strncmp(s, "--set=", 6)) {
            a->overrides[a->n_overrides++] = s + 6;
        } else if (!strcmp(s, "--resume")) {
            a->resume = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-' && a->config)
                a->resume_path = argv[++i];
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = 1;
        } else if (!strcmp(s, "--timeline")) {
            if (i + 1 >= argc)
                return cli_usage_error("train", "--timeline needs FILE.json");
            a->timeline = argv[++i];
        } else if (!strcmp(s, "--folds") || !strncmp(s, "--folds=", 8)) {
            const char *v = s[7] == '=' ? s + 8 : i + 1 < argc ? argv[++i] : "";
            char *end;
            long k = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || k < 2 || k > 1000)
                return cli_usage_error("train", "--folds needs a number of folds from 2 to 1000, got '%s'", v);
            a->folds = (int)k;
        } else if (s[0] == '-') {
            return cli_usage_error("train", "unknown option '%s'", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return cli_usage_error("train", "unexpected argument '%s'", s);
        }
    }
    if (!a->config)
        return cli_usage_error("train", "missing CONFIG.yaml");
    return 0;
}

static void clear_bar(printer *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stdout);
        p->drawn = 0;
    }
}

/* ---- JSON events ---- */

static file_seen look_at(const char *path)
{
    struct stat sb;
    file_seen f = {0};
    if (stat(path, &sb) == 0)
        f = (file_seen){1, sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim};
    return f;
}

static int same_file(const file_seen *a, const file_seen *b)
{
    return a->exists == b->exists &&
           (!a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec));
}

static void checkpoint_event(const printer *p, int epoch, const char *path, int interrupted)
{
    if (p->quiet)
        return;
    cli_json j;
    cli_event_begin(&j, "checkpoint");
    if (epoch > 0)
        cli_json_integer(&j, "epoch", epoch);
    cli_json_string(&j, "path", path);
    cli_json_bool(&j, "interrupted", interrupted);
    cli_event_end(&j);
}

/* The trainers write an epoch's checkpoint (OUTPUT/checkpoint_epochNNNN.h5) right after its epoch event,
 * and a stopped run's (OUTPUT/checkpoint_interrupted.h5) before they return; each is then published as
 * OUTPUT/checkpoint.h5, a hard link. So "checkpoint" events come from looking at the files: after an
 * epoch event, at the next event or at the end of the run, the epoch's file is there and other than it
 * was at the epoch event when it was written; checkpoint.h5 naming checkpoint_interrupted.h5 and other
 * than at the last look means the interrupted one was. The first look (before training) only notes
 * what is there. */
static void look_for_checkpoint(printer *p, int first)
{
    if (!p->json || !p->output)
        return;
    char path[MT_PATH_MAX + 64];
    if (p->look) {
        p->look = 0;
        snprintf(path, sizeof path, "%s/checkpoint_epoch%04d.h5", p->output, p->epoch);
        file_seen now = look_at(path);
        if (now.exists && !same_file(&now, &p->epoch_file))
            checkpoint_event(p, p->epoch, path, 0);
    }
    snprintf(path, sizeof path, "%s/checkpoint.h5", p->output);
    file_seen latest = look_at(path);
    if (!first && latest.exists && !same_file(&latest, &p->latest)) {
        snprintf(path, sizeof path, "%s/checkpoint_interrupted.h5", p->output);
        file_seen stopped = look_at(path);
        if (stopped.exists && stopped.dev == latest.dev && stopped.ino == latest.ino)
            checkpoint_event(p, 0, path, 1);
    }
    p->latest = latest;
}

/* An epoch event: the previous epoch's checkpoint is looked for, and this epoch's file noted. */
static void epoch_ended(printer *p, int epoch)
{
    if (!p->json || !p->output)
        return;
    if (p->look)
        look_for_checkpoint(p, 0);
    char path[MT_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/checkpoint_epoch%04d.h5", p->output, epoch);
    p->epoch = epoch;
    p->epoch_file = look_at(path);
    p->look = 1;
}

/* info and warning events (warnings also go to stderr, as in text mode). */
static void json_message(printer *p, const char *event, const char *message)
{
    if (p->look)
        look_for_checkpoint(p, 0);
    if (!strcmp(event, "warning")) {
        fprintf(stderr, "mpitrain: warning: %s\n", message);
        fflush(stderr);
    }
    if (p->quiet)
        return;
    cli_json j;
    cli_event_begin(&j, event);
    cli_json_string(&j, "message", message);
    cli_event_end(&j);
}

/* The fields of a metrics.jsonl row: the first c->base always (null when not measured), the others when
 * measured; "epochs" after "epoch" when epochs > 0. */
static void json_metrics(cli_json *j, const mt_train_columns *c, const double *row, int epochs)
{
    for (int i = 0; i < c->n; i++) {
        if (i < c->base || isfinite(row[i]))
            cli_json_number(j, c->names[i], row[i]);
        if (i == 0 && epochs > 0)
            cli_json_integer(j, "epochs", epochs);
    }
}

static void json_progress(printer *p, const mt_progress *ev)
{
    switch (ev->kind) {
    case MT_PROGRESS_INFO:
        json_message(p, "info", ev->message);
        break;
    case MT_PROGRESS_WARNING:
        json_message(p, "warning", ev->message);
        break;
    case MT_PROGRESS_STEP:
        if (p->look)
            look_for_checkpoint(p, 0);
        break;
    case MT_PROGRESS_EPOCH: {
        epoch_ended(p, ev->epoch);
        if (p->quiet)
            break;
        cli_json j;
        cli_event_begin(&j, "epoch");
        json_metrics(&j, ev->columns, ev->row, ev->epochs);
        if (ev->file)
            cli_json_string(&j, "samples", ev->file);
        cli_event_end(&j);
        break;
    }
    }
}

/* start: what runs, on how many ranks, with which settings (the overrides: the command's, then `extra`,
 * NULL-terminated or NULL). */
static void json_start(const train_args *a, const mt_config *cfg, const char *const *extra, const mt_comm *comm)
{
    if (a->quiet)
        return;
    cli_json j;
    cli_event_begin(&j, "start");
    cli_json_string(&j, "version", mt_version());
    cli_json_string(&j, "config", a->config);
    cli_json_integer(&j, "world_size", mt_comm_size(comm));
    char hosts[4096];
    cli_json_integer(&j, "hosts", mt_comm_describe_hosts(comm, 64, hosts, sizeof hosts));
    if (hosts[0])
        cli_json_string(&j, "rank_hosts", hosts);
    cli_json_bool(&j, "gan", cfg->gan.enabled);
    cli_json_open(&j, "parameters", '{');
    cli_json_string(&j, "output", cfg->output);
    cli_json_integer(&j, "epochs", cfg->training.epochs);
    cli_json_integer(&j, "batch_size", cfg->training.batch_size);
    cli_json_number(&j, "seed", cfg->training.seed);
    cli_json_bool(&j, "resume", a->resume);
    if (a->resume_path)
        cli_json_string(&j, "resume_path", a->resume_path);
    if (a->folds)
        cli_json_integer(&j, "folds", a->folds);
    if (a->timeline)
        cli_json_string(&j, "timeline", a->timeline);
    cli_json_number(&j, "stall_timeout", cfg->training.stall_timeout);
    cli_json_open(&j, "overrides", '[');
    for (size_t i = 0; i < a->n_overrides; i++)
        cli_json_string(&j, NULL, a->overrides[i]);
    for (size_t i = 0; extra && extra[i]; i++)
        cli_json_string(&j, NULL, extra[i]);
    cli_event_end(&j);
}

/* A GAN's score with gan.classifier. */
static void json_score(cli_json *j, const mt_gan_score *s)
{
    cli_json_open(j, "score", '{');
    cli_json_string(j, "classifier", s->classifier);
    cli_json_number(j, "generated", s->generated);
    cli_json_number(j, "real", s->real);
    cli_json_number(j, "ratio", s->ratio);
    cli_json_number(j, "n_generated", s->n_generated);
    cli_json_number(j, "n_real", s->n_real);
    cli_json_string(j, "real_file", s->real_file);
    cli_json_string(j, "real_split", s->real_split);
    cli_json_open(j, "generated_classes", '[');
    for (int k = 0; k < s->classes; k++)
        cli_json_number(j, NULL, s->hist[k]);
    cli_json_close(j);
    cli_json_open(j, "class_names", '[');
    for (int k = 0; k < s->classes; k++)
        cli_json_string(j, NULL, s->names[k]);
    cli_json_close(j);
    cli_json_close(j);
}

/* A classifier's time split of every rank and its gradient exchange. */
static void json_ranks(cli_json *j, const mt_train_result *res)
{
    cli_json_number(j, "efficiency", res->efficiency);
    cli_json_integer(j, "buckets", res->buckets);
    cli_json_number(j, "bucket_mb", res->bucket_mb);
    cli_json_string(j, "dtype", res->dtype);
    cli_json_bool(j, "deterministic", res->deterministic);
    cli_json_integer(j, "shared_ranks", res->shared);
    cli_json_open(j, "ranks", '[');
    for (int i = 0; i < res->world_size; i++) {
        const mt_rank_times *t = &res->ranks[i];
        cli_json_open(j, NULL, '{');
        cli_json_integer(j, "rank", i);
        cli_json_number(j, "compute", t->compute);
        cli_json_number(j, "exposed_comm", t->exposed);
        cli_json_number(j, "data", t->data);
        cli_json_number(j, "idle", t->idle);
        cli_json_number(j, "allreduce", t->allreduce);
        cli_json_integer(j, "samples", (long long)t->samples);
        cli_json_number(j, "samples_per_sec", round(t->speed));
        cli_json_number(j, "core_share", round(t->core_share * 1000) / 1000);
        cli_json_number(j, "summing", t->summing);
        cli_json_number(j, "optimizer", t->optimizer);
        cli_json_number(j, "optimizer_state_bytes", t->state_bytes);
        cli_json_close(j);
    }
    cli_json_close(j);
    mt_run_dir_json_straggler(j, res);
}

static void json_summary(const mt_config *cfg, const mt_train_result *res)
{
    cli_json j;
    cli_event_begin(&j, "summary");
    cli_json_integer(&j, "epochs_run", res->epochs_run);
    cli_json_open(&j, "final", '{');
    json_metrics(&j, res->columns, res->last.v, 0);
    cli_json_close(&j);
    if (!cfg->gan.enabled && !isnan(res->last.metrics.val_loss))
        cli_json_string(&j, "validation_split",
                        cfg->data.validation[0] ? cfg->data.validation : "held out from training");
    if (!isnan(res->test_loss)) {
        cli_json_open(&j, "test", '{');
        cli_json_string(&j, "split", cfg->data.test);
        cli_json_number(&j, "loss", res->test_loss);
        cli_json_number(&j, "accuracy", res->test_accuracy);
        cli_json_close(&j);
    }
    cli_json_open(&j, "scaling", '{');
    cli_json_integer(&j, "world_size", res->world_size);
    cli_json_number(&j, "samples_per_sec", res->samples_per_sec);
    cli_json_number(&j, "train_seconds", res->train_seconds);
    if (res->ranks)
        json_ranks(&j, res);
    cli_json_close(&j);
    if (res->scored)
        json_score(&j, &res->score);
    cli_json_string(&j, "output", cfg->output);
    cli_event_end(&j);
}

/* ---- text ---- */

/* The value of column `name` in row, NaN when the row has none. */
static double column(const mt_train_columns *c, const double *row, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name))
            return row[i];
    return NAN;
}

/* An epoch line's values: the columns' shown ones that were measured, then seconds and samples/s. */
static void print_shown(const mt_train_columns *c, const double *row)
{
    for (int i = 0; c->shown[2 * i]; i++) {
        double v = column(c, row, c->shown[2 * i]);
        if (!isnan(v))
            printf("  %s %.*f", c->shown[2 * i + 1], i < 2 ? 4 : c->decimals, v);
    }
    printf("  %.1f s  %.0f samples/s", column(c, row, "seconds"), column(c, row, "samples_per_sec"));
}

static void on_progress(const mt_progress *ev, void *user)
{
    printer *p = user;
    if (p->json) {
        json_progress(p, ev);
        return;
    }
    switch (ev->kind) {
    case MT_PROGRESS_INFO:
        if (!p->quiet) {
            clear_bar(p);
            printf("%s\n", ev->message);
        }
        break;
    case MT_PROGRESS_WARNING:
        clear_bar(p);
        fprintf(stderr, "mpitrain: warning: %s\n", ev->message);
        break;
    case MT_PROGRESS_STEP: {
        if (!p->tty || p->quiet || (ev->elapsed - p->last_draw < 0.1 && ev->step != ev->steps))
            break;
        p->last_draw = ev->elapsed;
        int width = 30, done = (int)(width * ev->step / ev->steps);
        double eta = ev->elapsed / ev->step * (ev->steps - ev->step);
        printf("\r\033[Kepoch %d/%d [%.*s%*s] %llu/%llu %s %.4f %s %.4f ETA %.0fs", ev->epoch, ev->epochs, done,
               "==============================", width - done, "", (unsigned long long)ev->step,
               (unsigned long long)ev->steps, ev->columns->running[0], ev->running[0], ev->columns->running[1],
               ev->running[1], eta);
        fflush(stdout);
        p->drawn = 1;
        break;
    }
    case MT_PROGRESS_EPOCH: {
        clear_bar(p);
        p->last_draw = 0;
        if (p->quiet)
            break;
        printf("epoch %d/%d", ev->epoch, ev->epochs);
        print_shown(ev->columns, ev->row);
        printf("\n");
        fflush(stdout);
        break;
    }
    }
}

static void gan_summary(const mt_train_result *res)
{
    printf("training: %d rank(s), %.0f samples/s over %.1f s\n", res->world_size, res->samples_per_sec,
           res->train_seconds);
    if (res->scored) {
        const mt_gan_score *s = &res->score;
        printf("score (exp E[KL(p(y|x) || p(y))], classifier %s): generated %.4f  real %.4f  ratio %.4f "
               "(%.0f generated samples, %.0f real from %s split '%s')\n",
               s->classifier, s->generated, s->real, s->ratio, s->n_generated, s->n_real, s->real_file, s->real_split);
        printf("generated classes:");
        for (int k = 0; k < s->classes; k++)
            printf("%s %s%s%.0f", k ? "," : "", s->names[k][0] ? s->names[k] : "", s->names[k][0] ? " " : "",
                   s->hist[k]);
        printf("\n");
    }
}

static void summary(const mt_config *cfg, const mt_train_result *res)
{
    const mt_metrics_row *r = &res->last.metrics;
    if (cfg->gan.enabled) {
        gan_summary(res);
        printf("run directory: %s\n", cfg->output);
        return;
    }
    if (!isnan(r->val_loss)) {
        const char *names[5] = {"val_accuracy", "val_binary_accuracy", "val_mae", "val_rmse", NULL};
        const double values[4] = {r->val_accuracy, r->val_binary_accuracy, r->val_mae, r->val_rmse};
        printf("final: val_loss %.4f", r->val_loss);
        for (int i = 0; names[i]; i++)
            if (!isnan(values[i]))
                printf("  %s %.4f", names[i], values[i]);
        printf(" (split '%s')\n", cfg->data.validation[0] ? cfg->data.validation : "held out from training");
    }
    if (!isnan(res->test_loss))
        printf("test: loss %.4f  accuracy %.4f (split '%s')\n", res->test_loss, res->test_accuracy, cfg->data.test);
    printf("scaling: %d rank(s), %.0f samples/s over %.1f s of training, compute fraction %.2f\n", res->world_size,
           res->samples_per_sec, res->train_seconds, res->efficiency);
    printf("  rank   compute(s)  exposed comm(s)   data(s)   idle(s)   samples/s   (gradient sums in flight(s), %d "
           "bucket(s), %s)\n",
           res->buckets, res->dtype);
    for (int i = 0; i < res->world_size; i++)
        printf("  %4d  %11.2f  %15.2f  %8.2f  %8.2f  %10.0f   (%.2f)\n", i, res->ranks[i].compute,
               res->ranks[i].exposed, res->ranks[i].data, res->ranks[i].idle, res->ranks[i].speed,
               res->ranks[i].allreduce);
    double summing = 0, optimizer = 0;
    for (int i = 0; i < res->world_size; i++)
        summing += res->ranks[i].summing / res->world_size, optimizer += res->ranks[i].optimizer / res->world_size;
    if (res->world_size > 0)
        printf("  %s: summing %.2f s, optimizer %.2f s, optimizer state %.1f MB per rank (mean of the ranks)\n",
               res->shared ? "one copy per node" : "every rank updates everything", summing, optimizer,
               res->ranks[0].state_bytes / 1e6);
    if (res->straggler >= 0) {
        const double share = res->ranks[res->straggler].core_share;
        printf("  rank %d (on host %s) is persistently slower: %.2fx the time per sample of the %s", res->straggler,
               res->straggler_host, res->straggler_slower, res->world_size == 2 ? "other rank" : "median rank");
        if (share < 0.9)
            printf("; it had %.0f%% of its core (time-shared with other processes)", 100 * share);
        printf("\n");
    }
    printf("run directory: %s\n", cfg->output);
}

/* The config file with the command's overrides, then `extra` (NULL-terminated, or NULL), loaded on every
 * rank; the ranks agree on the outcome. Collective. On success the caller frees *cfg. */
static mt_status load_config(const train_args *a, const char *const *extra, mt_comm *comm, mt_config *cfg,
                             mt_error *err)
{
    size_t n_extra = 0;
    while (extra && extra[n_extra])
        n_extra++;
    mt_error_clear(err);
    const char **all = calloc(a->n_overrides + n_extra + 1, sizeof *all);
    mt_status st = all ? MT_OK : mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (all) {
        for (size_t i = 0; i < a->n_overrides + n_extra; i++)
            all[i] = i < a->n_overrides ? a->overrides[i] : extra[i - a->n_overrides];
        st = mt_config_load(a->config, all, a->n_overrides + n_extra, cfg, err);
        free(all);
    }
    if (mt_comm_agree(comm, err)) {
        if (st == MT_OK)
            mt_config_free(cfg);
        return err->code;
    }
    return MT_OK;
}

/* One training run of cfg, loaded with the command's overrides plus `extra` (NULL-terminated, or NULL;
 * named in the start event). A GAN's files read at its end are checked before it starts. Collective. On success *res holds the result, for the caller to free. */
static mt_status train_once(const train_args *a, const char *const *extra, mt_comm *comm, const mt_config *cfg,
                            mt_train_result *res, mt_error *err)
{
    const int json = cli_log_is_json(), rank0 = mt_comm_rank(comm) == 0;
    printer p = {.tty = !json && stdout_is_terminal(), .quiet = a->quiet, .json = json, .output = cfg->output};
    mt_train_options opts = {a->resume, a->resume_path, on_progress, &p, a->timeline};
    mt_status st = cfg->gan.enabled ? mt_gan_score_check(cfg, comm, err) : MT_OK;
    if (st)
        return st;
    if (rank0 && json) {
        json_start(a, cfg, extra, comm);
        look_for_checkpoint(&p, 1);
    } else if (rank0 && !a->quiet) {
        char hosts[4096];
        int n_hosts = mt_comm_describe_hosts(comm, 16, hosts, sizeof hosts);
        printf("mpitrain %s: training %s%s on %d rank(s)", mt_version(), cfg->gan.enabled ? "the GAN of " : "",
               a->config, mt_comm_size(comm));
        if (n_hosts > 1 && hosts[0])
            printf(" on %d hosts (%s)", n_hosts, hosts); /* rank ranges per host, named in failures */
        else if (n_hosts > 1)
            printf(" on %d hosts", n_hosts);
        printf("\n");
    }
    st = mt_train_run(cfg, comm, &opts, res, err);
    if (rank0)
        look_for_checkpoint(&p, 0);
    if (!st && rank0)
        json ? json_summary(cfg, res) : summary(cfg, res);
    if (st) /* on success the caller reads and frees it */
        mt_train_result_free(res);
    return st;
}

/* --folds K: fold i validates on its part of the training split; the others train. Each fold loads the
 * config file again with its own data.fold, data.folds and output (under base's output). */
static mt_status cross_validate(const train_args *a, mt_comm *comm, const mt_config *base, mt_error *err)
{
    mt_status st = MT_OK;
    double *loss = calloc((size_t)a->folds, sizeof *loss), *acc = calloc((size_t)a->folds, sizeof *acc);
    char folds[32], fold[32], output[MT_PATH_MAX + 32];
    snprintf(folds, sizeof folds, "data.folds=%d", a->folds);
    for (int i = 0; i < a->folds && !st && loss && acc; i++) {
        snprintf(fold, sizeof fold, "data.fold=%d", i);
        snprintf(output, sizeof output, "output=%s/fold%d", base->output, i);
        const char *extra[] = {folds, fold, output, "data.validation=", "data.validation_fraction=0", NULL};
        mt_config cfg;
        mt_train_result res;
        if (mt_comm_rank(comm) == 0 && !a->quiet && cli_log_is_json()) {
            cli_json j;
            cli_event_begin(&j, "fold");
            cli_json_integer(&j, "fold", i + 1);
            cli_json_integer(&j, "folds", a->folds);
            cli_event_end(&j);
        } else if (mt_comm_rank(comm) == 0 && !a->quiet) {
            printf("fold %d/%d\n", i + 1, a->folds);
        }
        st = load_config(a, extra, comm, &cfg, err);
        if (st)
            break;
        st = train_once(a, extra, comm, &cfg, &res, err);
        if (!st) {
            loss[i] = res.last.metrics.val_loss, acc[i] = res.last.metrics.val_accuracy;
            mt_train_result_free(&res);
        }
        mt_config_free(&cfg);
    }
    if (!st && (!loss || !acc))
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
    if (!st && mt_comm_rank(comm) == 0) {
        double m[2] = {0, 0}, v[2] = {0, 0};
        for (int i = 0; i < a->folds; i++)
            m[0] += loss[i] / a->folds, m[1] += acc[i] / a->folds;
        for (int i = 0; i < a->folds; i++)
            v[0] += (loss[i] - m[0]) * (loss[i] - m[0]), v[1] += (acc[i] - m[1]) * (acc[i] - m[1]);
        if (cli_log_is_json()) {
            cli_json j;
            cli_event_begin(&j, "cross_validation");
            cli_json_integer(&j, "folds", a->folds);
            cli_json_number(&j, "val_loss_mean", m[0]);
            cli_json_number(&j, "val_loss_std", sqrt(v[0] / (a->folds - 1)));
            cli_json_number(&j, "val_accuracy_mean", m[1]);
            cli_json_number(&j, "val_accuracy_std", sqrt(v[1] / (a->folds - 1)));
            cli_event_end(&j);
        } else {
            printf("cross-validation over %d folds: val_loss %.4f +- %.4f", a->folds, m[0],
                   sqrt(v[0] / (a->folds - 1)));
            if (!isnan(m[1]))
                printf("  val_accuracy %.4f +- %.4f", m[1], sqrt(v[1] / (a->folds - 1)));
            printf(" (mean +- sample standard deviation)\n");
        }
    }
    free(loss), free(acc);
    return st;
}

/* SIGTERM (what SLURM sends every task at the time limit or on scancel), SIGINT and SIGUSR1 (a common
 * choice for a scheduler's early warning; srun and Open MPI's mpirun forward it to every rank) ask the
 * trainer to checkpoint at the end of the current step and stop; a second one acts as usual
 * (SA_RESETHAND). On SIGTERM mpirun ends the ranks itself (SIGKILL a second later) and srun kills them at
 * once, so to either launcher send SIGUSR1 (docs/cluster.md). */
static void on_stop_signal(int signo)
{
    mt_train_request_stop(signo);
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int cmd_train(int argc, char **argv)
{
    train_args a = {0};
    cli_log_init(argc, argv);
    int rc = parse(argc, argv, &a);
    cli_context ctx;
    if (rc || (rc = cli_start(&ctx, &argc, &argv))) {
        free(a.overrides);
        return rc < 0 ? 0 : rc;
    }
    catch_stop_signals();
    mt_error err = {0};
    mt_config cfg;
    mt_status st = load_config(&a, NULL, ctx.comm, &cfg, &err);
    if (!st) {
        if (a.folds && cfg.gan.enabled) {
            st = mt_fail(&err, MT_ERR_USAGE,
                         "%s: --folds is not available for a GAN config (it has no validation "
                         "metrics)",
                         a.config);
        } else if (a.folds) {
            st = cross_validate(&a, ctx.comm, &cfg, &err);
        } else {
            mt_train_result res;
            if (!(st = train_once(&a, NULL, ctx.comm, &cfg, &res, &err)))
                mt_train_result_free(&res);
        }
        mt_config_free(&cfg);
    }
    free(a.overrides);
    return cli_finish(&ctx, st, &err);
}
