/* `mpitrain eval CHECKPOINT.h5 [--data FILE.h5] [--split NAME]`: loss and accuracy of a checkpoint on a
 * split, evaluated in shards when run under mpirun. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "train/session.h"

static void help(void)
{
    printf("usage: [mpirun -np N] mpitrain eval CHECKPOINT.h5 [--data FILE.h5] [--split NAME]\n\n"
           "Loss and accuracy of the model in CHECKPOINT.h5 on a dataset split. The defaults come from the\n"
           "config stored in the checkpoint: its data.file, and its test split, else its validation split.\n");
}

static void print_values(const char *ckpt, const char *file, const char *split, uint64_t rows,
                         const mt_eval_values *v)
{
    printf("checkpoint %s on %s split '%s' (%llu rows)\n", ckpt, file, split, (unsigned long long)rows);
    printf("loss %.6f\n", v->loss);
    const char *names[4] = {"accuracy", "binary_accuracy", "mae", "rmse"};
    const double values[4] = {v->accuracy, v->binary_accuracy, v->mae, v->rmse};
    for (int i = 0; i < 4; i++)
        if (!isnan(values[i]))
            printf("%s %.6f\n", names[i], values[i]);
}

/* Loads the checkpoint's config, parameters and preprocessing, opens the split and evaluates it. */
static mt_status run(const char *ckpt, const char *data, const char *split, mt_comm *comm, mt_error *err)
{
    char *yaml = NULL;
    mt_config cfg;
    mt_session s;
    int have_cfg = 0, have_session = 0;
    mt_error_clear(err);
    mt_status st = mt_checkpoint_read_config(ckpt, &yaml, err);
    if (!st && !(st = mt_config_load_string(yaml, ckpt, NULL, 0, &cfg, err)))
        have_cfg = 1;
    if (mt_comm_agree(comm, err))
        goto done;
    st = mt_session_open(&s, &cfg, MT_SESSION_EVAL, comm, err);
    have_session = 1;
    if (!st)
        st = mt_checkpoint_read(ckpt, &(mt_checkpoint){.model = &s.model, .prep = &s.prep}, err);
    if (mt_comm_agree(comm, err))
        goto done;
    const char *file = data ? data : cfg.data.file;
    const char *name = split ? split : cfg.data.test[0] ? cfg.data.test
                                     : cfg.data.validation[0] ? cfg.data.validation : "test";
    st = mt_session_add_split(&s, file, name, comm, err);
    mt_eval_values v;
    if (!st)
        st = mt_session_evaluate(&s, &s.test, comm, &v, err);
    if (!st && mt_comm_rank(comm) == 0)
        print_values(ckpt, file, name, s.test.n, &v);
done:
    st = err->code;
    if (have_session)
        mt_session_close(&s);
    if (have_cfg)
        mt_config_free(&cfg);
    free(yaml);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *split = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--split") && i + 1 < argc) {
            split = argv[++i];
        } else if (argv[i][0] == '-') {
            return cli_usage_error("eval", "unknown option or missing value '%s'", argv[i]);
        } else if (!ckpt) {
            ckpt = argv[i];
        } else {
            return cli_usage_error("eval", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!ckpt)
        return cli_usage_error("eval", "missing CHECKPOINT.h5");
    if (mt_dist_init(&argc, &argv) != 0) {
        fprintf(stderr, "mpitrain: MPI initialization failed\n");
        return 1;
    }
    cli_tune_process();
    mt_error err = {0};
    mt_comm *comm = NULL;
    mt_status st = mt_comm_create_world(&comm, &err);
    if (!st)
        st = run(ckpt, data, split, comm, &err);
    int rc = st ? cli_report(&err) : 0;
    mt_comm_destroy(comm);
    mt_dist_finalize();
    return rc;
}
