/* Data-parallel equivalence, run at np = 1, 2, 4: training with the same global batch on all ranks of
 * the job gives the weights of a single-rank run (computed here on rank 0 with a one-rank communicator):
 * SGD with momentum within 1e-5 and Adam within 1e-4 of each tensor's largest magnitude. The global
 * batch (30) splits unevenly over 4 ranks and the epoch ends with a partial batch (200 rows).
 * Resume: 1 epoch, then --resume to 2 epochs equals 2 uninterrupted epochs bitwise at the same np, and
 * a checkpoint written by the single-rank run resumed on all ranks matches within tolerance.
 * Gradient accumulation: 2 micro-batches of 15 per step follow the same path as batches of 30.
 * A third model adds sync batch norm and dropout between the dense layers; a fourth uses Nadam (whose
 * state includes a scalar) with a warmup + cosine learning-rate schedule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "dist/comm.h"
#include "io/checkpoint.h"
#include "nn/model.h"
#include "testlib.h"
#include "train/trainer.h"

enum { ROWS = 200, FEATURES = 12, CLASSES = 4 };

/* The third configuration adds layers whose behaviour depends on the batch split: sync batch norm and
 * dropout (mask keyed by sample position), which must also match the single-rank run. */
static const char *const middle_layers = "{batch_norm: {sync: true}}, {dropout: {rate: 0.3}}, ";

static mt_status train_batch(mt_comm *comm, const char *dir, const char *name, const char *optimizer, int epochs,
                             int resume, int batch, int accumulate)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model: {input: [%d], layers: [{dense: {units: 16, activation: relu}}, %s{dense: {units: 8, activation: tanh}},"
             " {dense: {units: %d, activation: softmax}}]}\n"
             "loss: categorical_crossentropy\noptimizer: %s\n"
             "data: {file: %s/data.h5, train: train, validation: train}\n"
             "training: {epochs: %d, batch_size: %d, accumulate_steps: %d, seed: 5}\noutput: %s/%s\n",
             FEATURES, strstr(optimizer, "adam") && strstr(name, "2") ? middle_layers : "", CLASSES, optimizer, dir,
             epochs, batch, accumulate, dir, name);
    mt_config cfg;
    mt_error err = {0};
    mt_status st = mt_config_load_string(yaml, name, NULL, 0, &cfg, &err);
    if (st) {
        CHECK(0, "config: %s", err.msg);
        return st;
    }
    mt_train_options opts = {.resume = resume};
    mt_train_result res;
    st = mt_train_run(&cfg, comm, &opts, &res, &err);
    CHECK(st == MT_OK, "%s: %s", name, err.msg);
    mt_train_result_free(&res);
    mt_config_free(&cfg);
    return st;
}

static mt_status train(mt_comm *comm, const char *dir, const char *name, const char *optimizer, int epochs,
                       int resume)
{
    return train_batch(comm, dir, name, optimizer, epochs, resume, 30, 1);
}

/* Loads dir/name/checkpoint.h5 into a model built from its own config. */
static int load(const char *dir, const char *name, mt_config *cfg, mt_model *m)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/checkpoint.h5", dir, name);
    char *yaml = NULL;
    mt_error err = {0};
    int ok = mt_checkpoint_read_config(path, &yaml, &err) == MT_OK &&
             mt_config_load_string(yaml, path, NULL, 0, cfg, &err) == MT_OK && mt_model_build(cfg, m, &err) == MT_OK &&
             mt_checkpoint_read(path, &(mt_checkpoint){.model = m}, &err) == MT_OK;
    free(yaml);
    return CHECK(ok, "load %s: %s", path, err.msg);
}

/* Compares the weights of two runs tensor by tensor; tol 0 means bitwise. */
static void compare(const char *dir, const char *a, const char *b, double tol)
{
    mt_config ca, cb;
    mt_model ma, mb;
    if (!load(dir, a, &ca, &ma) || !load(dir, b, &cb, &mb))
        return;
    for (int i = 0; i < ma.n_layers; i++)
        for (int t = 0; t < ma.layers[i].n_tensors; t++) {
            const mt_tensor_desc *d = &ma.layers[i].tensors[t];
            const float *x = ma.layers[i].params + d->offset, *y = mb.layers[i].params + d->offset;
            double big = 0, diff = 0;
            for (size_t k = 0; k < d->size; k++) {
                big = fmax(big, fabs(x[k]));
                diff = fmax(diff, fabs((double)x[k] - y[k]));
            }
            CHECK(tol == 0 ? diff == 0 : diff <= tol * big, "%s vs %s: layer %d %s differs by %.3g (max |w| %.3g)", a,
                  b, i, d->name, diff, big);
        }
    mt_model_free(&ma), mt_model_free(&mb), mt_config_free(&ca), mt_config_free(&cb);
}

int main(int argc, char **argv)
{
    mt_dist_init(&argc, &argv);
    mt_comm *world = NULL, *self = NULL;
    mt_error err = {0};
    mt_comm_create_world(&world, &err);
    mt_comm_create_self(&self, &err);
    int rank = mt_comm_rank(world);
    if (mt_test_mpi_tmpdir(world, "mt-equiv") != 0)
        return 1;
    const char *dir = mt_test_dir;
    if (rank == 0)
        mt_test_write_dataset(mt_test_path("data.h5"), ROWS, FEATURES, CLASSES);
    mt_comm_barrier(world, &err);
    const char *optimizers[4] = {"{name: sgd, learning_rate: 0.1, momentum: 0.9}", "{name: adam, learning_rate: 0.01}",
                                 "{name: adam, learning_rate: 0.01}",
                                 "{name: nadam, learning_rate: 0.01}\nlr_schedule: {name: cosine, warmup_epochs: 1}"};
    const double tol[4] = {1e-5, 1e-4, 1e-4, 1e-4};
    for (int o = 0; o < 4; o++) {
        char ref[32], par[32], first[32], resumed[32], cross[32], accum[32];
        snprintf(ref, sizeof ref, "ref%d", o);
        snprintf(par, sizeof par, "par%d", o);
        snprintf(first, sizeof first, "half%d", o);
        snprintf(resumed, sizeof resumed, "half%d", o);
        snprintf(cross, sizeof cross, "cross%d", o);
        snprintf(accum, sizeof accum, "accum%d", o);
        if (rank == 0) {
            train(self, dir, ref, optimizers[o], 2, 0);
            train(self, dir, cross, optimizers[o], 1, 0);
        }
        mt_comm_barrier(world, &err);
        train(world, dir, par, optimizers[o], 2, 0);
        train(world, dir, first, optimizers[o], 1, 0);
        train(world, dir, resumed, optimizers[o], 2, 1);
        train(world, dir, cross, optimizers[o], 2, 1);
        train_batch(world, dir, accum, optimizers[o], 2, 0, 15, 2);
        if (rank == 0) {
            compare(dir, ref, par, tol[o]);
            compare(dir, par, resumed, 0);
            compare(dir, ref, cross, tol[o]);
            if (o < 2) /* batch norm statistics depend on the micro-batch, so accumulation differs there */
                compare(dir, ref, accum, tol[o]);
        }
        mt_comm_barrier(world, &err);
    }
    int rc = mt_test_mpi_finish(world, "equivalence");
    mt_comm_destroy(self);
    mt_comm_destroy(world);
    mt_dist_finalize();
    return rc;
}
