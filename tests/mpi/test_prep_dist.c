/* Preprocessing across ranks: mt_prep_fit and mt_prep_filter_rows on the world communicator give every
 * rank the same row list and bit-identical shift / scale / fill as a fit in one process (comm NULL) on
 * the same rows, for drop (the kept rows gathered from every rank's part of the scan), mean, median and
 * both scalings; the error policy reports the same first missing cell on every rank; and the split row
 * sets, computed by each rank alone, are identical on all ranks. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "io/dataset.h"
#include "testlib.h"
#include "train/prep.h"
#include "train/split.h"

#define ROWS 157
#define COLS 5

/* A CSV whose cells are a formula of (row, column), with NaN cells in columns 1 and 3 at some rows. */
static void write_data(const char *dir, char *h5, size_t size)
{
    char csv[300];
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    snprintf(h5, size, "%s/d.h5", dir);
    FILE *f = fopen(csv, "w");
    if (!f)
        return;
    fprintf(f, "c0,c1,c2,c3,c4,y\n");
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < COLS; c++) {
            int missing = (c == 1 && r % 11 == 4) || (c == 3 && r % 17 == 9);
            if (missing)
                fprintf(f, ",");
            else
                fprintf(f, "%.6g,", (double)((r * 37 + c * 101) % 89) * 0.37 - 3.1 * c);
        }
        fprintf(f, "%d\n", r % 3);
    }
    fclose(f);
    mt_csv_import opt = {.input = csv, .out_path = h5, .label = "y"};
    mt_error err = {0};
    CHECK(mt_import_csv(&opt, NULL, &err) == MT_OK, "import: %s", err.msg);
}

static int same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return 0;
    return 1;
}

/* Fits with the world and alone on the training rows of a seeded split; compares. */
static void compare_fit(mt_comm *world, const char *h5, const char *scaling, const char *missing)
{
    mt_data_config d;
    memset(&d, 0, sizeof d);
    snprintf(d.file, sizeof d.file, "%s", h5);
    snprintf(d.train, sizeof d.train, "train");
    snprintf(d.scaling, sizeof d.scaling, "%s", scaling);
    snprintf(d.missing, sizeof d.missing, "%s", missing);
    snprintf(d.split, sizeof d.split, "random");
    d.validation_fraction = 0.2;
    mt_error err = {0}, err1 = {0};
    mt_dataset *ds = NULL;
    if (!CHECK(mt_dataset_open(h5, "train", &ds, &err) == MT_OK, "open: %s", err.msg))
        return;
    mt_split_rows s, s1;
    mt_split_from_config(&d, 5, ROWS, NULL, &s, &err);
    mt_split_from_config(&d, 5, ROWS, NULL, &s1, &err);
    uint64_t n = s.n_train, n1 = s1.n_train;
    mt_prep p, p1;
    mt_status st = mt_prep_fit(&p, &d, ds, s.train, &n, world, &err);
    mt_status st1 = mt_prep_fit(&p1, &d, ds, s1.train, &n1, NULL, &err1);
    CHECK(st == st1 && !strcmp(err.msg, err1.msg), "%s/%s: world %d '%s', alone %d '%s'", scaling, missing, (int)st,
          err.msg, (int)st1, err1.msg);
    if (!st && !st1) {
        CHECK(n == n1 && !memcmp(s.train, s1.train, n * sizeof *s.train), "%s/%s: rows differ (%llu vs %llu)", scaling,
              missing, (unsigned long long)n, (unsigned long long)n1);
        CHECK(same_floats(p.shift, p1.shift, COLS) && same_floats(p.scale, p1.scale, COLS) &&
                  same_floats(p.fill, p1.fill, COLS),
              "%s/%s: fitted arrays differ from the single-process fit", scaling, missing);
        if (!strcmp(missing, "drop"))
            CHECK(n < s.n_train, "drop removed no row");
        /* the validation rows filtered with the fitted policy: same on all ranks as alone */
        uint64_t nv = s.n_val, nv1 = s1.n_val;
        st = mt_prep_filter_rows(&p, ds, h5, "train", s.val, &nv, world, &err);
        st1 = mt_prep_filter_rows(&p1, ds, h5, "train", s1.val, &nv1, NULL, &err1);
        CHECK(st == st1 && nv == nv1 && !memcmp(s.val, s1.val, nv * sizeof *s.val), "%s/%s: validation filter differs",
              scaling, missing);
        mt_prep_free(&p);
        mt_prep_free(&p1);
    }
    /* every rank holds the same fitted state: compare with rank 0's */
    double mine[3] = {(double)n, st, 0};
    double sum[3] = {mine[0], mine[1], 0}, min[3] = {mine[0], mine[1], 0};
    mt_comm_allreduce_sum_f64(world, sum, 2, &err);
    mt_comm_allreduce_min_f64(world, min, 2, &err);
    int size = mt_comm_size(world);
    CHECK(sum[0] == min[0] * size && sum[1] == min[1] * size, "%s/%s: ranks disagree on the outcome", scaling, missing);
    mt_split_rows_free(&s);
    mt_split_rows_free(&s1);
    mt_dataset_close(ds);
}

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_comm *world = NULL;
    mt_error err = {0};
    mt_comm_create_world(&world, &err);
    int rank = mt_comm_rank(world);
    char h5[320] = "";
    int have_dir = mt_test_mpi_tmpdir(world, "mt-prep") == 0;
    if (rank == 0 && have_dir)
        write_data(mt_test_dir, h5, sizeof h5);
    mt_comm_bcast(world, h5, sizeof h5, 0, &err);
    const char *cases[][2] = {{"standardize", "drop"}, {"minmax", "drop"}, {"standardize", "mean"},
                              {"minmax", "median"},    {"none", "median"}, {"standardize", "error"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && have_dir; i++)
        compare_fit(world, h5, cases[i][0], cases[i][1]);
    int rc = mt_test_mpi_finish(world, "prep_dist");
    mt_comm_destroy(world);
    mt_comm_finalize();
    return rc;
}
