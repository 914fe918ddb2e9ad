/* Data-parallel equivalence, run at np = 1, 2, 4: training with the same global batch on all ranks of
 * the job gives the weights of a single-rank run (computed here on rank 0 with a one-rank communicator):
 * SGD with momentum within 1e-5 and Adam within 1e-4 of each tensor's largest magnitude. The global
 * batch (30) splits unevenly over 4 ranks and the epoch ends with a partial batch (200 rows).
 * Resume: 1 epoch, then --resume to 2 epochs equals 2 uninterrupted epochs bitwise at the same np, and
 * a checkpoint written by the single-rank run resumed on all ranks matches within tolerance.
 * Gradient accumulation: 2 micro-batches of 15 per step follow the same path as batches of 30.
 * Buckets: one gradient bucket per layer (sums overlapping backprop) equals one fused sum after it.
 * Load balancing (slices in proportion to measured speeds, re-measured at steps 2, 4, 8) follows the
 * single-rank path within the same tolerance.
 * Deterministic mode (chunks of 4 samples, fixed-point sums): the weights are bitwise identical at np = 1
 * and N, after 1 epoch + --resume, and after a one-rank epoch resumed on N ranks; with accumulation too.
 * The direct path (models of dense layers: a rank's chunks in one pass, each chunk's gradient summed
 * into the fixed point inside the GEMM) gives bitwise the weights of one pass per chunk
 * (MPITRAIN_DETERMINISTIC_CHUNKS=1), with accumulation too, and with a rank that gets no chunk of a batch.
 * bfloat16 gradient exchange: the run stays within 2% of each tensor's largest magnitude of float32
 * (models without batch norm).
 * The cases (table below) cover SGD and Adam MLPs, sync batch norm with dropout, Nadam with a schedule,
 * a small CNN (conv2d, sync batch norm, max pooling) and a small stacked LSTM -> GRU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "comm/comm.h"
#include "train/checkpoint.h"
#include "nn/model.h"
#include "testlib.h"
#include "train/trainer.h"

enum { ROWS = 200, FEATURES = 12, CLASSES = 4 };

/* One model and recipe trained several ways. The data are 12 features per row, read as [12], [3, 4]
 * (a 3x4 image or 3 steps of 4 features) according to the model's input. */
typedef struct eq_case {
    const char *name;
    const char *model;     /* YAML of model: */
    const char *optimizer; /* YAML of optimizer: (may add top-level keys after a newline) */
    double tol;            /* of the np = N vs np = 1 comparison, relative to each tensor's max |w| */
    int accumulate;        /* 2 micro-batches of 15 must equal batches of 30 (not with batch norm) */
} eq_case;

static const eq_case cases[] = {
    {"sgd",
     "{input: [12], layers: [{dense: {units: 16, activation: relu}}, {dense: {units: 8, activation: tanh}},"
     " {dense: {units: 4, activation: softmax}}]}",
     "{name: sgd, learning_rate: 0.1, momentum: 0.9}", 1e-5, 1},
    {"adam",
     "{input: [12], layers: [{dense: {units: 16, activation: relu}}, {dense: {units: 8, activation: tanh}},"
     " {dense: {units: 4, activation: softmax}}]}",
     "{name: adam, learning_rate: 0.01}", 1e-4, 1},
    /* Layers whose behaviour depends on the batch split: sync batch norm, dropout keyed by sample position. */
    {"bn_dropout",
     "{input: [12], layers: [{dense: {units: 16, activation: relu}}, {batch_norm: {sync: true}},"
     " {dropout: {rate: 0.3}}, {dense: {units: 8, activation: tanh}}, {dense: {units: 4, activation: softmax}}]}",
     "{name: adam, learning_rate: 0.01}", 1e-4, 0},
    /* Nadam keeps a scalar in its state; a warmup + cosine schedule runs on the step count. */
    {"nadam",
     "{input: [12], layers: [{dense: {units: 16, activation: relu}}, {dense: {units: 4, activation: softmax}}]}",
     "{name: nadam, learning_rate: 0.01}\nlr_schedule: {name: cosine, warmup_epochs: 1}", 1e-4, 1},
    {"cnn",
     "{input: [3, 4], layers: [{conv2d: {filters: 4, kernel_size: 2, padding: same, activation: relu}},"
     " {batch_norm: {sync: true}}, {max_pool2d: {pool_size: 2}}, {flatten: {}}, {dense: {units: 4, activation: "
     "softmax}}]}",
     "{name: adam, learning_rate: 0.01}", 1e-4, 0},
    /* Clipping by the global norm (the norm of every slice), L2 penalties added slice by slice. */
    {"clip_l2",
     "{input: [12], layers: [{dense: {units: 16, activation: relu, l2: 0.01}}, {dense: {units: 4, activation: "
     "softmax, l1: 0.001}}]}",
     "{name: adam, learning_rate: 0.01, clipnorm: 0.05}", 1e-4, 1},
    {"lstm",
     "{input: [3, 4], layers: [{lstm: {units: 6, return_sequences: true}}, {gru: {units: 5}},"
     " {dense: {units: 4, activation: softmax}}]}",
     "{name: adam, learning_rate: 0.01}", 1e-4, 1},
};

/* extra: more keys of the training map (", deterministic: true"). */
static mt_status train_batch(mt_comm *comm, const char *dir, const char *name, const eq_case *c, int epochs, int resume,
                             int batch, int accumulate, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: %s\nloss: categorical_crossentropy\noptimizer: %s\n"
             "data: {file: %s/%s, train: train, validation: train}\n"
             "training: {epochs: %d, batch_size: %d, accumulate_steps: %d, seed: 5%s}\noutput: %s/%s\n",
             c->model, c->optimizer, dir, strstr(c->model, "[12]") ? "flat.h5" : "grid.h5", epochs, batch, accumulate,
             extra, dir, name);
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
    /* on one host every rank shares the node's copy, unless told otherwise or the sums are bfloat16 */
    const char *per_node = getenv("MPITRAIN_RANKS_PER_NODE");
    const int size = mt_comm_size(comm), k = per_node ? atoi(per_node) : size;
    const int shares = size > 1 && !strstr(extra, "shard_optimizer: false") && !strstr(extra, "bfloat16");
    CHECK(st != MT_OK || res.shared == (shares ? k : 0), "%s: %d rank(s) share a copy, expected %d", name, res.shared,
          shares ? k : 0);
    mt_train_result_free(&res);
    mt_config_free(&cfg);
    return st;
}

static mt_status train(mt_comm *comm, const char *dir, const char *name, const eq_case *c, int epochs, int resume)
{
    return train_batch(comm, dir, name, c, epochs, resume, 30, 1, "");
}

#define DETERMINISTIC ", deterministic: true, chunk_size: 4"

static mt_status train_det(mt_comm *comm, const char *dir, const char *name, const eq_case *c, int epochs, int resume)
{
    return train_batch(comm, dir, name, c, epochs, resume, 30, 1, DETERMINISTIC);
}

/* Loads dir/name/checkpoint.h5 into a model built from its own config. */
static int load(const char *dir, const char *name, mt_config *cfg, mt_model *m)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/checkpoint.h5", dir, name);
    char *yaml = NULL;
    mt_error err = {0};
    int ok = mt_checkpoint_read_config(path, &yaml, &err) == MT_OK &&
             mt_config_load_string(yaml, path, NULL, 0, cfg, &err) == MT_OK &&
             mt_model_build(cfg, 0, m, &err) == MT_OK &&
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

/* "<case>_<what>" in a static buffer per call site's turn (four in rotation). */
static const char *name(const eq_case *c, const char *what)
{
    static char buf[4][48];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s_%s", c->name, what);
    return b;
}

/* Deterministic mode: every way of running gives the one-rank weights, bit for bit. */
static void deterministic(mt_comm *world, mt_comm *self, const char *dir, const eq_case *c)
{
    mt_error err = {0};
    int rank = mt_comm_rank(world);
    if (rank == 0) {
        train_det(self, dir, name(c, "det_ref"), c, 2, 0);
        train_det(self, dir, name(c, "det_cross"), c, 1, 0);
        if (c->accumulate)
            train_batch(self, dir, name(c, "det_accum_ref"), c, 2, 0, 15, 2, DETERMINISTIC);
    }
    mt_comm_barrier(world, &err);
    train_det(world, dir, name(c, "det_par"), c, 2, 0);
    train_det(world, dir, name(c, "det_half"), c, 1, 0);
    train_det(world, dir, name(c, "det_half"), c, 2, 1);
    train_det(world, dir, name(c, "det_cross"), c, 2, 1);
    if (c->accumulate)
        train_batch(world, dir, name(c, "det_accum"), c, 2, 0, 15, 2, DETERMINISTIC);
    train_batch(world, dir, name(c, "det_balance"), c, 2, 0, 30, 1, DETERMINISTIC ", balance: true");
    /* one copy per node or every rank on its own, and a run resumed with the setting changed */
    train_batch(world, dir, name(c, "det_noshard"), c, 2, 0, 30, 1, DETERMINISTIC ", shard_optimizer: false");
    train_batch(world, dir, name(c, "det_switch"), c, 1, 0, 30, 1, DETERMINISTIC ", shard_optimizer: false");
    train_batch(world, dir, name(c, "det_switch"), c, 2, 1, 30, 1, DETERMINISTIC ", shard_optimizer: true");
    /* the optimizer state in pieces (each rank keeps its slices' state alone), and resumed both ways: the
     * checkpoint written from the pieces, and the pieces taken from a checkpoint */
#define PIECES DETERMINISTIC ", shard_across_nodes: true"
    train_batch(world, dir, name(c, "det_pieces"), c, 2, 0, 30, 1, PIECES);
    train_batch(world, dir, name(c, "det_from_pieces"), c, 1, 0, 30, 1, PIECES);
    train_batch(world, dir, name(c, "det_from_pieces"), c, 2, 1, 30, 1, DETERMINISTIC);
    train_batch(world, dir, name(c, "det_to_pieces"), c, 1, 0, 30, 1, DETERMINISTIC ", shard_optimizer: false");
    train_batch(world, dir, name(c, "det_to_pieces"), c, 2, 1, 30, 1, PIECES);
    /* at np 4: two nodes of 2 ranks (as the program sees them), each slice summed across the nodes too, and
     * with the state in pieces split between the nodes (resumed from a checkpoint of the pieces) */
    const int two_nodes = mt_comm_size(world) == 4;
    if (two_nodes) {
        setenv("MPITRAIN_RANKS_PER_NODE", "2", 1);
        train_batch(world, dir, name(c, "det_nodes"), c, 2, 0, 30, 1, DETERMINISTIC);
        train_batch(world, dir, name(c, "det_nodes_pieces"), c, 1, 0, 30, 1, PIECES);
        train_batch(world, dir, name(c, "det_nodes_pieces"), c, 2, 1, 30, 1, PIECES);
        unsetenv("MPITRAIN_RANKS_PER_NODE");
    }
#undef PIECES
    setenv("MPITRAIN_DETERMINISTIC_CHUNKS", "1", 1); /* one pass per chunk */
    train_det(world, dir, name(c, "det_chunks"), c, 2, 0);
    if (c->accumulate) {
        train_batch(world, dir, name(c, "det_accum_chunks"), c, 2, 0, 15, 2, DETERMINISTIC);
        train_batch(world, dir, name(c, "det_c8_chunks"), c, 1, 0, 30, 1, ", deterministic: true, chunk_size: 8");
    }
    unsetenv("MPITRAIN_DETERMINISTIC_CHUNKS");
    if (c->accumulate) /* 3 chunks in the last batch (20 rows): at np 4 a rank has none */
        train_batch(world, dir, name(c, "det_c8"), c, 1, 0, 30, 1, ", deterministic: true, chunk_size: 8");
    if (rank == 0) {
        if (two_nodes) {
            compare(dir, name(c, "det_ref"), name(c, "det_nodes"), 0);
            compare(dir, name(c, "det_ref"), name(c, "det_nodes_pieces"), 0);
        }
        compare(dir, name(c, "det_ref"), name(c, "det_pieces"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_from_pieces"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_to_pieces"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_noshard"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_switch"), 0);
        compare(dir, name(c, "det_chunks"), name(c, "det_par"), 0);
        if (c->accumulate) {
            compare(dir, name(c, "det_accum_chunks"), name(c, "det_accum"), 0);
            compare(dir, name(c, "det_c8_chunks"), name(c, "det_c8"), 0);
        }
        compare(dir, name(c, "det_ref"), name(c, "det_balance"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_par"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_half"), 0);
        compare(dir, name(c, "det_ref"), name(c, "det_cross"), 0);
        if (c->accumulate)
            compare(dir, name(c, "det_accum_ref"), name(c, "det_accum"), 0);
    }
    mt_comm_barrier(world, &err);
}

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_comm *world = NULL, *self = NULL;
    mt_error err = {0};
    mt_comm_create_world(&world, &err);
    mt_comm_create_self(&self, &err);
    int rank = mt_comm_rank(world);
    if (mt_test_mpi_tmpdir(world, "mt-equiv") != 0)
        return 1;
    const char *dir = mt_test_dir;
    if (rank == 0) {
        mt_test_write_dataset(mt_test_path("flat.h5"), ROWS, FEATURES, CLASSES, 0);
        mt_test_write_dataset(mt_test_path("grid.h5"), ROWS, FEATURES, CLASSES, 4);
    }
    mt_comm_barrier(world, &err);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const eq_case *c = &cases[k];
        char ref[48], par[48], half[48], cross[48], accum[48];
        snprintf(ref, sizeof ref, "%s_ref", c->name);
        snprintf(par, sizeof par, "%s_par", c->name);
        snprintf(half, sizeof half, "%s_half", c->name);
        snprintf(cross, sizeof cross, "%s_cross", c->name);
        snprintf(accum, sizeof accum, "%s_accum", c->name);
        if (rank == 0) {
            train(self, dir, ref, c, 2, 0);
            train(self, dir, cross, c, 1, 0);
        }
        mt_comm_barrier(world, &err);
        train(world, dir, par, c, 2, 0);
        train(world, dir, half, c, 1, 0);
        train(world, dir, half, c, 2, 1);
        train(world, dir, cross, c, 2, 1);
        if (c->accumulate)
            train_batch(world, dir, accum, c, 2, 0, 15, 2, "");
        train_batch(world, dir, name(c, "buckets"), c, 2, 0, 30, 1, ", bucket_mb: 0.000001");
        train_batch(world, dir, name(c, "fused"), c, 2, 0, 30, 1, ", bucket_mb: 0");
        train_batch(world, dir, name(c, "bf16"), c, 2, 0, 30, 1, ", gradient_dtype: bfloat16");
        train_batch(world, dir, name(c, "balance"), c, 2, 0, 30, 1, ", balance: true");
        train_batch(world, dir, name(c, "noshard"), c, 2, 0, 30, 1, ", shard_optimizer: false");
        train_batch(world, dir, name(c, "pieces"), c, 2, 0, 30, 1, ", shard_across_nodes: true");
        if (rank == 0) {
            compare(dir, ref, name(c, "noshard"), c->tol);
            compare(dir, par, name(c, "pieces"), 0); /* the same sums, the same updates in other hands */
            compare(dir, ref, par, c->tol);
            compare(dir, par, half, 0);
            compare(dir, ref, cross, c->tol);
            if (c->accumulate)
                compare(dir, ref, accum, c->tol);
            compare(dir, name(c, "buckets"), name(c, "fused"), c->tol);
            compare(dir, ref, name(c, "balance"), c->tol);
            if (c->accumulate) /* not with batch norm: the gradient of a bias before it is rounding noise */
                compare(dir, ref, name(c, "bf16"), 0.02);
        }
        mt_comm_barrier(world, &err);
        deterministic(world, self, dir, c);
    }
    int rc = mt_test_mpi_finish(world, "equivalence");
    mt_comm_destroy(self);
    mt_comm_destroy(world);
    mt_comm_finalize();
    return rc;
}
