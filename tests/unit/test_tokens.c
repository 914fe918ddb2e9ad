/* Token datasets: integer x (here int32 token ids [N, T]) is read as float values without scaling, so
 * an embedding layer sees the ids themselves; uint8 x is still scaled to [0, 1]. */
#include <string.h>

#include <hdf5.h>

#include "io/dataset.h"
#include "testlib.h"

static void write(const char *path, hid_t type, const void *x)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t xd[2] = {5, 3}, yd[1] = {5};
    hid_t xs = H5Screate_simple(2, xd, NULL), ys = H5Screate_simple(1, yd, NULL);
    hid_t xds = H5Dcreate2(g, "x", type, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t yds = H5Dcreate2(g, "y", H5T_STD_I32LE, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const int32_t y[5] = {0, 1, 0, 1, 1};
    H5Dwrite(xds, type == H5T_STD_U8LE ? H5T_NATIVE_UCHAR : H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dwrite(yds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(xds), H5Dclose(yds), H5Sclose(xs), H5Sclose(ys), H5Gclose(g), H5Fclose(f);
}

int main(void)
{
    if (mt_test_tmpdir_create("test_tokens") != 0)
        return 1;
    int32_t ids[15];
    unsigned char bytes[15];
    for (int i = 0; i < 15; i++)
        ids[i] = 1000 + 7 * i, bytes[i] = (unsigned char)(17 * i);
    const char *types[2] = {"tokens.h5", "bytes.h5"};
    write(mt_test_path(types[0]), H5T_STD_I32LE, ids);
    write(mt_test_path(types[1]), H5T_STD_U8LE, bytes);
    for (int t = 0; t < 2; t++) {
        mt_dataset *ds = NULL;
        mt_error err = {0};
        if (!CHECK(mt_dataset_open(mt_test_path(types[t]), "train", &ds, &err) == MT_OK, "%s", err.msg))
            continue;
        const uint64_t rows[2] = {4, 0};
        float x[6];
        int32_t y[2];
        CHECK(mt_dataset_read_rows(ds, rows, 2, x, y, NULL, &err) == MT_OK, "%s", err.msg);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                int k = (int)rows[i] * 3 + j;
                float want = t == 0 ? (float)ids[k] : bytes[k] / 255.0f;
                CHECK(x[i * 3 + j] == want, "%s row %d col %d: %g, expected %g", types[t], (int)rows[i], j,
                      x[i * 3 + j], want);
            }
        mt_dataset_close(ds);
    }
    mt_test_tmpdir_remove();
    return mt_test_finish("tokens");
}
