/* Writing dataset files: the output written as an atomic replacement (core/atomic_file.h), contiguous
 * datasets written in row blocks, string and integer attributes (see h5_write.h). */
#define _POSIX_C_SOURCE 200809L

#include "io/h5_write.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* Copies the innermost message on HDF5's error stack into data (200 bytes). */
static herr_t take_first_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc && e->desc[0])
        snprintf(data, 200, "%s", e->desc);
    return 0;
}

mt_status mt_h5w_error(const mt_h5w *w, const char *what, mt_error *err)
{
    char why[200] = "HDF5 error";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_desc, why);
    return mt_fail(err, MT_ERR_IO, "%s: %s: write failed: %s", w->out, what, why);
}

mt_status mt_h5w_create(mt_h5w *w, const char *out, int large_attributes, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    w->out = out;
    w->file = -1;
    mt_status st = mt_atomic_open_path(&w->tmp, out, err);
    if (st)
        return st;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (large_attributes)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    w->file = H5Fcreate(w->tmp.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (w->file < 0) {
        mt_h5w_error(w, "create", err);
        mt_atomic_abort(&w->tmp);
        return err->code;
    }
    return MT_OK;
}

mt_status mt_h5w_finish(mt_h5w *w, mt_error *err)
{
    herr_t rc = H5Fclose(w->file);
    w->file = -1;
    if (rc < 0) {
        mt_h5w_error(w, "close", err);
        mt_atomic_abort(&w->tmp);
        return err->code;
    }
    return mt_atomic_commit(&w->tmp, err);
}

void mt_h5w_abort(mt_h5w *w)
{
    if (w->file >= 0)
        H5Fclose(w->file);
    w->file = -1;
    mt_atomic_abort(&w->tmp);
}

/* Dataset name under loc of the given file type and shape, with the link and creation properties given;
 * -1 on error. */
static hid_t create(hid_t loc, const char *name, hid_t type, int rank, const uint64_t *dims, hid_t lcpl, hid_t dcpl)
{
    hsize_t d[MT_H5W_MAX_RANK];
    for (int i = 0; i < rank && i < MT_H5W_MAX_RANK; i++)
        d[i] = dims[i];
    hid_t space = rank >= 1 && rank <= MT_H5W_MAX_RANK ? H5Screate_simple(rank, d, NULL) : -1;
    hid_t ds = space >= 0 ? H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT) : -1;
    if (space >= 0)
        H5Sclose(space);
    return ds;
}

hid_t mt_h5w_dataset(hid_t g, const char *name, hid_t type, int rank, const uint64_t *dims)
{
    return create(g, name, type, rank, dims, H5P_DEFAULT, H5P_DEFAULT);
}

herr_t mt_h5w_rows(hid_t d, hid_t memtype, uint64_t first, uint64_t count, uint64_t row_elems, const void *buf)
{
    if (count == 0)
        return 0;
    hid_t fspace = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(fspace);
    hsize_t start[MT_H5W_MAX_RANK] = {first}, cnt[MT_H5W_MAX_RANK], total = count * row_elems;
    herr_t rc = rank >= 1 && rank <= MT_H5W_MAX_RANK ? H5Sget_simple_extent_dims(fspace, cnt, NULL) : -1;
    cnt[0] = count;
    if (rc >= 0)
        rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL);
    hid_t mspace = H5Screate_simple(1, &total, NULL);
    if (rc >= 0 && mspace >= 0)
        rc = H5Dwrite(d, memtype, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return rc;
}

mt_status mt_h5w_allocated(mt_h5w *w, const char *name, mt_h5w_type type, int rank, const uint64_t *dims, mt_error *err)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t ds = -1;
    if (dcpl >= 0 && lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
        H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
        ds = create(w->file, name, type == MT_H5W_INT32 ? H5T_STD_I32LE : H5T_IEEE_F32LE, rank, dims, lcpl, dcpl);
    if (ds >= 0)
        H5Dclose(ds);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return ds < 0 ? mt_h5w_error(w, name, err) : MT_OK;
}

mt_status mt_h5w_open(mt_h5w *w, const char *path, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(w, 0, sizeof *w);
    w->out = path;
    w->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    return w->file < 0 ? mt_h5w_error(w, "open for writing", err) : MT_OK;
}

mt_status mt_h5w_close(mt_h5w *w, mt_error *err)
{
    herr_t rc = w->file >= 0 ? H5Fclose(w->file) : 0;
    w->file = -1;
    return rc < 0 ? mt_h5w_error(w, "close", err) : MT_OK;
}

mt_status mt_h5w_write_rows(mt_h5w *w, const char *name, mt_h5w_type type, uint64_t first, uint64_t count,
                            uint64_t row_elems, const void *buf, mt_error *err)
{
    hid_t d = H5Dopen2(w->file, name, H5P_DEFAULT);
    herr_t rc = d >= 0 ? mt_h5w_rows(d, type == MT_H5W_INT32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, first, count,
                                     row_elems, buf)
                       : -1;
    if (d >= 0)
        H5Dclose(d);
    return rc < 0 ? mt_h5w_error(w, name, err) : MT_OK;
}

herr_t mt_h5w_strings(hid_t obj, const char *name, const char *const *values, int n)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dim = n < 0 ? 1 : (hsize_t)n;
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr >= 0 ? H5Awrite(attr, type, values) : -1;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

herr_t mt_h5w_int(hid_t obj, const char *name, int64_t value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_INT64, &value) : -1;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

mt_status mt_h5w_dataset_attributes(mt_h5w *w, const char *const *classes, int n_classes, const char *source,
                                    mt_error *err)
{
    const char *format = MT_DATASET_FORMAT_NAME;
    if ((classes && n_classes > 0 && mt_h5w_strings(w->file, "classes", classes, n_classes) < 0) ||
        mt_h5w_strings(w->file, "source", &source, -1) < 0 || mt_h5w_strings(w->file, "format", &format, -1) < 0 ||
        mt_h5w_int(w->file, "format_version", MT_DATASET_FORMAT_VERSION) < 0)
        return mt_h5w_error(w, "attributes", err);
    return MT_OK;
}
