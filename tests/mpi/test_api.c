/* The public C API (include/mpitrain/api.h) as an embedding MPI program uses it, at np = 1, 2, 4:
 * rows passed unevenly over the ranks give the same model as rows passed evenly (the data set is the
 * concatenation in rank order); trainers on the two halves of a split communicator train side by side
 * and agree bit for bit; a regression on float targets with weights and validation arrays (loss against
 * the hand rule: weights 2 double the reported loss, rmse is the root of the mse loss); a run resumed
 * from its run directory equals a straight one; progress events; and the errors every rank reports alike
 * (bad YAML, a gan config, no data.file, missing files, validation arrays on some ranks only, mixed label
 * kinds, no rows at all). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <mpitrain/api.h>

#include "comm/comm.h"
#include "testlib.h"

static const char *classifier = "model:\n"
                                "  input: [3]\n"
                                "  layers:\n"
                                "    - dense: {units: 8, activation: relu}\n"
                                "    - dense: {units: 3, activation: softmax}\n"
                                "loss: categorical_crossentropy\n"
                                "optimizer: {name: adam, learning_rate: 0.02}\n"
                                "training: {epochs: 4, batch_size: 16, seed: 11}\n";

/* Global row i: three features in [-1, 1] and its class, the largest of three linear scores. */
static void row(uint64_t i, float *x, int32_t *y)
{
    uint64_t h = i * 0x9E3779B97F4A7C15ull + 7;
    for (int j = 0; j < 3; j++) {
        h ^= h >> 29, h *= 0xBF58476D1CE4E5B9ull, h ^= h >> 32;
        x[j] = (float)((h >> 11) % 20001) / 10000.0f - 1.0f;
    }
    float s[3] = {x[0] - x[1], x[1] - x[2], x[2] - x[0]};
    *y = s[1] > s[0] ? (s[2] > s[1] ? 2 : 1) : (s[2] > s[0] ? 2 : 0);
}

/* Rows [first, first + n) of the global set, into fresh arrays. */
static mt_arrays rows(uint64_t first, uint64_t n)
{
    float *x = malloc((n + 1) * 3 * sizeof *x);
    int32_t *y = malloc((n + 1) * sizeof *y);
    for (uint64_t i = 0; i < n; i++)
        row(first + i, x + 3 * i, y + i);
    return (mt_arrays){.n = n, .x = x, .y_class = y};
}

static void free_rows(mt_arrays *a)
{
    free((void *)a->x), free((void *)a->y_class), free((void *)a->y_target), free((void *)a->weights);
}

/* Whether buf is the same on every rank of comm. */
static int same_everywhere(MPI_Comm comm, const float *buf, int n)
{
    float *root = malloc((size_t)n * sizeof *root);
    memcpy(root, buf, (size_t)n * sizeof *root);
    MPI_Bcast(root, n, MPI_FLOAT, 0, comm);
    int same = memcmp(root, buf, (size_t)n * sizeof *root) == 0, all;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_LAND, comm);
    free(root);
    return all;
}

static char * override(const char *key, const char *path)
{
    char *s = malloc(strlen(key) + strlen(path) + 2);
    sprintf(s, "%s=%s", key, path);
    return s;
}

/* Trains the classifier on N global rows, each rank passing rows [cut(r), cut(r + 1)). Returns the
 * predictions on 64 probe rows (caller frees). */
enum { N = 240, PROBE = 64 };
static float *train_split(MPI_Comm comm, const char *out, const uint64_t *cut, mt_train_report *rep)
{
    int r;
    MPI_Comm_rank(comm, &r);
    mt_error err;
    char *o = override("output", out);
    const char *over[] = {o};
    mt_trainer *t = NULL;
    CHECK(mt_trainer_from_yaml(classifier, over, 1, MT_COMM(comm), &t, &err) == MT_OK, "create: %s", err.msg);
    free(o);
    float *pred = calloc(PROBE * 3, sizeof *pred);
    if (!t)
        return pred;
    mt_arrays a = rows(cut[r], cut[r + 1] - cut[r]);
    CHECK(mt_trainer_train_arrays(t, &a, NULL, 0, rep, &err) == MT_OK, "train %s: %s", out, err.msg);
    mt_arrays probe = rows(100000, PROBE);
    CHECK(mt_trainer_predict(t, probe.x, PROBE, pred, &err) == MT_OK, "predict: %s", err.msg);
    free_rows(&a), free_rows(&probe);
    mt_trainer_destroy(t);
    return pred;
}

static void test_distribution(int rank, int size)
{
    uint64_t even[5], skew[5];
    for (int r = 0; r <= size; r++) {
        even[r] = (uint64_t)N * (uint64_t)r / (uint64_t)size;
        skew[r] = r == 0 ? 0 : r == 1 ? (size > 1 ? 0 : N) : (uint64_t)N * (uint64_t)(r - 1) / (uint64_t)(size - 1);
    }
    skew[size] = N; /* rank 0 passes no rows, the others N / (size - 1) each */
    mt_train_report r1, r2;
    float *a = train_split(MPI_COMM_WORLD, mt_test_path("even"), even, &r1);
    float *b = train_split(MPI_COMM_WORLD, mt_test_path("skew"), skew, &r2);
    CHECK(memcmp(a, b, PROBE * 3 * sizeof *a) == 0, "rows passed unevenly train another model (rank %d)", rank);
    CHECK(same_everywhere(MPI_COMM_WORLD, a, PROBE * 3), "the ranks' models differ");
    CHECK(r1.epochs_run == 4 && r1.ranks == size, "report: %d epochs on %d ranks", r1.epochs_run, r1.ranks);
    CHECK(r1.accuracy > 0.5 && isnan(r1.val_loss) && isnan(r1.test_loss), "report: accuracy %g val_loss %g",
          r1.accuracy, r1.val_loss);
    free(a), free(b);
}

/* Two halves of the world train the same data each on its own sub-communicator, at the same time. */
static void test_subcommunicators(int rank, int size)
{
    if (size < 2 || size % 2)
        return;
    MPI_Comm half;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    int hr, hs;
    MPI_Comm_rank(half, &hr);
    MPI_Comm_size(half, &hs);
    uint64_t cut[5];
    for (int r = 0; r <= hs; r++)
        cut[r] = (uint64_t)N * (uint64_t)r / (uint64_t)hs;
    mt_train_report rep;
    float *p = train_split(half, mt_test_path(rank % 2 ? "half1" : "half0"), cut, &rep);
    CHECK(rep.ranks == hs, "a half trained on %d ranks, not %d", rep.ranks, hs);
    CHECK(same_everywhere(MPI_COMM_WORLD, p, PROBE * 3), "the halves trained different models");
    free(p);
    MPI_Comm_free(&half);
}

static void on_event(const mt_event *ev, void *user)
{
    int *counts = user;
    counts[ev->kind]++;
    if (ev->kind == MT_EVENT_EPOCH)
        CHECK(ev->epochs > 0 && ev->epoch >= 1 && isfinite(ev->loss) && ev->seconds >= 0, "epoch event %d/%d loss %g",
              ev->epoch, ev->epochs, ev->loss);
}

/* y = 2 x0 - x1 + 0.5 on every rank's own rows, a validation set, weights; the loss rules checked. */
static void test_regression(int rank, int size)
{
    static const char *yaml = "model: {input: [2], layers: [{dense: {units: 1}}]}\n"
                              "loss: mse\n"
                              "metrics: [mae, rmse]\n"
                              "optimizer: {name: adam, learning_rate: 0.05}\n"
                              "training: {epochs: 40, batch_size: 32, seed: 3}\n";
    enum { M = 96 };
    float x[M * 2], y[M], w1[M], w2[M];
    for (int i = 0; i < M; i++) {
        float a = (float)((i * 37 + rank * 11) % 97) / 48.0f - 1.0f,
              b = (float)((i * 53 + rank * 7) % 89) / 44.0f - 1.0f;
        x[2 * i] = a, x[2 * i + 1] = b, y[i] = 2 * a - b + 0.5f;
        w1[i] = 1, w2[i] = 2;
    }
    mt_arrays train = {.n = M - 16, .x = x, .y_target = y};
    mt_arrays val = {.n = 16, .x = x + 2 * (M - 16), .y_target = y + M - 16};
    char *o = override("output", mt_test_path("regression"));
    const char *over[] = {o};
    mt_trainer *t = NULL;
    mt_error err;
    CHECK(mt_trainer_from_yaml(yaml, over, 1, MT_COMM(MPI_COMM_WORLD), &t, &err) == MT_OK, "create: %s", err.msg);
    free(o);
    if (!t)
        return;
    int counts[3] = {0, 0, 0};
    mt_trainer_set_progress(t, on_event, counts);
    mt_train_report rep;
    CHECK(mt_trainer_train_arrays(t, &train, &val, 0, &rep, &err) == MT_OK, "train: %s", err.msg);
    CHECK(rep.val_loss < 1e-3 && isnan(rep.accuracy), "val_loss %g, accuracy %g (regression: NaN)", rep.val_loss,
          rep.accuracy);
    CHECK(counts[MT_EVENT_EPOCH] == (rank == 0 ? 40 : 0), "rank %d saw %d epoch events", rank, counts[MT_EVENT_EPOCH]);
    mt_arrays all = {.n = M, .x = x, .y_target = y, .weights = w1};
    mt_eval_report e1, e2, e0;
    CHECK(mt_trainer_evaluate_arrays(t, &all, &e1, &err) == MT_OK, "evaluate: %s", err.msg);
    all.weights = w2;
    CHECK(mt_trainer_evaluate_arrays(t, &all, &e2, &err) == MT_OK, "evaluate weighted: %s", err.msg);
    all.weights = NULL;
    CHECK(mt_trainer_evaluate_arrays(t, &all, &e0, &err) == MT_OK, "evaluate unweighted: %s", err.msg);
    CHECK(e1.rows == (uint64_t)M * (uint64_t)size, "rows %llu", (unsigned long long)e1.rows);
    CHECK_CLOSE(e2.loss, 2 * e1.loss, 1e-9, 0, "weights 2 double the loss");
    CHECK_CLOSE(e0.loss, e1.loss, 1e-12, 0, "weights 1 change nothing");
    CHECK_CLOSE(e1.rmse, sqrt(e1.loss), 1e-6, 0, "rmse is the root of the mse loss");
    CHECK(isfinite(e1.mae) && isnan(e1.accuracy), "mae %g accuracy %g", e1.mae, e1.accuracy);
    /* The model is close to the rule on a point none of the ranks had. */
    float probe[2] = {0.3f, -0.7f}, out = 0;
    CHECK(mt_trainer_predict(t, probe, 1, &out, &err) == MT_OK, "predict: %s", err.msg);
    CHECK_CLOSE(out, 2 * 0.3 + 0.7 + 0.5, 0, 0.05, "prediction at (0.3, -0.7)");
    mt_trainer_destroy(t);
}

/* 2 epochs, then 2 more resumed from the run directory: the model of a straight 4-epoch run. */
static void test_resume(int rank, int size)
{
    (void)rank;
    uint64_t cut[5];
    for (int r = 0; r <= size; r++)
        cut[r] = (uint64_t)N * (uint64_t)r / (uint64_t)size;
    mt_train_report rep;
    float *straight = train_split(MPI_COMM_WORLD, mt_test_path("straight"), cut, &rep);
    char *o = override("output", mt_test_path("resumed"));
    const char *two[] = {o, "training.epochs=2"}, *four[] = {o};
    mt_arrays a = rows(cut[rank], cut[rank + 1] - cut[rank]), probe = rows(100000, PROBE);
    mt_trainer *t = NULL;
    mt_error err;
    float pred[PROBE * 3];
    int counts[3] = {0, 0, 0};
    if (!CHECK(mt_trainer_from_yaml(classifier, two, 2, MT_COMM(MPI_COMM_WORLD), &t, &err) == MT_OK, "%s", err.msg))
        goto done;
    CHECK(mt_trainer_train_arrays(t, &a, NULL, 0, &rep, &err) == MT_OK, "first 2 epochs: %s", err.msg);
    mt_trainer_destroy(t);
    t = NULL;
    if (!CHECK(mt_trainer_from_yaml(classifier, four, 1, MT_COMM(MPI_COMM_WORLD), &t, &err) == MT_OK, "%s", err.msg))
        goto done;
    mt_trainer_set_progress(t, on_event, counts);
    CHECK(mt_trainer_train_arrays(t, &a, NULL, MT_TRAIN_RESUME, &rep, &err) == MT_OK, "resume: %s", err.msg);
    CHECK(rep.epochs_run == 2, "the resumed run ran %d epochs, not 2", rep.epochs_run);
    CHECK(rank != 0 || counts[MT_EVENT_INFO] >= 1, "no INFO event (resuming from ...) on rank 0");
    CHECK(mt_trainer_predict(t, probe.x, PROBE, pred, &err) == MT_OK, "predict: %s", err.msg);
    CHECK(memcmp(pred, straight, sizeof pred) == 0, "2 + 2 resumed epochs differ from 4 straight ones");
    /* A trainer from the run's own checkpoint (with optimizer state) predicts the same. */
    mt_trainer *c = NULL;
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", mt_test_path("resumed"));
    if (CHECK(mt_trainer_from_checkpoint(ckpt, NULL, 0, MT_COMM(MPI_COMM_WORLD), &c, &err) == MT_OK, "%s", err.msg)) {
        float again[PROBE * 3];
        CHECK(mt_trainer_predict(c, probe.x, PROBE, again, &err) == MT_OK, "predict: %s", err.msg);
        CHECK(memcmp(pred, again, sizeof pred) == 0, "the run's checkpoint predicts differently");
        mt_trainer_destroy(c);
    }
done:
    mt_trainer_destroy(t);
    free(o), free(straight);
    free_rows(&a), free_rows(&probe);
}

/* A status that every rank returns alike, with its message containing want. */
static void expect(mt_status st, const mt_error *err, mt_status code, const char *want, const char *what)
{
    int mine[2] = {(int)st, (int)st}, lo[2];
    mine[1] = -mine[1];
    MPI_Allreduce(mine, lo, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    CHECK(lo[0] == -lo[1], "%s: the ranks returned different statuses", what);
    CHECK(st == code && strstr(err->msg, want), "%s: got %s '%s', want %s with '%s'", what, mt_status_name(st),
          err->msg, mt_status_name(code), want);
}

static void test_errors(int rank, int size)
{
    mt_trainer *t = NULL;
    mt_error err;
    mt_status st = mt_trainer_from_yaml("model: [unclosed\n", NULL, 0, MT_COMM(MPI_COMM_WORLD), &t, &err);
    expect(st, &err, MT_ERR_CONFIG, "<yaml>", "bad YAML");
    CHECK(t == NULL, "a failed create left a trainer");
    st = mt_trainer_from_yaml("gan: {noise: 4}\n", NULL, 0, MT_COMM(MPI_COMM_WORLD), &t, &err);
    CHECK(st != MT_OK && t == NULL, "a gan config was accepted");
    st = mt_trainer_from_file(mt_test_path("missing.yaml"), NULL, 0, MT_COMM(MPI_COMM_WORLD), &t, &err);
    expect(st, &err, MT_ERR_INPUT, "missing.yaml", "missing config file");
    st = mt_trainer_from_checkpoint(mt_test_path("missing.h5"), NULL, 0, MT_COMM(MPI_COMM_WORLD), &t, &err);
    expect(st, &err, MT_ERR_INPUT, "missing.h5", "missing checkpoint");
    const char *unknown[] = {"training.epochz=3"};
    st = mt_trainer_from_yaml(classifier, unknown, 1, MT_COMM(MPI_COMM_WORLD), &t, &err);
    expect(st, &err, MT_ERR_CONFIG, "epochz", "unknown key in an override");

    /* A config file read by every rank. */
    if (rank == 0) {
        FILE *f = fopen(mt_test_path("c.yaml"), "w");
        fputs(classifier, f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char *o = override("output", mt_test_path("errors"));
    const char *over[] = {o};
    st = mt_trainer_from_file(mt_test_path("c.yaml"), over, 1, MT_COMM(MPI_COMM_WORLD), &t, &err);
    CHECK(st == MT_OK, "from_file: %s", err.msg);
    free(o);
    if (!t)
        return;
    CHECK(strstr(mt_trainer_output_dir(t), "errors") && strstr(mt_trainer_config_yaml(t), "categorical_crossentropy"),
          "output %s", mt_trainer_output_dir(t));
    CHECK(mt_trainer_rank(t) == rank && mt_trainer_size(t) == size, "rank %d size %d", mt_trainer_rank(t),
          mt_trainer_size(t));
    expect(mt_trainer_train(t, 0, NULL, &err), &err, MT_ERR_CONFIG, "data.file", "train without data.file");
    mt_arrays a = rows((uint64_t)rank * 20, 20), none = {0};
    expect(mt_trainer_train_arrays(t, &none, NULL, 0, NULL, &err), &err, MT_ERR_INPUT, "no rows", "no rows");
    if (size > 1) {
        expect(mt_trainer_train_arrays(t, &a, rank == 0 ? &a : NULL, 0, NULL, &err), &err, MT_ERR_USAGE,
               "validation arrays", "validation on rank 0 only");
        float yt[20 * 3] = {0};
        mt_arrays mixed = {.n = 20, .x = a.x, .y_target = yt};
        expect(mt_trainer_train_arrays(t, rank == 0 ? &a : &mixed, NULL, 0, NULL, &err), &err, MT_ERR_INPUT,
               "same kind", "mixed label kinds");
    }
    mt_arrays nolabels = {.n = 20, .x = a.x};
    expect(mt_trainer_evaluate_arrays(t, &nolabels, &(mt_eval_report){0}, &err), &err, MT_ERR_USAGE, "no labels",
           "evaluate without labels");
    float nan_x[3] = {NAN, 0, 0};
    int32_t y0 = 0;
    mt_arrays with_nan = {.n = 1, .x = nan_x, .y_class = &y0};
    expect(mt_trainer_evaluate_arrays(t, &with_nan, &(mt_eval_report){0}, &err), &err, MT_ERR_INPUT, "missing",
           "a NaN feature under data.missing: error");
    expect(mt_trainer_evaluate_file(t, NULL, NULL, &(mt_eval_report){0}, &err), &err, MT_ERR_CONFIG, "data.file",
           "evaluate_file without data.file");
    /* The trainer still works after all that: predictions are finite probabilities. */
    float p[20 * 3];
    CHECK(mt_trainer_predict(t, a.x, 20, p, &err) == MT_OK, "predict: %s", err.msg);
    CHECK(fabsf(p[0] + p[1] + p[2] - 1.0f) < 1e-5f, "softmax row sums to %g", (double)(p[0] + p[1] + p[2]));
    free_rows(&a);
    mt_trainer_destroy(t);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mt_comm *c = NULL;
    mt_error err = {0};
    mt_comm_create_world(&c, &err);
    if (mt_test_mpi_tmpdir(c, "mt_api") != 0)
        return 1;
    test_distribution(rank, size);
    test_subcommunicators(rank, size);
    test_regression(rank, size);
    test_resume(rank, size);
    test_errors(rank, size);
    int rc = mt_test_mpi_finish(c, "test_api");
    mt_comm_destroy(c);
    MPI_Finalize();
    return rc;
}
