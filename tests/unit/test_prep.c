/* Tests of preprocessing (train/prep) and splits (train/split) in one process (comm NULL):
 * - minmax and standardize statistics on a 4-row dataset against values computed by hand (written in the
 *   comments), standardize with the POPULATION std (divide by N, as sklearn's StandardScaler);
 * - missing values: error (message naming file, split, row, column and its name), drop (rows removed, the
 *   statistics of the rest), mean and median imputation (fill values, scaling of the imputed column),
 *   filter of another split, medians against sorting on larger random columns (odd and even counts, ties);
 * - apply (x' = ((NaN ? fill : x) - shift) * scale) and mt_prep_set rebuilding the same transform;
 * - splits: sizes, disjointness, coverage, ascending order, determinism, seed dependence, the ordered split
 *   (last rows by the order column, ties by row), k-fold coverage, and the config cross-checks. The split
 *   functions take no rank or size, so their result cannot depend on the number of ranks; the MPI test
 *   mpi/test_prep_dist checks the collective fit against this single-process one. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "io/dataset.h"
#include "testlib.h"
#include "train/prep.h"
#include "train/split.h"

/* Writes text as name.csv and imports it (label y) into name.h5, whose path goes to out. */
static void make_dataset(const char *name, const char *text, char *out, size_t size)
{
    char csv[320];
    snprintf(csv, sizeof csv, "%s/%s.csv", mt_test_dir, name);
    snprintf(out, size, "%s/%s.h5", mt_test_dir, name);
    FILE *f = fopen(csv, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    mt_csv_import opt = {.input = csv, .out_path = out, .label = "y", .task = MT_CSV_REGRESSION};
    mt_error err = {0};
    CHECK(mt_import_csv(&opt, NULL, &err) == MT_OK, "importing %s: %s", name, err.msg);
}

static mt_data_config data_config(const char *file, const char *scaling, const char *missing)
{
    mt_data_config d;
    memset(&d, 0, sizeof d);
    snprintf(d.file, sizeof d.file, "%s", file);
    snprintf(d.train, sizeof d.train, "train");
    snprintf(d.scaling, sizeof d.scaling, "%s", scaling);
    snprintf(d.missing, sizeof d.missing, "%s", missing);
    snprintf(d.split, sizeof d.split, "random");
    return d;
}

/* Fits on rows (all rows when rows is NULL) and returns the status; p is fitted on success. */
static mt_status fit(mt_prep *p, const char *file, const char *scaling, const char *missing, uint64_t *rows,
                     uint64_t *n_rows, mt_error *err)
{
    mt_data_config d = data_config(file, scaling, missing);
    mt_dataset *ds = NULL;
    mt_status st = mt_dataset_open(file, "train", &ds, err);
    if (st)
        return st;
    uint64_t all[64], n = mt_dataset_get_info(ds)->rows;
    if (!rows) {
        for (uint64_t i = 0; i < n; i++)
            all[i] = i;
        rows = all;
        n_rows = &n;
    }
    st = mt_prep_fit(p, &d, ds, rows, n_rows, NULL, err);
    mt_dataset_close(ds);
    return st;
}

static void check_arrays(const mt_prep *p, const double *shift, const double *scale, const double *fill,
                         const char *what)
{
    char name[160];
    for (size_t j = 0; j < p->features; j++) {
        snprintf(name, sizeof name, "%s: shift[%zu]", what, j);
        CHECK_CLOSE(p->shift[j], shift[j], 1e-6, 1e-7, name);
        snprintf(name, sizeof name, "%s: scale[%zu]", what, j);
        CHECK_CLOSE(p->scale[j], scale[j], 1e-6, 1e-7, name);
        snprintf(name, sizeof name, "%s: fill[%zu]", what, j);
        if (fill && isnan(fill[j]))
            CHECK(isnan(p->fill[j]), "%s: %g, want NaN", name, p->fill[j]);
        else if (fill)
            CHECK_CLOSE(p->fill[j], fill[j], 1e-6, 1e-7, name);
    }
}

/* Columns a = 1, 2, 3, 4; b = 10, 20, 60, 30; c = 5 (constant). */
static const char *const complete_csv = "a,b,c,y\n1,10,5,0\n2,20,5,1\n3,60,5,0\n4,30,5,1\n";

static void test_scaling(void)
{
    char file[320];
    make_dataset("complete", complete_csv, file, sizeof file);
    mt_prep p;
    mt_error err;
    /* minmax: shift = min, scale = 1 / (max - min): a 1, 1/3; b 10, 1/50; c constant: 5, 1. */
    if (CHECK(fit(&p, file, "minmax", "error", NULL, NULL, &err) == MT_OK, "minmax: %s", err.msg)) {
        double shift[3] = {1, 10, 5}, scale[3] = {1.0 / 3, 1.0 / 50, 1};
        check_arrays(&p, shift, scale, NULL, "minmax");
        CHECK(!p.identity, "minmax is not the identity");
        float row[3] = {4, 10, 5};
        mt_prep_apply(&p, row, 1);
        CHECK_CLOSE(row[0], 1.0, 1e-6, 1e-7, "minmax apply a = max -> 1");
        CHECK_CLOSE(row[1], 0.0, 1e-6, 1e-7, "minmax apply b = min -> 0");
        CHECK_CLOSE(row[2], 0.0, 1e-6, 1e-7, "minmax apply constant c -> 0");
        mt_prep_free(&p);
    }
    /* standardize: a: mean 2.5, population var (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25;
     * b: mean 30, var (400 + 100 + 900 + 0) / 4 = 350; c: mean 5, var 0 -> scale 1. */
    if (CHECK(fit(&p, file, "standardize", "error", NULL, NULL, &err) == MT_OK, "standardize: %s", err.msg)) {
        double shift[3] = {2.5, 30, 5}, scale[3] = {1 / sqrt(1.25), 1 / sqrt(350.0), 1};
        check_arrays(&p, shift, scale, NULL, "standardize");
        float rows[12] = {1, 10, 5, 2, 20, 5, 3, 60, 5, 4, 30, 5};
        mt_prep_apply(&p, rows, 4);
        for (int j = 0; j < 3; j++) {
            double m = 0, v = 0;
            for (int i = 0; i < 4; i++)
                m += rows[i * 3 + j] / 4.0;
            for (int i = 0; i < 4; i++)
                v += (rows[i * 3 + j] - m) * (rows[i * 3 + j] - m) / 4.0;
            CHECK_CLOSE(m, 0.0, 0, 1e-6, j == 0 ? "standardized a has mean 0" : "standardized column has mean 0");
            CHECK_CLOSE(v, j == 2 ? 0.0 : 1.0, 1e-5, 1e-6,
                        "standardized column has population variance 1 (0 if constant)");
        }
        mt_prep_free(&p);
    }
    /* fitted on rows 0 and 2 only: a 1, 3 -> mean 2, var 1; b 10, 60 -> mean 35, var 625. */
    uint64_t rows[2] = {0, 2}, n = 2;
    if (CHECK(fit(&p, file, "standardize", "error", rows, &n, &err) == MT_OK, "subset: %s", err.msg)) {
        double shift[3] = {2, 35, 5}, scale[3] = {1, 1.0 / 25, 1};
        check_arrays(&p, shift, scale, NULL, "standardize on rows 0, 2");
        mt_prep_free(&p);
    }
    if (CHECK(fit(&p, file, "none", "error", NULL, NULL, &err) == MT_OK, "none: %s", err.msg)) {
        CHECK(p.identity, "none + error is the identity");
        float row[3] = {7, 8, 9};
        mt_prep_apply(&p, row, 1);
        CHECK(row[0] == 7 && row[1] == 8 && row[2] == 9, "identity changed %g %g %g", row[0], row[1], row[2]);
        mt_prep_free(&p);
    }
}

/* a = 1, 2, 3, 4 (complete); b = 10, NaN, 20, 60; c = 5, 6, NaN, 7. */
static const char *const missing_csv = "a,b,c,y\n1,10,5,0\n2,,6,1\n3,20,nan,0\n4,60,7,1\n";

static void test_missing(void)
{
    char file[320];
    make_dataset("missing", missing_csv, file, sizeof file);
    mt_prep p;
    mt_error err;
    mt_status st = fit(&p, file, "standardize", "error", NULL, NULL, &err);
    char want[600];
    snprintf(want, sizeof want,
             "%s: /train/x: row 1, column 1 ('b') is missing (set data.missing to drop, mean or "
             "median)",
             file);
    CHECK(st == MT_ERR_INPUT && !strcmp(err.msg, want), "error policy: status %d, '%s', want '%s'", (int)st, err.msg,
          want);

    /* drop: rows 0 and 3 remain; a 1, 4 -> mean 2.5, var 2.25; b 10, 60 -> mean 35, var 625; c 5, 7 -> 6, 1. */
    uint64_t rows[4] = {0, 1, 2, 3}, n = 4;
    if (CHECK(fit(&p, file, "standardize", "drop", rows, &n, &err) == MT_OK, "drop: %s", err.msg)) {
        CHECK(n == 2 && rows[0] == 0 && rows[1] == 3, "drop kept %llu rows (%llu, %llu), want rows 0 and 3",
              (unsigned long long)n, (unsigned long long)rows[0], (unsigned long long)rows[1]);
        double shift[3] = {2.5, 35, 6}, scale[3] = {1 / 1.5, 1.0 / 25, 1}, fill[3] = {NAN, NAN, NAN};
        check_arrays(&p, shift, scale, fill, "drop + standardize");
        mt_prep_free(&p);
    }
    /* mean: b fill (10 + 20 + 60) / 3 = 30, imputed b = 10, 30, 20, 60: mean 30, var (400+0+100+900)/4 = 350;
     * c fill 6, imputed 5, 6, 6, 7: mean 6, var 0.5; a fill 2.5 (its mean), mean 2.5, var 1.25. */
    if (CHECK(fit(&p, file, "standardize", "mean", NULL, NULL, &err) == MT_OK, "mean: %s", err.msg)) {
        double shift[3] = {2.5, 30, 6}, scale[3] = {1 / sqrt(1.25), 1 / sqrt(350.0), 1 / sqrt(0.5)},
               fill[3] = {2.5, 30, 6};
        check_arrays(&p, shift, scale, fill, "mean + standardize");
        float row[3] = {NAN, NAN, 7};
        mt_prep_apply(&p, row, 1);
        CHECK_CLOSE(row[0], 0.0, 0, 1e-6, "a NaN takes the mean: standardized to 0");
        CHECK_CLOSE(row[1], 0.0, 0, 1e-6, "b NaN takes the mean: standardized to 0");
        CHECK_CLOSE(row[2], 1 / sqrt(0.5), 1e-6, 0, "c = 7 standardized");
        mt_prep_free(&p);
    }
    /* median: a: 1, 2, 3, 4 -> 2.5 (mean of the middle two); b: 10, 20, 60 -> 20; c: 5, 6, 7 -> 6.
     * minmax of the imputed columns: b 10 .. 60; c 5 .. 7. */
    if (CHECK(fit(&p, file, "minmax", "median", NULL, NULL, &err) == MT_OK, "median: %s", err.msg)) {
        double shift[3] = {1, 10, 5}, scale[3] = {1.0 / 3, 1.0 / 50, 0.5}, fill[3] = {2.5, 20, 6};
        check_arrays(&p, shift, scale, fill, "median + minmax");
        float row[3] = {NAN, NAN, NAN};
        mt_prep_apply(&p, row, 1);
        CHECK_CLOSE(row[1], 0.2, 1e-6, 0, "b NaN -> median 20 -> (20 - 10) / 50");
        mt_prep_free(&p);
    }
    /* median with no scaling: fill only. */
    if (CHECK(fit(&p, file, "none", "median", NULL, NULL, &err) == MT_OK, "median alone: %s", err.msg)) {
        CHECK(!p.identity, "imputation is not the identity");
        float row[3] = {NAN, 3, NAN};
        mt_prep_apply(&p, row, 1);
        CHECK(row[0] == 2.5f && row[1] == 3 && row[2] == 6, "median fill: %g %g %g", row[0], row[1], row[2]);
        /* round trip through the arrays a checkpoint stores */
        mt_prep q;
        CHECK(mt_prep_set(&q, "none", "median", p.features, p.shift, p.scale, p.fill, &err) == MT_OK, "set: %s",
              err.msg);
        float row2[3] = {NAN, 3, NAN};
        mt_prep_apply(&q, row2, 1);
        CHECK(row2[0] == row[0] && row2[1] == row[1] && row2[2] == row[2], "mt_prep_set gives another transform");
        mt_prep_free(&q);
        CHECK(mt_prep_set(&q, "zscore", "median", p.features, p.shift, p.scale, p.fill, &err) == MT_ERR_INPUT,
              "unknown scaling name accepted by mt_prep_set");
        mt_prep_free(&p);
    }
    /* drop every row */
    const char *all_missing = "a,y\n,0\nnan,1\n";
    char file2[320];
    make_dataset("all_missing", all_missing, file2, sizeof file2);
    st = fit(&p, file2, "none", "drop", NULL, NULL, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "every one of the 2 training rows has a missing value"),
          "drop of every row: %s", err.msg);
    st = fit(&p, file2, "none", "mean", NULL, NULL, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "column 0 ('a') has no value in the 2 training rows"),
          "mean of an empty column: %s", err.msg);
}

/* Filtering another split with the fitted policy. */
static void test_filter(void)
{
    char file[320];
    make_dataset("filter", missing_csv, file, sizeof file);
    mt_prep p;
    mt_error err;
    mt_dataset *ds = NULL;
    if (!CHECK(mt_dataset_open(file, "train", &ds, &err) == MT_OK, "open: %s", err.msg))
        return;
    mt_prep_init(&p, NULL, 3, &err);
    p.missing = MT_MISSING_DROP;
    uint64_t rows[4] = {3, 2, 1, 0}, n = 4;
    CHECK(mt_prep_filter_rows(&p, ds, file, "train", rows, &n, NULL, &err) == MT_OK, "filter: %s", err.msg);
    CHECK(n == 2 && rows[0] == 3 && rows[1] == 0, "drop filter kept %llu rows (%llu, %llu), want 3 and 0 in order",
          (unsigned long long)n, (unsigned long long)rows[0], (unsigned long long)rows[1]);
    p.missing = MT_MISSING_ERROR;
    uint64_t rows2[3] = {3, 2, 1};
    n = 3;
    mt_status st = mt_prep_filter_rows(&p, ds, file, "test", rows2, &n, NULL, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "/test/x: row 2, column 2 ('c') is missing"),
          "the first NaN in list order (row 2) is reported: %s", err.msg);
    p.missing = MT_MISSING_MEAN;
    n = 3;
    CHECK(mt_prep_filter_rows(&p, ds, file, "train", rows2, &n, NULL, &err) == MT_OK && n == 3, "mean keeps every row");
    mt_prep_free(&p);
    mt_dataset_close(ds);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Medians of larger columns (odd, even, many ties, NaNs) against sorting. */
static void test_medians(void)
{
    const int N = 61;
    size_t cap = 64 * (size_t)N + 64;
    char *text = malloc(cap);
    size_t used = (size_t)snprintf(text, cap, "u,v,w,y\n");
    float u[61], v[61], w[61];
    int nu = 0, nv = 0, nw = 0;
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        int r = (int)((s >> 8) % 1000);
        u[nu++] = (float)r;         /* 61 values: odd count */
        int v_missing = i % 7 == 3; /* 52 values: even count */
        if (!v_missing)
            v[nv++] = (float)(r % 97) * 0.5f;
        w[nw++] = (float)(r % 3); /* many ties */
        if (v_missing)            /* an empty cell */
            used += (size_t)snprintf(text + used, cap - used, "%d,,%d,0\n", r, r % 3);
        else
            used += (size_t)snprintf(text + used, cap - used, "%d,%g,%d,0\n", r, (double)(r % 97) * 0.5, r % 3);
    }
    char file[320];
    make_dataset("medians", text, file, sizeof file);
    free(text);
    mt_prep p;
    mt_error err;
    if (!CHECK(fit(&p, file, "none", "median", NULL, NULL, &err) == MT_OK, "medians: %s", err.msg))
        return;
    float *cols[3] = {u, v, w};
    int counts[3] = {nu, nv, nw};
    for (int c = 0; c < 3; c++) {
        qsort(cols[c], (size_t)counts[c], sizeof(float), cmp_float);
        int k = counts[c];
        double want = k % 2 ? cols[c][k / 2] : 0.5 * ((double)cols[c][k / 2 - 1] + cols[c][k / 2]);
        char name[64];
        snprintf(name, sizeof name, "median of column %d (%d values)", c, k);
        CHECK_CLOSE(p.fill[c], want, 0, 0, name);
    }
    mt_prep_free(&p);
}

/* ---- splits ------------------------------------------------------------------------------------------- */

/* Checks that train and val are ascending, disjoint and together cover [0, n). */
static void check_partition(const mt_split_rows *s, uint64_t n, const char *what)
{
    unsigned char *seen = calloc(n, 1);
    int ok = s->n_train + s->n_val == n;
    for (uint64_t i = 0; i < s->n_train; i++) {
        ok &= s->train[i] < n && !seen[s->train[i]] && (i == 0 || s->train[i] > s->train[i - 1]);
        if (s->train[i] < n)
            seen[s->train[i]] = 1;
    }
    for (uint64_t i = 0; i < s->n_val; i++) {
        ok &= s->val[i] < n && !seen[s->val[i]] && (i == 0 || s->val[i] > s->val[i - 1]);
        if (s->val[i] < n)
            seen[s->val[i]] = 2;
    }
    CHECK(ok, "%s: %llu + %llu rows are not an ascending partition of %llu", what, (unsigned long long)s->n_train,
          (unsigned long long)s->n_val, (unsigned long long)n);
    free(seen);
}

static void test_random_split(void)
{
    mt_split_rows a, b, c;
    mt_error err;
    CHECK(mt_split_validation_count(1000, 0.1) == 100 && mt_split_validation_count(10, 0.01) == 1 &&
              mt_split_validation_count(10, 0.99) == 9 && mt_split_validation_count(10, 0) == 0 &&
              mt_split_validation_count(15, 0.1) == 2,
          "validation counts: %llu %llu %llu %llu %llu", (unsigned long long)mt_split_validation_count(1000, 0.1),
          (unsigned long long)mt_split_validation_count(10, 0.01),
          (unsigned long long)mt_split_validation_count(10, 0.99), (unsigned long long)mt_split_validation_count(10, 0),
          (unsigned long long)mt_split_validation_count(15, 0.1));
    if (!CHECK(mt_split_random(1000, 0.1, 1, &a, &err) == MT_OK, "random split: %s", err.msg))
        return;
    CHECK(a.n_val == 100 && a.n_train == 900, "sizes %llu / %llu", (unsigned long long)a.n_train,
          (unsigned long long)a.n_val);
    check_partition(&a, 1000, "random 0.1");
    mt_split_random(1000, 0.1, 1, &b, &err);
    mt_split_random(1000, 0.1, 2, &c, &err);
    CHECK(b.n_val == a.n_val && !memcmp(a.val, b.val, a.n_val * sizeof *a.val), "same seed, different split");
    CHECK(c.n_val == a.n_val && memcmp(a.val, c.val, a.n_val * sizeof *a.val), "seeds 1 and 2 gave the same split");
    /* the held-out rows are spread over the file, not a block: some in each tenth */
    int tenths[10] = {0};
    for (uint64_t i = 0; i < a.n_val; i++)
        tenths[a.val[i] / 100]++;
    for (int t = 0; t < 10; t++)
        CHECK(tenths[t] > 0, "no validation row among rows %d..%d", t * 100, t * 100 + 99);
    mt_split_rows_free(&a);
    mt_split_rows_free(&b);
    mt_split_rows_free(&c);
    CHECK(mt_split_random(1, 0.5, 1, &a, &err) == MT_ERR_INPUT, "a fraction of 1 row");
    CHECK(mt_split_random(10, 1.0, 1, &a, &err) == MT_ERR_CONFIG, "fraction 1 accepted");
    CHECK(mt_split_all(5, &a, &err) == MT_OK && a.n_train == 5 && a.n_val == 0 && a.val == NULL, "split all");
    check_partition(&a, 5, "all");
    mt_split_rows_free(&a);
}

static void test_ordered_split(void)
{
    /* order values: row r has order[r]; ties between rows 1 and 4 (9.0) are broken by row index */
    double order[8] = {5, 9, 1, 7, 9, 2, 8, 3};
    mt_split_rows s;
    mt_error err;
    /* round(0.375 * 8) = 3: the rows with the three largest (order, row): (9,4), (9,1), (8,6) */
    if (CHECK(mt_split_ordered(8, 0.375, order, &s, &err) == MT_OK, "ordered: %s", err.msg)) {
        CHECK(s.n_val == 3 && s.val[0] == 1 && s.val[1] == 4 && s.val[2] == 6,
              "ordered validation rows %llu: %llu %llu %llu", (unsigned long long)s.n_val, (unsigned long long)s.val[0],
              (unsigned long long)s.val[1], (unsigned long long)s.val[2]);
        check_partition(&s, 8, "ordered");
        mt_split_rows_free(&s);
    }
    /* ties: with 0.125 (1 row) the tie (9, 1) < (9, 4) is broken by row index, so row 4 is the last */
    if (CHECK(mt_split_ordered(8, 0.125, order, &s, &err) == MT_OK, "ordered tie: %s", err.msg)) {
        CHECK(s.n_val == 1 && s.val[0] == 4, "the last row by (order, row) is 4, got %llu",
              (unsigned long long)s.val[0]);
        mt_split_rows_free(&s);
    }
    if (CHECK(mt_split_ordered(10, 0.2, NULL, &s, &err) == MT_OK, "ordered by row: %s", err.msg)) {
        CHECK(s.n_val == 2 && s.val[0] == 8 && s.val[1] == 9, "without an order column the last rows validate");
        mt_split_rows_free(&s);
    }
    order[5] = NAN;
    CHECK(mt_split_ordered(8, 0.25, order, &s, &err) == MT_ERR_INPUT && strstr(err.msg, "row 5"), "NaN order value: %s",
          err.msg);
}

static void test_kfold(void)
{
    const uint64_t n = 103;
    const int k = 5;
    int *count = calloc(n, sizeof *count);
    mt_error err;
    for (int i = 0; i < k; i++) {
        mt_split_rows s, again;
        if (!CHECK(mt_split_fold(n, k, i, 42, &s, &err) == MT_OK, "fold %d: %s", i, err.msg))
            continue;
        check_partition(&s, n, "fold");
        uint64_t want = (n * (uint64_t)(i + 1)) / k - (n * (uint64_t)i) / k;
        CHECK(s.n_val == want, "fold %d holds %llu rows, want %llu", i, (unsigned long long)s.n_val,
              (unsigned long long)want);
        for (uint64_t r = 0; r < s.n_val; r++)
            count[s.val[r]]++;
        mt_split_fold(n, k, i, 42, &again, &err);
        CHECK(again.n_val == s.n_val && !memcmp(again.val, s.val, s.n_val * sizeof *s.val), "fold %d not deterministic",
              i);
        mt_split_rows_free(&s);
        mt_split_rows_free(&again);
    }
    for (uint64_t r = 0; r < n; r++)
        CHECK(count[r] == 1, "row %llu validates in %d folds, want exactly 1", (unsigned long long)r, count[r]);
    free(count);
    mt_split_rows s;
    CHECK(mt_split_fold(n, 1, 0, 1, &s, &err) == MT_ERR_CONFIG, "1 fold accepted");
    CHECK(mt_split_fold(n, 5, 5, 1, &s, &err) == MT_ERR_CONFIG, "fold 5 of 5 accepted");
    CHECK(mt_split_fold(3, 5, 0, 1, &s, &err) == MT_ERR_INPUT, "5 folds of 3 rows accepted");
}

/* The config cross-checks, through a loaded config (line numbers) and mt_split_from_config. */
static void test_config(void)
{
    const char *base = "model: {input: [3], layers: [{dense: {units: 1}}]}\nloss: mse\noptimizer: sgd\n"
                       "data:\n  file: f.h5\n  validation: test\n  validation_fraction: 0.2\n";
    mt_config cfg;
    mt_error err = {0};
    if (CHECK(mt_config_load_string(base, "c.yaml", NULL, 0, &cfg, &err) == MT_OK, "config: %s", err.msg)) {
        mt_status st = mt_data_config_check(&cfg.data, mt_node_get(cfg.root, "data"), &err);
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, "c.yaml:7: data.validation_fraction: cannot be combined with "
                                                     "data.validation ('test')"),
              "fraction + validation: %s", err.msg);
        mt_config_free(&cfg);
    }
    struct {
        const char *set, *expect;
    } cases[] = {
        {"data.folds=1", "data.folds: k-fold cross-validation needs at least 2 folds"},
        {"data.split=ordered", "data.split: ordered takes the last data.validation_fraction"},
        {"data.fold=2", "data.fold: only applies with data.folds"},
    };
    const char *plain = "model: {input: [3], layers: [{dense: {units: 1}}]}\nloss: mse\noptimizer: sgd\n"
                        "data: {file: f.h5}\n";
    for (size_t i = 0; i < 3; i++) {
        const char *ov[1] = {cases[i].set};
        if (!CHECK(mt_config_load_string(plain, "c.yaml", ov, 1, &cfg, &err) == MT_OK, "config %s: %s", cases[i].set,
                   err.msg))
            continue;
        mt_status st = mt_data_config_check(&cfg.data, mt_node_get(cfg.root, "data"), &err);
        CHECK(st == MT_ERR_CONFIG && strstr(err.msg, cases[i].expect), "%s: %s", cases[i].set, err.msg);
        mt_config_free(&cfg);
    }
    const char *ok[2] = {"data.folds=4", "data.fold=3"};
    if (CHECK(mt_config_load_string(plain, "c.yaml", ok, 2, &cfg, &err) == MT_OK, "config folds: %s", err.msg)) {
        CHECK(mt_data_config_check(&cfg.data, mt_node_get(cfg.root, "data"), &err) == MT_OK, "fold 3 of 4: %s",
              err.msg);
        mt_split_rows s, f;
        CHECK(mt_split_from_config(&cfg.data, 9, 40, NULL, &s, &err) == MT_OK && s.n_val == 10, "fold from config");
        mt_split_fold(40, 4, 3, 9, &f, &err);
        CHECK(s.n_val == f.n_val && !memcmp(s.val, f.val, f.n_val * sizeof *f.val), "config fold != mt_split_fold");
        mt_split_rows_free(&s);
        mt_split_rows_free(&f);
        mt_config_free(&cfg);
    }
    const char *frac[2] = {"data.validation_fraction=0.25", "data.split=time"};
    if (CHECK(mt_config_load_string(plain, "c.yaml", frac, 2, &cfg, &err) == MT_OK, "config ordered: %s", err.msg)) {
        CHECK(!strcmp(cfg.data.split, "ordered") && !strcmp(cfg.data.scaling, "none") &&
                  !strcmp(cfg.data.missing, "error"),
              "defaults and alias: split '%s' scaling '%s' missing '%s'", cfg.data.split, cfg.data.scaling,
              cfg.data.missing);
        CHECK(mt_data_config_check(&cfg.data, mt_node_get(cfg.root, "data"), &err) == MT_OK, "ordered: %s", err.msg);
        mt_split_rows s;
        CHECK(mt_split_from_config(&cfg.data, 9, 8, NULL, &s, &err) == MT_OK && s.n_val == 2 && s.val[0] == 6,
              "ordered split from config");
        mt_split_rows_free(&s);
        mt_config_free(&cfg);
    }
    const char *bad[1] = {"data.scaling=robust"};
    CHECK(mt_config_load_string(plain, "c.yaml", bad, 1, &cfg, &err) == MT_ERR_CONFIG &&
              strstr(err.msg, "data.scaling"),
          "unknown scaling: %s", err.msg);
}

int main(void)
{
    if (mt_test_tmpdir_create("test_prep") != 0)
        return 1;
    test_scaling();
    test_missing();
    test_filter();
    test_medians();
    test_random_split();
    test_ordered_split();
    test_kfold();
    test_config();
    mt_test_tmpdir_remove();
    return mt_test_finish("test_prep");
}
