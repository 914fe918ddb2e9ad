/* A program that embeds mpitrain through its installed C API (tests/install/run.sh builds it against an
 * installed prefix with pkg-config and with CMake, and runs it at np 2): a small classifier from a YAML
 * string, trained on synthetic separable arrays of which every rank holds its own rows, evaluated, saved,
 * loaded into a second and a third trainer, whose predictions must equal the first's bit for bit; the
 * same model trained again from the HDF5 file the array run wrote must match it too.
 *
 *   mpiexec -np 2 consumer WORK_DIR
 *
 * Exits 0 when every check passes on every rank, 1 otherwise; rank 0 prints each check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <mpitrain/api.h>

static const char *yaml = "model:\n"
                          "  input: [2]\n"
                          "  layers:\n"
                          "    - dense: {units: 16, activation: tanh}\n"
                          "    - dense: {units: 2, activation: softmax}\n"
                          "loss: categorical_crossentropy\n"
                          "optimizer: {name: adam, learning_rate: 0.02}\n"
                          "training: {epochs: 12, batch_size: 32, seed: 5}\n";

static int rank, failures;

static void check(int ok, const char *what, double value)
{
    int all = ok;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s - %s (%g)\n", all ? "ok  " : "FAIL", what, value);
    failures += !all;
}

/* A call that must succeed; on failure the message is printed and the program ends (the ranks agree on
 * the status, so all of them leave here together). */
static void must(mt_status st, const mt_error *err, const char *what)
{
    if (st == MT_OK)
        return;
    if (rank == 0)
        fprintf(stderr, "FAIL - %s: %s: %s\n", what, mt_status_name(st), err->msg);
    MPI_Finalize();
    exit(1);
}

/* n points of two classes separated by the line x0 + 2 x1 = 0.2 with a margin, from a per-rank seed. */
static void make_data(unsigned seed, int n, float *x, int32_t *y)
{
    for (int i = 0; i < n;) {
        seed = seed * 1103515245u + 12345u;
        float a = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        seed = seed * 1103515245u + 12345u;
        float b = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        float d = a + 2 * b - 0.2f;
        if (fabsf(d) < 0.15f)
            continue;
        x[2 * i] = a, x[2 * i + 1] = b;
        y[i] = d > 0;
        i++;
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc != 2) {
        if (rank == 0)
            fprintf(stderr, "usage: mpiexec -np N consumer WORK_DIR\n");
        MPI_Finalize();
        return 2;
    }
    const char *dir = argv[1];
    mt_error err;
    char output[512], ckpt[600], file_output[512], arrays[600];
    snprintf(output, sizeof output, "output=%s/arrays_run", dir);
    snprintf(ckpt, sizeof ckpt, "%s/model.h5", dir);
    snprintf(file_output, sizeof file_output, "output=%s/file_run", dir);
    snprintf(arrays, sizeof arrays, "data.file=%s/arrays_run/arrays.h5", dir);

    /* Every rank its own rows: 300 training and 200 test rows each, drawn from different seeds. */
    enum { NTRAIN = 300, NTEST = 200 };
    float xtr[NTRAIN * 2], xte[NTEST * 2];
    int32_t ytr[NTRAIN], yte[NTEST];
    make_data(1000u + (unsigned)rank, NTRAIN, xtr, ytr);
    make_data(9000u + (unsigned)rank, NTEST, xte, yte);
    mt_arrays train = {.n = NTRAIN, .x = xtr, .y_class = ytr}, test = {.n = NTEST, .x = xte, .y_class = yte};

    if (rank == 0)
        printf("mpitrain %s\n", mt_version());
    const char *over[] = {output};
    mt_trainer *a = NULL;
    must(mt_trainer_from_yaml(yaml, over, 1, MT_COMM(MPI_COMM_WORLD), &a, &err), &err, "mt_trainer_from_yaml");
    check(mt_trainer_input_size(a) == 2 && mt_trainer_output_size(a) == 2, "input and output sizes", 2);
    check(mt_trainer_param_count(a) == 2 * 16 + 16 + 16 * 2 + 2, "parameter count", (double)mt_trainer_param_count(a));

    mt_eval_report before, ev;
    must(mt_trainer_evaluate_arrays(a, &test, &before, &err), &err, "evaluate before training");
    mt_train_report rep;
    must(mt_trainer_train_arrays(a, &train, NULL, 0, &rep, &err), &err, "mt_trainer_train_arrays");
    check(rep.epochs_run == 12 && rep.ranks == 2, "12 epochs on 2 ranks", rep.epochs_run);
    must(mt_trainer_evaluate_arrays(a, &test, &ev, &err), &err, "evaluate after training");
    check(ev.rows == 2 * NTEST, "test rows over both ranks", (double)ev.rows);
    check(ev.accuracy > 0.9, "test accuracy > 0.9", ev.accuracy);
    check(ev.loss < before.loss, "training lowered the test loss", ev.loss);

    /* The reported accuracy against the arg-max of this program's own predictions, summed over ranks. */
    float pa[NTEST * 2], pb[NTEST * 2], pc[NTEST * 2], pd[NTEST * 2];
    must(mt_trainer_predict(a, xte, NTEST, pa, &err), &err, "predict");
    int correct = 0, total = 0;
    for (int i = 0; i < NTEST; i++)
        correct += (pa[2 * i + 1] > pa[2 * i]) == (yte[i] == 1);
    MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    total = 2 * NTEST;
    check(fabs((double)correct / total - ev.accuracy) < 1e-12, "accuracy equals that of the predictions",
          (double)correct / total);

    /* Saved and loaded: a trainer from the checkpoint, and a fresh one from the YAML given the weights. */
    must(mt_trainer_save(a, ckpt, &err), &err, "mt_trainer_save");
    mt_trainer *b = NULL, *c = NULL;
    must(mt_trainer_from_checkpoint(ckpt, NULL, 0, MT_COMM(MPI_COMM_WORLD), &b, &err), &err,
         "mt_trainer_from_checkpoint");
    must(mt_trainer_from_yaml(yaml, over, 1, MT_COMM(MPI_COMM_WORLD), &c, &err), &err, "second trainer");
    must(mt_trainer_predict(c, xte, NTEST, pc, &err), &err, "predict untrained");
    check(memcmp(pa, pc, sizeof pa) != 0, "an untrained trainer predicts differently", 0);
    must(mt_trainer_load(c, ckpt, &err), &err, "mt_trainer_load");
    must(mt_trainer_predict(b, xte, NTEST, pb, &err), &err, "predict b");
    must(mt_trainer_predict(c, xte, NTEST, pc, &err), &err, "predict c");
    check(memcmp(pa, pb, sizeof pa) == 0, "predictions after from_checkpoint are identical", 0);
    check(memcmp(pa, pc, sizeof pa) == 0, "predictions after load are identical", 0);

    /* The same config trained on the file the array run wrote: the same model, bit for bit. */
    const char *over_file[] = {file_output, arrays};
    mt_trainer *d = NULL;
    must(mt_trainer_from_yaml(yaml, over_file, 2, MT_COMM(MPI_COMM_WORLD), &d, &err), &err, "file trainer");
    must(mt_trainer_train(d, 0, NULL, &err), &err, "mt_trainer_train");
    must(mt_trainer_predict(d, xte, NTEST, pd, &err), &err, "predict d");
    check(memcmp(pa, pd, sizeof pa) == 0, "training on the HDF5 file gives the same model", 0);
    mt_eval_report fe;
    must(mt_trainer_evaluate_file(d, NULL, "train", &fe, &err), &err, "mt_trainer_evaluate_file");
    mt_eval_report ae;
    must(mt_trainer_evaluate_arrays(d, &train, &ae, &err), &err, "evaluate train arrays");
    check(fe.rows == 2 * NTRAIN && fabs(fe.loss - ae.loss) < 1e-6 * fabs(ae.loss) && fe.accuracy == ae.accuracy,
          "file and array evaluation agree", fe.loss - ae.loss);

    /* Errors come back as statuses with the same message on every rank. */
    int32_t bad = 7;
    mt_arrays wrong = {.n = 1, .x = xte, .y_class = &bad};
    mt_status st = mt_trainer_evaluate_arrays(a, rank == 1 ? &wrong : &test, &ev, &err);
    check(st == MT_ERR_INPUT && strstr(err.msg, "rank 1") && strstr(err.msg, "label 7"),
          "a bad label on rank 1 is reported by every rank", st);
    if (rank == 0)
        printf("       message: %s\n", err.msg);
    st = mt_trainer_load(c, "/nonexistent/model.h5", &err);
    check(st == MT_ERR_INPUT, "loading a missing checkpoint is MT_ERR_INPUT", st);
    must(mt_trainer_predict(c, xte, NTEST, pc, &err), &err, "predict after a failed load");
    check(memcmp(pa, pc, sizeof pa) == 0, "a failed load leaves the weights unchanged", 0);

    mt_trainer_destroy(a);
    mt_trainer_destroy(b);
    mt_trainer_destroy(c);
    mt_trainer_destroy(d);
    MPI_Finalize();
    if (rank == 0)
        printf("%s\n", failures ? "FAILED" : "all checks passed");
    return failures != 0;
}
