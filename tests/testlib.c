/* Small test helpers: failure counting, value-printing checks, a temporary directory per test, and a
 * small dataset writer. */
#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "comm/comm.h"

int mt_test_failures;

int mt_check(int cond, const char *file, int line, const char *fmt, ...)
{
    if (!cond) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "FAIL %s:%d: ", file, line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        mt_test_failures++;
    }
    return cond;
}

int mt_check_close(double a, double b, double rtol, double atol, const char *file, int line, const char *what)
{
    double diff = fabs(a - b);
    int ok = isfinite(a) && isfinite(b) && diff <= atol + rtol * fabs(b);
    return mt_check(ok, file, line, "%s: got %.9g, expected %.9g (diff %.3g, rtol %.1g, atol %.1g)", what, a, b, diff,
                    rtol, atol);
}

int mt_test_write_dataset(const char *path, int rows, int features, int classes, int width)
{
    float *x = malloc((size_t)rows * features * sizeof *x);
    int32_t *y = malloc((size_t)rows * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        y[i] = i % classes;
        for (int j = 0; j < features; j++)
            x[(size_t)i * features + j] = (float)sin(0.37 * i + 1.3 * j) + (j % classes == y[i] ? 1.0f : 0.0f);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t xd[3] = {(hsize_t)rows, (hsize_t)features, 1}, yd[1] = {(hsize_t)rows};
    if (width > 0)
        xd[1] = (hsize_t)(features / width), xd[2] = (hsize_t)width;
    hid_t xs = H5Screate_simple(width > 0 ? 3 : 2, xd, NULL), ys = H5Screate_simple(1, yd, NULL);
    hid_t xds = H5Dcreate2(g, "x", H5T_IEEE_F32LE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t yds = H5Dcreate2(g, "y", H5T_STD_I32LE, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int bad = H5Dwrite(xds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0 ||
              H5Dwrite(yds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) < 0;
    H5Dclose(xds), H5Dclose(yds), H5Sclose(xs), H5Sclose(ys), H5Gclose(g);
    bad |= H5Fclose(f) < 0;
    free(x), free(y);
    return bad ? -1 : 0;
}

char mt_test_dir[64];

int mt_test_tmpdir_create(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    snprintf(mt_test_dir, sizeof mt_test_dir, "%s/%.16s.XXXXXX", base && base[0] && strlen(base) < 32 ? base : "/tmp",
             prefix);
    if (!mkdtemp(mt_test_dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

const char *mt_test_path(const char *name)
{
    static char buf[32][320];
    static int next;
    char *p = buf[next++ % 32];
    snprintf(p, sizeof buf[0], "%s/%s", mt_test_dir, name);
    return p;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void mt_test_tmpdir_remove(void)
{
    if (mt_test_dir[0])
        nftw(mt_test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int mt_test_mpi_tmpdir(struct mt_comm *c, const char *prefix)
{
    mt_error err = {0};
    int ok = mt_comm_rank(c) != 0 || mt_test_tmpdir_create(prefix) == 0;
    if (!ok)
        mt_test_dir[0] = '\0';
    mt_comm_bcast(c, mt_test_dir, sizeof mt_test_dir, 0, &err);
    return mt_test_dir[0] ? 0 : -1;
}

int mt_test_mpi_finish(struct mt_comm *c, const char *name)
{
    mt_error err = {0};
    mt_comm_barrier(c, &err);
    if (mt_comm_rank(c) == 0)
        mt_test_tmpdir_remove();
    double failures = mt_test_failures;
    mt_comm_allreduce_sum_f64(c, &failures, 1, &err);
    mt_test_failures = (int)failures;
    if (mt_comm_rank(c) != 0)
        return mt_test_failures ? 1 : 0;
    return mt_test_finish(name);
}

int mt_test_finish(const char *name)
{
    if (mt_test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, mt_test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}
