/* Run directory files: metrics.jsonl (one JSON object per epoch), scaling.json and checkpoint rotation. */
#include "train/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_doc.h"

/* Removes what writers killed mid-way leave behind: checkpoint files under their temporary names
 * ("<name>.h5.tmp.<pid>") and half-made links ("checkpoint.h5.link.<pid>"). Never read, only removed. */
static void remove_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".h5.tmp.") || strncmp(e->d_name, "checkpoint.h5.link.", 19) == 0) {
            char path[MT_PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

mt_status mt_run_dir_prepare(const char *dir, mt_error *err)
{
    char path[MT_PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return mt_fail(err, MT_ERR_INPUT, "output: path too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return mt_fail(err, MT_ERR_INPUT, "output: cannot create directory %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return mt_fail(err, MT_ERR_INPUT, "output: cannot create directory %s: %s", path, strerror(errno));
    char probe[MT_PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/.write-test.%ld", dir, (long)getpid());
    FILE *f = fopen(probe, "w");
    if (!f)
        return mt_fail(err, MT_ERR_INPUT, "output: directory %s is not writable: %s", dir, strerror(errno));
    fclose(f);
    unlink(probe);
    remove_leftovers(dir);
    return MT_OK;
}

/* One row as a JSON object: fields numbers under names[]; those from index `always` on only when finite. */
static json_t *row_json(const char *const *names, int fields, int always, const double *row)
{
    mt_json j;
    mt_json_begin(&j, '{');
    for (int i = 0; i < fields; i++)
        if (i < always || isfinite(row[i]))
            mt_json_number(&j, names[i], row[i]);
    return mt_json_take(&j);
}

/* Writes n rows of `fields` numbers to DIR/metrics.jsonl, one JSON object a row with the numbers under
 * names[] (io/json_doc.h: null where not finite), except that those from index `always` on are left out
 * where not finite. With append the rows are added at the end; else they replace the file (atomically). */
static mt_status write_rows(const char *dir, const char *const *names, int fields, int always, const double *rows,
                            size_t n, int append, mt_error *err)
{
    char path[MT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    mt_atomic_file whole = {0};
    FILE *f = NULL;
    if (append) {
        f = fopen(path, "a");
        if (!f)
            return mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    } else if (mt_atomic_open(&whole, path, err)) {
        return err->code;
    } else {
        f = whole.f;
    }
    int bad = 0;
    errno = 0;
    for (size_t r = 0; r < n && !bad; r++) {
        json_t *row = row_json(names, fields, always, rows + r * (size_t)fields);
        bad = !row || mt_json_write(f, row, 0) != 0;
        json_decref(row);
    }
    const int e = errno ? errno : ENOMEM;
    if (!append && !bad)
        return mt_atomic_commit(&whole, err);
    if (!append)
        mt_atomic_abort(&whole);
    else if (fclose(f) != 0 && !bad)
        return mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return bad ? mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", path, strerror(e)) : MT_OK;
}

mt_status mt_run_dir_write_metrics(const char *dir, const mt_train_columns *c, const double *rows, size_t n,
                                   mt_error *err)
{
    return write_rows(dir, c->names, c->n, c->base, rows, n, 0, err);
}

mt_status mt_run_dir_append_metrics(const char *dir, const mt_train_columns *c, const double *row, mt_error *err)
{
    return write_rows(dir, c->names, c->n, c->base, row, 1, 1, err);
}

/* A time in seconds to the microsecond. */
static double microseconds(double seconds)
{
    return round(seconds * 1e6) / 1e6;
}

void mt_run_dir_json_straggler(mt_json *j, const mt_train_result *res)
{
    if (res->straggler < 0) {
        mt_json_string(j, "straggler", NULL);
        return;
    }
    mt_json_open(j, "straggler", '{');
    mt_json_integer(j, "rank", res->straggler);
    mt_json_string(j, "host", res->straggler_host);
    mt_json_number(j, "slower", round(res->straggler_slower * 100) / 100);
    mt_json_close(j);
}

mt_status mt_run_dir_write_scaling(const char *dir, const mt_train_result *res, uint64_t global_batch, mt_error *err)
{
    char path[MT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/scaling.json", dir);
    mt_json j;
    mt_json_begin(&j, '{');
    mt_json_integer(&j, "world_size", res->world_size);
    mt_json_integer(&j, "global_batch", (long long)global_batch);
    mt_json_integer(&j, "epochs", res->epochs_run);
    mt_json_number(&j, "train_seconds", res->train_seconds);
    mt_json_number(&j, "samples_per_sec", res->samples_per_sec);
    mt_json_number(&j, "efficiency", res->efficiency);
    /* The slowest rank starts each sum last, so its time in flight is the closest to the sum's own time; the
     * others' include waiting for it. */
    double in_flight = INFINITY, exposed = 0;
    for (int r = 0; r < res->world_size; r++) {
        in_flight = res->ranks[r].allreduce < in_flight ? res->ranks[r].allreduce : in_flight;
        exposed += res->ranks[r].exposed / res->world_size;
    }
    mt_json_open(&j, "gradient_exchange", '{');
    mt_json_integer(&j, "buckets", res->buckets);
    mt_json_number(&j, "bucket_mb", res->bucket_mb);
    mt_json_string(&j, "dtype", res->dtype);
    mt_json_bool(&j, "deterministic", res->deterministic);
    mt_json_integer(&j, "shared_ranks", res->shared);
    mt_json_number(&j, "overlap", in_flight > 0 ? 1.0 - exposed / in_flight : NAN);
    mt_json_close(&j);
    mt_run_dir_json_straggler(&j, res);
    mt_json_string(&j, "time_split",
                   "compute = forward, loss, backward and optimizer; "
                   "allreduce = time gradient sums were in flight (overlapping backprop); exposed_comm = the part not "
                   "hidden behind computation: time in MPI calls during backprop plus the optimizer's wait for the "
                   "sums (the least any rank waited); idle = this rank's further wait, for slower ranks; "
                   "data = reading batches; compute + exposed_comm + idle + data = training time; overlap = 1 - "
                   "mean exposed_comm / (least allreduce over the ranks); with one copy per node (shared_ranks > 0), "
                   "summing = summing the rank's slices of the node's gradients and optimizer = updating its slices "
                   "and the node's meeting after it, both part of compute; optimizer_state_bytes = the optimizer "
                   "state the rank updates");
    mt_json_open(&j, "ranks", '[');
    for (int r = 0; r < res->world_size; r++) {
        const mt_rank_times *t = &res->ranks[r];
        mt_json_open(&j, NULL, '{');
        mt_json_integer(&j, "rank", r);
        mt_json_number(&j, "compute", microseconds(t->compute));
        mt_json_number(&j, "allreduce", microseconds(t->allreduce));
        mt_json_number(&j, "exposed_comm", microseconds(t->exposed));
        mt_json_number(&j, "data", microseconds(t->data));
        mt_json_number(&j, "idle", microseconds(t->idle));
        mt_json_integer(&j, "samples", (long long)t->samples);
        mt_json_number(&j, "samples_per_sec", round(t->speed));
        mt_json_number(&j, "core_share", round(t->core_share * 1000) / 1000);
        mt_json_number(&j, "summing", microseconds(t->summing));
        mt_json_number(&j, "optimizer", microseconds(t->optimizer));
        mt_json_number(&j, "optimizer_state_bytes", t->state_bytes);
        mt_json_close(&j);
    }
    json_t *doc = mt_json_take(&j);
    mt_status st = doc ? mt_json_write_file(path, doc, 2, err) : mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    json_decref(doc);
    return st;
}

/* The numbered checkpoint files: DIR/PREFIX<N, zero-padded to `digits`>.h5. */
typedef struct numbered {
    const char *prefix;
    int digits;
} numbered;
static const numbered epoch_files = {"checkpoint_epoch", 4}, step_files = {"checkpoint_step", 8};

static void numbered_path(const char *dir, numbered kind, long long n, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s%0*lld.h5", dir, kind.prefix, kind.digits, n);
}

void mt_run_dir_checkpoint_path(const char *dir, int epoch, char *buf, size_t size)
{
    numbered_path(dir, epoch_files, epoch, buf, size);
}

/* The numbers N of the files of `kind` in dir, newest first. Returns the count (at most max). */
static int list_numbered(const char *dir, numbered kind, long long *nums, int max)
{
    const char *prefix = kind.prefix;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    const size_t len = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        long long k;
        char tail[8];
        if (strncmp(e->d_name, prefix, len) == 0 && sscanf(e->d_name + len, "%lld.%7s", &k, tail) == 2 &&
            !strcmp(tail, "h5"))
            nums[n++] = k;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && nums[j] > nums[j - 1]; j--) {
            long long t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    return n;
}

void mt_run_dir_step_checkpoint_path(const char *dir, long long step, char *buf, size_t size)
{
    numbered_path(dir, step_files, step, buf, size);
}

/* Removes the files of `kind` in dir except the newest `keep` of those numbered up to `upto` (files
 * numbered beyond it are left from an earlier run in the same directory and would be taken for newer
 * ones). */
static void prune(const char *dir, numbered kind, long long upto, int keep)
{
    long long nums[4096];
    int n = list_numbered(dir, kind, nums, 4096), kept = 0;
    for (int i = 0; i < n; i++) {
        if (nums[i] <= upto && kept < keep) {
            kept++;
            continue;
        }
        char old[MT_PATH_MAX + 64];
        numbered_path(dir, kind, nums[i], old, sizeof old);
        unlink(old);
    }
}

void mt_run_dir_interrupted_path(const char *dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/checkpoint_interrupted.h5", dir);
}

/* Points checkpoint.h5 at src (a hard link, replaced atomically). */
static mt_status link_latest(const char *dir, const char *src, mt_error *err)
{
    char dst[MT_PATH_MAX + 64];
    snprintf(dst, sizeof dst, "%s/checkpoint.h5", dir);
    return mt_atomic_link(src, dst, err);
}

mt_status mt_run_dir_publish_interrupted(const char *dir, mt_error *err)
{
    char src[MT_PATH_MAX + 64];
    mt_run_dir_interrupted_path(dir, src, sizeof src);
    return link_latest(dir, src, err);
}

/* Points checkpoint.h5 at file number n of `kind` and removes the checkpoint of an interrupted run,
 * which it supersedes. */
static mt_status publish_numbered(const char *dir, numbered kind, long long n, mt_error *err)
{
    char src[MT_PATH_MAX + 64], old_run[MT_PATH_MAX + 64];
    numbered_path(dir, kind, n, src, sizeof src);
    if (link_latest(dir, src, err))
        return err->code;
    mt_run_dir_interrupted_path(dir, old_run, sizeof old_run);
    unlink(old_run);
    return MT_OK;
}

mt_status mt_run_dir_publish_checkpoint(const char *dir, int epoch, int keep, mt_error *err)
{
    if (publish_numbered(dir, epoch_files, epoch, err))
        return err->code;
    prune(dir, step_files, -1, 0); /* the step checkpoints before it */
    prune(dir, epoch_files, epoch, keep);
    return MT_OK;
}

mt_status mt_run_dir_publish_step_checkpoint(const char *dir, long long step, int keep, mt_error *err)
{
    if (publish_numbered(dir, step_files, step, err))
        return err->code;
    prune(dir, step_files, step, keep);
    return MT_OK;
}

/* Appends path to the list unless it is missing or another name of a file already listed. */
static int add_candidate(const char *path, mt_run_dir_path *paths, dev_t *dev, ino_t *ino, int n, int max)
{
    struct stat sb;
    if (n >= max || stat(path, &sb) != 0)
        return n;
    for (int i = 0; i < n; i++)
        if (dev[i] == sb.st_dev && ino[i] == sb.st_ino)
            return n;
    snprintf(paths[n], sizeof paths[n], "%s", path);
    dev[n] = sb.st_dev, ino[n] = sb.st_ino;
    return n + 1;
}

int mt_run_dir_list_checkpoints(const char *dir, mt_run_dir_path *paths, int max)
{
    dev_t dev[64];
    ino_t ino[64];
    char path[MT_PATH_MAX + 64];
    int n = 0;
    long long nums[4096];
    max = max < 64 ? max : 64;
    snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
    n = add_candidate(path, paths, dev, ino, n, max);
    mt_run_dir_interrupted_path(dir, path, sizeof path);
    n = add_candidate(path, paths, dev, ino, n, max);
    const numbered kinds[2] = {step_files, epoch_files}; /* every step file is newer than every epoch file */
    for (int c = 0; c < 2; c++) {
        int k = list_numbered(dir, kinds[c], nums, 4096);
        for (int i = 0; i < k; i++) {
            numbered_path(dir, kinds[c], nums[i], path, sizeof path);
            n = add_candidate(path, paths, dev, ino, n, max);
        }
    }
    return n;
}
