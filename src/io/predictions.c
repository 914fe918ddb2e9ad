/* Prediction files (HDF5 through the dataset writer's helpers, CSV with stdio), both written as
 * atomic replacements (core/atomic_file.h), and the list of splits of a dataset file (see predictions.h). */
#define _POSIX_C_SOURCE 200809L

#include "io/predictions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/h5_write.h"

/* Writes one whole dataset of the given shape; returns < 0 on failure. */
static herr_t write_all(hid_t file, const char *name, hid_t ftype, hid_t mtype, int rank, const uint64_t *dims,
                        const void *buf)
{
    hid_t d = mt_h5w_dataset(file, name, ftype, rank, dims);
    if (d < 0)
        return -1;
    herr_t rc = mt_h5w_rows(d, mtype, 0, dims[0], rank > 1 ? dims[1] : 1, buf);
    H5Dclose(d);
    return rc;
}

mt_status mt_predictions_write_h5(const char *path, const mt_prediction_file *f, mt_error *err)
{
    mt_h5w w;
    mt_status st = mt_h5w_create(&w, path, 0, err);
    if (st)
        return st;
    const char *what = f->values_name;
    uint64_t dv[2] = {f->n, (uint64_t)f->k}, d1[1] = {f->n}, dt[2] = {f->n, (uint64_t)f->target_k};
    herr_t rc = write_all(w.file, f->values_name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dv, f->values);
    if (rc >= 0 && f->predicted && (what = "predicted"))
        rc = write_all(w.file, "predicted", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, f->predicted);
    if (rc >= 0 && f->rows && (what = "row"))
        rc = write_all(w.file, "row", H5T_STD_I64LE, H5T_NATIVE_UINT64, 1, d1, f->rows);
    if (rc >= 0 && f->y_class && (what = "y"))
        rc = write_all(w.file, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, f->y_class);
    if (rc >= 0 && !f->y_class && f->y_target && (what = "y"))
        rc = write_all(w.file, "y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dt, f->y_target);
    const char *format = "mpitrain-predictions";
    if (rc >= 0 && (what = "attributes"))
        rc = mt_h5w_strings(w.file, "format", &format, -1) < 0 || mt_h5w_int(w.file, "format_version", 1) < 0 ||
                     mt_h5w_strings(w.file, "outputs", &f->values_name, -1) < 0 ||
                     (f->checkpoint && mt_h5w_strings(w.file, "checkpoint", &f->checkpoint, -1) < 0) ||
                     (f->input && mt_h5w_strings(w.file, "input", &f->input, -1) < 0) ||
                     (f->split && mt_h5w_strings(w.file, "split", &f->split, -1) < 0) ||
                     (f->classes && f->n_classes > 0 && mt_h5w_strings(w.file, "classes", f->classes, f->n_classes) < 0)
                 ? -1
                 : 0;
    if (rc < 0) {
        st = mt_h5w_error(&w, what, err);
        mt_h5w_abort(&w);
        return st;
    }
    if ((st = mt_h5w_finish(&w, err)))
        mt_h5w_abort(&w);
    return st;
}

static void csv_header(FILE *out, const mt_prediction_file *f)
{
    fprintf(out, "row");
    if (f->y_class)
        fprintf(out, ",y");
    else if (f->y_target)
        for (int j = 0; j < f->target_k; j++)
            fprintf(out, f->target_k == 1 ? ",y" : ",y%d", j);
    if (f->predicted)
        fprintf(out, ",predicted");
    const char *prefix = !strcmp(f->values_name, "probabilities") ? "p"
                         : !strcmp(f->values_name, "scores")      ? "score"
                                                                  : "out";
    for (int j = 0; j < f->k; j++)
        fprintf(out, ",%s%d", prefix, j);
    fputc('\n', out);
}

static void csv_row(FILE *out, const mt_prediction_file *f, uint64_t i)
{
    fprintf(out, "%llu", (unsigned long long)(f->rows ? f->rows[i] : i));
    if (f->y_class)
        fprintf(out, ",%d", (int)f->y_class[i]);
    else if (f->y_target)
        for (int j = 0; j < f->target_k; j++)
            fprintf(out, ",%.9g", (double)f->y_target[i * (uint64_t)f->target_k + (uint64_t)j]);
    if (f->predicted)
        fprintf(out, ",%d", (int)f->predicted[i]);
    for (int j = 0; j < f->k; j++)
        fprintf(out, ",%.9g", (double)f->values[i * (uint64_t)f->k + (uint64_t)j]);
    fputc('\n', out);
}

mt_status mt_predictions_write_csv(const char *path, const mt_prediction_file *f, mt_error *err)
{
    mt_atomic_file out;
    mt_status st = mt_atomic_open(&out, path, err);
    if (st)
        return st;
    csv_header(out.f, f);
    for (uint64_t i = 0; i < f->n; i++)
        csv_row(out.f, f, i);
    return mt_atomic_commit(&out, err);
}

typedef struct split_list {
    char (*names)[64];
    int n, max;
} split_list;

/* H5Literate callback: keeps the names of groups that hold an "x" link. */
static herr_t add_split(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    split_list *l = data;
    char xpath[300];
    snprintf(xpath, sizeof xpath, "%.250s/x", name);
    if (l->n >= l->max || H5Oexists_by_name(g, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
    if (sub < 0)
        return 0; /* not a group */
    H5Gclose(sub);
    if (H5Lexists(g, xpath, H5P_DEFAULT) > 0)
        snprintf(l->names[l->n++], 64, "%.63s", name);
    return 0;
}

int mt_dataset_list_splits(const char *path, char (*names)[64], int max, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        mt_fail(err, MT_ERR_INPUT, "%s: cannot open as HDF5 (%s)", path,
                access(path, R_OK) != 0 ? strerror(errno) : "not an HDF5 file");
        return -1;
    }
    split_list l = {names, 0, max};
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, NULL, add_split, &l);
    H5Fclose(file);
    return l.n;
}
