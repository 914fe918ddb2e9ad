/* GAN training, run at np = 1, 2, 4: the generator and discriminator after 2 epochs on all ranks of the
 * job match a single-rank run (computed on rank 0 with a one-rank communicator) within 1e-4 of the largest
 * parameter magnitude; 1 epoch, checkpoint, --resume to 2 epochs equals 2 uninterrupted epochs bitwise
 * at the same np; a one-rank checkpoint resumed on all ranks matches within the same tolerance. The
 * global batch (22) splits unevenly and the epoch ends with a partial batch of 2 rows (at np = 4 some
 * ranks then hold no sample), the generator has sync batch norm and a transposed convolution, the
 * discriminator a convolution and dropout (masks keyed by sample position). Also: the checkpoint's
 * history has both losses, finite, for each epoch; a second run with the same seed is bitwise equal; early
 * stopping on g_loss stops after 2 of 4 epochs and restores the weights of a 1-epoch run, bitwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "comm/comm.h"
#include "testlib.h"
#include "train/gan_kind.h"

enum { ROWS = 90, FEATURES = 16, CLASSES = 3, BATCH = 22 };

static const char *const gan_yaml =
    "gan:\n"
    "  noise: 6\n"
    "  generator:\n"
    "    layers:\n"
    "      - dense: {units: 16}\n"
    "      - reshape: {shape: [4, 2, 2]}\n"
    "      - batch_norm: {sync: true}\n"
    "      - relu\n"
    "      - conv2d_transpose: {filters: 1, kernel_size: 3, strides: 2, padding: same, activation: tanh}\n"
    "    optimizer: {name: adam, learning_rate: 0.01, beta_1: 0.5}\n"
    "  discriminator:\n"
    "    layers:\n"
    "      - conv2d: {filters: 4, kernel_size: 3, strides: 2, padding: same}\n"
    "      - leaky_relu: {alpha: 0.2}\n"
    "      - flatten\n"
    "      - dropout: {rate: 0.25}\n"
    "      - dense: {units: 1}\n"
    "    optimizer: {name: sgd, learning_rate: 0.05, momentum: 0.9}\n"
    "data: {file: %s/grid.h5, train: train, scaling: minmax}\n"
    "training: {epochs: %d, batch_size: %d, seed: 7}\n"
    "output: %s/%s\n"
    "%s";

/* Early stopping that stops after the second epoch (no change counts as an improvement) and goes back to
 * the weights of the first. */
static const char *const stop_after_2 =
    "early_stopping: {monitor: g_loss, patience: 1, min_delta: 1e30, restore_best_weights: true}\n";

static mt_status load_cfg(const char *name, int epochs, const char *extra, mt_config *cfg)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, gan_yaml, mt_test_dir, epochs, BATCH, mt_test_dir, name, extra);
    mt_error err = {0};
    mt_status st = mt_config_load_string(yaml, name, NULL, 0, cfg, &err);
    CHECK(st == MT_OK, "config %s: %s", name, err.msg);
    return st;
}

static mt_status train_with(mt_comm *comm, const char *name, int epochs, int resume, const char *extra,
                            mt_train_result *out)
{
    mt_config cfg;
    mt_status st = load_cfg(name, epochs, extra, &cfg);
    if (st)
        return st;
    mt_error err = {0};
    mt_train_options opts = {.resume = resume};
    mt_train_result res;
    st = mt_train_run(&cfg, comm, &opts, &res, &err);
    CHECK(st == MT_OK, "%s: %s", name, err.msg);
    if (out)
        *out = res;
    else
        mt_train_result_free(&res);
    mt_config_free(&cfg);
    return st;
}

static mt_status train(mt_comm *comm, const char *name, int epochs, int resume, mt_train_result *out)
{
    return train_with(comm, name, epochs, resume, "", out);
}

/* Both networks' values of run `name`; NULL after a failed check. */
static float *values(const char *name, size_t *n)
{
    mt_config cfg;
    float *v = NULL;
    if (load_cfg(name, 1, "", &cfg))
        return NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/%s/checkpoint.h5", mt_test_dir, name);
    mt_error err = {0};
    CHECK(mt_gan_checkpoint_values(path, &cfg, &v, n, &err) == MT_OK, "read %s: %s", path, err.msg);
    mt_config_free(&cfg);
    return v;
}

/* tol 0: bitwise. */
static void compare(const char *a, const char *b, double tol)
{
    size_t na = 0, nb = 0;
    float *x = values(a, &na), *y = values(b, &nb);
    if (x && y && CHECK(na == nb && na > 0, "%s has %zu values, %s %zu", a, na, b, nb)) {
        double big = 0, diff = 0;
        size_t worst = 0;
        for (size_t k = 0; k < na; k++) {
            big = fmax(big, fabs(x[k]));
            if (fabs((double)x[k] - y[k]) > diff)
                diff = fabs((double)x[k] - y[k]), worst = k;
        }
        CHECK(tol == 0 ? diff == 0 : diff <= tol * big,
              "%s vs %s: value %zu differs by %.3g (%.9g vs %.9g; max |v| "
              "%.3g)",
              a, b, worst, diff, x[worst], y[worst], big);
        /* training moved the weights: a comparison of untouched values would prove nothing */
        CHECK(big > 0, "%s: all values are zero", a);
    }
    free(x), free(y);
}

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_error err = {0};
    mt_comm *world = NULL, *self = NULL;
    if (mt_comm_create_world(&world, &err) || mt_comm_create_self(&self, &err)) {
        fprintf(stderr, "comm: %s\n", err.msg);
        return 1;
    }
    const int rank = mt_comm_rank(world);
    if (mt_test_mpi_tmpdir(world, "mt-gan"))
        return 1;
    if (rank == 0)
        CHECK(mt_test_write_dataset(mt_test_path("grid.h5"), ROWS, FEATURES, CLASSES, 4) == 0, "dataset");
    mt_comm_barrier(world, &err);
    if (rank == 0) {
        mt_train_result res;
        if (train(self, "ref", 2, 0, &res) == MT_OK) {
            const mt_gan_row *r = &res.last.gan;
            CHECK(res.epochs_run == 2, "ref ran %d epochs", res.epochs_run);
            CHECK(isfinite(r->d_loss) && isfinite(r->g_loss) && r->d_loss > 0 && r->g_loss > 0, "losses d %g g %g",
                  r->d_loss, r->g_loss);
            CHECK(r->d_real > 0 && r->d_real < 1 && r->d_fake > 0 && r->d_fake < 1, "D(x) %g D(G(z)) %g", r->d_real,
                  r->d_fake);
            mt_train_result_free(&res);
        }
        train(self, "ref_again", 2, 0, NULL);
        train(self, "cross", 1, 0, NULL);
    }
    mt_comm_barrier(world, &err);
    train(world, "par", 2, 0, NULL);
    train(world, "half", 1, 0, NULL);
    mt_train_result res;
    if (train(world, "half", 2, 1, &res) == MT_OK) {
        CHECK(res.epochs_run == 1, "resumed run ran %d epochs, not 1", res.epochs_run);
        mt_train_result_free(&res);
    }
    train(world, "cross", 2, 1, NULL);
    /* early stopping: 2 of 4 epochs, ending with the weights of epoch 1 (those of a 1-epoch run) */
    train(world, "one", 1, 0, NULL);
    if (train_with(world, "stopped", 4, 0, stop_after_2, &res) == MT_OK) {
        CHECK(res.epochs_run == 2, "early stopping ran %d epochs, not 2", res.epochs_run);
        mt_train_result_free(&res);
    }
    if (rank == 0) {
        compare("ref", "ref_again", 0);
        compare("ref", "par", 1e-4);
        compare("par", "half", 0);
        compare("ref", "cross", 1e-4);
        compare("one", "stopped", 0);
    }
    int rc = mt_test_mpi_finish(world, "gan");
    mt_comm_destroy(self);
    mt_comm_destroy(world);
    mt_comm_finalize();
    return rc;
}
