/* Tests of `import csv` (mt_import_csv) and the side-column readers: header and quoted fields, missing
 * cells (empty, NaN, nan, NA), CRLF, blank lines, BOM, no final newline, gzip input, label renumbering and
 * the classes attribute, regression targets (one and several columns), weights / order / ignored columns,
 * test split from a second file or a seeded fraction, every input error with its file:line and column,
 * atomic output (no file left behind by a failure, an old file kept), and IDX class subsets
 * (mt_import_idx_subset). Expected values are the numbers written in the CSV text. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/openmpi/hdf5.h>
#endif
#include <zlib.h>

#include "io/dataset.h"
#include "testlib.h"

static const char *write_text(const char *name, const char *text)
{
    const char *path = mt_test_path(name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "creating %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Imports with the given options; returns the status and keeps the message in err. */
static mt_status run(mt_csv_import opt, mt_csv_result *res, mt_error *err)
{
    memset(err, 0, sizeof *err);
    return mt_import_csv(&opt, res, err);
}

/* Reads all of split's x and class labels. */
static void read_split(const char *path, const char *split, uint64_t want_rows, uint64_t want_cols, float *x,
                       int32_t *y, float *yt)
{
    mt_dataset *ds = NULL;
    mt_error err = {0};
    if (!CHECK(mt_dataset_open(path, split, &ds, &err) == MT_OK, "open %s %s: %s", path, split, err.msg))
        return;
    const mt_dataset_info *in = mt_dataset_get_info(ds);
    CHECK(in->rows == want_rows && in->sample_size == want_cols && !in->x_is_uint8,
          "%s: shape [%llu, %llu], want [%llu, %llu]", split, (unsigned long long)in->rows,
          (unsigned long long)in->sample_size, (unsigned long long)want_rows, (unsigned long long)want_cols);
    if (in->rows == want_rows && in->sample_size == want_cols)
        CHECK(mt_dataset_read_range(ds, 0, want_rows, x, y, yt, &err) == MT_OK, "read: %s", err.msg);
    mt_dataset_close(ds);
}

/* A string attribute of the file (scalar), for task. */
static void string_attr(const char *path, const char *name, char *buf, size_t size)
{
    buf[0] = '\0';
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = f >= 0 ? H5Aopen(f, name, H5P_DEFAULT) : -1;
    if (a >= 0) {
        char *s = NULL;
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        if (H5Aread(a, t, &s) >= 0 && s) {
            snprintf(buf, size, "%s", s);
            H5free_memory(s);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    if (f >= 0)
        H5Fclose(f);
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Header, quoting, spaces, missing cells, CRLF, blank lines, BOM, no final newline; the classes attribute
 * for labels that are already 0..k-1. */
static void test_basic(void)
{
    const char *csv = write_text("basic.csv", "\xEF\xBB\xBF"
                                              "a, \"b\" ,\"c, d\",y\r\n"
                                              "1.5,2,3,0\r\n"
                                              ",nan,4,1\r\n"
                                              "\r\n"
                                              "  5 ,\"6\",NA,1\n"
                                              "1e3,-2,NaN,0");
    const char *out = mt_test_path("basic.h5");
    mt_csv_result res;
    mt_error err;
    mt_status st = run((mt_csv_import){.input = csv, .out_path = out, .label = "y"}, &res, &err);
    if (!CHECK(st == MT_OK, "basic import: %s", err.msg))
        return;
    CHECK(res.rows[0] == 4 && res.rows[1] == 0 && res.features == 3 && res.task == MT_CSV_CLASSIFICATION &&
              res.n_classes == 2 && !res.renumbered && res.missing_cells == 4,
          "result: rows %llu/%llu features %llu task %d classes %d renumbered %d missing %llu",
          (unsigned long long)res.rows[0], (unsigned long long)res.rows[1], (unsigned long long)res.features,
          (int)res.task, res.n_classes, res.renumbered, (unsigned long long)res.missing_cells);
    float x[12], want[12] = {1.5f, 2, 3, NAN, NAN, 4, 5, 6, NAN, 1000, -2, NAN};
    int32_t y[4], want_y[4] = {0, 1, 1, 0};
    read_split(out, "train", 4, 3, x, y, NULL);
    for (int i = 0; i < 12; i++)
        CHECK(same_float(x[i], want[i]), "x[%d] = %g, want %g", i, x[i], want[i]);
    for (int i = 0; i < 4; i++)
        CHECK(y[i] == want_y[i], "y[%d] = %d, want %d", i, y[i], want_y[i]);
    char name[64];
    const char *names[3] = {"a", "b", "c, d"};
    for (int j = 0; j < 3; j++)
        CHECK(mt_dataset_feature_name(out, (uint64_t)j, name, sizeof name) && !strcmp(name, names[j]),
              "feature %d named '%s', want '%s'", j, name, names[j]);
    CHECK(!mt_dataset_feature_name(out, 3, name, sizeof name), "feature 3 should not exist");
    char classes[4][64];
    int n = mt_dataset_class_names(out, classes, 4, &err);
    CHECK(n == 2 && !strcmp(classes[0], "0") && !strcmp(classes[1], "1"), "classes: %d ('%s', '%s')", n,
          n > 0 ? classes[0] : "", n > 1 ? classes[1] : "");
    string_attr(out, "task", name, sizeof name);
    CHECK(!strcmp(name, "classification"), "task attribute '%s'", name);
}

/* Arbitrary integer labels are renumbered in sorted order; classes keeps the original values; a test file
 * shares the numbering. */
static void test_label_mapping(void)
{
    const char *train = write_text("map.csv", "x,label\n1,7\n2,-1\n3,3\n4,7\n");
    const char *test = write_text("map_test.csv", "x,label\n5,3\n6,-1\n");
    const char *out = mt_test_path("map.h5");
    mt_csv_result res;
    mt_error err;
    mt_status st = run((mt_csv_import){.input = train, .test_input = test, .out_path = out, .label = "label"}, &res,
                       &err);
    if (!CHECK(st == MT_OK, "mapping import: %s", err.msg))
        return;
    CHECK(res.renumbered && res.n_classes == 3 && res.rows[0] == 4 && res.rows[1] == 2,
          "renumbered %d classes %d rows %llu/%llu", res.renumbered, res.n_classes, (unsigned long long)res.rows[0],
          (unsigned long long)res.rows[1]);
    float x[4];
    int32_t y[4], want[4] = {2, 0, 1, 2}, want_test[2] = {1, 0};
    read_split(out, "train", 4, 1, x, y, NULL);
    for (int i = 0; i < 4; i++)
        CHECK(y[i] == want[i], "train y[%d] = %d, want %d (classes -1, 3, 7)", i, y[i], want[i]);
    read_split(out, "test", 2, 1, x, y, NULL);
    for (int i = 0; i < 2; i++)
        CHECK(y[i] == want_test[i], "test y[%d] = %d, want %d", i, y[i], want_test[i]);
    char classes[4][64];
    int n = mt_dataset_class_names(out, classes, 4, &err);
    CHECK(n == 3 && !strcmp(classes[0], "-1") && !strcmp(classes[1], "3") && !strcmp(classes[2], "7"),
          "classes attribute: %d names ('%s', '%s', '%s')", n, n > 0 ? classes[0] : "", n > 1 ? classes[1] : "",
          n > 2 ? classes[2] : "");
}

/* Real labels make a regression; several label columns make y [N, k]; weights, order and ignored
 * columns go where they belong. */
static void test_regression_and_columns(void)
{
    const char *csv = write_text("reg.csv", "id,t,x1,x2,target,w,other\n"
                                            "10,3.5,1,2,0.25,1,9\n"
                                            "11,1.25,3,4,-1.5,0.5,8\n"
                                            "12,2,5,6,2,2,7\n");
    const char *out = mt_test_path("reg.h5");
    mt_csv_result res;
    mt_error err;
    mt_status st = run(
        (mt_csv_import){.input = csv, .out_path = out, .label = "target", .weights = "w", .order = "t", .ignore = "id"},
        &res, &err);
    if (!CHECK(st == MT_OK, "regression import: %s", err.msg))
        return;
    CHECK(res.task == MT_CSV_REGRESSION && res.features == 3, "task %d features %llu", (int)res.task,
          (unsigned long long)res.features);
    float x[9], yt[3], want_x[9] = {1, 2, 9, 3, 4, 8, 5, 6, 7}, want_y[3] = {0.25f, -1.5f, 2};
    read_split(out, "train", 3, 3, x, NULL, yt);
    for (int i = 0; i < 9; i++)
        CHECK(x[i] == want_x[i], "x[%d] = %g, want %g", i, x[i], want_x[i]);
    for (int i = 0; i < 3; i++)
        CHECK(yt[i] == want_y[i], "y[%d] = %g, want %g", i, yt[i], want_y[i]);
    double *order = NULL;
    st = mt_dataset_read_column(out, "train", "order", 3, &order, &err);
    CHECK(st == MT_OK && order && order[0] == 3.5 && order[1] == 1.25 && order[2] == 2, "order column: %s",
          st ? err.msg : "wrong values");
    free(order);
    float *w = NULL;
    st = mt_dataset_read_weights(out, "train", 3, &w, &err);
    CHECK(st == MT_OK && w && w[0] == 1 && w[1] == 0.5f && w[2] == 2, "weights: %s", st ? err.msg : "wrong values");
    free(w);
    st = mt_dataset_read_column(out, "train", "missing_column", 3, &order, &err);
    CHECK(st == MT_OK && order == NULL, "an absent column reads as NULL: %s", err.msg);
    st = mt_dataset_read_column(out, "train", "order", 4, &order, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "3 rows, but x has 4"), "length mismatch: %s", err.msg);
    char task[64];
    string_attr(out, "task", task, sizeof task);
    CHECK(!strcmp(task, "regression"), "task attribute '%s'", task);

    /* two targets -> y [N, 2]; integer labels forced to regression */
    st = run((mt_csv_import){.input = csv, .out_path = out, .label = "target,other", .ignore = "id,w,t"}, &res, &err);
    if (CHECK(st == MT_OK, "two targets: %s", err.msg)) {
        float x2[6], y2[6], want2[6] = {0.25f, 9, -1.5f, 8, 2, 7};
        read_split(out, "train", 3, 2, x2, NULL, y2);
        for (int i = 0; i < 6; i++)
            CHECK(y2[i] == want2[i], "y[%d] = %g, want %g", i, y2[i], want2[i]);
    }
    st = run((mt_csv_import){.input = csv, .out_path = out, .label = "x1", .task = MT_CSV_REGRESSION}, &res, &err);
    CHECK(st == MT_OK && res.task == MT_CSV_REGRESSION, "forced regression: %s", err.msg);
}

/* Every input error names file:line and the column. */
static void test_errors(void)
{
    char out[320];
    snprintf(out, sizeof out, "%s", mt_test_path("err.h5"));
    struct {
        const char *text, *label, *weights, *expect;
        mt_csv_task task;
    } cases[] = {
        {"a,b,y\n1,2,0\n3,abc,1\n", "y", NULL, "bad1.csv:3: column 'b': 'abc' is not a number", MT_CSV_AUTO},
        {"a,b,y\n1,2,0\n3,4,\n", "y", NULL, "bad2.csv:3: column 'y' (the label) is missing", MT_CSV_AUTO},
        {"a,b,y\n1,2,0\n3,4,nan\n", "y", NULL, "bad3.csv:3: column 'y' (the label) is missing", MT_CSV_AUTO},
        {"a,b,y\n1,2,0\n3,4\n", "y", NULL, "bad4.csv:3: 2 fields, but the header has 3 columns", MT_CSV_AUTO},
        {"a,b,y\n1,2,0\n", "label", NULL, "bad5.csv: --label: no column 'label' in the header (columns: a, b, y)",
         MT_CSV_AUTO},
        {"a,b,y\n1,2,0\n1,2,2.5\n", "y", NULL, "bad6.csv:3: column 'y' (the label): '2.5' is not an integer class",
         MT_CSV_CLASSIFICATION},
        {"a,w,y\n1,-2,0\n", "y", "w", "bad7.csv:2: column 'w' (the weights): -2 is negative", MT_CSV_AUTO},
        {"a,b,y\n1,inf,0\n", "y", NULL, "bad8.csv:2: column 'b': 'inf' is not finite", MT_CSV_AUTO},
        {"a,b,y\n1,\"2,0\n", "y", NULL, "bad9.csv:2: field 2: quote not closed", MT_CSV_AUTO},
        {"", "y", NULL, "bad10.csv: empty file", MT_CSV_AUTO},
        {"a,y\n", "y", NULL, "bad11.csv: no data rows after the header", MT_CSV_AUTO},
        {"a,a,y\n1,2,3\n", "y", NULL, "bad12.csv:1: column 'a' appears twice in the header", MT_CSV_AUTO},
        {"a,y\n1e39,0\n1,1\n", "y", NULL, "bad13.csv:2: column 'a': 1e39 is outside the float32 range", MT_CSV_AUTO},
        {"a,y\n1,0\n2,0\n", "y", NULL, "bad14.csv: column 'y' (the label) has only one class", MT_CSV_AUTO},
        {"y\n1\n2\n", "y", NULL, "bad15.csv: no feature columns left", MT_CSV_AUTO},
        {"a,y\n1,\"0\" x\n", "y", NULL, "bad16.csv:2: field 2: text after the closing quote", MT_CSV_AUTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.csv", i + 1);
        const char *csv = write_text(name, cases[i].text);
        mt_error err;
        mt_status st = run((mt_csv_import){.input = csv,
                                           .out_path = out,
                                           .label = cases[i].label,
                                           .weights = cases[i].weights,
                                           .task = cases[i].task},
                           NULL, &err);
        CHECK(st == MT_ERR_INPUT && strstr(err.msg, cases[i].expect), "case %zu: status %d, message '%s', want '%s'",
              i + 1, (int)st, err.msg, cases[i].expect);
    }
    CHECK(!exists(out), "a failed import left %s behind", out);
    DIR *d = opendir(mt_test_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        CHECK(!strstr(e->d_name, ".tmp."), "temporary file %s left behind", e->d_name);
    if (d)
        closedir(d);
    mt_error err;
    CHECK(run((mt_csv_import){.input = mt_test_path("no-such.csv"), .out_path = out, .label = "y"}, NULL, &err) ==
                  MT_ERR_INPUT &&
              strstr(err.msg, "no-such.csv: cannot open"),
          "missing input: %s", err.msg);
}

/* A failed import keeps an existing output untouched. */
static void test_atomic(void)
{
    const char *good = write_text("good.csv", "a,y\n1,0\n2,1\n");
    const char *bad = write_text("bad.csv", "a,y\n1,0\nx,1\n");
    const char *out = mt_test_path("atomic.h5");
    mt_error err;
    CHECK(run((mt_csv_import){.input = good, .out_path = out, .label = "y"}, NULL, &err) == MT_OK, "good: %s", err.msg);
    CHECK(run((mt_csv_import){.input = bad, .out_path = out, .label = "y"}, NULL, &err) == MT_ERR_INPUT, "bad import");
    float x[2];
    int32_t y[2];
    read_split(out, "train", 2, 1, x, y, NULL);
    CHECK(x[0] == 1 && x[1] == 2, "the old output changed: %g %g", x[0], x[1]);
}

/* Seeded test fraction: round(f N) rows move, every row lands once, the same seed gives the same split. */
static void test_fraction(void)
{
    char text[4096] = "id,y\n";
    for (int i = 0; i < 50; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i, i % 2);
    const char *csv = write_text("frac.csv", text);
    const char *out = mt_test_path("frac.h5"), *out2 = mt_test_path("frac2.h5"), *out3 = mt_test_path("frac3.h5");
    mt_csv_result res;
    mt_error err;
    mt_csv_import opt = {.input = csv,
                         .out_path = out,
                         .label = "y",
                         .test_fraction = 0.3,
                         .seed = 7,
                         .split = "fit",
                         .test_split = "holdout"};
    if (!CHECK(run(opt, &res, &err) == MT_OK, "fraction import: %s", err.msg))
        return;
    CHECK(res.rows[0] == 35 && res.rows[1] == 15, "rows %llu / %llu, want 35 / 15", (unsigned long long)res.rows[0],
          (unsigned long long)res.rows[1]);
    opt.out_path = out2;
    run(opt, &res, &err);
    opt.out_path = out3;
    opt.seed = 8;
    run(opt, &res, &err);
    float a[35], b[35], c[35], t[15];
    int32_t y[35];
    read_split(out, "fit", 35, 1, a, y, NULL);
    read_split(out2, "fit", 35, 1, b, y, NULL);
    read_split(out3, "fit", 35, 1, c, y, NULL);
    read_split(out, "holdout", 15, 1, t, y, NULL);
    int seen[50] = {0}, same = 1, differs = 0;
    for (int i = 0; i < 35; i++) {
        seen[(int)a[i]]++;
        same &= a[i] == b[i];
        differs |= a[i] != c[i];
        CHECK(i == 0 || a[i] > a[i - 1], "rows keep their order: %g after %g", a[i], i ? a[i - 1] : 0.0f);
    }
    for (int i = 0; i < 15; i++)
        seen[(int)t[i]]++;
    for (int i = 0; i < 50; i++)
        CHECK(seen[i] == 1, "row %d appears %d times over the two splits", i, seen[i]);
    CHECK(same, "the same seed gave different splits");
    CHECK(differs, "seeds 7 and 8 gave the same split");
}

/* gzip input; a test file whose header differs. */
static void test_gzip_and_header(void)
{
    const char *gz = mt_test_path("z.csv.gz");
    gzFile g = gzopen(gz, "wb");
    gzputs(g, "a,b,y\n1,2,1\n3,4,0\n");
    gzclose(g);
    const char *out = mt_test_path("z.h5");
    mt_error err;
    mt_status st = run((mt_csv_import){.input = gz, .out_path = out, .label = "y"}, NULL, &err);
    CHECK(st == MT_OK, "gzip import: %s", err.msg);
    float x[4];
    int32_t y[2];
    if (st == MT_OK) {
        read_split(out, "train", 2, 2, x, y, NULL);
        CHECK(x[0] == 1 && x[3] == 4 && y[0] == 1 && y[1] == 0, "gzip values %g %g %d %d", x[0], x[3], y[0], y[1]);
    }
    /* the same gzip file cut short */
    FILE *in = fopen(gz, "rb");
    unsigned char bytes[256];
    size_t got = in ? fread(bytes, 1, sizeof bytes, in) : 0;
    if (in)
        fclose(in);
    const char *cut = mt_test_path("cut.csv.gz");
    FILE *o = fopen(cut, "wb");
    if (o) {
        fwrite(bytes, 1, got > 10 ? got - 6 : got, o);
        fclose(o);
    }
    st = run((mt_csv_import){.input = cut, .out_path = out, .label = "y"}, NULL, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "cut.csv.gz: truncated"), "truncated gzip: %s", err.msg);
    const char *other = write_text("other.csv", "b,a,y\n1,2,1\n");
    st = run((mt_csv_import){.input = gz, .test_input = other, .out_path = out, .label = "y"}, NULL, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "other.csv:1: the header differs"), "header mismatch: %s", err.msg);
}

/* Thousands of features: the features attribute exceeds 64 KiB. */
static void test_wide(void)
{
    const int F = 5000;
    size_t cap = (size_t)F * 24 + 64;
    char *text = malloc(cap);
    size_t used = 0;
    for (int j = 0; j < F; j++)
        used += (size_t)snprintf(text + used, cap - used, "feature_number_%d,", j);
    used += (size_t)snprintf(text + used, cap - used, "y\n");
    for (int r = 0; r < 2; r++) {
        for (int j = 0; j < F; j++)
            used += (size_t)snprintf(text + used, cap - used, "%d,", j % 10);
        used += (size_t)snprintf(text + used, cap - used, "%d\n", r);
    }
    const char *csv = write_text("wide.csv", text);
    free(text);
    const char *out = mt_test_path("wide.h5");
    mt_error err;
    mt_status st = run((mt_csv_import){.input = csv, .out_path = out, .label = "y"}, NULL, &err);
    CHECK(st == MT_OK, "wide import: %s", err.msg);
    char name[64];
    CHECK(mt_dataset_feature_name(out, 4999, name, sizeof name) && !strcmp(name, "feature_number_4999"),
          "feature 4999 named '%s'", name);
}

/* IDX class subset: items of classes 2 and 0 only, relabelled 0 and 1 in that order. */
static void write_idx(const char *path, const unsigned char *data, size_t n, int images)
{
    gzFile g = gzopen(path, "wb");
    unsigned char head[16] = {0, 0, 8, images ? 3 : 1, 0, 0, 0, (unsigned char)n, 0, 0, 0, 2, 0, 0, 0, 2};
    gzwrite(g, head, images ? 16 : 8);
    gzwrite(g, data, (unsigned)(images ? n * 4 : n));
    gzclose(g);
}

static void test_idx_subset(void)
{
    unsigned char labels[6] = {0, 1, 2, 2, 1, 0}, images[24];
    for (int i = 0; i < 24; i++)
        images[i] = (unsigned char)(10 * (i / 4) + i % 4); /* item k holds 10k .. 10k+3 */
    const char *im = mt_test_path("im.gz"), *lb = mt_test_path("lb.gz"), *out = mt_test_path("idx.h5");
    write_idx(im, images, 6, 1);
    write_idx(lb, labels, 6, 0);
    const char *names[3] = {"zero", "one", "two"};
    int keep[2] = {2, 0};
    mt_error err = {0};
    mt_status st = mt_import_idx_subset(im, lb, im, lb, out, names, 3, NULL, keep, 2, &err);
    if (!CHECK(st == MT_OK, "idx subset: %s", err.msg))
        return;
    mt_dataset *ds = NULL;
    if (CHECK(mt_dataset_open(out, "test", &ds, &err) == MT_OK, "open: %s", err.msg)) {
        const mt_dataset_info *in = mt_dataset_get_info(ds);
        float x[16];
        int32_t y[4], want_y[4] = {1, 0, 0, 1};
        int want_item[4] = {0, 2, 3, 5};
        CHECK(in->rows == 4 && in->sample_size == 4, "subset rows %llu", (unsigned long long)in->rows);
        if (in->rows == 4 && mt_dataset_read_range(ds, 0, 4, x, y, NULL, &err) == MT_OK)
            for (int i = 0; i < 4; i++)
                CHECK(y[i] == want_y[i] && fabsf(x[i * 4 + 1] * 255.0f - (float)(10 * want_item[i] + 1)) < 1e-3f,
                      "row %d: label %d (want %d), x[1] %g (want item %d)", i, y[i], want_y[i], x[i * 4 + 1] * 255,
                      want_item[i]);
        mt_dataset_close(ds);
    }
    char classes[4][64];
    int n = mt_dataset_class_names(out, classes, 4, &err);
    CHECK(n == 2 && !strcmp(classes[0], "two") && !strcmp(classes[1], "zero"), "subset classes: %d", n);
    int bad[1] = {3};
    st = mt_import_idx_subset(im, lb, NULL, NULL, out, names, 3, NULL, bad, 1, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "kept class 3 is not a label"), "keep 3 of 3 names: %s", err.msg);
    int twice[2] = {1, 1};
    st = mt_import_idx_subset(im, lb, NULL, NULL, out, NULL, 0, NULL, twice, 2, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "kept twice"), "keep twice: %s", err.msg);
    int absent[1] = {7};
    st = mt_import_idx_subset(im, lb, NULL, NULL, out, NULL, 0, NULL, absent, 1, &err);
    CHECK(st == MT_ERR_INPUT && strstr(err.msg, "no item has one of the kept classes (7)"), "absent class: %s",
          err.msg);
}

int main(void)
{
    if (mt_test_tmpdir_create("test_csv") != 0)
        return 1;
    test_basic();
    test_label_mapping();
    test_regression_and_columns();
    test_errors();
    test_atomic();
    test_fraction();
    test_gzip_and_header();
    test_wide();
    test_idx_subset();
    mt_test_tmpdir_remove();
    return mt_test_finish("test_csv");
}
