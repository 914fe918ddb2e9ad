/* Pre-flight checks before HDF5 trusts what a file records. The file: regular, readable, with a superblock
 * signature at 0, 512, 1024, ... (HDF5 looks there too, for files with a user block) whose end-of-file
 * address fits the file's size. A single variable-length string: the length its descriptor records, and
 * that the global heap object it points to holds that many bytes (libhdf5 1.10 allocates and clears a
 * buffer of the recorded length, then copies the whole object into it: a longer object overflows it).
 * Superblock layouts (HDF5 file format specification, section II.A):
 *   version 0: signature(8) versions(5) sizeof_offsets@13 sizeof_lengths@14 ... base@24, free-space,
 *              end-of-file@24+2*O
 *   version 1: as 0 with 4 more bytes before base: base@28, end-of-file@28+2*O
 *   version 2/3: signature(8) version@8 sizeof_offsets@9 sizeof_lengths@10 flags@11 base@12,
 *              extension@12+O, end-of-file@12+2*O
 * Addresses are little-endian, O bytes wide (2, 4 or 8). The end-of-file address counts from the start
 * of the file, user block included (a file with a 512-byte user block records its whole size), which is
 * what HDF5 itself compares with the file's size when it opens it.
 *
 * A variable-length string is stored as a descriptor in the dataset's raw data (file format specification,
 * section VI.C, and IV.A.2.d for the datatype): its length in elements of the base type (4 bytes,
 * little-endian), then the global heap collection's address (O bytes, counted from the end of the user
 * block) and the object's index (4 bytes). H5Dget_offset gives where the raw data of a contiguous dataset
 * starts, counted from the start of the file. */
#include "io/h5_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

#define SIGNATURE_BYTES 8
#define MAX_SUPERBLOCK_AT ((int64_t)1 << 30)  /* user blocks larger than this are not searched */
#define UNDEFINED_ADDRESS UINT64_MAX

static const unsigned char signature[SIGNATURE_BYTES] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* Little-endian unsigned of width bytes at p; all bits set (HDF5's undefined address) maps to UINT64_MAX. */
static uint64_t get_le(const unsigned char *p, int width)
{
    uint64_t v = 0;
    int all_ones = 1;
    for (int i = width - 1; i >= 0; i--) {
        v = v << 8 | p[i];
        all_ones &= p[i] == 0xff;
    }
    return all_ones ? UNDEFINED_ADDRESS : v;
}

/* Reads the superblock prefix at offset at into buf (up to size bytes); returns the bytes read. */
static size_t read_at(int fd, int64_t at, unsigned char *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)(at + (int64_t)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* End-of-file address recorded by the superblock in buf[0..n), or 0 when it cannot be decoded (an
 * unknown version or width: left to HDF5), UNDEFINED_ADDRESS when undefined. */
static uint64_t superblock_eof(const unsigned char *buf, size_t n)
{
    if (n < 16)
        return 0;
    int version = buf[8], width, base_at;
    if (version == 0 || version == 1) {
        width = buf[13];
        base_at = version == 0 ? 24 : 28;
    } else if (version == 2 || version == 3) {
        width = buf[9];
        base_at = 12;
    } else {
        return 0;
    }
    if (width != 2 && width != 4 && width != 8)
        return 0;
    size_t eof_at = (size_t)base_at + 2 * (size_t)width;
    if (eof_at + (size_t)width > n)
        return 0;
    if (get_le(buf + base_at, width) == UNDEFINED_ADDRESS)
        return UNDEFINED_ADDRESS;
    return get_le(buf + eof_at, width);
}

mt_status mt_h5_check_file(const char *path, const char *kind, mt_error *err)
{
    const char *k = kind ? kind : "file";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open %s: %s", path, k, strerror(errno));
    struct stat sb;
    mt_status st = MT_OK;
    if (fstat(fd, &sb) != 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: cannot open %s: %s", path, k, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = mt_fail(err, MT_ERR_INPUT, "%s: is a directory, not an HDF5 %s", path, k);
    else if (!S_ISREG(sb.st_mode))
        st = mt_fail(err, MT_ERR_INPUT, "%s: not a regular file (an HDF5 %s must be one)", path, k);
    else if (sb.st_size == 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: is empty (0 bytes), not an HDF5 %s", path, k);
    if (st) {
        close(fd);
        return st;
    }
    unsigned char buf[64];
    int64_t at = 0;
    size_t n = 0;
    for (; at < sb.st_size && at <= MAX_SUPERBLOCK_AT; at = at ? 2 * at : 512) {
        n = read_at(fd, at, buf, sizeof buf);
        if (n >= SIGNATURE_BYTES && !memcmp(buf, signature, SIGNATURE_BYTES))
            break;
        n = 0;
    }
    close(fd);
    if (n == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: not an HDF5 %s (no HDF5 signature in its %lld bytes)", path, k,
                       (long long)sb.st_size);
    uint64_t eof = superblock_eof(buf, n);
    if (eof == UNDEFINED_ADDRESS)
        return mt_fail(err, MT_ERR_INPUT, "%s: damaged HDF5 %s: its superblock has no valid end-of-file address",
                       path, k);
    if (eof > (uint64_t)sb.st_size)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated HDF5 %s: %lld bytes, but its superblock records %llu", path,
                       k, (long long)sb.st_size, (unsigned long long)eof);
    return MT_OK;
}

/* Little-endian unsigned of width bytes at p, all bits set included (UINT64_MAX). */
static uint64_t get_le_raw(const unsigned char *p, int width)
{
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Size of object idx of the global heap collection at file offset at, found the way libhdf5 1.10 finds it
 * (H5HG): every object from the first to the end of the collection is walked, the free space (index 0)
 * included, and the last object with the index wins. 0 and *size when the object is there and its data
 * lies inside the collection; -1 when the collection or the object is missing or damaged, including a
 * free-space object too short to step over (on which libhdf5 would loop) and index 0 (the free space
 * itself). L: HDF5's size of lengths. Collection (file format specification, section III.E): "GCOL",
 * version 1, 3 reserved bytes, its size (L bytes, header included); then each object: index (2 bytes),
 * reference count (2), reserved (4), size (L), data padded to a multiple of 8. */
static int heap_object_size(int fd, uint64_t at, uint64_t file_size, int L, uint32_t idx, uint64_t *size)
{
    const uint64_t head = 8 + (uint64_t)L, obj_head = 8 + (uint64_t)L;
    unsigned char h[16];
    if (idx == 0 || at >= file_size || file_size - at < head || read_at(fd, (int64_t)at, h, (size_t)head) != head ||
        memcmp(h, "GCOL", 4) != 0 || h[4] != 1)
        return -1;
    uint64_t coll = get_le_raw(h + 8, L);
    if (coll < head || coll > file_size - at)
        return -1;
    unsigned char *c = malloc((size_t)coll);
    if (!c || read_at(fd, (int64_t)at, c, (size_t)coll) != coll) {
        free(c);
        return -1;
    }
    int found = 0;
    uint64_t begin = 0, osize = 0;
    for (uint64_t p = head; coll - p >= obj_head;) {
        uint32_t i = (uint32_t)c[p] | (uint32_t)c[p + 1] << 8;
        uint64_t s = get_le_raw(c + p + 8, L);
        if (i == idx)
            found = 1, begin = p, osize = s;
        /* an object's header and data, padded to 8 bytes; the free space's size counts its header */
        uint64_t need = i > 0 ? (s > coll ? coll : obj_head + ((s + 7) & ~(uint64_t)7)) : s;
        if (need < obj_head) {
            found = 0;
            break;
        }
        if (need >= coll - p)
            break;
        p += need;
    }
    free(c);
    if (!found || osize > coll - begin - obj_head)
        return -1;
    *size = osize;
    return 0;
}

mt_status mt_h5_check_vlen_string(hid_t d, const char *path, const char *name, size_t max_bytes, mt_error *err)
{
    hid_t type = H5Dget_type(d), space = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hid_t file = H5Iget_file_id(d);
    hid_t fcpl = file >= 0 ? H5Fget_create_plist(file) : -1;
    hid_t base_type = type >= 0 && H5Tis_variable_str(type) > 0 ? H5Tget_super(type) : -1;
    /* the conversion buffer is the length times the base type's size: 1 for the strings mpitrain writes */
    int is_string = base_type >= 0 && H5Tget_size(base_type) == 1;
    int single = space >= 0 && H5Sget_simple_extent_npoints(space) == 1;
    int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0;
    hsize_t stored = contiguous ? H5Dget_storage_size(d) : 0;
    haddr_t at = contiguous ? H5Dget_offset(d) : HADDR_UNDEF;
    size_t O = 0, L = 0;
    hsize_t base = 0;  /* the user block: addresses in the file count from its end */
    int sizes = fcpl >= 0 && H5Pget_sizes(fcpl, &O, &L) >= 0 && H5Pget_userblock(fcpl, &base) >= 0 &&
                (O == 2 || O == 4 || O == 8) && (L == 2 || L == 4 || L == 8);
    hid_t ids[] = {base_type, type, space, dcpl, fcpl};
    for (size_t k = 0; k < sizeof ids / sizeof *ids; k++)
        if (ids[k] >= 0)
            H5Idec_ref(ids[k]);
    if (file >= 0)
        H5Fclose(file);
    if (!is_string || !single)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s: not a single variable-length string", path, name);
    const size_t desc_size = 4 + O + 4;  /* length, heap collection address, object index */
    if (!sizes || !contiguous || stored < desc_size || at == HADDR_UNDEF)
        return mt_fail(err, MT_ERR_INPUT, "%s: /%s: not in contiguous storage in the file (damaged?)", path, name);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    unsigned char desc[16];
    int have = fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)at <= (uint64_t)INT64_MAX &&
               read_at(fd, (int64_t)at, desc, desc_size) == desc_size;
    mt_status st = MT_OK;
    if (!have) {
        st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: damaged: its data lies outside the file", path, name);
    } else {
        uint64_t len = get_le_raw(desc, 4), addr = get_le_raw(desc + 4, (int)O), obj = 0;
        uint32_t idx = (uint32_t)get_le_raw(desc + 4 + O, 4);
        if (len > max_bytes)
            st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: damaged: its text is recorded as %llu bytes long (at most %zu)",
                         path, name, (unsigned long long)len, max_bytes);
        else if (len > 0 && (addr == 0 || addr > UINT64_MAX - base ||
                             heap_object_size(fd, base + addr, (uint64_t)sb.st_size, (int)L, idx, &obj) != 0))
            st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: damaged: its text is not in the file's global heap", path,
                         name);
        else if (len > 0 && obj != len)
            st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: damaged: its text is recorded as %llu bytes long, but its heap "
                         "object holds %llu", path, name, (unsigned long long)len, (unsigned long long)obj);
    }
    if (fd >= 0)
        close(fd);
    return st;
}
