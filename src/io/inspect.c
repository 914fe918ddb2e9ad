/* File inspection (`mpitrain inspect`): prints a readable tree of any HDF5 file mpitrain reads or writes.
 * Every group and dataset with its type and shape, attributes (scalars, short strings, short arrays),
 * string datasets in full (a checkpoint's /config), numeric scalars and short arrays with their values
 * (a checkpoint's /state), and for each split of a dataset file (a group holding x and y) the label
 * histogram with class names, or the one-line reason why the split is not readable. */
#define _POSIX_C_SOURCE 200809L

#include "io/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/error.h"
#include "io/h5_check.h"

#define MAX_VALUES 16      /* numeric arrays up to this many elements are printed in full */
#define MAX_ATTR_CHARS 400 /* string attributes are cut after this many characters */
#define MAX_CLASSES 1024   /* labels counted one by one; larger ones are counted together */
#define MAX_HIST_LINES 64  /* histogram lines printed at most */
#define MAX_DEPTH 32
#define MAX_TEXT_BYTES ((size_t)64 << 20) /* a stored text (a checkpoint's config) read at most this long */

typedef struct printer {
    FILE *out;
    const char *path;
    hid_t file;
    int n_names;
    char (*names)[64]; /* the file's "classes" attribute */
} printer;

/* A group being listed, for the member callback. */
typedef struct group_walk {
    printer *p;
    const char *path; /* "/" or "/train" */
    int depth;
} group_walk;

static void print_group(printer *p, hid_t g, const char *path, int depth);

static void type_name(hid_t t, char *buf, size_t size)
{
    size_t bits = 8 * H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, size, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
        break;
    case H5T_FLOAT:
        snprintf(buf, size, "float%zu", bits);
        break;
    case H5T_STRING:
        snprintf(buf, size, "string");
        break;
    case H5T_COMPOUND:
        snprintf(buf, size, "compound(%d fields)", H5Tget_nmembers(t));
        break;
    case H5T_ENUM:
        snprintf(buf, size, "enum");
        break;
    case H5T_ARRAY:
        snprintf(buf, size, "array");
        break;
    case H5T_VLEN:
        snprintf(buf, size, "vlen");
        break;
    case H5T_REFERENCE:
        snprintf(buf, size, "reference");
        break;
    case H5T_OPAQUE:
        snprintf(buf, size, "opaque");
        break;
    case H5T_BITFIELD:
        snprintf(buf, size, "bitfield%zu", bits);
        break;
    default:
        snprintf(buf, size, "unknown type");
        break;
    }
}

/* "[60000, 28, 28]", "scalar" or "empty". */
static void shape_text(hid_t space, char *buf, size_t size)
{
    H5S_class_t cls = H5Sget_simple_extent_type(space);
    if (cls != H5S_SIMPLE) {
        snprintf(buf, size, "%s", cls == H5S_SCALAR ? "scalar" : "empty");
        return;
    }
    hsize_t dims[H5S_MAX_RANK];
    int rank = H5Sget_simple_extent_dims(space, dims, NULL);
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static herr_t read_all(hid_t obj, int is_attr, hid_t memtype, void *buf)
{
    return is_attr ? H5Aread(obj, memtype, buf) : H5Dread(obj, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* Prints " = v" or " = [v, ...]" for up to MAX_VALUES integers or floats. */
static void print_numbers(FILE *out, hid_t obj, int is_attr, hid_t ftype, size_t n, int scalar)
{
    int is_float = H5Tget_class(ftype) == H5T_FLOAT, is_unsigned = H5Tget_sign(ftype) == H5T_SGN_NONE;
    double d[MAX_VALUES];
    long long i[MAX_VALUES];
    hid_t mem = is_float ? H5T_NATIVE_DOUBLE : is_unsigned ? H5T_NATIVE_ULLONG : H5T_NATIVE_LLONG;
    if (read_all(obj, is_attr, mem, is_float ? (void *)d : (void *)i) < 0)
        return;
    fprintf(out, " = %s", scalar ? "" : "[");
    for (size_t k = 0; k < n; k++) {
        fprintf(out, "%s", k ? ", " : "");
        if (is_float)
            fprintf(out, "%.9g", d[k]);
        else if (is_unsigned)
            fprintf(out, "%llu", (unsigned long long)i[k]);
        else
            fprintf(out, "%lld", i[k]);
    }
    fprintf(out, "%s", scalar ? "" : "]");
}

/* Reads n strings (fixed or variable length) as n malloc'd copies; NULL on failure. */
static char **read_strings(hid_t obj, int is_attr, hid_t ftype, size_t n)
{
    int vlen = H5Tis_variable_str(ftype) > 0;
    size_t size = vlen ? sizeof(char *) : H5Tget_size(ftype);
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mem, H5Tget_cset(ftype));
    H5Tset_size(mem, vlen ? H5T_VARIABLE : size);
    char *buf = calloc(n, size);
    char **s = calloc(n, sizeof *s);
    int ok = buf && s && read_all(obj, is_attr, mem, buf) >= 0;
    for (size_t k = 0; ok && k < n; k++) {
        const char *src = vlen ? ((char **)buf)[k] : buf + k * size;
        size_t len = src ? strnlen(src, vlen ? (size_t)-1 : size) : 0;
        if ((s[k] = malloc(len + 1)) != NULL) {
            memcpy(s[k], src ? src : "", len);
            s[k][len] = '\0';
        }
    }
    if (ok && vlen) {
        hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
        H5Sclose(space);
    }
    free(buf);
    H5Tclose(mem);
    if (!ok && s)
        free(s);
    return ok ? s : NULL;
}

/* Prints text: one line quoted (cut after limit characters), several lines as an indented block of
 * "| line" lines (each started with a newline; the caller ends the last one). */
static void print_text(FILE *out, const char *text, int indent, size_t limit)
{
    if (!strchr(text, '\n')) {
        size_t len = strlen(text);
        fprintf(out, "\"%.*s%s\"", (int)(len > limit ? limit : len), text, len > limit ? "..." : "");
        return;
    }
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        fprintf(out, "\n%*s| %.*s", indent + 4, "", len, line);
        line += len + (end != NULL);
    }
}

/* Prints " = ..." for strings: in full for datasets, cut to MAX_ATTR_CHARS in total for attributes. */
static void print_strings(FILE *out, hid_t obj, int is_attr, hid_t ftype, size_t n, int scalar, int indent)
{
    char **s = read_strings(obj, is_attr, ftype, n);
    if (!s)
        return;
    size_t limit = is_attr ? MAX_ATTR_CHARS : (size_t)-1, used = 0;
    fprintf(out, " =%s", scalar && s[0] && strchr(s[0], '\n') ? "" : scalar ? " " : " [");
    for (size_t k = 0; k < n; k++) {
        if (used < limit) {
            fprintf(out, "%s", k ? ", " : "");
            print_text(out, s[k] ? s[k] : "", indent, limit - used);
            used += s[k] ? strlen(s[k]) + 4 : 4;
        } else if (k + 1 == n) {
            fprintf(out, ", ... (%zu strings)", n);
        }
        free(s[k]);
    }
    fprintf(out, "%s", scalar ? "" : "]");
    free(s);
}

/* Prints ": type shape" and, where short enough to read, " = value". No newline. */
static void print_typed_value(FILE *out, hid_t obj, int is_attr, int indent)
{
    hid_t type = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    char tname[64], shape[256];
    type_name(type, tname, sizeof tname);
    shape_text(space, shape, sizeof shape);
    H5S_class_t cls = H5Sget_simple_extent_type(space);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int scalar = cls == H5S_SCALAR;
    fprintf(out, ": %s %s", tname, shape);
    H5T_class_t tc = H5Tget_class(type);
    if (cls != H5S_NULL && n > 0 && tc == H5T_STRING && (is_attr || n <= MAX_VALUES))
        print_strings(out, obj, is_attr, type, (size_t)n, scalar, indent);
    else if (cls != H5S_NULL && n > 0 && n <= MAX_VALUES && (tc == H5T_INTEGER || tc == H5T_FLOAT))
        print_numbers(out, obj, is_attr, type, (size_t)n, scalar);
    H5Sclose(space);
    H5Tclose(type);
}

typedef struct attr_walk {
    FILE *out;
    int indent;
} attr_walk;

static herr_t print_attribute(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    attr_walk *w = data;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0)
        return 0;
    fprintf(w->out, "%*s@%s", w->indent, "", name);
    print_typed_value(w->out, attr, 1, w->indent);
    fprintf(w->out, "\n");
    H5Aclose(attr);
    return 0;
}

static void print_attributes(FILE *out, hid_t obj, int indent)
{
    attr_walk w = {out, indent};
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attribute, &w);
}

/* Storage details worth knowing when reading rows: chunking and filters. */
static void print_layout(FILE *out, hid_t dset)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    if (dcpl < 0)
        return;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        int nf = H5Pget_nfilters(dcpl);
        fprintf(out, " (chunked%s)", nf > 0 ? ", compressed" : "");
    }
    H5Pclose(dcpl);
}

static void print_dataset(printer *p, hid_t dset, const char *name, int indent)
{
    fprintf(p->out, "%*s%s", indent, "", name);
    print_typed_value(p->out, dset, 0, indent);
    print_layout(p->out, dset);
    fprintf(p->out, "\n");
    print_attributes(p->out, dset, indent + 2);
}

/* Histogram lines (class index, name, count, share): every named class, and any other label that occurs. */
static void print_histogram(printer *p, const int64_t *counts, uint64_t rows, int last, int indent)
{
    int printed = 0, skipped = 0;
    for (int c = 0; c <= last; c++) {
        if (c >= p->n_names && counts[c] == 0)
            continue;
        if (printed++ >= MAX_HIST_LINES) {
            skipped++;
            continue;
        }
        fprintf(p->out, "%*s%4d %-20s %10lld  %5.1f%%%s\n", indent, "", c, c < p->n_names ? p->names[c] : "",
                (long long)counts[c], 100.0 * (double)counts[c] / (double)rows,
                p->n_names && c >= p->n_names ? "  ! no name in @classes" : "");
    }
    if (skipped)
        fprintf(p->out, "%*s... %d more labels\n", indent, "", skipped);
}

/* "labels: 40 rows, 3 distinct values in [0, 3), 3 names in @classes", then the histogram. */
static void print_label_summary(printer *p, const int64_t *counts, uint64_t rows, uint64_t other, int indent)
{
    int last = -1, distinct = 0;
    for (int c = 0; c < MAX_CLASSES; c++)
        if (counts[c]) {
            last = c;
            distinct++;
        }
    fprintf(p->out, "%*slabels: %llu rows, %d distinct values in [0, %d)", indent, "", (unsigned long long)rows,
            distinct, last + 1);
    if (p->n_names)
        fprintf(p->out, ", %d names in @classes", p->n_names);
    fprintf(p->out, "\n");
    print_histogram(p, counts, rows, last > p->n_names - 1 ? last : p->n_names - 1, indent + 2);
    if (other)
        fprintf(p->out, "%*s! %llu rows have labels outside [0, %d)\n", indent + 2, "", (unsigned long long)other,
                MAX_CLASSES);
}

/* Label summary of split `path` (a group holding x and y), through the dataset reader so that a split it
 * would reject shows the reader's message. */
static void print_labels(printer *p, const char *path, int indent)
{
    mt_dataset *ds;
    mt_error err;
    if (mt_dataset_open(p->path, path, &ds, &err) != MT_OK) {
        fprintf(p->out, "%*s! not a readable split: %s\n", indent, "", err.msg);
        return;
    }
    const mt_dataset_info *in = mt_dataset_get_info(ds);
    int64_t *counts = in->label_kind == MT_LABELS_CLASS ? malloc(MAX_CLASSES * sizeof *counts) : NULL;
    uint64_t other = 0;
    if (in->label_kind == MT_LABELS_TARGETS) {
        fprintf(p->out, "%*stargets: %llu rows, %llu values per row\n", indent, "", (unsigned long long)in->rows,
                (unsigned long long)in->target_size);
    } else if (!counts || mt_dataset_count_labels(ds, counts, MAX_CLASSES, &other, &err) != MT_OK) {
        fprintf(p->out, "%*s! labels not readable: %s\n", indent, "", counts ? err.msg : "out of memory");
    } else {
        print_label_summary(p, counts, in->rows, other, indent);
    }
    free(counts);
    mt_dataset_close(ds);
}

/* Whether print_dataset may read dataset d (its values, for small ones): the checks the readers make
 * before libhdf5 converts or reads (io/h5_check.h): numbers and their storage; a variable-length string
 * only as the single one mpitrain writes (a checkpoint's config), whose length and heap object are
 * checked. name is the dataset's path from the root. */
static int dataset_readable(hid_t d, const char *file, const char *name, mt_error *err)
{
    hid_t type = H5Dget_type(d);
    mt_status st = type >= 0 ? mt_h5_check_number_type(type, file, name, err) : MT_OK;
    int vlen_string = type >= 0 && H5Tis_variable_str(type) > 0;
    int fixed = type >= 0 && !vlen_string && H5Tget_class(type) != H5T_VLEN;
    if (type >= 0)
        H5Tclose(type);
    if (st == MT_OK && fixed)
        st = mt_h5_check_storage(d, file, name, MT_H5_MAX_CHUNK_BYTES, err);
    if (st == MT_OK && vlen_string)
        st = mt_h5_check_vlen_string(d, file, name + (name[0] == '/'), MAX_TEXT_BYTES, err);
    return st == MT_OK;
}

static herr_t print_member(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    group_walk *w = data;
    int indent = 2 * w->depth;
    if (info->type != H5L_TYPE_HARD) {
        fprintf(w->p->out, "%*s%s -> %s link\n", indent, "", name, info->type == H5L_TYPE_SOFT ? "soft" : "external");
        return 0;
    }
    mt_error err;
    if (mt_h5_check_layout(g, name, w->p->path, &err) != MT_OK) {
        fprintf(w->p->out, "%*s! %s\n", indent, "", err.msg);
        return 0;
    }
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj < 0)
        return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", strcmp(w->path, "/") ? w->path : "", name);
    if (H5Iget_type(obj) == H5I_GROUP)
        print_group(w->p, obj, path, w->depth);
    else if (H5Iget_type(obj) == H5I_DATASET && dataset_readable(obj, w->p->path, path, &err))
        print_dataset(w->p, obj, name, indent);
    else if (H5Iget_type(obj) == H5I_DATASET)
        fprintf(w->p->out, "%*s! %s\n", indent, "", err.msg);
    else
        fprintf(w->p->out, "%*s%s: named datatype\n", indent, "", name);
    H5Oclose(obj);
    return 0;
}

static int is_dataset(hid_t g, const char *name)
{
    H5O_info_t info;
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return 0;
    /* its type from the object header, without opening it (which decodes its layout) */
    return H5Oget_info_by_name2(g, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_DATASET;
}

/* Prints group `path` (opened as g) at depth: its name, attributes, members, and labels for a split. */
static void print_group(printer *p, hid_t g, const char *path, int depth)
{
    int indent = 2 * depth;
    if (depth > 0)
        fprintf(p->out, "%*s%s/\n", indent, "", strrchr(path, '/') + 1);
    print_attributes(p->out, g, indent + 2);
    if (depth >= MAX_DEPTH)
        return;
    group_walk w = {p, path, depth + 1};
    hsize_t idx = 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, print_member, &w);
    if (depth > 0 && is_dataset(g, "x") && is_dataset(g, "y"))
        print_labels(p, path + 1, indent + 2);
}

mt_status mt_inspect_file(const char *path, void *stdio_file, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    hid_t file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (file < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: not a readable HDF5 file", path);
    printer p = {stdio_file, path, file, 0, calloc(MAX_CLASSES, 64)};
    if (p.names)
        p.n_names = mt_dataset_class_names(path, p.names, MAX_CLASSES, err);
    p.n_names = p.n_names < 0 ? 0 : p.n_names;
    hsize_t size = 0;
    H5Fget_filesize(file, &size);
    if (size < 1000000)
        fprintf(p.out, "%s: HDF5 file, %.1f kB\n", path, (double)size / 1e3);
    else
        fprintf(p.out, "%s: HDF5 file, %.1f MB\n", path, (double)size / 1e6);
    print_group(&p, file, "/", 0);
    free(p.names);
    H5Fclose(file);
    mt_error_clear(err);
    return MT_OK;
}
