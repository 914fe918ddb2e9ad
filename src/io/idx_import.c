/* IDX import: turns MNIST-family IDX files (uint8 images 0x00000803 [N, H, W], uint8 labels 0x00000801 [N],
 * gzip or plain, read through zlib which handles both) into the dataset layout: /train/x uint8 [N, H, W]
 * (contiguous, uncompressed, so the reader's direct paths apply), /train/y int32 [N], /test likewise, and
 * file attributes classes, source, format = "mpitrain-dataset", format_version = 1. Data is streamed in
 * blocks, never held whole. The file is written to "<out>.tmp.<pid>" and renamed when complete.
 * A class subset (keep list, e.g. 5, 7) writes only the items of those classes, labelled by their position
 * in the list (0, 1), with the classes attribute naming them; its labels are read whole first (one byte
 * per item) so that the output's size is known before the images are streamed. */
#define _POSIX_C_SOURCE 200809L

#include "io/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/error.h"
#include "io/h5_write.h"

#define MAGIC_IMAGES 0x00000803u
#define MAGIC_LABELS 0x00000801u
#define MAX_ITEM_BYTES ((uint64_t)1 << 40)
#define BLOCK_BYTES ((size_t)4 << 20) /* bytes per streamed block */

/* One open IDX file: header parsed, positioned at the first data byte. */
typedef struct idx_file {
    const char *path;
    gzFile gz;
    uint64_t items;      /* dims[0] */
    uint64_t item_bytes; /* product of the other dims */
    hsize_t dims[3];
    int rank;
    int cut; /* the gzip stream ended early (zlib: unexpected end of file) */
} idx_file;

/* The output being written. */
typedef struct writer {
    mt_h5w h5;
    int n_classes;        /* labels must be < this when > 0 */
    int n_keep;           /* > 0: only items of these classes are written */
    int new_label[256];   /* label in the output of each IDX label, -1 for dropped ones */
    char keep_text[1100]; /* the kept classes as "5, 7", for messages */
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
            f->cut = code == Z_BUF_ERROR; /* a gzip stream cut short: the callers report a truncation */
            break;
        } else {
            size_t plen = strlen(f->path);
            if (!strncmp(msg, f->path, plen) && !strncmp(msg + plen, ": ", 2))
                msg += plen + 2; /* zlib prefixes the path, which the message already names */
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
        f->item_bytes *= f->dims[d]; /* at most 2^64 - 1: two 32-bit factors */
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

/* Streams the images of f into /<split>/x uint8 [N, H, W], BLOCK_BYTES at a time. */
static mt_status copy_images(writer *w, hid_t g, const char *split, idx_file *f, mt_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "/%s/x", split);
    size_t rows = BLOCK_BYTES / f->item_bytes ? BLOCK_BYTES / f->item_bytes : 1;
    unsigned char *buf = malloc(rows * f->item_bytes);
    if (!buf)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->h5.out, what);
    uint64_t dims[3] = {f->dims[0], f->dims[1], f->dims[2]};
    hid_t d = mt_h5w_dataset(g, "x", H5T_STD_U8LE, 3, dims);
    mt_status st = d < 0 ? mt_h5w_error(&w->h5, what, err) : MT_OK;
    for (uint64_t first = 0; st == MT_OK && first < f->items; first += rows) {
        uint64_t n = f->items - first < rows ? f->items - first : rows;
        st = read_data(f, buf, n * f->item_bytes, first * f->item_bytes, err);
        if (st == MT_OK && mt_h5w_rows(d, H5T_NATIVE_UCHAR, first, n, f->item_bytes, buf) < 0)
            st = mt_h5w_error(&w->h5, what, err);
    }
    if (d >= 0)
        H5Dclose(d);
    free(buf);
    return st;
}

/* Checks a block of uint8 labels against the class names given. */
static mt_status check_label_range(const writer *w, const idx_file *f, const unsigned char *in, uint64_t first,
                                   size_t n, mt_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (w->n_classes > 0 && in[i] >= w->n_classes)
            return mt_fail(err, MT_ERR_INPUT, "%s: item %llu has label %d, but only %d class names were given", f->path,
                           (unsigned long long)(first + i), (int)in[i], w->n_classes);
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
    uint64_t dims[1] = {f->items};
    hid_t d = bytes && labels ? mt_h5w_dataset(g, "y", H5T_STD_I32LE, 1, dims) : -1;
    mt_status st = !bytes || !labels ? mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->h5.out, what)
                   : d < 0           ? mt_h5w_error(&w->h5, what, err)
                                     : MT_OK;
    for (uint64_t first = 0; st == MT_OK && first < f->items; first += rows) {
        size_t n = f->items - first < rows ? (size_t)(f->items - first) : rows;
        st = read_data(f, bytes, n, first, err);
        if (st == MT_OK)
            st = check_label_range(w, f, bytes, first, n, err);
        for (size_t i = 0; st == MT_OK && i < n; i++)
            labels[i] = bytes[i];
        if (st == MT_OK && mt_h5w_rows(d, H5T_NATIVE_INT32, first, n, 1, labels) < 0)
            st = mt_h5w_error(&w->h5, what, err);
    }
    if (d >= 0)
        H5Dclose(d);
    free(bytes);
    free(labels);
    return st;
}

/* The subset of a split whose labels are among the kept classes: all labels are read first (one byte
 * per item), then the images are streamed and only the kept items written; labels become the position
 * of their class in the keep list. */
typedef struct subset {
    unsigned char *labels; /* [items] labels as read */
    uint64_t kept;         /* items kept */
} subset;

static mt_status read_subset_labels(writer *w, idx_file *f, subset *s, mt_error *err)
{
    if (!(s->labels = malloc(f->items)))
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %llu labels", f->path, (unsigned long long)f->items);
    mt_status st = read_data(f, s->labels, f->items, 0, err);
    if (st == MT_OK)
        st = check_label_range(w, f, s->labels, 0, f->items, err);
    for (uint64_t i = 0; st == MT_OK && i < f->items; i++)
        s->kept += w->new_label[s->labels[i]] >= 0;
    if (st == MT_OK && s->kept == 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: no item has one of the kept classes (%s)", f->path, w->keep_text);
    return st;
}

static mt_status write_subset_labels(writer *w, hid_t g, const char *split, const idx_file *f, const subset *s,
                                     mt_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "/%s/y", split);
    int32_t *y = malloc(s->kept * sizeof *y);
    if (!y)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->h5.out, what);
    uint64_t n = 0;
    for (uint64_t i = 0; i < f->items; i++)
        if (w->new_label[s->labels[i]] >= 0)
            y[n++] = w->new_label[s->labels[i]];
    hid_t d = mt_h5w_dataset(g, "y", H5T_STD_I32LE, 1, &s->kept);
    mt_status st = d < 0 || mt_h5w_rows(d, H5T_NATIVE_INT32, 0, n, 1, y) < 0 ? mt_h5w_error(&w->h5, what, err) : MT_OK;
    if (d >= 0)
        H5Dclose(d);
    free(y);
    return st;
}

static mt_status write_subset_images(writer *w, hid_t g, const char *split, idx_file *f, const subset *s, mt_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "/%s/x", split);
    size_t rows = BLOCK_BYTES / f->item_bytes ? BLOCK_BYTES / f->item_bytes : 1;
    unsigned char *in = malloc(rows * f->item_bytes), *out = malloc(rows * f->item_bytes);
    uint64_t dims[3] = {s->kept, f->dims[1], f->dims[2]};
    hid_t d = in && out ? mt_h5w_dataset(g, "x", H5T_STD_U8LE, 3, dims) : -1;
    mt_status st = !in || !out ? mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %s", w->h5.out, what)
                   : d < 0     ? mt_h5w_error(&w->h5, what, err)
                               : MT_OK;
    uint64_t written = 0;
    for (uint64_t first = 0; st == MT_OK && first < f->items; first += rows) {
        uint64_t n = f->items - first < rows ? f->items - first : rows, m = 0;
        st = read_data(f, in, n * f->item_bytes, first * f->item_bytes, err);
        for (uint64_t i = 0; st == MT_OK && i < n; i++)
            if (w->new_label[s->labels[first + i]] >= 0)
                memcpy(out + m++ * f->item_bytes, in + i * f->item_bytes, f->item_bytes);
        if (st == MT_OK && mt_h5w_rows(d, H5T_NATIVE_UCHAR, written, m, f->item_bytes, out) < 0)
            st = mt_h5w_error(&w->h5, what, err);
        written += m;
    }
    if (d >= 0)
        H5Dclose(d);
    free(in);
    free(out);
    return st;
}

static mt_status write_split_subset(writer *w, hid_t g, const char *split, idx_file *images, idx_file *labels,
                                    mt_error *err)
{
    subset s = {0};
    mt_status st = read_subset_labels(w, labels, &s, err);
    if (st == MT_OK)
        st = write_subset_images(w, g, split, images, &s, err);
    if (st == MT_OK)
        st = write_subset_labels(w, g, split, labels, &s, err);
    free(s.labels);
    return st;
}

static mt_status write_split(writer *w, const char *split, idx_file *images, idx_file *labels, mt_error *err)
{
    hid_t g = H5Gcreate2(w->h5.file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char what[300];
    snprintf(what, sizeof what, "/%s", split);
    mt_status st = g < 0       ? mt_h5w_error(&w->h5, what, err)
                   : w->n_keep ? write_split_subset(w, g, split, images, labels, err)
                               : copy_images(w, g, split, images, err);
    if (st == MT_OK && !w->n_keep)
        st = copy_labels(w, g, split, labels, err);
    if (st == MT_OK)
        st = expect_end(images, err);
    if (st == MT_OK)
        st = expect_end(labels, err);
    if (g >= 0)
        H5Gclose(g);
    return st;
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
static mt_status write_output(writer *w, idx_file *f, int with_test, const char *const *class_names, int n_class_names,
                              const char *source, mt_error *err)
{
    mt_status st = mt_h5w_create(&w->h5, w->h5.out, 0, err);
    if (st != MT_OK)
        return st;
    st = write_split(w, "train", &f[0], &f[1], err);
    if (st == MT_OK && with_test)
        st = write_split(w, "test", &f[2], &f[3], err);
    if (st == MT_OK)
        st = mt_h5w_dataset_attributes(&w->h5, class_names, n_class_names, source, err);
    if (st == MT_OK)
        st = mt_h5w_finish(&w->h5, err);
    if (st != MT_OK)
        mt_h5w_abort(&w->h5);
    return st;
}

/* Checks the keep list (distinct labels in [0, 256), below n_class_names when names are given) and fills
 * the label map and the output class names (the given names of the kept classes, else their numbers). */
static mt_status setup_keep(writer *w, const int *keep, int n_keep, const char *const *class_names, int n_class_names,
                            const char **kept_names, char (*numbers)[12], mt_error *err)
{
    for (int c = 0; c < 256; c++)
        w->new_label[c] = n_keep > 0 ? -1 : c;
    w->n_keep = n_keep > 0 ? n_keep : 0;
    size_t used = 0;
    for (int k = 0; k < n_keep; k++) {
        int c = keep[k];
        if (c < 0 || c > 255 || (class_names && n_class_names > 0 && c >= n_class_names))
            return mt_fail(err, MT_ERR_INPUT, "import idx: kept class %d is not a label (labels are 0..%d)", c,
                           class_names && n_class_names > 0 ? n_class_names - 1 : 255);
        if (w->new_label[c] >= 0)
            return mt_fail(err, MT_ERR_INPUT, "import idx: class %d is kept twice", c);
        w->new_label[c] = k;
        snprintf(numbers[k], sizeof numbers[k], "%d", c);
        kept_names[k] = class_names && n_class_names > 0 ? class_names[c] : numbers[k];
        if (used < sizeof w->keep_text)
            used += (size_t)snprintf(w->keep_text + used, sizeof w->keep_text - used, "%s%d", k ? ", " : "", c);
    }
    return MT_OK;
}

mt_status mt_import_idx_subset(const char *train_images, const char *train_labels, const char *test_images,
                               const char *test_labels, const char *out_path, const char *const *class_names,
                               int n_class_names, const char *source, const int *keep, int n_keep, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!train_images || !train_labels || !out_path)
        return mt_fail(err, MT_ERR_INPUT, "import idx: train images, train labels and output are required");
    if (!test_images != !test_labels)
        return mt_fail(err, MT_ERR_INPUT, "import idx: %s given without %s", test_images ? test_images : test_labels,
                       test_images ? "test labels" : "test images");
    if (n_keep > 256 || (n_keep > 0 && !keep))
        return mt_fail(err, MT_ERR_INPUT, "import idx: at most 256 kept classes (got %d)", n_keep);
    writer w;
    memset(&w, 0, sizeof w);
    w.h5 = (mt_h5w){.out = out_path, .file = -1};
    w.n_classes = class_names ? n_class_names : 0;
    const char *kept_names[256];
    char numbers[256][12];
    mt_status st = setup_keep(&w, keep, n_keep, class_names, n_class_names, kept_names, numbers, err);
    if (st != MT_OK)
        return st;
    idx_file f[4] = {{0}};
    int with_test = test_images != NULL;
    st = open_pair(&f[0], &f[1], train_images, train_labels, err);
    if (st == MT_OK && with_test)
        st = open_pair(&f[2], &f[3], test_images, test_labels, err);
    char default_source[4200];
    if (!source) {
        snprintf(default_source, sizeof default_source, "IDX files %s, %s%s%s%s%s", train_images, train_labels,
                 with_test ? ", " : "", with_test ? test_images : "", with_test ? ", " : "",
                 with_test ? test_labels : "");
        source = default_source;
    }
    if (st == MT_OK && n_keep > 0)
        st = write_output(&w, f, with_test, kept_names, n_keep, source, err);
    else if (st == MT_OK)
        st = write_output(&w, f, with_test, class_names, n_class_names, source, err);
    for (int i = 0; i < 4; i++)
        idx_close(&f[i]);
    return st;
}

mt_status mt_import_idx(const char *train_images, const char *train_labels, const char *test_images,
                        const char *test_labels, const char *out_path, const char *const *class_names,
                        int n_class_names, const char *source, mt_error *err)
{
    return mt_import_idx_subset(train_images, train_labels, test_images, test_labels, out_path, class_names,
                                n_class_names, source, NULL, 0, err);
}
