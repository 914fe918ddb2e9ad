/* Dataset reader: opens /<split>/x and /<split>/y of an HDF5 dataset file, checks shapes and types
 * without reading data, and reads rows (any order, or a contiguous range) through reusable scratch.
 * Three read paths, chosen per dataset, fastest first:
 *  - mmap: contiguous, fully allocated storage whose bytes are the native type (what mt_import_idx
 *    writes): the file is mapped read-only once and rows are converted straight from the mapping
 *    (no system call per row; ranks on one node share the page cache);
 *  - pread: the same storage when mapping fails: rows are pread() from the descriptor HDF5 itself opened,
 *    at the offset H5Dget_offset reports, in sorted order, consecutive rows merged into one read;
 *  - HDF5: anything else (chunked, compressed, other types): one hyperslab selection, the union of the
 *    runs of consecutive rows, read by one H5Dread, which handles chunking and type conversion.
 * All three give the same values; the unit test checks that. */
#define _POSIX_C_SOURCE 200809L

#include "io/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/error.h"
#include "io/h5_check.h"

#define MAX_RANK (MT_MAX_SAMPLE_RANK + 1)
#define MAX_SAMPLE_ELEMS ((uint64_t)1 << 40) /* elements per sample (or targets per row) */
#define MAX_ROWS ((uint64_t)1 << 40)         /* rows of a split (a training run keeps 8 bytes per row) */
#define MAX_CLASS_NAMES 65536                /* strings in the "classes" attribute */
#define LABEL_BLOCK_ROWS 65536               /* rows per read in check_labels */
#define RANGE_RESERVE_ROWS 4096              /* scratch reserved by a first read_range */
#define CHUNK_CACHE_BYTES ((size_t)32 << 20) /* per-dataset chunk cache for chunked x */
#define CHUNK_CACHE_SLOTS 12421              /* a prime, as HDF5 recommends */
#define PREFETCH_AHEAD 2                     /* mapped rows prefetched this many rows ahead */
#define PREFETCH_BYTES 4096                  /* at most this much of each */

/* One of x and y: the open dataset, its file dataspace (reused for selections) and how rows are read. */
typedef struct column {
    char name[300]; /* "/train/x", for messages */
    hid_t dset, space;
    hid_t memtype; /* native type rows are read as: uchar, float or int32 (not owned) */
    int rank;
    hsize_t dims[MAX_RANK];
    size_t row_elems;         /* elements per row */
    size_t row_bytes;         /* row_elems * size of memtype */
    int best_path;            /* fastest read path the storage allows (MT_DATASET_READ_*) */
    int64_t offset;           /* file offset of row 0 when best_path >= MT_DATASET_READ_PREAD */
    const unsigned char *map; /* row 0 in the file mapping when best_path is MT_DATASET_READ_MMAP */
    unsigned char *raw;       /* scratch: [cap * row_bytes] unique rows in sorted order */
} column;

/* A row set to read: runs of consecutive rows, stored one after another in the destination. */
typedef struct runs {
    const uint64_t *row;
    const size_t *len;
    size_t n;
} runs;

/* A requested row and the output position it goes to. */
typedef struct request {
    uint64_t row;
    size_t pos;
} request;

struct mt_dataset {
    char *path;
    hid_t file;
    int fd;    /* HDF5's own sec2 descriptor (not owned), or -1 */
    void *map; /* read-only mapping of the whole file, or NULL */
    size_t map_size;
    int max_path; /* read path allowed by mt_dataset_set_read_path */
    column x, y;
    mt_dataset_info info;
    size_t cap;        /* rows the scratch holds */
    request *req;      /* [cap] requests sorted by row */
    size_t *slot;      /* [cap] index of req[i]'s row among the unique rows */
    uint64_t *run_row; /* [cap] first row of each run of consecutive unique rows */
    size_t *run_len;   /* [cap] its length */
    runs plan;         /* the runs of the current block */
};

/* Copies the most specific message on HDF5's error stack (the innermost frame) into buf. */
static herr_t take_first_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && e->desc[0])
        snprintf(buf, 200, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char *buf)
{
    strcpy(buf, "HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_desc, buf);
    return buf;
}

static void close_column(column *c)
{
    free(c->raw);
    c->raw = NULL;
    if (c->space > 0)
        H5Sclose(c->space);
    if (c->dset > 0)
        H5Dclose(c->dset);
    c->space = c->dset = -1;
}

void mt_dataset_close(mt_dataset *ds)
{
    if (!ds)
        return;
    close_column(&ds->x);
    close_column(&ds->y);
    if (ds->map)
        munmap(ds->map, ds->map_size);
    if (ds->file > 0)
        H5Fclose(ds->file);
    free(ds->req);
    free(ds->slot);
    free(ds->run_row);
    free(ds->run_len);
    free(ds->path);
    free(ds);
}

/* ---- opening ---------------------------------------------------------------------------------------- */

/* Opens path read-only with HDF5's serial default driver (each rank by itself); the message says why it
 * failed. */
static mt_status open_file(mt_dataset *ds, mt_error *err)
{
    mt_status st = mt_h5_check_file(ds->path, "dataset", err);
    if (st)
        return st;
    /* The default serial (sec2) driver; only data sieving is turned off: it would read 64 KiB around
     * every randomly chosen row of a contiguous dataset read through HDF5 (6x slower here). */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_sieve_buf_size(fapl, 0);
    ds->file = H5Fopen(ds->path, H5F_ACC_RDONLY, fapl);
    char why[200];
    if (ds->file < 0)
        h5_reason(why); /* before H5Pclose, which clears the error stack */
    H5Pclose(fapl);
    if (ds->file < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: damaged HDF5 file (%s)", ds->path, why);
    return MT_OK;
}

/* H5I type of the object at name under loc, or H5I_BADID when there is none (or a dangling link). */
static H5I_type_t object_type(hid_t loc, const char *name)
{
    if (!name[0] || H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return H5I_BADID;
    hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
    if (obj < 0)
        return H5I_BADID;
    H5I_type_t t = H5Iget_type(obj);
    H5Oclose(obj);
    return t;
}

typedef struct name_list {
    char *buf;
    size_t size;
    int count;
    int groups_only;
} name_list;

static herr_t add_name(hid_t loc, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    name_list *l = data;
    if (l->groups_only && object_type(loc, name) != H5I_GROUP)
        return 0;
    size_t used = strlen(l->buf);
    snprintf(l->buf + used, l->size - used, "%s%s", l->count ? ", " : "", name);
    for (char *p = l->buf + used; *p; p++) /* names come from the file: keep the message one line */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    l->count++;
    return 0;
}

/* Comma-separated names of the members of group `group` (only groups when groups_only) into buf. */
static int list_members(hid_t file, const char *group, int groups_only, char *buf, size_t size)
{
    name_list l = {buf, size, 0, groups_only};
    buf[0] = '\0';
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0)
        return 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, add_name, &l);
    H5Gclose(g);
    return l.count;
}

/* Error for a missing /<split>/<what>: lists the splits when the split is missing, else the group. */
static mt_status not_found(mt_dataset *ds, const char *split, const char *dpath, mt_error *err)
{
    char names[600];
    if (H5Lexists(ds->file, split, H5P_DEFAULT) > 0 && H5Lexists(ds->file, dpath, H5P_DEFAULT) > 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: a link to nothing (dangling soft or external link)", ds->path,
                       dpath);
    if (object_type(ds->file, split) != H5I_GROUP) {
        if (!list_members(ds->file, "/", 1, names, sizeof names))
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: not found (no splits in file)", ds->path, dpath);
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: not found (splits in file: %s)", ds->path, dpath, names);
    }
    if (!list_members(ds->file, split, 0, names, sizeof names))
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: not found (group /%s is empty)", ds->path, dpath, split);
    return mt_fail(err, MT_ERR_INPUT, "%s: %s: not found (group /%s holds: %s)", ds->path, dpath, split, names);
}

static void format_shape(const column *c, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < c->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", d ? ", " : "", (unsigned long long)c->dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Opens dataset `what` ("x" or "y") of the split and reads its rank and dimensions. */
static mt_status open_column(mt_dataset *ds, const char *split, const char *what, column *c, mt_error *err)
{
    snprintf(c->name, sizeof c->name, "/%s/%s", split, what);
    mt_status st = mt_h5_check_layout(ds->file, c->name, ds->path, err);
    if (st)
        return st;
    H5I_type_t t = object_type(ds->file, c->name);
    if (t == H5I_BADID)
        return not_found(ds, split, c->name, err);
    if (t != H5I_DATASET)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: is not a dataset", ds->path, c->name);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, CHUNK_CACHE_SLOTS, CHUNK_CACHE_BYTES, 1.0);
    c->dset = H5Dopen2(ds->file, c->name, dapl);
    H5Pclose(dapl);
    char why[200];
    if (c->dset < 0 || (c->space = H5Dget_space(c->dset)) < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: cannot open: %s", ds->path, c->name, h5_reason(why));
    c->rank = H5Sget_simple_extent_type(c->space) == H5S_SIMPLE ? H5Sget_simple_extent_ndims(c->space) : 0;
    if (c->rank < 1 || c->rank > MAX_RANK)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: rank %d, need %s", ds->path, c->name, c->rank,
                       what[0] == 'x' ? "2..5 ([N, sample shape...])" : "1 or 2 ([N] or [N, k])");
    hsize_t maxdims[H5S_MAX_RANK];
    H5Sget_simple_extent_dims(c->space, c->dims, maxdims);
    for (int d = 0; d < c->rank; d++)
        if (maxdims[d] != H5S_UNLIMITED && c->dims[d] > maxdims[d])
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: dimension %d is %llu, above its maximum %llu", ds->path,
                           c->name, d, (unsigned long long)c->dims[d], (unsigned long long)maxdims[d]);
    if (c->dims[0] == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: N is 0", ds->path, c->name);
    if (c->dims[0] > MAX_ROWS)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: N = %llu rows, more than the 2^40 a split may hold", ds->path,
                       c->name, (unsigned long long)c->dims[0]);
    return MT_OK;
}

/* Checks that dims[1..rank) are positive and that their product (elements per row) stays within
 * MAX_SAMPLE_ELEMS, and that all rows together stay addressable in bytes of size elem_size. */
static mt_status check_row_size(const mt_dataset *ds, column *c, size_t elem_size, mt_error *err)
{
    char shape[200];
    format_shape(c, shape, sizeof shape);
    uint64_t elems = 1;
    for (int d = 1; d < c->rank; d++) {
        if (c->dims[d] == 0)
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: dimension %d of shape %s is 0", ds->path, c->name, d, shape);
        if (c->dims[d] > MAX_SAMPLE_ELEMS / elems)
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: shape %s has more than 2^40 elements per row", ds->path, c->name,
                           shape);
        elems *= c->dims[d];
    }
    if (c->dims[0] > UINT64_MAX / (elems * elem_size) || (uint64_t)SIZE_MAX < elems * elem_size)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: shape %s is too large (its size overflows 64 bits)", ds->path,
                       c->name, shape);
    c->row_elems = (size_t)elems;
    c->row_bytes = (size_t)elems * elem_size;
    return MT_OK;
}

/* x is uint8 (read as bytes, scaled to [0, 1] later), a float type, or another integer type such as
 * token ids (both converted by HDF5 to native float without scaling). */
static mt_status check_x_type(mt_dataset *ds, hid_t ftype, mt_error *err)
{
    column *c = &ds->x;
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls == H5T_INTEGER && H5Tget_size(ftype) == 1 && H5Tget_sign(ftype) == H5T_SGN_NONE) {
        c->memtype = H5T_NATIVE_UCHAR;
        ds->info.x_is_uint8 = 1;
    } else if (cls == H5T_FLOAT || (cls == H5T_INTEGER && H5Tget_size(ftype) <= 4)) {
        c->memtype = H5T_NATIVE_FLOAT;
    } else {
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: unsupported type (need uint8, an integer type of up to 32 bits "
                       "(token ids), or float)",
                       ds->path, c->name);
    }
    if (c->rank < 2)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: rank 1, need 2..5 ([N, sample shape...])", ds->path, c->name);
    return check_row_size(ds, c, H5Tget_size(c->memtype), err);
}

/* y: integers of rank 1 are class indices (read as int32); floats of rank 1 or 2 are targets. */
static mt_status check_y_type(mt_dataset *ds, hid_t ftype, mt_error *err)
{
    column *c = &ds->y;
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls == H5T_INTEGER) {
        if (c->rank != 1)
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: integer class labels must have rank 1 ([N]), got rank %d",
                           ds->path, c->name, c->rank);
        c->memtype = H5T_NATIVE_INT32;
        ds->info.label_kind = MT_LABELS_CLASS;
    } else if (cls == H5T_FLOAT) {
        if (c->rank > 2)
            return mt_fail(err, MT_ERR_INPUT,
                           "%s: %s: float targets must have rank 1 or 2 ([N] or [N, k]), got "
                           "rank %d",
                           ds->path, c->name, c->rank);
        c->memtype = H5T_NATIVE_FLOAT;
        ds->info.label_kind = MT_LABELS_TARGETS;
    } else {
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: unsupported type (need integer class indices or float32 "
                       "targets)",
                       ds->path, c->name);
    }
    mt_status st = check_row_size(ds, c, H5Tget_size(c->memtype), err);
    if (st == MT_OK && c->dims[0] != ds->x.dims[0])
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: %llu rows but %s has %llu", ds->path, c->name,
                       (unsigned long long)c->dims[0], ds->x.name, (unsigned long long)ds->x.dims[0]);
    return st;
}

typedef mt_status (*type_check)(mt_dataset *ds, hid_t ftype, mt_error *err);

/* Runs check on the column's file type, then decides whether rows can be read from the file directly:
 * the storage must be one contiguous, fully allocated block in this file holding exactly the bytes of
 * the memory type (mapping is decided later, once the file is mapped). */
static mt_status check_column(mt_dataset *ds, column *c, type_check check, mt_error *err)
{
    hid_t ftype = H5Dget_type(c->dset);
    if (ftype < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: cannot read its type", ds->path, c->name);
    mt_status st = mt_h5_check_number_type(ftype, ds->path, c->name, err);
    if (st == MT_OK)
        st = check(ds, ftype, err);
    if (st == MT_OK)
        st = mt_h5_check_storage(c->dset, ds->path, c->name, MT_H5_MAX_CHUNK_BYTES, err);
    int same_bytes = st == MT_OK && H5Tequal(ftype, c->memtype) > 0;
    H5Tclose(ftype);
    c->best_path = MT_DATASET_READ_HDF5;
    if (!same_bytes || ds->fd < 0)
        return st;
    hid_t dcpl = H5Dget_create_plist(c->dset);
    int contiguous = H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0;
    H5Pclose(dcpl);
    haddr_t addr = contiguous ? H5Dget_offset(c->dset) : HADDR_UNDEF;
    hsize_t bytes = (hsize_t)(c->dims[0] * c->row_bytes);
    if (addr != HADDR_UNDEF && bytes < (hsize_t)INT64_MAX && addr <= (haddr_t)INT64_MAX - bytes &&
        H5Dget_storage_size(c->dset) == bytes) {
        c->offset = (int64_t)addr;
        c->best_path = MT_DATASET_READ_PREAD;
    }
    return st;
}

/* Whether the data stored covers the column's shape: contiguous storage allocated, every chunk of
 * chunked storage there. HDF5 reads what is missing as the fill value (zeros), so a file whose writer
 * stopped part-way, or one made with a shape and no data, would be trained on silently. Compact data
 * always covers its shape; external and virtual storage are not checked. */
static mt_status check_written(const mt_dataset *ds, const column *c, mt_error *err)
{
    hid_t dcpl = H5Dget_create_plist(c->dset);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    hsize_t chunk[H5S_MAX_RANK];
    int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : 0;
    int external = layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) > 0;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (layout == H5D_CONTIGUOUS && !external && H5Dget_storage_size(c->dset) == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: no data stored (never written): it would read as zeros", ds->path,
                       c->name);
    if (layout != H5D_CHUNKED)
        return MT_OK;
    if (chunk_rank != c->rank)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: its chunk shape cannot be read", ds->path, c->name);
    uint64_t need = 1; /* chunks the shape spans; UINT64_MAX when more than that */
    for (int d = 0; d < c->rank; d++) {
        uint64_t along = c->dims[d] / chunk[d] + (c->dims[d] % chunk[d] != 0);
        need = along > 0 && need > UINT64_MAX / along ? UINT64_MAX : need * along;
    }
    hsize_t have = 0;
    if (H5Dget_num_chunks(c->dset, c->space, &have) < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: its chunks cannot be counted (damaged file?)", ds->path, c->name);
    if (have < need)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: %llu of its %llu chunks are stored (written only in part): the "
                       "rest would read as zeros",
                       ds->path, c->name, (unsigned long long)have, (unsigned long long)need);
    return MT_OK;
}

/* The file descriptor of HDF5's sec2 driver (the default one), or -1 for other drivers. */
static int vfd_descriptor(hid_t file)
{
    hid_t fapl = H5Fget_access_plist(file);
    int fd = -1;
    void *handle = NULL;
    if (fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 && H5Fget_vfd_handle(file, fapl, &handle) >= 0 && handle)
        fd = *(int *)handle;
    if (fapl >= 0)
        H5Pclose(fapl);
    return fd;
}

/* Maps the whole file read-only when a column can be read directly, and moves every column whose rows
 * lie inside the mapping to the mmap path. Without a mapping the columns keep the pread path. (As with
 * any mapping, a file truncated in place while open would fault on access; datasets are replaced by
 * rename, which leaves the mapped inode intact.) */
static void map_file(mt_dataset *ds)
{
    struct stat sb;
    if (ds->x.best_path < MT_DATASET_READ_PREAD && ds->y.best_path < MT_DATASET_READ_PREAD)
        return;
    if (fstat(ds->fd, &sb) != 0 || sb.st_size <= 0 || (uint64_t)sb.st_size > (uint64_t)SIZE_MAX)
        return;
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, ds->fd, 0);
    if (map == MAP_FAILED)
        return;
    ds->map = map;
    ds->map_size = (size_t)sb.st_size;
    column *cols[2] = {&ds->x, &ds->y};
    for (int i = 0; i < 2; i++) {
        column *c = cols[i];
        uint64_t bytes = c->dims[0] * c->row_bytes; /* no overflow: checked by check_row_size */
        if (c->best_path == MT_DATASET_READ_PREAD && (uint64_t)c->offset <= ds->map_size &&
            bytes <= ds->map_size - (uint64_t)c->offset) {
            c->map = (const unsigned char *)map + c->offset;
            c->best_path = MT_DATASET_READ_MMAP;
        }
    }
}

static void fill_info(mt_dataset *ds)
{
    mt_dataset_info *in = &ds->info;
    in->rows = ds->x.dims[0];
    in->sample_rank = ds->x.rank - 1;
    for (int d = 1; d < ds->x.rank; d++)
        in->sample_shape[d - 1] = ds->x.dims[d];
    in->sample_size = ds->x.row_elems;
    in->target_size = in->label_kind == MT_LABELS_TARGETS ? ds->y.row_elems : 1;
}

static mt_status open_split(mt_dataset *ds, const char *split, mt_error *err)
{
    mt_status st = open_file(ds, err);
    if (st == MT_OK)
        ds->fd = vfd_descriptor(ds->file);
    if (st == MT_OK)
        st = open_column(ds, split, "x", &ds->x, err);
    if (st == MT_OK)
        st = check_column(ds, &ds->x, check_x_type, err);
    if (st == MT_OK)
        st = open_column(ds, split, "y", &ds->y, err);
    if (st == MT_OK)
        st = check_column(ds, &ds->y, check_y_type, err);
    if (st == MT_OK)
        st = check_written(ds, &ds->x, err);
    if (st == MT_OK)
        st = check_written(ds, &ds->y, err);
    if (st == MT_OK)
        map_file(ds);
    return st;
}

mt_status mt_dataset_open(const char *path, const char *split, mt_dataset **out, mt_error *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    while (split && split[0] == '/')
        split++;
    if (!split || !split[0] || strlen(split) > 200)
        return mt_fail(err, MT_ERR_INPUT, "%s: bad split name '%s'", path, split ? split : "(null)");
    mt_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = malloc(strlen(path) + 1))) {
        free(ds);
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    }
    strcpy(ds->path, path);
    ds->file = ds->x.dset = ds->x.space = ds->y.dset = ds->y.space = -1;
    ds->fd = -1;
    ds->max_path = MT_DATASET_READ_MMAP;
    mt_status st = open_split(ds, split, err);
    if (st != MT_OK) {
        mt_dataset_close(ds);
        return st;
    }
    fill_info(ds);
    *out = ds;
    return MT_OK;
}

const mt_dataset_info *mt_dataset_get_info(const mt_dataset *ds)
{
    return &ds->info;
}

static int column_path(const mt_dataset *ds, const column *c)
{
    return c->best_path < ds->max_path ? c->best_path : ds->max_path;
}

int mt_dataset_set_read_path(mt_dataset *ds, int max_path)
{
    ds->max_path = max_path;
    return column_path(ds, &ds->x);
}

int mt_dataset_read_path(const mt_dataset *ds)
{
    return column_path(ds, &ds->x);
}

/* ---- reading ---------------------------------------------------------------------------------------- */

/* Grows *p to n elements of size bytes; keeps the old block when that fails. */
static int grow(void *p, size_t n, size_t size)
{
    void *q = realloc(*(void **)p, n * size);
    if (q)
        *(void **)p = q;
    return q != NULL;
}

mt_status mt_dataset_reserve(mt_dataset *ds, size_t max_rows, mt_error *err)
{
    if (max_rows <= ds->cap)
        return MT_OK;
    size_t xb = ds->x.row_bytes, yb = ds->y.row_bytes;
    if (max_rows > SIZE_MAX / (xb > yb ? xb : yb) || max_rows > SIZE_MAX / sizeof(request))
        return mt_fail(err, MT_ERR_NOMEM, "%s: cannot reserve %zu rows: too large", ds->path, max_rows);
    int ok = grow(&ds->req, max_rows, sizeof *ds->req);
    ok &= grow(&ds->slot, max_rows, sizeof *ds->slot);
    ok &= grow(&ds->run_row, max_rows, sizeof *ds->run_row);
    ok &= grow(&ds->run_len, max_rows, sizeof *ds->run_len);
    ok &= grow(&ds->x.raw, max_rows, xb);
    ok &= grow(&ds->y.raw, max_rows, yb);
    if (!ok)
        return mt_fail(err, MT_ERR_NOMEM, "%s: cannot reserve %zu rows: out of memory", ds->path, max_rows);
    ds->cap = max_rows;
    return MT_OK;
}

/* pread of exactly size bytes at offset; errno is set (0 for end of file) when it returns -1. */
static int pread_full(int fd, void *buf, size_t size, int64_t offset)
{
    unsigned char *p = buf;
    while (size > 0) {
        ssize_t got = pread(fd, p, size, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return -1;
        }
        p += got;
        size -= (size_t)got;
        offset += got;
    }
    return 0;
}

static mt_status read_runs_direct(mt_dataset *ds, const column *c, runs r, unsigned char *dst, mt_error *err)
{
    int mapped = column_path(ds, c) == MT_DATASET_READ_MMAP;
    for (size_t i = 0; i < r.n; i++) {
        size_t bytes = r.len[i] * c->row_bytes, at = r.row[i] * c->row_bytes;
        if (mapped)
            memcpy(dst, c->map + at, bytes);
        else if (pread_full(ds->fd, dst, bytes, c->offset + (int64_t)at) < 0)
            return mt_fail(err, MT_ERR_IO, "%s: %s: read failed: %s", ds->path, c->name,
                           errno ? strerror(errno) : "unexpected end of file");
        dst += bytes;
    }
    return MT_OK;
}

/* One selection: the union of the runs' hyperslabs, read by one H5Dread in row order. */
static mt_status read_runs_hdf5(mt_dataset *ds, const column *c, runs r, unsigned char *dst, mt_error *err)
{
    hsize_t start[MAX_RANK] = {0}, count[MAX_RANK];
    memcpy(count, c->dims, sizeof count);
    hsize_t total = 0;
    herr_t rc = 0;
    for (size_t i = 0; i < r.n && rc >= 0; i++) {
        start[0] = r.row[i];
        count[0] = r.len[i];
        total += r.len[i];
        rc = H5Sselect_hyperslab(c->space, i ? H5S_SELECT_OR : H5S_SELECT_SET, start, NULL, count, NULL);
    }
    total *= c->row_elems;
    hid_t mem = rc >= 0 ? H5Screate_simple(1, &total, NULL) : -1;
    if (mem >= 0) {
        rc = H5Dread(c->dset, c->memtype, mem, c->space, H5P_DEFAULT, dst);
        H5Sclose(mem);
    }
    if (mem < 0 || rc < 0) {
        char why[200];
        return mt_fail(err, MT_ERR_IO, "%s: %s: read failed: %s", ds->path, c->name, h5_reason(why));
    }
    return MT_OK;
}

/* Reads the rows of r, one after another, as raw bytes of the column's memory type into dst. */
static mt_status read_runs(mt_dataset *ds, const column *c, runs r, void *dst, mt_error *err)
{
    if (column_path(ds, c) == MT_DATASET_READ_HDF5)
        return read_runs_hdf5(ds, c, r, dst, err);
    return read_runs_direct(ds, c, r, dst, err);
}

/* x rows from the raw bytes of the memory type: uint8 is divided by 255 (exactly v / 255.0f, as
 * torchvision's ToTensor; multiplying by 1/255 differs in the last bit for half of the values). */
static void convert_x(const mt_dataset *ds, const unsigned char *src, float *dst, size_t rows)
{
    size_t n = rows * ds->x.row_elems;
    if (ds->info.x_is_uint8) {
#ifdef __FMA__
        /* v * (hi + lo) with 1/255 = hi + lo, rounded once: equals v / 255.0f for all 256 v (v / 255 never
         * lies near a rounding midpoint; the unit test checks every value) and is cheaper than dividing. */
        const float hi = 1.0f / 255.0f, lo = (float)(1.0 / 255.0 - (double)(1.0f / 255.0f));
        for (size_t i = 0; i < n; i++)
            dst[i] = fmaf((float)src[i], hi, (float)src[i] * lo);
#else
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)src[i] / 255.0f;
#endif
    } else {
        memcpy(dst, src, n * sizeof(float));
    }
}

/* Stores raw row src of column c as output row pos: x converted to float, labels copied. */
static void put_row(const mt_dataset *ds, const column *c, const unsigned char *src, void *out, size_t pos)
{
    if (c == &ds->x)
        convert_x(ds, src, (float *)out + pos * c->row_elems, 1);
    else
        memcpy((unsigned char *)out + pos * c->row_bytes, src, c->row_bytes);
}

static int request_less(const request *p, const request *q)
{
    return p->row < q->row || (p->row == q->row && p->pos < q->pos);
}

static void sift_down(request *r, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && request_less(&r[child], &r[child + 1]))
            child++;
        if (!request_less(&r[root], &r[child]))
            return;
        request t = r[root];
        r[root] = r[child];
        r[child] = t;
    }
}

/* Heapsort by (row, pos): in place and without allocating, unlike glibc's qsort (which mallocs a merge
 * buffer once the array passes 1 KiB, i.e. at 64 requests). */
static void sort_requests(request *r, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(r, i, n);
    for (size_t end = n; end-- > 1;) {
        request t = r[0];
        r[0] = r[end];
        r[end] = t;
        sift_down(r, 0, end);
    }
}

/* Sorts the requests, numbers the unique rows (slot) and merges consecutive unique rows into runs. */
static runs plan_rows(mt_dataset *ds, const uint64_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ds->req[i] = (request){rows[i], i};
    sort_requests(ds->req, n);
    size_t unique = 0, nruns = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t row = ds->req[i].row;
        if (i > 0 && row == ds->req[i - 1].row) {
            ds->slot[i] = unique - 1;
            continue;
        }
        if (nruns > 0 && row == ds->run_row[nruns - 1] + ds->run_len[nruns - 1]) {
            ds->run_len[nruns - 1]++;
        } else {
            ds->run_row[nruns] = row;
            ds->run_len[nruns++] = 1;
        }
        ds->slot[i] = unique++;
    }
    return (runs){ds->run_row, ds->run_len, nruns};
}

/* Asks the CPU to start loading a mapped row (up to PREFETCH_BYTES of it) that is needed soon: rows are
 * scattered over the file, so each is a fresh run of cache misses the hardware cannot foresee. */
static void prefetch_row(const column *c, uint64_t row)
{
#ifdef __GNUC__
    const unsigned char *p = c->map + row * c->row_bytes;
    size_t bytes = c->row_bytes < PREFETCH_BYTES ? c->row_bytes : PREFETCH_BYTES;
    for (size_t b = 0; b < bytes; b += 64)
        __builtin_prefetch(p + b, 0, 0);
#else
    (void)c;
    (void)row;
#endif
}

/* Reads rows[0..n) of column c into out (output row i is rows[i]). Mapped columns are gathered straight
 * from the mapping; others read the sorted unique rows (planned once per block, *planned) into scratch
 * and scatter them. */
static mt_status read_column_rows(mt_dataset *ds, column *c, const uint64_t *rows, size_t n, void *out, int *planned,
                                  mt_error *err)
{
    if (column_path(ds, c) == MT_DATASET_READ_MMAP) {
        for (size_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                prefetch_row(c, rows[i + PREFETCH_AHEAD]);
            put_row(ds, c, c->map + rows[i] * c->row_bytes, out, i);
        }
        return MT_OK;
    }
    if (!*planned)
        ds->plan = plan_rows(ds, rows, n);
    *planned = 1;
    mt_status st = read_runs(ds, c, ds->plan, c->raw, err);
    for (size_t i = 0; st == MT_OK && i < n; i++)
        put_row(ds, c, c->raw + ds->slot[i] * c->row_bytes, out, ds->req[i].pos);
    return st;
}

/* The label output the caller asked for that matches the file's label kind, or NULL. */
static unsigned char *label_output(const mt_dataset *ds, int32_t *y_class, float *y_target)
{
    return ds->info.label_kind == MT_LABELS_CLASS ? (unsigned char *)y_class : (unsigned char *)y_target;
}

static mt_status check_rows(const mt_dataset *ds, const uint64_t *rows, size_t n, mt_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->info.rows)
            return mt_fail(err, MT_ERR_INTERNAL, "%s: %s: row %llu requested, outside [0, %llu)", ds->path, ds->x.name,
                           (unsigned long long)rows[i], (unsigned long long)ds->info.rows);
    return MT_OK;
}

mt_status mt_dataset_read_rows(mt_dataset *ds, const uint64_t *rows, size_t n, float *x, int32_t *y_class,
                               float *y_target, mt_error *err)
{
    mt_status st = check_rows(ds, rows, n, err);
    if (st == MT_OK && ds->cap == 0 && n > 0)
        st = mt_dataset_reserve(ds, n, err);
    unsigned char *y = label_output(ds, y_class, y_target);
    for (size_t done = 0; st == MT_OK && done < n; done += ds->cap) {
        size_t count = n - done < ds->cap ? n - done : ds->cap;
        int planned = 0;
        if (x)
            st = read_column_rows(ds, &ds->x, rows + done, count, x + done * ds->x.row_elems, &planned, err);
        if (st == MT_OK && y)
            st = read_column_rows(ds, &ds->y, rows + done, count, y + done * ds->y.row_bytes, &planned, err);
    }
    return st;
}

/* Reads count rows from first of column c into out: straight from the mapping when mapped, else into
 * out directly, or through scratch when uint8 x has to be converted. */
static mt_status read_column_range(mt_dataset *ds, column *c, uint64_t first, size_t count, void *out, mt_error *err)
{
    int convert = c == &ds->x && ds->info.x_is_uint8;
    if (column_path(ds, c) == MT_DATASET_READ_MMAP) {
        if (convert)
            convert_x(ds, c->map + first * c->row_bytes, out, count);
        else
            memcpy(out, c->map + first * c->row_bytes, count * c->row_bytes);
        return MT_OK;
    }
    runs r = {&first, &count, 1};
    mt_status st = read_runs(ds, c, r, convert ? c->raw : out, err);
    if (st == MT_OK && convert)
        convert_x(ds, c->raw, out, count);
    return st;
}

mt_status mt_dataset_read_range(mt_dataset *ds, uint64_t first, size_t n, float *x, int32_t *y_class, float *y_target,
                                mt_error *err)
{
    if (first > ds->info.rows || n > ds->info.rows - first)
        return mt_fail(err, MT_ERR_INTERNAL, "%s: %s: rows [%llu, %llu) requested, outside [0, %llu)", ds->path,
                       ds->x.name, (unsigned long long)first, (unsigned long long)first + n,
                       (unsigned long long)ds->info.rows);
    mt_status st = MT_OK;
    if (ds->cap == 0 && n > 0)
        st = mt_dataset_reserve(ds, n < RANGE_RESERVE_ROWS ? n : RANGE_RESERVE_ROWS, err);
    unsigned char *y = label_output(ds, y_class, y_target);
    for (size_t done = 0; st == MT_OK && done < n; done += ds->cap) {
        size_t count = n - done < ds->cap ? n - done : ds->cap;
        if (x)
            st = read_column_range(ds, &ds->x, first + done, count, x + done * ds->x.row_elems, err);
        if (st == MT_OK && y)
            st = read_column_range(ds, &ds->y, first + done, count, y + done * ds->y.row_bytes, err);
    }
    return st;
}

/* What to do with each block of labels: a check (error at the first bad row) or a count. */
typedef struct label_visit {
    int64_t n_classes;
    int64_t *counts; /* for counting: [n_classes], or NULL when checking */
    uint64_t *other; /* labels outside [0, n_classes) when counting */
} label_visit;

/* Checks (or counts) one block of labels, rows first..first+n: a class label outside [0, n_classes), or
 * a non-finite target, is an error when checking. */
static mt_status visit_label_block(const mt_dataset *ds, const void *buf, uint64_t first, size_t n,
                                   const label_visit *v, mt_error *err)
{
    if (ds->info.label_kind == MT_LABELS_CLASS) {
        const int32_t *y = buf;
        for (size_t i = 0; i < n; i++) {
            int inside = y[i] >= 0 && y[i] < v->n_classes;
            if (v->counts && inside)
                v->counts[y[i]]++;
            else if (v->counts)
                (*v->other)++;
            else if (!inside)
                return mt_fail(err, MT_ERR_INPUT, "%s: %s: row %llu has label %d, outside [0, %lld)", ds->path,
                               ds->y.name, (unsigned long long)(first + i), (int)y[i], (long long)v->n_classes);
        }
        return MT_OK;
    }
    const float *y = buf;
    size_t k = ds->y.row_elems;
    for (size_t i = 0; i < n * k && !v->counts; i++)
        if (!isfinite(y[i]))
            return mt_fail(err, MT_ERR_INPUT, "%s: %s: row %llu has a non-finite target (%g)", ds->path, ds->y.name,
                           (unsigned long long)(first + i / k), (double)y[i]);
    return MT_OK;
}

/* Reads y in blocks of about LABEL_BLOCK_ROWS values into a buffer of its own and visits each block. */
static mt_status visit_labels(mt_dataset *ds, const label_visit *v, mt_error *err)
{
    size_t block = ds->info.rows < LABEL_BLOCK_ROWS ? (size_t)ds->info.rows : LABEL_BLOCK_ROWS;
    if (ds->y.row_elems > 1)
        block = block / ds->y.row_elems + 1;
    void *buf = malloc(block * ds->y.row_bytes);
    if (!buf)
        return mt_fail(err, MT_ERR_NOMEM, "%s: %s: out of memory reading labels", ds->path, ds->y.name);
    mt_status st = MT_OK;
    for (uint64_t first = 0; st == MT_OK && first < ds->info.rows; first += block) {
        size_t n = ds->info.rows - first < block ? (size_t)(ds->info.rows - first) : block;
        runs r = {&first, &n, 1};
        st = read_runs(ds, &ds->y, r, buf, err);
        if (st == MT_OK)
            st = visit_label_block(ds, buf, first, n, v, err);
    }
    free(buf);
    return st;
}

mt_status mt_dataset_check_labels(mt_dataset *ds, int64_t n_classes, mt_error *err)
{
    if (ds->info.label_kind == MT_LABELS_CLASS && n_classes < 1)
        return mt_fail(err, MT_ERR_INTERNAL, "%s: %s: checking labels against %lld classes", ds->path, ds->y.name,
                       (long long)n_classes);
    label_visit v = {n_classes, NULL, NULL};
    return visit_labels(ds, &v, err);
}

mt_status mt_dataset_count_labels(mt_dataset *ds, int64_t *counts, int64_t n_counts, uint64_t *other, mt_error *err)
{
    if (ds->info.label_kind != MT_LABELS_CLASS || n_counts < 1)
        return mt_fail(err, MT_ERR_INTERNAL, "%s: %s: counting labels needs class labels and n_counts >= 1", ds->path,
                       ds->y.name);
    memset(counts, 0, (size_t)n_counts * sizeof *counts);
    *other = 0;
    label_visit v = {n_counts, counts, other};
    return visit_labels(ds, &v, err);
}

/* ---- class names ------------------------------------------------------------------------------------ */

/* Reads string attribute attr (n strings, fixed or variable length) into names, at most max of them. */
static int read_names(hid_t attr, hid_t ftype, size_t n, char (*names)[64], int max)
{
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mem, H5Tget_cset(ftype));
    int vlen = H5Tis_variable_str(ftype) > 0;
    size_t size = vlen ? sizeof(char *) : H5Tget_size(ftype);
    H5Tset_size(mem, vlen ? H5T_VARIABLE : size);
    char *buf = calloc(n ? n : 1, size);
    int count = -1;
    if (buf && H5Aread(attr, mem, buf) >= 0) {
        count = n < (size_t)max ? (int)n : max;
        for (int i = 0; i < count; i++) {
            const char *s = vlen ? ((char **)buf)[i] : buf + (size_t)i * size;
            size_t len = s ? strnlen(s, vlen ? 63 : size) : 0;
            len = len > 63 ? 63 : len;
            memcpy(names[i], s ? s : "", len);
            names[i][len] = '\0';
        }
        if (vlen) {
            hid_t space = H5Aget_space(attr);
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
            H5Sclose(space);
        }
    }
    free(buf);
    H5Tclose(mem);
    return count;
}

int mt_dataset_class_names(const char *path, char (*names)[64], int max, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mt_dataset tmp = {.path = (char *)path, .file = -1};
    if (open_file(&tmp, err) != MT_OK)
        return -1;
    int count = 0;
    if (H5Aexists(tmp.file, "classes") > 0) {
        hid_t attr = H5Aopen(tmp.file, "classes", H5P_DEFAULT);
        hid_t ftype = attr >= 0 ? H5Aget_type(attr) : -1;
        hid_t space = attr >= 0 ? H5Aget_space(attr) : -1;
        hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
        if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING || n < 0 || n > MAX_CLASS_NAMES)
            count = -1;
        else
            count = read_names(attr, ftype, (size_t)n, names, max < 0 ? 0 : max);
        if (count < 0)
            mt_fail(err, MT_ERR_INPUT, "%s: attribute classes: not a readable array of at most %d strings", path,
                    MAX_CLASS_NAMES);
        if (space >= 0)
            H5Sclose(space);
        if (ftype >= 0)
            H5Tclose(ftype);
        if (attr >= 0)
            H5Aclose(attr);
    }
    H5Fclose(tmp.file);
    return count;
}
