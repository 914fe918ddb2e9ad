/* Pre-flight check of an HDF5 file: regular, readable, with a superblock signature at 0, 512, 1024, ...
 * (HDF5 looks there too, for files with a user block) whose end-of-file address fits the file's size.
 * Superblock layouts (HDF5 file format specification, section II.A):
 *   version 0: signature(8) versions(5) sizeof_offsets@13 sizeof_lengths@14 ... base@24, free-space,
 *              end-of-file@24+2*O
 *   version 1: as 0 with 4 more bytes before base: base@28, end-of-file@28+2*O
 *   version 2/3: signature(8) version@8 sizeof_offsets@9 sizeof_lengths@10 flags@11 base@12,
 *              extension@12+O, end-of-file@12+2*O
 * Addresses are little-endian, O bytes wide (2, 4 or 8). The end-of-file address counts from the start
 * of the file, user block included (a file with a 512-byte user block records its whole size), which is
 * what HDF5 itself compares with the file's size when it opens it. */
#include "io/h5_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
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
