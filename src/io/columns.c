/* Per-row side columns of a split, read whole (8 or 4 bytes per row, small next to x): /<split>/order (the
 * time order for ordered validation splits) and /<split>/w (sample weights); and the names of x's columns
 * from the "features" file attribute that import csv writes, for messages. */
#include "io/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/error.h"
#include "io/h5_check.h"

/* Copies the innermost message on HDF5's error stack into data (200 bytes). */
static herr_t take_first_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc && e->desc[0])
        snprintf(data, 200, "%s", e->desc);
    return 0;
}

/* Whether /<split>/<name> exists as a link (intermediate groups checked one by one). */
static int exists(hid_t file, const char *split, const char *dpath)
{
    return H5Lexists(file, split, H5P_DEFAULT) > 0 && H5Lexists(file, dpath, H5P_DEFAULT) > 0;
}

/* Reads dataset d (numeric, [rows] or [rows, 1]) as doubles into a new array. */
static mt_status read_doubles(const char *path, const char *dpath, hid_t d, uint64_t rows, double **values,
                              mt_error *err)
{
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[2] = {0, 0};
    if (rank >= 1 && rank <= 2)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    mt_status st = MT_OK;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s: unsupported type (need a number per row)", path, dpath);
    else if (rank < 1 || rank > 2 || (rank == 2 && dims[1] != 1))
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s: need shape [N] or [N, 1] (one value per row)", path, dpath);
    else if (dims[0] != rows)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s: %llu rows, but x has %llu", path, dpath, (unsigned long long)dims[0],
                     (unsigned long long)rows);
    else if (rows > SIZE_MAX / sizeof **values)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s: %llu rows are too many to read", path, dpath,
                     (unsigned long long)rows);
    /* what H5Dread trusts: the type it converts from and the storage it reads */
    if (st == MT_OK)
        st = mt_h5_check_number_type(type, path, dpath, err);
    if (st == MT_OK)
        st = mt_h5_check_storage(d, path, dpath, MT_H5_MAX_CHUNK_BYTES, err);
    if (st == MT_OK && !(*values = malloc((rows ? rows : 1) * sizeof **values)))
        st = mt_fail(err, MT_ERR_NOMEM, "%s: %s: out of memory for %llu values", path, dpath, (unsigned long long)rows);
    if (st == MT_OK && rows > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *values) < 0) {
        char why[200] = "HDF5 error";
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_desc, why);
        st = mt_fail(err, MT_ERR_IO, "%s: %s: read failed: %s", path, dpath, why);
    }
    if (st) {
        free(*values);
        *values = NULL;
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

mt_status mt_dataset_read_column(const char *path, const char *split, const char *name, uint64_t rows, double **values,
                                 mt_error *err)
{
    *values = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    while (split[0] == '/')
        split++;
    char gpath[300], dpath[600];
    snprintf(gpath, sizeof gpath, "/%s", split);
    snprintf(dpath, sizeof dpath, "/%s/%s", split, name);
    hid_t file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (file < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open as HDF5", path);
    mt_status st = MT_OK;
    if (exists(file, gpath, dpath)) {
        st = mt_h5_check_layout(file, dpath, path, err);
        hid_t d = st ? -1 : H5Dopen2(file, dpath, H5P_DEFAULT);
        if (st == MT_OK)
            st = d < 0 ? mt_fail(err, MT_ERR_INPUT, "%s: %s: is not a dataset", path, dpath)
                       : read_doubles(path, dpath, d, rows, values, err);
        if (d >= 0)
            H5Dclose(d);
    }
    H5Fclose(file);
    return st;
}

mt_status mt_dataset_read_weights(const char *path, const char *split, uint64_t rows, float **w, mt_error *err)
{
    double *v;
    *w = NULL;
    mt_status st = mt_dataset_read_column(path, split, "w", rows, &v, err);
    if (st || !v)
        return st;
    while (split[0] == '/')
        split++;
    int any = 0;
    for (uint64_t i = 0; !st && i < rows; i++) {
        if (!(isfinite(v[i]) && v[i] >= 0))
            st = mt_fail(err, MT_ERR_INPUT, "%s: /%s/w: row %llu has weight %g (weights must be finite and >= 0)", path,
                         split, (unsigned long long)i, v[i]);
        any |= v[i] > 0;
    }
    if (!st && !any)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s/w: every weight is 0", path, split);
    if (!st && !(*w = malloc((rows ? rows : 1) * sizeof **w)))
        st = mt_fail(err, MT_ERR_NOMEM, "%s: /%s/w: out of memory", path, split);
    for (uint64_t i = 0; !st && i < rows; i++)
        (*w)[i] = (float)v[i];
    free(v);
    return st;
}

int mt_dataset_feature_name(const char *path, uint64_t column, char *buf, size_t size)
{
    if (size > 0)
        buf[0] = '\0';
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (file < 0)
        return 0;
    int found = 0;
    hid_t attr = H5Aexists(file, "features") > 0 ? H5Aopen(file, "features", H5P_DEFAULT) : -1;
    hid_t ftype = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (ftype >= 0 && H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0 && n > 0 &&
        column < (uint64_t)n) {
        char **names = calloc((size_t)n, sizeof *names);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(ftype));
        if (names && H5Aread(attr, mem, names) >= 0) {
            if (names[column] && size > 0) {
                snprintf(buf, size, "%s", names[column]);
                found = 1;
            }
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, names);
        }
        H5Tclose(mem);
        free(names);
    }
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    H5Fclose(file);
    return found;
}
