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
 * A numeric dataset: a plain integer or IEEE float type, chunks of bounded size, and contiguous storage of
 * exactly the shape's bytes (libhdf5 1.10 trusts each of these and reads past its buffers otherwise).
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
#define MAX_SUPERBLOCK_AT ((int64_t)1 << 30) /* user blocks larger than this are not searched */
#define UNDEFINED_ADDRESS UINT64_MAX
#define SUPERBLOCK_PREFIX 64 /* superblock bytes read: all fields up to end-of-file */

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

/* Reads the first SUPERBLOCK_PREFIX bytes of the superblock into buf, found where HDF5 looks (0, 512,
 * 1024, ...); its offset (the size of the user block) into *at when at is not NULL. The bytes read, or
 * 0 when there is no signature. */
static size_t find_superblock(int fd, int64_t file_size, unsigned char *buf, int64_t *at)
{
    for (int64_t pos = 0; pos < file_size && pos <= MAX_SUPERBLOCK_AT; pos = pos ? 2 * pos : 512) {
        size_t n = read_at(fd, pos, buf, SUPERBLOCK_PREFIX);
        if (n >= SIGNATURE_BYTES && !memcmp(buf, signature, SIGNATURE_BYTES)) {
            if (at)
                *at = pos;
            return n;
        }
    }
    return 0;
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
    unsigned char buf[SUPERBLOCK_PREFIX];
    size_t n = find_superblock(fd, sb.st_size, buf, NULL);
    close(fd);
    if (n == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: not an HDF5 %s (no HDF5 signature in its %lld bytes)", path, k,
                       (long long)sb.st_size);
    uint64_t eof = superblock_eof(buf, n);
    if (eof == UNDEFINED_ADDRESS)
        return mt_fail(err, MT_ERR_INPUT, "%s: damaged HDF5 %s: its superblock has no valid end-of-file address", path,
                       k);
    if (eof > (uint64_t)sb.st_size)
        return mt_fail(err, MT_ERR_INPUT, "%s: truncated HDF5 %s: %lld bytes, but its superblock records %llu", path, k,
                       (long long)sb.st_size, (unsigned long long)eof);
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

mt_status mt_h5_check_number_type(hid_t type, const char *path, const char *name, mt_error *err)
{
    size_t size = H5Tget_size(type);
    int plain;
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        plain = (size == 1 || size == 2 || size == 4 || size == 8) && H5Tget_precision(type) == 8 * size &&
                H5Tget_offset(type) == 0;
        break;
    case H5T_FLOAT:
        plain = H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F32BE) > 0 ||
                H5Tequal(type, H5T_IEEE_F64LE) > 0 || H5Tequal(type, H5T_IEEE_F64BE) > 0;
        break;
    default:
        plain = 1; /* not a number */
    }
    if (!plain)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: damaged or unsupported number type (%zu bytes, %zu bits of "
                       "precision)",
                       path, name, size, H5Tget_precision(type));
    return MT_OK;
}

mt_status mt_h5_check_storage(hid_t d, const char *path, const char *name, uint64_t max_chunk_bytes, mt_error *err)
{
    hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d), space = H5Dget_space(d);
    uint64_t elem = type >= 0 ? H5Tget_size(type) : 0;
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    hsize_t chunk[H5S_MAX_RANK];
    int rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : 0;
    int contiguous = layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0;
    int nfilters = layout == H5D_CHUNKED ? H5Pget_nfilters(dcpl) : 0;
    /* unfiltered chunked storage: its bytes and its chunks (libhdf5 1.10 wants the dataspace here) */
    hsize_t nchunks = 0, stored_chunks = layout == H5D_CHUNKED && nfilters == 0 ? H5Dget_storage_size(d) : 0;
    int counted = stored_chunks == 0 || (space >= 0 && H5Dget_num_chunks(d, space, &nchunks) >= 0);
    hid_t ids[] = {dcpl, type, space};
    for (size_t k = 0; k < sizeof ids / sizeof *ids; k++)
        if (ids[k] >= 0)
            H5Idec_ref(ids[k]);
    if (layout == H5D_LAYOUT_ERROR || elem == 0 || points < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: cannot read its type, shape or storage layout", path, name);
    uint64_t bytes = elem;
    for (int k = 0; k < rank && bytes <= max_chunk_bytes; k++)
        bytes = chunk[k] > max_chunk_bytes ? max_chunk_bytes + 1 : bytes * chunk[k];
    if (layout == H5D_CHUNKED && (rank < 1 || bytes > max_chunk_bytes))
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: chunks of more than %llu MiB (or unreadable chunk shape): "
                       "rewrite it with smaller chunks",
                       path, name, (unsigned long long)(max_chunk_bytes >> 20));
    /* Unfiltered chunks are stored whole: libhdf5 1.10 reads one into a buffer of the size its index
     * records, then copies a whole chunk's elements out of it. */
    if (stored_chunks > 0 && (!counted || nchunks > UINT64_MAX / bytes || stored_chunks != nchunks * bytes))
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: its unfiltered chunks are not all %llu bytes", path, name,
                       (unsigned long long)bytes);
    /* compact data lives in the object header and is always there: libhdf5 1.10 copies the shape's bytes
     * out of it whatever its recorded size (from NULL when that is 0) */
    int compact = layout == H5D_COMPACT;
    hsize_t stored = contiguous || compact ? H5Dget_storage_size(d) : 0;
    if (stored == 0 && !compact)
        return MT_OK; /* chunked, or contiguous and not written yet (read as the fill value) */
    if ((uint64_t)points > UINT64_MAX / elem)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: its shape overflows 64 bits", path, name);
    uint64_t need = (uint64_t)points * elem;
    if (stored != need)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: %llu bytes stored, its shape needs %llu", path, name,
                       (unsigned long long)stored, (unsigned long long)need);
    return MT_OK;
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
    hsize_t base = 0; /* the user block: addresses in the file count from its end */
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
    const size_t desc_size = 4 + O + 4; /* length, heap collection address, object index */
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
            st = mt_fail(err, MT_ERR_INPUT, "%s: /%s: damaged: its text is not in the file's global heap", path, name);
        else if (len > 0 && obj != len)
            st = mt_fail(err, MT_ERR_INPUT,
                         "%s: /%s: damaged: its text is recorded as %llu bytes long, but its heap "
                         "object holds %llu",
                         path, name, (unsigned long long)len, (unsigned long long)obj);
    }
    if (fd >= 0)
        close(fd);
    return st;
}

/* ---- the layout of a dataset, from its object header ---------------------------------------------- */

#define MAX_HEADER_BLOCKS 64              /* object header blocks (first + continuations) walked */
#define MAX_HEADER_BLOCK_BYTES (1u << 20) /* bytes of one block read */
#define MSG_DATASPACE 0x0001
#define MSG_DATATYPE 0x0003
#define MSG_LAYOUT 0x0008
#define MSG_CONTINUATION 0x0010
#define MSG_FLAG_SHARED 0x02 /* the message holds a reference to a shared one, not itself */

typedef struct header_walk {
    int fd;
    uint64_t base, file_size; /* user block size (addresses count from its end), file size */
    int O, L;                 /* sizes of offsets and lengths */
    int version;              /* object header version, 1 or 2 */
    int v2_order;             /* version 2: messages carry a 2-byte creation order */
    uint64_t todo_at[MAX_HEADER_BLOCKS], todo_len[MAX_HEADER_BLOCKS];
    int todo, done;
    /* what the messages say */
    int space_rank;      /* dataspace rank, -1 when not seen */
    uint64_t type_size;  /* datatype size, 0 when not seen (or shared) */
    int layout_seen;     /* a layout message was met */
    int chunk_ndims;     /* chunked layout: dimensions (the last one the element size), else -1 */
    int chunk_zero;      /* chunked layout: one of them is 0 */
    uint64_t chunk_last; /* chunked layout: the last dimension */
} header_walk;

/* Queues a continuation block (offset and length as its message records); -1 when there are too many or
 * it lies outside the file. */
static int queue_block(header_walk *w, uint64_t at, uint64_t len)
{
    if (w->todo >= MAX_HEADER_BLOCKS || at == 0 || at > w->file_size - w->base || len > w->file_size - w->base - at ||
        len > MAX_HEADER_BLOCK_BYTES)
        return -1;
    w->todo_at[w->todo] = at;
    w->todo_len[w->todo++] = len;
    return 0;
}

/* Records the chunk shape of a layout message (data[0..size)) in w; 0, or -1 when the message is too
 * short for what it declares or of an unknown version. Layout message (file format specification,
 * section IV.A.2.i): versions 1 and 2: version, dimensionality, class, 5 reserved bytes, an address
 * unless compact, then the dimensions (4 bytes each); version 3: version, class, then for chunked:
 * dimensionality, address, dimensions (4 bytes each); version 4: version, class, then for chunked:
 * flags, dimensionality, the width of each dimension (1 to 8 bytes), the dimensions. Chunked layouts
 * (class 2) list the chunk's dimensions and then the element size: one more than the dataset's rank. */
static int read_chunk_shape(header_walk *w, const unsigned char *data, size_t size)
{
    if (size < 2)
        return -1;
    int version = data[0], ndims, width = 4;
    size_t at;
    if (version == 1 || version == 2) {
        if (size < 8)
            return -1;
        if (data[2] != 2)
            return 0;
        ndims = data[1];
        at = 8 + (size_t)w->O;
    } else if (version == 3 || version == 4) {
        if (data[1] != 2)
            return 0;
        if (size < (version == 3 ? 3u : 5u))
            return -1;
        ndims = data[version == 3 ? 2 : 3];
        width = version == 3 ? 4 : data[4];
        at = version == 3 ? 3 + (size_t)w->O : 5;
        if (width < 1 || width > 8)
            return -1;
    } else {
        return -1;
    }
    if (at > size || (size - at) / (size_t)width < (size_t)ndims)
        return -1;
    w->chunk_ndims = ndims;
    w->chunk_zero = 0;
    for (int k = 0; k < ndims; k++) {
        w->chunk_last = get_le_raw(data + at + (size_t)k * (size_t)width, width);
        w->chunk_zero |= w->chunk_last == 0;
    }
    return 0;
}

/* Walks the messages in block[0..n): queues continuations, records the dataspace rank, the datatype size
 * and the chunk shape (of the first message of each type, the one libhdf5 reads). 0, or -1 when a message cannot be decoded. Dataspace message (IV.A.2.b): version,
 * rank, ...; datatype message (IV.A.2.d): class and version, 3 bytes of class bits, size (4). */
static int walk_messages(header_walk *w, const unsigned char *block, size_t n)
{
    const size_t head = w->version == 1 ? 8 : 4 + (w->v2_order ? 2 : 0);
    size_t at = 0;
    while (n - at >= head) {
        const unsigned char *m = block + at;
        unsigned type = w->version == 1 ? (unsigned)get_le_raw(m, 2) : m[0];
        size_t size = (size_t)get_le_raw(m + (w->version == 1 ? 2 : 1), 2);
        int flags = m[w->version == 1 ? 4 : 3];
        if (size > n - at - head)
            return -1;
        const unsigned char *data = m + head;
        if (type == MSG_CONTINUATION) {
            if (size < (size_t)(w->O + w->L) ||
                queue_block(w, get_le_raw(data, w->O), get_le_raw(data + w->O, w->L)) != 0)
                return -1;
        } else if (type == MSG_LAYOUT && w->chunk_ndims < 0 && !w->layout_seen) {
            w->layout_seen = 1;
            if (read_chunk_shape(w, data, size) != 0)
                return -1;
        } else if (type == MSG_DATASPACE && w->space_rank < 0 && !(flags & MSG_FLAG_SHARED) && size >= 2) {
            w->space_rank = data[1];
        } else if (type == MSG_DATATYPE && w->type_size == 0 && !(flags & MSG_FLAG_SHARED) && size >= 8) {
            w->type_size = get_le_raw(data + 4, 4);
        }
        at += head + size;
        if (w->version == 1)
            at = (at + 7) & ~(size_t)7; /* version 1 messages are aligned to 8 bytes */
        if (at > n)
            break;
    }
    return 0;
}

/* Reads the object header at address addr and walks every message block: 0, or -1 when the header cannot
 * be decoded. Object header (section
 * IV.A.1): version 1: version, reserved, message count (2), reference count (4), header size (4),
 * 4 bytes of padding, then the messages, each type (2), size (2), flags (1), 3 reserved; version 2:
 * "OHDR", version, flags, times (16 bytes, flag 0x20), attribute phase change values (4 bytes, flag
 * 0x10), the size of the first block (1, 2, 4 or 8 bytes: flags & 3), then the messages, each type (1),
 * size (2), flags (1) and a creation order (2 bytes, flag 0x04), then a checksum (4) that the first
 * block's size leaves out; continuation blocks of version 2 start with "OCHK" and end with a checksum. */
static int walk_header(header_walk *w, uint64_t addr)
{
    unsigned char pre[32];
    if (addr >= w->file_size - w->base)
        return -1;
    uint64_t at = w->base + addr;
    size_t got = read_at(w->fd, (int64_t)at, pre, sizeof pre);
    uint64_t first_at, first_len;
    if (got >= 16 && pre[0] == 1) {
        w->version = 1;
        first_at = addr + 16;
        first_len = get_le_raw(pre + 8, 4);
    } else if (got >= 7 && memcmp(pre, "OHDR", 4) == 0 && pre[4] == 2) {
        w->version = 2;
        int flags = pre[5];
        size_t off = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
        int width = 1 << (flags & 3);
        if (got < off + (size_t)width)
            return -1;
        w->v2_order = (flags & 0x04) != 0;
        first_at = addr + off + (uint64_t)width;
        first_len = get_le_raw(pre + off, width);
    } else {
        return -1;
    }
    if (queue_block(w, first_at, first_len) != 0)
        return -1;
    unsigned char *block = NULL;
    int r = 0;
    while (r == 0 && w->done < w->todo) {
        uint64_t bat = w->todo_at[w->done], blen = w->todo_len[w->done];
        int first = w->done++ == 0;
        unsigned char *nb = realloc(block, blen ? (size_t)blen : 1);
        if (!nb) {
            r = -1;
            break;
        }
        block = nb;
        if (read_at(w->fd, (int64_t)(w->base + bat), block, (size_t)blen) != blen) {
            r = -1;
            break;
        }
        size_t skip = 0, n = (size_t)blen;
        if (w->version == 2 && !first) {
            /* a continuation block: "OCHK", messages, a 4-byte checksum (the first block's size leaves its
             * prefix and checksum out) */
            if (n < 8 || memcmp(block, "OCHK", 4) != 0) {
                r = -1;
                break;
            }
            skip = 4;
            n -= 4;
        }
        r = walk_messages(w, block + skip, n - skip);
    }
    free(block);
    return r;
}

mt_status mt_h5_check_layout(hid_t loc, const char *name, const char *path, mt_error *err)
{
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
        return MT_OK; /* not there, or not a dataset: the caller's open says so */
    /* the sizes of offsets and lengths and the user block, from the superblock itself (libhdf5 1.10 can
     * free memory a damaged file's datasets still use when a copy of its creation property list is
     * closed) */
    header_walk w = {.fd = open(path, O_RDONLY | O_CLOEXEC), .space_rank = -1, .chunk_ndims = -1};
    struct stat sb;
    unsigned char sblock[SUPERBLOCK_PREFIX];
    int64_t base = 0;
    size_t n = w.fd >= 0 && fstat(w.fd, &sb) == 0 ? find_superblock(w.fd, sb.st_size, sblock, &base) : 0;
    int version = n >= 16 ? sblock[8] : -1;
    if (version == 0 || version == 1) {
        w.O = sblock[13];
        w.L = sblock[14];
    } else if (version == 2 || version == 3) {
        w.O = sblock[9];
        w.L = sblock[10];
    }
    int r = -1;
    if (n > 0 && (w.O == 2 || w.O == 4 || w.O == 8) && (w.L == 2 || w.L == 4 || w.L == 8) && sb.st_size > base) {
        w.base = (uint64_t)base;
        w.file_size = (uint64_t)sb.st_size;
        r = walk_header(&w, info.addr);
    }
    if (w.fd >= 0)
        close(w.fd);
    if (r < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: its object header cannot be read", path, name);
    if (w.chunk_ndims < 0)
        return MT_OK;
    /* libhdf5 1.10 divides the dataset's dimensions by the chunk's (SIGFPE on a 0), indexes them by the
     * dataset's rank, and sizes its chunk buffers from them while it reads elements of the datatype's
     * size: each must agree, or reading overruns those buffers */
    if (w.chunk_ndims < 2 || w.chunk_zero)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: its layout records a chunk dimension of 0 (or none)", path,
                       name);
    if (w.space_rank >= 0 && w.chunk_ndims != w.space_rank + 1)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s: damaged: its chunks have %d dimensions, its shape %d", path, name,
                       w.chunk_ndims - 1, w.space_rank);
    if (w.type_size > 0 && w.chunk_last != w.type_size)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: %s: damaged: its chunks hold %llu-byte elements, its type is %llu "
                       "bytes",
                       path, name, (unsigned long long)w.chunk_last, (unsigned long long)w.type_size);
    return MT_OK;
}

typedef struct layout_visit {
    const char *path;
    mt_error *err;
} layout_visit;

static herr_t visit_layout(hid_t obj, const char *name, const H5O_info_t *info, void *user)
{
    layout_visit *v = user;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    return mt_h5_check_layout(obj, name, v->path, v->err) == MT_OK ? 0 : -1;
}

mt_status mt_h5_check_layouts(hid_t file, const char *path, mt_error *err)
{
    layout_visit v = {path, err};
    err->code = MT_OK;
    herr_t rc = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit_layout, &v, H5O_INFO_BASIC);
    if (rc < 0 && err->code == MT_OK)
        return mt_fail(err, MT_ERR_INPUT, "%s: damaged: its groups cannot be walked", path);
    return rc < 0 ? err->code : MT_OK;
}
