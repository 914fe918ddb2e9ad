/* IDX import: turns MNIST-family IDX files (uint8 images 0x00000803 [N, H, W], uint8 labels 0x00000801 [N],
 * gzip or plain, read through zlib which handles both) into the dataset layout: /train/x uint8 [N, H, W]
 * (contiguous, uncompressed, so the reader's direct paths apply), /train/y int32 [N], /test likewise, and
 * file attributes classes, source, format = "mpitrain-dataset", format_version = 1. Data is streamed in
 * blocks, never held whole. The file is written to "<out>.tmp.<pid>" and renamed when complete. */
#define _POSIX_C_SOURCE 200809L

#include "io/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/error.h"

#define MAGIC_IMAGES 0x00000803u
#define MAGIC_LABELS 0x00000801u
#define MAX_ITEM_BYTES ((uint64_t)1 << 40)
#define BLOCK_BYTES ((size_t)4 << 20)  /* bytes per streamed block */
#define FORMAT_NAME "mpitrain-dataset"
#define FORMAT_VERSION 1

/* One open IDX file: header parsed, positioned at the first data byte. */
typedef struct idx_file {
    const char *path;
    gzFile gz;
    uint64_t items;       /* dims[0] */
    uint64_t item_bytes;  /* product of the other dims */
    hsize_t dims[3];
    int rank;
    int cut;              /* the gzip stream ended early (zlib: unexpected end of file) */
} idx_file;

/* The output being written. */
typedef struct writer {
    const char *out;
    char tmp[4200];
    hid_t file;
    int n_classes;        /* labels must be < this when > 0 */
} writer;

/* Reads up to size bytes; returns the count read (short only at end of data) or -1 with a message. */
static int64_t gz_read(idx_file *f, void *buf, size_t size, mt_error *err)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < size) {
        size_t want = size - done > (1u << 30) ? (1u << 30) : size - done;
        int code = Z_OK, got = gzread(f->gz, p + done, (unsigned)want);
        const char *msg = got <= 0 ? gzerror(f->gz, &code) : NULL;
        if (got > 0) {
            done += (size_t)got;
        } else if (code == Z_OK || code == Z_BUF_ERROR) {
            f->cut = code == Z_BUF_ERROR;  /* a gzip stream cut short: the callers report a truncation */
            break;
        } else {
            size_t plen = strlen(f->path);
            if (!strncmp(msg, f->path, plen) && !strncmp(msg + plen, ": ", 2))
                msg += plen + 2;  /* zlib prefixes the path, which the message already names */
            mt_fail(err, MT_ERR_INPUT, "%s: read error: %s", f->path, code == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
    }
    return (int64_t)done;
}

static uint32_t big_endian32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Checks the header's dimensions: all positive, item size and total size sane. */
static mt_status check_dims(idx_file *f, mt_error *err)
{
    f->item_bytes = 1;
    for (int d = 0; d < f->rank; d++)
        if (f->dims[d] == 0)
            return mt_fail(err, MT_ERR_INPUT, "%s: dimension %d in the header is 0", f->path, d);
    for (int d = 1; d < f->rank; d++)
        f->item_bytes *= f->dims[d];  /* at most 2^64 - 1: two 32-bit factors */
    f->items = f->dims[0];
    if (f->item_bytes > MAX_ITEM_BYTES || f->items > UINT64_MAX / f->item_bytes)
        return mt_fail(err, MT_ERR_INPUT, "%s: header dimensions %llu x %llu are too large", f->path,
                       (unsigned long long)f->items, (unsigned long long)f->item_bytes);
    return MT_OK;
}

/* Opens path and parses its header, which must carry magic (0x0803 images or 0x0801 labels). */
static mt_status idx_open(idx_file *f, const char *path, uint32_t magic, mt_error *err)
{
    f->path = path;
    f->rank = (int)(magic & 0xff);
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    unsigned char head[16];
    size_t head_size = 4 + 4 * (size_t)f->rank;
    int64_t got = gz_read(f, head, 4, err);
    if (got < 0)
        return MT_ERR_INPUT;
    if (got < 4)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated: header needs %zu bytes, got %lld", path, head_size,
                       (long long)got);
    uint32_t found = big_endian32(head);
    if (found != magic)
        return mt_fail(err, MT_ERR_INPUT, "%s: bad magic 0x%08x (need 0x%08x: IDX uint8 %s)", path, found, magic,
                       magic == MAGIC_IMAGES ? "images [N, rows, cols]" : "labels [N]");
    got = gz_read(f, head + 4, head_size - 4, err);
    if (got < 0)
        return MT_ERR_INPUT;
    if ((size_t)got != head_size - 4)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated: header needs %zu bytes, got %lld", path, head_size,
                       (long long)got + 4);
    for (int d = 0; d < f->rank; d++)
        f->dims[d] = big_endian32(head + 4 + 4 * d);
    return check_dims(f, err);
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* Fails unless the file ends right after the data its header declares. */
static mt_status expect_end(idx_file *f, mt_error *err)
{
    unsigned char extra;
    int64_t got = gz_read(f, &extra, 1, err);
    if (got < 0)
        return MT_ERR_INPUT;
    if (got > 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: has data after the %llu items its header declares", f->path,
                       (unsigned long long)f->items);
    if (f->cut)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated: the gzip stream ends before its trailer", f->path);
    return MT_OK;
}

/* Reads exactly size bytes of data at byte offset `done` of the data; a short read is a truncation. */
static mt_status read_data(idx_file *f, void *buf, size_t size, uint64_t done, mt_error *err)
{
    int64_t got = gz_read(f, buf, size, err);
    if (got < 0)
        return MT_ERR_INPUT;
    if ((size_t)got < size)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated: expected %llu bytes of data, got %llu", f->path,
                       (unsigned long long)(f->items * f->item_bytes), (unsigned long long)(done + (uint64_t)got));
    return MT_OK;
}

/* ---- writing ---------------------------------------------------------------------------------------- */

/* Copies the innermost message on HDF5's error stack into buf (200 bytes). */
static herr_t take_first_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc && e->desc[0])
        snprintf(data, 200, "%s", e->desc);
    return 0;
}

/* MT_ERR_IO naming the output and the object being written, with HDF5's reason. */
static mt_status write_error(const writer *w, const char *what, mt_error *err)
{
    char why[200] = "HDF5 error";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_desc, why);
    return mt_fail(err, MT_ERR_IO, "%s: %s: write failed: %s", w->out, what, why);
}

/* Creates dataset name in group g with the given type and shape (contiguous, uncompressed). */
static hid_t create_dataset(hid_t g, const char *name, hid_t type, int rank, const hsize_t *dims)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = space >= 0 ? H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (space >= 0)
        H5Sclose(space);
    return d;
}

/* Writes rows [first, first + count) of dataset d (row_elems elements per row) from buf. */
static herr_t write_rows(hid_t d, hid_t memtype, uint64_t first, uint64_t count, uint64_t row_elems,
                         const void *buf)
{
    hid_t fspace = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(fspace);
    hsize_t start[3] = {first, 0, 0}, cnt[3], total = count * row_elems;
    H5Sget_simple_extent_dims(fspace, cnt, NULL);
    cnt[0] = count;
    herr_t rc = rank > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) : -1;
    hid_t mspace = H5Screate_simple(1, &total, NULL);
    if (rc >= 0 && mspace >= 0)
        rc = H5Dwrite(d, memtype, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return rc;
}

/* Streams the images of f into /<split>/x uint8 [N, H, W], BLOCK_BYTES at a time. */
static mt_status copy_images(writer *w, hid_t g, const char *split, idx_file *f, mt_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "/%s/x", split);
    size_t rows = BLOCK_BYTES / f->item_bytes ? BLOCK_BYTES / f->item_bytes : 1;
    unsigned char *buf = malloc(rows * f->item_bytes);
    if (!buf)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->out, what);
    hid_t d = create_dataset(g, "x", H5T_STD_U8LE, 3, f->dims);
    mt_status st = d < 0 ? write_error(w, what, err) : MT_OK;
    for (uint64_t first = 0; st == MT_OK && first < f->items; first += rows) {
        uint64_t n = f->items - first < rows ? f->items - first : rows;
        st = read_data(f, buf, n * f->item_bytes, first * f->item_bytes, err);
        if (st == MT_OK && write_rows(d, H5T_NATIVE_UCHAR, first, n, f->item_bytes, buf) < 0)
            st = write_error(w, what, err);
    }
    if (d >= 0)
        H5Dclose(d);
    free(buf);
    return st;
}

/* Widens a block of uint8 labels to int32, checking them against the class names given. */
static mt_status widen_labels(const writer *w, const idx_file *f, const unsigned char *in, int32_t *out,
                              uint64_t first, size_t n, mt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = in[i];
        if (w->n_classes > 0 && out[i] >= w->n_classes)
            return mt_fail(err, MT_ERR_INPUT, "%s: item %llu has label %d, but only %d class names were given",
                           f->path, (unsigned long long)(first + i), (int)out[i], w->n_classes);
    }
    return MT_OK;
}

/* Streams the labels of f into /<split>/y int32 [N]. */
static mt_status copy_labels(writer *w, hid_t g, const char *split, idx_file *f, mt_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "/%s/y", split);
    size_t rows = BLOCK_BYTES / sizeof(int32_t);
    unsigned char *bytes = malloc(rows);
    int32_t *labels = malloc(rows * sizeof *labels);
    hid_t d = bytes && labels ? create_dataset(g, "y", H5T_STD_I32LE, 1, f->dims) : -1;
    mt_status st = !bytes || !labels ? mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->out, what)
                   : d < 0           ? write_error(w, what, err)
                                     : MT_OK;
    for (uint64_t first = 0; st == MT_OK && first < f->items; first += rows) {
        size_t n = f->items - first < rows ? (size_t)(f->items - first) : rows;
        st = read_data(f, bytes, n, first, err);
        if (st == MT_OK)
            st = widen_labels(w, f, bytes, labels, first, n, err);
        if (st == MT_OK && write_rows(d, H5T_NATIVE_INT32, first, n, 1, labels) < 0)
            st = write_error(w, what, err);
    }
    if (d >= 0)
        H5Dclose(d);
    free(bytes);
    free(labels);
    return st;
}

static mt_status write_split(writer *w, const char *split, idx_file *images, idx_file *labels, mt_error *err)
{
    hid_t g = H5Gcreate2(w->file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char what[300];
    snprintf(what, sizeof what, "/%s", split);
    mt_status st = g < 0 ? write_error(w, what, err) : copy_images(w, g, split, images, err);
    if (st == MT_OK)
        st = copy_labels(w, g, split, labels, err);
    if (st == MT_OK)
        st = expect_end(images, err);
    if (st == MT_OK)
        st = expect_end(labels, err);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

/* A UTF-8 variable-length string attribute: a scalar when n < 0, else a 1-D array of n strings. */
static herr_t write_strings(hid_t obj, const char *name, const char *const *values, int n)
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

static herr_t write_int_attr(hid_t obj, const char *name, int64_t value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr >= 0 ? H5Awrite(attr, H5T_NATIVE_INT64, &value) : -1;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

static mt_status write_attributes(writer *w, const char *const *class_names, int n_class_names,
                                  const char *source, mt_error *err)
{
    const char *format = FORMAT_NAME;
    if ((class_names && n_class_names > 0 && write_strings(w->file, "classes", class_names, n_class_names) < 0) ||
        write_strings(w->file, "source", &source, -1) < 0 || write_strings(w->file, "format", &format, -1) < 0 ||
        write_int_attr(w->file, "format_version", FORMAT_VERSION) < 0)
        return write_error(w, "attributes", err);
    return MT_OK;
}

/* Creates "<out>.tmp.<pid>" (exclusively, so errno explains a failure) and opens it with HDF5. */
static mt_status create_output(writer *w, mt_error *err)
{
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", w->out, (long)getpid());
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return mt_fail(err, MT_ERR_IO, "%s: cannot create %s: %s", w->out, w->tmp, strerror(errno));
    close(fd);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        remove(w->tmp);
        return write_error(w, "create", err);
    }
    return MT_OK;
}

/* Closes the temporary file, makes it durable and renames it to the output path. */
static mt_status finish_output(writer *w, mt_error *err)
{
    herr_t rc = H5Fclose(w->file);
    w->file = -1;
    if (rc < 0)
        return write_error(w, "close", err);
    int fd = open(w->tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mt_fail(err, MT_ERR_IO, "%s: cannot sync %s: %s", w->out, w->tmp, strerror(e));
    }
    close(fd);
    if (rename(w->tmp, w->out) != 0)
        return mt_fail(err, MT_ERR_IO, "%s: cannot rename %s to it: %s", w->out, w->tmp, strerror(errno));
    return MT_OK;
}

/* Opens the image and label files of one split and checks that their counts agree. */
static mt_status open_pair(idx_file *images, idx_file *labels, const char *image_path, const char *label_path,
                           mt_error *err)
{
    mt_status st = idx_open(images, image_path, MAGIC_IMAGES, err);
    if (st == MT_OK)
        st = idx_open(labels, label_path, MAGIC_LABELS, err);
    if (st == MT_OK && images->items != labels->items)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %llu labels, but %s has %llu images", label_path,
                     (unsigned long long)labels->items, image_path, (unsigned long long)images->items);
    return st;
}

/* Writes every split and the attributes into the temporary file, then renames it into place. */
static mt_status write_output(writer *w, idx_file *f, int with_test, const char *const *class_names,
                              int n_class_names, const char *source, mt_error *err)
{
    mt_status st = create_output(w, err);
    if (st != MT_OK)
        return st;
    st = write_split(w, "train", &f[0], &f[1], err);
    if (st == MT_OK && with_test)
        st = write_split(w, "test", &f[2], &f[3], err);
    if (st == MT_OK)
        st = write_attributes(w, class_names, n_class_names, source, err);
    if (st == MT_OK)
        st = finish_output(w, err);
    if (st != MT_OK) {
        if (w->file >= 0)
            H5Fclose(w->file);
        remove(w->tmp);
    }
    return st;
}

mt_status mt_import_idx(const char *train_images, const char *train_labels, const char *test_images,
                        const char *test_labels, const char *out_path, const char *const *class_names,
                        int n_class_names, const char *source, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!train_images || !train_labels || !out_path)
        return mt_fail(err, MT_ERR_INPUT, "import idx: train images, train labels and output are required");
    if (!test_images != !test_labels)
        return mt_fail(err, MT_ERR_INPUT, "import idx: %s given without %s", test_images ? test_images : test_labels,
                       test_images ? "test labels" : "test images");
    idx_file f[4] = {{0}};
    int with_test = test_images != NULL;
    mt_status st = open_pair(&f[0], &f[1], train_images, train_labels, err);
    if (st == MT_OK && with_test)
        st = open_pair(&f[2], &f[3], test_images, test_labels, err);
    char default_source[4200];
    if (!source) {
        snprintf(default_source, sizeof default_source, "IDX files %s, %s%s%s%s%s", train_images, train_labels,
                 with_test ? ", " : "", with_test ? test_images : "", with_test ? ", " : "",
                 with_test ? test_labels : "");
        source = default_source;
    }
    writer w = {.out = out_path, .file = -1, .n_classes = class_names ? n_class_names : 0};
    if (st == MT_OK)
        st = write_output(&w, f, with_test, class_names, n_class_names, source, err);
    for (int i = 0; i < 4; i++)
        idx_close(&f[i]);
    return st;
}
