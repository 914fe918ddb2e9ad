/* Early stopping under MPI, at np = 1, 2, 4: with a min_delta no epoch can beat, the best epoch is the
 * first, so training stops after 1 + patience epochs on every rank (the ranks see the same reduced
 * metrics); restore_best_weights ends with the weights of epoch 1 (compared with best.h5 and with a
 * 1-epoch run); and --resume after the stop trains nothing more. A monitor of val_* without a validation
 * split is a config error on every rank. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "comm/comm.h"
#include "train/checkpoint.h"
#include "testlib.h"
#include "train/trainer.h"

static mt_status run(mt_comm *comm, const char *dir, const char *name, int epochs, const char *early, int validation,
                     int resume, const char *training, mt_train_result *res, mt_error *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model: {input: [8], layers: [{dense: {units: 8, activation: relu}}, {dense: {units: 3, activation: "
             "softmax}}]}\n"
             "loss: categorical_crossentropy\noptimizer: {name: adam, learning_rate: 0.01}\n"
             "data: {file: %s/data.h5, train: train%s}\ntraining: {epochs: %d, batch_size: 16, seed: 3%s}\n"
             "output: %s/%s\n%s\n",
             dir, validation ? ", validation: train" : "", epochs, training, dir, name, early);
    mt_config cfg;
    mt_status st = mt_config_load_string(yaml, name, NULL, 0, &cfg, err);
    if (st)
        return st;
    mt_train_options opts = {.resume = resume};
    st = mt_train_run(&cfg, comm, &opts, res, err);
    mt_config_free(&cfg);
    return st;
}

static int same_params(const char *a, const char *b)
{
    char *ya = NULL;
    mt_config cfg;
    mt_model ma, mb;
    mt_error err = {0};
    int have_cfg = 0, have_a = 0, have_b = 0;
    int ok = mt_checkpoint_read_config(a, &ya, &err) == MT_OK &&
             (have_cfg = mt_config_load_string(ya, a, NULL, 0, &cfg, &err) == MT_OK) &&
             (have_a = mt_model_build(&cfg, 0, &ma, &err) == MT_OK) &&
             (have_b = mt_model_build(&cfg, 0, &mb, &err) == MT_OK) &&
             mt_checkpoint_read(a, &(mt_checkpoint){.model = &ma}, &err) == MT_OK &&
             mt_checkpoint_read(b, &(mt_checkpoint){.model = &mb}, &err) == MT_OK;
    CHECK(ok, "loading %s and %s: %s", a, b, err.msg);
    ok = ok && memcmp(ma.params, mb.params, ma.n_params * sizeof(float)) == 0;
    if (have_b)
        mt_model_free(&mb);
    if (have_a)
        mt_model_free(&ma);
    if (have_cfg)
        mt_config_free(&cfg);
    free(ya);
    return ok;
}

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_comm *world = NULL;
    mt_error err = {0};
    mt_comm_create_world(&world, &err);
    int rank = mt_comm_rank(world);
    if (mt_test_mpi_tmpdir(world, "mt-early") != 0)
        return 1;
    const char *dir = mt_test_dir;
    if (rank == 0)
        mt_test_write_dataset(mt_test_path("data.h5"), 96, 8, 3, 0);
    mt_comm_barrier(world, &err);
    const char *early = "early_stopping: {monitor: val_loss, patience: 2, min_delta: 1000, restore_best_weights: true}";
    mt_train_result res;
    if (CHECK(run(world, dir, "stop", 10, early, 1, 0, "", &res, &err) == MT_OK, "rank %d: %s", rank, err.msg)) {
        CHECK(res.epochs_run == 3, "rank %d ran %d epochs, expected 3 (best epoch 1, patience 2)", rank,
              res.epochs_run);
        mt_train_result_free(&res);
    }
    if (CHECK(run(world, dir, "one", 1, "", 1, 0, "", &res, &err) == MT_OK, "rank %d: %s", rank, err.msg))
        mt_train_result_free(&res);
    /* the same with the optimizer state in pieces (best.h5 written from them, the best weights restored) */
    if (CHECK(run(world, dir, "stop_pieces", 10, early, 1, 0, ", shard_across_nodes: true", &res, &err) == MT_OK,
              "rank %d: %s", rank, err.msg)) {
        CHECK(res.epochs_run == 3, "pieces: rank %d ran %d epochs, expected 3", rank, res.epochs_run);
        mt_train_result_free(&res);
    }
    if (rank == 0) {
        char a[320], b[320], c[320], d[320];
        snprintf(a, sizeof a, "%s/stop/checkpoint.h5", dir);
        snprintf(b, sizeof b, "%s/stop/best.h5", dir);
        snprintf(c, sizeof c, "%s/one/checkpoint.h5", dir);
        snprintf(d, sizeof d, "%s/stop_pieces/checkpoint.h5", dir);
        CHECK(same_params(a, b), "final weights are not the best epoch's (best.h5)");
        CHECK(same_params(a, c), "final weights differ from a 1-epoch run");
        CHECK(same_params(a, d), "final weights with the state in pieces differ from those without");
    }
    if (CHECK(run(world, dir, "stop", 10, early, 1, 1, "", &res, &err) == MT_OK, "resume: %s", err.msg)) {
        CHECK(res.epochs_run == 0, "resume after the stop trained %d more epochs", res.epochs_run);
        mt_train_result_free(&res);
    }
    /* Monitoring val_* without a validation split: a config error naming the key, on every rank. */
    mt_status st = run(world, dir, "noval", 2, "early_stopping: {monitor: val_accuracy}", 0, 0, "", &res, &err);
    CHECK(st == MT_ERR_CONFIG && strstr(err.msg, "early_stopping.monitor"), "rank %d: no validation: %s", rank,
          err.msg);
    int rc = mt_test_mpi_finish(world, "early_stopping");
    mt_comm_destroy(world);
    mt_comm_finalize();
    return rc;
}
