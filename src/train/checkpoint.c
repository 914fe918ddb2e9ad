/* HDF5 checkpoints: built as an HDF5 image in memory (Fletcher32 checksums on every tensor, attributes
 * describing the format and every layer (their JSON from train/checkpoint_attrs.h), a completeness marker
 * written last), sealed (the CRC-32 of the whole file in its user block, io/h5_seal.h), then written
 * atomically (core/atomic_file.h); loading verifies the seal before libhdf5 parses the file, then the
 * format version and every tensor's shape. */
#include "train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/fault.h"
#include "io/h5_check.h"
#include "io/h5_seal.h"
#include "train/checkpoint_attrs.h"

/* Longest layers attribute written (an attribute must fit the 64 KiB object header message). */
#define MAX_LAYERS_ATTR 60000

/* ---- writing ---- */

typedef struct writer {
    const char *path;
    mt_error *err;
    int failed;
} writer;

static int wfail(writer *w, const char *what)
{
    if (!w->failed)
        mt_fail(w->err, MT_ERR_IO, "%s: cannot write %s", w->path, what);
    w->failed = 1;
    return -1;
}

static void write_attr_str(writer *w, hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, value) < 0)
        wfail(w, name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void write_attr_i64(writer *w, hid_t obj, const char *name, int64_t value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT64, &value) < 0)
        wfail(w, name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(s);
}

static void write_array(writer *w, hid_t group, const char *name, hid_t file_type, hid_t mem_type, int rank,
                        const hsize_t *dims, const void *data)
{
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    if (total > 0 && total * 8 < ((hsize_t)1 << 32)) {
        H5Pset_chunk(dcpl, rank, dims);
        H5Pset_fletcher32(dcpl);
    }
    hid_t d = H5Dcreate2(group, name, file_type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0 || (total > 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        wfail(w, name);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

static void write_i64(writer *w, hid_t group, const char *name, int64_t value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(group, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) < 0)
        wfail(w, name);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(s);
}

static void write_text(writer *w, hid_t group, const char *name, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(group, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) < 0)
        wfail(w, name);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(s);
    H5Tclose(t);
}

/* Group name of layer i: "000_dense" (sorted order equals layer order). */
static void layer_group_name(const mt_model *m, int i, char *buf, size_t size)
{
    snprintf(buf, size, "%03d_%s", i, m->layers[i].ops->name);
}

static void write_attr_ints(writer *w, hid_t obj, const char *name, const int *v, int n)
{
    int64_t wide[MT_INTS_MAX];
    for (int i = 0; i < n && i < MT_INTS_MAX; i++)
        wide[i] = v[i];
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = n > 0 ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || (n > 0 && H5Awrite(a, H5T_NATIVE_INT64, wide) < 0))
        wfail(w, name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(s);
}

/* The attributes of a layer's group in /params: type, index, options (JSON), input_shape, output_shape
 * and, for layers with a torch module of the same state dict, torch. */
static void write_layer_attrs(writer *w, hid_t g, const mt_layer *l)
{
    write_attr_str(w, g, "type", l->ops->name);
    write_attr_i64(w, g, "index", l->index);
    char *json = mt_checkpoint_options_json(l);
    if (!json)
        wfail(w, "layer options (out of memory)");
    else
        write_attr_str(w, g, "options", json);
    free(json);
    write_attr_ints(w, g, "input_shape", l->in_shape.v, l->in_shape.n);
    write_attr_ints(w, g, "output_shape", l->out_shape.v, l->out_shape.n);
    if (l->ops->torch)
        write_attr_str(w, g, "torch", l->ops->torch);
}

/* Attributes of a network's params group: input_shape, and layers, a JSON array of every layer (those
 * without parameters too) in order. An attribute lives in the object header (64 KiB at most in the file
 * format this library writes): a model whose description is longer goes without it. */
static void write_model_attrs(writer *w, hid_t g, const mt_model *m)
{
    write_attr_ints(w, g, "input_shape", m->input_shape.v, m->input_shape.n);
    char *json = mt_checkpoint_layers_json(m);
    if (!json)
        wfail(w, "the layer list (out of memory)");
    else if (strlen(json) < MAX_LAYERS_ATTR)
        write_attr_str(w, g, "layers", json);
    free(json);
}

/* One dataset per tensor of a slab laid out like the parameters, grouped per layer; with_state also
 * writes the layers' attributes and their buffers (running statistics), as a torch state_dict holds them. */
static void write_slab(writer *w, hid_t parent, const mt_model *m, const float *slab, int with_state)
{
    for (int i = 0; i < m->n_layers && !w->failed; i++) {
        const mt_layer *l = &m->layers[i];
        if (l->n_tensors == 0 && (!with_state || l->n_buffer_tensors == 0))
            continue;
        char name[64];
        layer_group_name(m, i, name, sizeof name);
        hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            wfail(w, name);
            return;
        }
        if (with_state)
            write_layer_attrs(w, g, l);
        for (int t = 0; with_state && t < l->n_buffer_tensors; t++) {
            const mt_tensor_desc *d = &l->buffer_tensors[t];
            hsize_t dims[MT_MAX_SHAPE];
            for (int k = 0; k < d->rank; k++)
                dims[k] = (hsize_t)d->shape[k];
            write_array(w, g, d->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d->rank, dims, l->buffers + d->offset);
        }
        for (int t = 0; t < l->n_tensors; t++) {
            const mt_tensor_desc *d = &l->tensors[t];
            hsize_t dims[MT_MAX_SHAPE];
            for (int k = 0; k < d->rank; k++)
                dims[k] = (hsize_t)d->shape[k];
            write_array(w, g, d->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d->rank, dims,
                        slab + (size_t)(l->params - m->params) + d->offset);
        }
        H5Gclose(g);
    }
}

static void write_optimizer(writer *w, hid_t parent, const mt_model *m, const mt_optimizer *opt)
{
    hid_t g = H5Gcreate2(parent, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        wfail(w, "/optimizer");
        return;
    }
    if (opt) {
        write_attr_str(w, g, "name", opt->opts.name);
        write_i64(w, g, "step", opt->step);
        for (int s = 0; s < opt->n_scalars; s++) {
            hsize_t one = 1;
            write_array(w, g, opt->scalar_names[s], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &one, &opt->scalars[s]);
        }
        for (int s = 0; s < opt->n_slots; s++) {
            hid_t sg = H5Gcreate2(g, opt->slot_names[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (sg < 0) {
                wfail(w, opt->slot_names[s]);
                break;
            }
            write_slab(w, sg, m, opt->slots[s], 0);
            H5Gclose(sg);
        }
    }
    H5Gclose(g);
}

static void write_state(writer *w, hid_t file, const mt_train_state *st)
{
    hid_t g = H5Gcreate2(file, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        wfail(w, "/state");
        return;
    }
    write_i64(w, g, "epoch", st->epoch);
    write_i64(w, g, "step", st->step);
    write_i64(w, g, "world_size", st->world_size);
    write_i64(w, g, "seed", st->seed);
    write_i64(w, g, "global_batch", st->global_batch);
    write_i64(w, g, "early_stopping_best_epoch", st->es_best_epoch);
    write_i64(w, g, "early_stopping_wait", st->es_wait);
    write_i64(w, g, "epoch_step", st->epoch_step);
    hsize_t one = 1;
    write_array(w, g, "early_stopping_best", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &one, &st->es_best);
    H5Gclose(g);
}

/* /metrics: one dataset per column of n rows of `fields` doubles. */
static void write_metrics(writer *w, hid_t file, const char *const *names, int fields, const double *rows, size_t n)
{
    hid_t g = H5Gcreate2(file, "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        wfail(w, "/metrics");
        return;
    }
    double *col = malloc((n ? n : 1) * sizeof *col);
    if (!col) {
        wfail(w, "/metrics (out of memory)");
        H5Gclose(g);
        return;
    }
    for (int f = 0; f < fields; f++) {
        for (size_t i = 0; i < n; i++)
            col[i] = rows[i * (size_t)fields + (size_t)f];
        hsize_t dims[1] = {n};
        write_array(w, g, names[f], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, col);
    }
    free(col);
    H5Gclose(g);
}

/* /preprocessing: attributes scaling and missing, datasets shift, scale and fill [features]. */
static void write_prep(writer *w, hid_t file, const mt_prep *p)
{
    hid_t g = H5Gcreate2(file, "preprocessing", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        wfail(w, "/preprocessing");
        return;
    }
    write_attr_str(w, g, "scaling", mt_scaling_name(p->scaling));
    write_attr_str(w, g, "missing", mt_missing_name(p->missing));
    hsize_t dims[1] = {p->features};
    write_array(w, g, "shift", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, p->shift);
    write_array(w, g, "scale", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, p->scale);
    write_array(w, g, "fill", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, p->fill);
    H5Gclose(g);
}

/* Writes the image as the file path, atomically; errors name the path and errno. The fault-injection
 * point MT_FAULT_CHECKPOINT is halfway through. */
static mt_status write_image(const char *path, const char *image, size_t n, mt_error *err)
{
    mt_atomic_file out;
    mt_status st = mt_atomic_open(&out, path, err);
    if (st)
        return st;
    errno = 0;
    int bad = fwrite(image, 1, n / 2, out.f) != n / 2;
    if (!bad && mt_fault_check(MT_FAULT_CHECKPOINT) == MT_FAULT_FAIL)
        bad = 1, errno = EIO;
    if (!bad && fwrite(image + n / 2, 1, n - n / 2, out.f) != n - n / 2)
        bad = 1;
    if (bad) {
        int e = errno ? errno : EIO;
        mt_atomic_abort(&out);
        return mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return mt_atomic_commit(&out, err);
}

/* The checkpoint is first an HDF5 file image in memory (libhdf5's core driver, nothing on disk), written
 * out with plain write() afterwards: libhdf5 1.10 cannot close a file whose final flush failed (a full
 * disk), and the half-closed file crashes it at exit; plain writes report the errno and leave nothing
 * behind. It costs rank 0 about twice the checkpoint size in memory while writing, and gives one large
 * sequential write, which parallel file systems prefer to many small ones. */
/* The parameters (with the layers' buffers) and the optimizer state of one network under parent. */
static void write_net(writer *w, hid_t parent, const mt_model *m, const mt_optimizer *opt)
{
    hid_t g = H5Gcreate2(parent, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        wfail(w, "/params");
    else {
        write_model_attrs(w, g, m);
        write_slab(w, g, m, m->params, 1);
        H5Gclose(g);
    }
    if (!w->failed)
        write_optimizer(w, parent, m, opt);
}

/* The current time as ISO 8601 UTC, "2026-12-02T17:15:59Z". */
static const char *utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "unknown");
    return buf;
}

mt_status mt_checkpoint_write(const char *path, const mt_checkpoint *c, mt_error *err)
{
    return mt_checkpoint_write_multi(path, c, NULL, err);
}

mt_status mt_checkpoint_write_multi(const char *path, const mt_checkpoint *c, const mt_checkpoint_multi *x,
                                    mt_error *err)
{
    const mt_checkpoint_net single = {"", c->model, c->opt};
    const mt_checkpoint_net *nets = x && x->n_nets > 0 ? x->nets : &single;
    const int n_nets = x && x->n_nets > 0 ? x->n_nets : 1;
    writer w = {path, err, 0};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    size_t estimate = (size_t)1 << 20;
    for (int i = 0; i < n_nets; i++) {
        const size_t slots = nets[i].opt ? (size_t)nets[i].opt->n_slots : 0;
        estimate += (nets[i].model->n_params * (1 + slots) + nets[i].model->n_buffers) * sizeof(float);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t f = fapl < 0 || fcpl < 0 || H5Pset_fapl_core(fapl, estimate, 0) < 0 ||
                      H5Pset_userblock(fcpl, MT_H5_SEAL_BYTES) < 0
                  ? -1
                  : H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (f < 0)
        return mt_fail(err, MT_ERR_NOMEM, "%s: cannot build the checkpoint in memory (%zu bytes)", path, estimate);
    write_attr_str(&w, f, "format", "mpitrain-checkpoint");
    write_attr_i64(&w, f, "format_version", MT_CHECKPOINT_FORMAT_VERSION);
    write_attr_str(&w, f, "mpitrain_version", mt_version());
    char created[32];
    write_attr_str(&w, f, "created", utc_now(created, sizeof created));
    for (int i = 0; i < n_nets && !w.failed; i++) {
        if (!nets[i].name[0]) { /* a single network: /params, /optimizer */
            write_net(&w, f, nets[i].model, nets[i].opt);
            continue;
        }
        hid_t g = H5Gcreate2(f, nets[i].name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            wfail(&w, nets[i].name);
            break;
        }
        write_attr_str(&w, g, "kind", "network");
        write_net(&w, g, nets[i].model, nets[i].opt);
        H5Gclose(g);
    }
    if (!w.failed && c->state)
        write_state(&w, f, c->state);
    if (!w.failed)
        write_text(&w, f, "config", c->config_yaml ? c->config_yaml : "");
    if (!w.failed && c->history)
        write_metrics(&w, f, c->history->names, c->history->fields, c->history->rows, c->history->n);
    else if (!w.failed)
        write_metrics(&w, f, mt_metrics_field_names, MT_METRICS_FIELDS, NULL, 0);
    if (!w.failed && c->prep)
        write_prep(&w, f, c->prep);
    if (!w.failed)
        write_attr_i64(&w, f, "complete", 1);
    if (!w.failed && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0)
        wfail(&w, "(flush)");
    /* the image is the file after its user block, which holds the seal */
    ssize_t size = w.failed ? -1 : H5Fget_file_image(f, NULL, 0);
    unsigned char *image = size > 0 ? malloc(MT_H5_SEAL_BYTES + (size_t)size) : NULL;
    if (!w.failed && (!image || H5Fget_file_image(f, image + MT_H5_SEAL_BYTES, (size_t)size) != size))
        mt_fail(err, MT_ERR_NOMEM, "%s: cannot copy the checkpoint image (%zd bytes)", path, size), w.failed = 1;
    H5Fclose(f); /* in memory: nothing to flush to a disk */
    if (!w.failed)
        mt_h5_seal_image(image, MT_H5_SEAL_BYTES + (size_t)size);
    if (!w.failed && write_image(path, (const char *)image, MT_H5_SEAL_BYTES + (size_t)size, err))
        w.failed = 1;
    free(image);
    return w.failed ? err->code : MT_OK;
}

/* ---- reading ---- */

#define MAX_HISTORY_ROWS 10000000 /* epochs in /metrics (training.epochs is at most 1e6) */

/* Whether the dataset or attribute space holds exactly one element (a scalar or a [1] array): the
 * readers below read single values into single variables, so anything larger must not reach H5Dread. */
static int one_element(hid_t space)
{
    int ok = space >= 0 && H5Sget_simple_extent_npoints(space) == 1;
    if (space >= 0)
        H5Sclose(space);
    return ok;
}

/* Reads the single element of dataset d as mem_type into out; -1 when it is not exactly one element. */
static int read_single(hid_t d, hid_t mem_type, void *out)
{
    if (d < 0 || !one_element(H5Dget_space(d)))
        return -1;
    return H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0 ? -1 : 0;
}

/* Replaces control characters in text taken from a file, so that a message stays one line. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Reads fixed-length string attribute name of obj (one element, shorter than size) into buf. */
static int read_attr_str(hid_t obj, const char *name, char *buf, size_t size)
{
    memset(buf, 0, size);
    hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
    if (a < 0)
        return -1;
    hid_t t = H5Aget_type(a);
    int ok = t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 && H5Tget_size(t) < size &&
             one_element(H5Aget_space(a)) && H5Aread(a, t, buf) >= 0;
    if (t >= 0)
        H5Tclose(t);
    H5Aclose(a);
    buf[size - 1] = '\0';
    printable(buf);
    return ok ? 0 : -1;
}

/* The root attributes format and format_version, when present (files of earlier versions have neither):
 * format must be "mpitrain-checkpoint" and format_version at most the one this code writes. */
static mt_status check_format(hid_t f, const char *path, mt_error *err)
{
    if (H5Aexists(f, "format") > 0) {
        char format[64];
        if (read_attr_str(f, "format", format, sizeof format) < 0)
            return mt_fail(err, MT_ERR_INPUT, "%s: root attribute format is not a short string", path);
        if (strcmp(format, "mpitrain-checkpoint"))
            return mt_fail(err, MT_ERR_INPUT,
                           "%s: not an mpitrain checkpoint (format '%s', expected "
                           "'mpitrain-checkpoint')",
                           path, format);
    }
    if (H5Aexists(f, "format_version") <= 0)
        return MT_OK;
    int64_t version = 0;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    int ok = t >= 0 && H5Tget_class(t) == H5T_INTEGER && one_element(H5Aget_space(a)) &&
             H5Aread(a, H5T_NATIVE_INT64, &version) >= 0;
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        return mt_fail(err, MT_ERR_INPUT, "%s: root attribute format_version is not an integer", path);
    if (version < 1 || version > MT_CHECKPOINT_FORMAT_VERSION)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: checkpoint format_version %lld, this mpitrain %s reads format "
                       "versions 1 to %d%s",
                       path, (long long)version, mt_version(), MT_CHECKPOINT_FORMAT_VERSION,
                       version > MT_CHECKPOINT_FORMAT_VERSION ? " (written by a newer mpitrain)" : "");
    return MT_OK;
}

static hid_t open_checkpoint(const char *path, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (mt_h5_check_file(path, "checkpoint", err) || mt_h5_seal_verify(path, "checkpoint", err))
        return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: not a readable HDF5 file (truncated or corrupted?)", path), -1;
    if (mt_h5_check_layouts(f, path, err)) {
        H5Fclose(f);
        return -1;
    }
    int64_t complete = 0;
    hid_t a = H5Aexists(f, "complete") > 0 ? H5Aopen(f, "complete", H5P_DEFAULT) : -1;
    if (a < 0 || !one_element(H5Aget_space(a)) || H5Aread(a, H5T_NATIVE_INT64, &complete) < 0 || complete != 1) {
        if (a >= 0)
            H5Aclose(a);
        H5Fclose(f);
        return mt_fail(err, MT_ERR_INPUT, "%s: not a complete mpitrain checkpoint (no completeness marker)", path), -1;
    }
    H5Aclose(a);
    if (check_format(f, path, err)) {
        H5Fclose(f);
        return -1;
    }
    return f;
}

typedef struct verify_ctx {
    const char *path;
    hsize_t file_size;
    mt_error *err;
} verify_ctx;

/* H5Ovisit callback: reads every filtered (checksummed) dataset in full, so that libhdf5 checks its
 * Fletcher32 sums; a dataset claiming more bytes than the file could hold is damaged too. */
static herr_t verify_object(hid_t obj, const char *name, const H5O_info_t *info, void *user)
{
    verify_ctx *v = user;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0)
        return mt_fail(v->err, MT_ERR_INPUT, "%s: /%s: unreadable (corrupted?)", v->path, name), -1;
    hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d), space = H5Dget_space(d);
    hid_t native = type >= 0 ? H5Tget_native_type(type, H5T_DIR_ASCEND) : -1;
    int filtered = dcpl >= 0 && H5Pget_nfilters(dcpl) > 0;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    size_t elem = native >= 0 ? H5Tget_size(native) : 0;
    herr_t rc = 0;
    if (filtered) {
        void *buf = NULL;
        if (n < 0 || elem == 0 || (hsize_t)n > 8 * v->file_size / elem + 1 || !(buf = malloc((size_t)n * elem + 1)) ||
            H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            rc = -1;
        free(buf);
        if (rc)
            mt_fail(v->err, MT_ERR_INPUT, "%s: /%s: checksum mismatch or unreadable data (corrupted file)", v->path,
                    name);
    }
    if (native >= 0)
        H5Tclose(native);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    H5Dclose(d);
    return rc;
}

mt_status mt_checkpoint_verify(const char *path, mt_error *err)
{
    hid_t f = open_checkpoint(path, err);
    if (f < 0)
        return err->code;
    verify_ctx v = {path, 0, err};
    mt_error_clear(err);
    if (H5Fget_filesize(f, &v.file_size) < 0 ||
        H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, verify_object, &v, H5O_INFO_BASIC) < 0) {
        if (!err->code)
            mt_fail(err, MT_ERR_INPUT, "%s: corrupted (its objects cannot be listed)", path);
    }
    H5Fclose(f);
    return err->code;
}

int mt_checkpoint_is_valid(const char *path)
{
    mt_error e;
    return mt_checkpoint_verify(path, &e) == MT_OK;
}

/* The longest config text a checkpoint may hold (the YAML parser refuses longer files anyway). */
#define MAX_CONFIG_TEXT ((size_t)64 << 20)

mt_status mt_checkpoint_read_config(const char *path, char **yaml, mt_error *err)
{
    hid_t f = open_checkpoint(path, err);
    if (f < 0)
        return err->code;
    mt_status st = MT_OK;
    hid_t d = H5Dopen2(f, "config", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *text = NULL;
    if (d >= 0 && (st = mt_h5_check_vlen_string(d, path, "config", MAX_CONFIG_TEXT, err)))
        ; /* libhdf5 would trust a damaged length or heap object */
    else if (d < 0 || read_single(d, t, &text) < 0 || !text)
        st = mt_fail(err, MT_ERR_INPUT, "%s: /config: missing or unreadable", path);
    else {
        *yaml = strdup(text);
        if (!*yaml)
            st = mt_fail(err, MT_ERR_NOMEM, "out of memory");
        H5free_memory(text);
    }
    H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    H5Fclose(f);
    return st;
}

/* Reads one float tensor, checking its shape. */
static mt_status read_tensor(hid_t group, const char *file, const char *where, const mt_tensor_desc *desc, float *out,
                             mt_error *err)
{
    hid_t d = H5Dopen2(group, desc->name, H5P_DEFAULT);
    if (d < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s/%s: missing (checkpoint does not match the config)", file, where,
                       desc->name);
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(s);
    hsize_t dims[8] = {0};
    int ok = rank == desc->rank && rank <= 8 && H5Sget_simple_extent_dims(s, dims, NULL) == rank;
    for (int k = 0; ok && k < rank; k++)
        ok = dims[k] == (hsize_t)desc->shape[k];
    H5Sclose(s);
    if (!ok) {
        char have[96] = "", want[96] = "";
        for (int k = 0; k < rank && k < 8; k++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", k ? ", " : "",
                     (unsigned long long)dims[k]);
        for (int k = 0; k < desc->rank; k++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? ", " : "",
                     (long long)desc->shape[k]);
        H5Dclose(d);
        return mt_fail(err, MT_ERR_INPUT, "%s: %s/%s: shape [%s] does not match the model's [%s]", file, where,
                       desc->name, have, want);
    }
    /* What the writer stores: IEEE floats of 4 (or 8) bytes; contiguous or compact storage must hold
     * exactly the tensor (libhdf5 1.10 trusts a damaged size there and reads past its buffer). */
    hid_t t = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
    size_t tsize = t >= 0 ? H5Tget_size(t) : 0;
    int sane = t >= 0 && H5Tget_class(t) == H5T_FLOAT && (tsize == 4 || tsize == 8) && dcpl >= 0;
    if (sane && H5Pget_layout(dcpl) != H5D_CHUNKED)
        sane = H5Dget_storage_size(d) == (hsize_t)desc->size * tsize;
    if (t >= 0)
        H5Tclose(t);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    herr_t rc = sane ? H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
    H5Dclose(d);
    if (!sane)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s/%s: not a float tensor of the stored size (damaged file?)", file,
                       where, desc->name);
    if (rc < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s/%s: cannot read (checksum mismatch or truncated file)", file, where,
                       desc->name);
    return MT_OK;
}

static mt_status read_slab(hid_t parent, const char *file, const char *prefix, mt_model *m, float *slab, int with_state,
                           mt_error *err)
{
    for (int i = 0; i < m->n_layers; i++) {
        mt_layer *l = &m->layers[i];
        if (l->n_tensors == 0 && (!with_state || l->n_buffer_tensors == 0))
            continue;
        char name[64], where[336];
        layer_group_name(m, i, name, sizeof name);
        snprintf(where, sizeof where, "%s/%s", prefix, name);
        hid_t g = H5Lexists(parent, name, H5P_DEFAULT) > 0 ? H5Gopen2(parent, name, H5P_DEFAULT) : -1;
        if (g < 0)
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: missing (checkpoint does not match the config)", file, where);
        for (int t = 0; t < l->n_tensors; t++) {
            mt_status st = read_tensor(g, file, where, &l->tensors[t],
                                       slab + (size_t)(l->params - m->params) + l->tensors[t].offset, err);
            if (st) {
                H5Gclose(g);
                return st;
            }
        }
        for (int t = 0; with_state && t < l->n_buffer_tensors; t++) {
            mt_status st = read_tensor(g, file, where, &l->buffer_tensors[t], l->buffers + l->buffer_tensors[t].offset,
                                       err);
            if (st) {
                H5Gclose(g);
                return st;
            }
        }
        H5Gclose(g);
    }
    return MT_OK;
}

/* Reads the single value of dataset name in group as mem_type; -1 when missing, not one value or
 * unreadable. */
static int read_value(hid_t group, const char *name, hid_t mem_type, void *out)
{
    hid_t d = H5Lexists(group, name, H5P_DEFAULT) > 0 ? H5Dopen2(group, name, H5P_DEFAULT) : -1;
    if (d < 0)
        return -1;
    int rc = read_single(d, mem_type, out);
    H5Dclose(d);
    return rc;
}

static int read_i64(hid_t group, const char *name, int64_t *out)
{
    return read_value(group, name, H5T_NATIVE_INT64, out);
}

/* prefix: "" for /optimizer, "/generator" for /generator/optimizer (in messages). */
static mt_status read_optimizer(hid_t f, const char *path, const char *prefix, mt_model *m, mt_optimizer *opt,
                                mt_error *err)
{
    hid_t g = H5Lexists(f, "optimizer", H5P_DEFAULT) > 0 ? H5Gopen2(f, "optimizer", H5P_DEFAULT) : -1;
    if (g < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s/optimizer: missing", path, prefix);
    char name[MT_NAME_MAX];
    mt_status st = MT_OK;
    if (read_attr_str(g, "name", name, sizeof name) < 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s/optimizer: attribute name missing or not a short string", path, prefix);
    else if (strcmp(name, opt->opts.name))
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s/optimizer: state is for optimizer '%s', the config uses '%s'", path,
                     prefix, name, opt->opts.name);
    else if (read_i64(g, "step", &opt->step) < 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s/optimizer/step: missing or unreadable", path, prefix);
    for (int s = 0; s < opt->n_scalars && !st; s++) {
        if (read_value(g, opt->scalar_names[s], H5T_NATIVE_DOUBLE, &opt->scalars[s]) < 0)
            st = mt_fail(err, MT_ERR_INPUT, "%s: %s/optimizer/%s: missing or unreadable", path, prefix,
                         opt->scalar_names[s]);
    }
    for (int s = 0; s < opt->n_slots && !st; s++) {
        char where[256];
        snprintf(where, sizeof where, "%s/optimizer/%s", prefix, opt->slot_names[s]);
        hid_t sg = H5Lexists(g, opt->slot_names[s], H5P_DEFAULT) > 0 ? H5Gopen2(g, opt->slot_names[s], H5P_DEFAULT)
                                                                     : -1;
        if (sg < 0) {
            st = mt_fail(err, MT_ERR_INPUT, "%s: %s: missing", path, where);
            break;
        }
        st = read_slab(sg, path, where, m, opt->slots[s], 0, err);
        H5Gclose(sg);
    }
    H5Gclose(g);
    return st;
}

static mt_status read_state(hid_t f, const char *path, mt_train_state *st, mt_error *err)
{
    hid_t g = H5Gopen2(f, "state", H5P_DEFAULT);
    if (g < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: /state: missing", path);
    int bad = read_i64(g, "epoch", &st->epoch) | read_i64(g, "step", &st->step) |
              read_i64(g, "world_size", &st->world_size) | read_i64(g, "seed", &st->seed) |
              read_i64(g, "global_batch", &st->global_batch) |
              read_i64(g, "early_stopping_best_epoch", &st->es_best_epoch) |
              read_i64(g, "early_stopping_wait", &st->es_wait);
    bad |= read_value(g, "early_stopping_best", H5T_NATIVE_DOUBLE, &st->es_best);
    st->epoch_step = 0; /* absent in checkpoints written at epoch ends by earlier versions */
    if (H5Lexists(g, "epoch_step", H5P_DEFAULT) > 0)
        bad |= read_i64(g, "epoch_step", &st->epoch_step);
    H5Gclose(g);
    return bad ? mt_fail(err, MT_ERR_INPUT, "%s: /state: incomplete", path) : MT_OK;
}

/* /metrics into h's rows, one dataset per column of h's names. */
static mt_status read_metrics(hid_t f, const char *path, mt_history *h, mt_error *err)
{
    hid_t g = H5Lexists(f, "metrics", H5P_DEFAULT) > 0 ? H5Gopen2(f, "metrics", H5P_DEFAULT) : -1;
    if (g < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: /metrics: missing", path);
    mt_status st = MT_OK;
    const char *const *names = h->names;
    for (int fi = 0; fi < h->fields && !st; fi++) {
        hid_t d = H5Lexists(g, names[fi], H5P_DEFAULT) > 0 ? H5Dopen2(g, names[fi], H5P_DEFAULT) : -1;
        hssize_t n = -1;
        if (d >= 0) {
            hid_t space = H5Dget_space(d);
            n = H5Sget_simple_extent_npoints(space);
            H5Sclose(space);
        }
        if (d < 0 || n < 0 || n > MAX_HISTORY_ROWS) {
            st = mt_fail(err, MT_ERR_INPUT, "%s: /metrics/%s: missing or malformed", path, names[fi]);
        } else {
            if (fi == 0) {
                h->n = 0;
                for (hssize_t i = 0; i < n && !st; i++)
                    st = mt_history_append(h, NULL, err);
            }
            double *col = malloc(((size_t)n + 1) * sizeof *col);
            if (!col || (size_t)n != h->n ||
                (n > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, col) < 0))
                st = st ? st : mt_fail(err, MT_ERR_INPUT, "%s: /metrics/%s: unreadable", path, names[fi]);
            for (size_t i = 0; !st && i < h->n; i++)
                h->rows[i * (size_t)h->fields + (size_t)fi] = col[i];
            free(col);
        }
        if (d >= 0)
            H5Dclose(d);
    }
    H5Gclose(g);
    return st;
}

static mt_status read_prep(hid_t f, const char *path, mt_prep *p, mt_error *err)
{
    if (H5Lexists(f, "preprocessing", H5P_DEFAULT) <= 0)
        return MT_OK; /* identity */
    hid_t g = H5Gopen2(f, "preprocessing", H5P_DEFAULT);
    char scaling[64], missing[64];
    size_t n = p->features;
    float *arr = malloc(3 * (n ? n : 1) * sizeof *arr);
    mt_status st = MT_OK;
    if (g < 0 || !arr || read_attr_str(g, "scaling", scaling, sizeof scaling) ||
        read_attr_str(g, "missing", missing, sizeof missing))
        st = mt_fail(err, MT_ERR_INPUT, "%s: /preprocessing: malformed", path);
    const char *names[3] = {"shift", "scale", "fill"};
    for (int i = 0; i < 3 && !st; i++) {
        mt_tensor_desc d = {.rank = 1, .shape = {(int64_t)n}, .size = n};
        snprintf(d.name, sizeof d.name, "%s", names[i]);
        st = read_tensor(g, path, "/preprocessing", &d, arr + i * n, err);
    }
    mt_prep fresh;
    if (!st && mt_prep_set(&fresh, scaling, missing, n, arr, arr + n, arr + 2 * n, err))
        st = mt_error_prefix(err, "%s: /preprocessing", path);
    if (!st) {
        /* Replaced only once the whole group was read: a failure leaves p as it was. */
        mt_prep_free(p);
        *p = fresh;
    }
    free(arr);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* One network from parent (the file, or its /<name> group): params and buffers, then the optimizer. */
static mt_status read_net(hid_t parent, const char *path, const char *prefix, mt_model *m, mt_optimizer *opt,
                          mt_error *err)
{
    char where[160];
    snprintf(where, sizeof where, "%s/params", prefix);
    hid_t g = H5Lexists(parent, "params", H5P_DEFAULT) > 0 ? H5Gopen2(parent, "params", H5P_DEFAULT) : -1;
    if (g < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: missing", path, where);
    mt_status rc = read_slab(g, path, where, m, m->params, 1, err);
    H5Gclose(g);
    if (!rc && opt)
        rc = read_optimizer(parent, path, prefix, m, opt, err);
    return rc;
}

mt_status mt_checkpoint_read(const char *path, const mt_checkpoint *c, mt_error *err)
{
    return mt_checkpoint_read_multi(path, c, NULL, err);
}

mt_status mt_checkpoint_read_multi(const char *path, const mt_checkpoint *c, const mt_checkpoint_multi *x,
                                   mt_error *err)
{
    hid_t f = open_checkpoint(path, err);
    if (f < 0)
        return err->code;
    mt_status rc = MT_OK;
    const int n_nets = x ? x->n_nets : 0;
    if (n_nets == 0)
        rc = read_net(f, path, "", c->model, c->opt, err);
    for (int i = 0; i < n_nets && !rc; i++) {
        const mt_checkpoint_net *net = &x->nets[i];
        char prefix[96];
        snprintf(prefix, sizeof prefix, "/%s", net->name);
        hid_t g = H5Lexists(f, net->name, H5P_DEFAULT) > 0 ? H5Gopen2(f, net->name, H5P_DEFAULT) : -1;
        if (g < 0) {
            rc = mt_fail(err, MT_ERR_INPUT, "%s: %s: missing (not a checkpoint of this kind of run)", path, prefix);
            break;
        }
        rc = read_net(g, path, prefix, net->model, net->opt, err);
        H5Gclose(g);
    }
    if (!rc && c->state)
        rc = read_state(f, path, c->state, err);
    if (!rc && c->history)
        rc = read_metrics(f, path, c->history, err);
    if (!rc && c->prep)
        rc = read_prep(f, path, c->prep, err);
    H5Fclose(f);
    return rc;
}
