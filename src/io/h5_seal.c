/* Integrity seals of the HDF5 files mpitrain writes in one piece (see h5_seal.h). */
#include "io/h5_seal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"

#define SEAL_MAGIC "mpitrain seal 1\n"
#define READ_CHUNK ((size_t)1 << 20)

/* CRC-32 of n bytes, fed to zlib in pieces that fit its uInt. */
static unsigned long crc_of(unsigned long crc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        uInt piece = n > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)n;
        crc = crc32(crc, p, piece);
        p += piece;
        n -= piece;
    }
    return crc;
}

void mt_h5_seal_image(unsigned char *image, size_t size)
{
    const size_t body = size - MT_H5_SEAL_BYTES;
    const unsigned long crc = crc_of(crc32(0L, Z_NULL, 0), image + MT_H5_SEAL_BYTES, body);
    char text[MT_H5_SEAL_BYTES];
    memset(text, '\n', sizeof text);
    int n = snprintf(text, sizeof text, SEAL_MAGIC "crc32 %08lx\nbytes %zu\n", crc, body);
    text[n] = '\n'; /* snprintf's terminator: the block is newlines to its end */
    memcpy(image, text, sizeof text);
}

mt_status mt_h5_seal_file(const char *path, mt_error *err)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "r+b");
    if (!f)
        return mt_fail(err, MT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *image = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    mt_status st = MT_OK;
    if (size <= MT_H5_SEAL_BYTES + 8 || !(image = malloc((size_t)size)) || fseek(f, 0, SEEK_SET) != 0 ||
        fread(image, 1, (size_t)size, f) != (size_t)size)
        st = mt_fail(err, MT_ERR_IO, "%s: cannot read it whole", path);
    else if (memcmp(image + MT_H5_SEAL_BYTES, signature, sizeof signature) != 0)
        st = mt_fail(err, MT_ERR_INPUT, "%s: has no %d-byte user block for a seal", path, MT_H5_SEAL_BYTES);
    if (!st) {
        mt_h5_seal_image(image, (size_t)size);
        if (fseek(f, 0, SEEK_SET) != 0 || fwrite(image, 1, MT_H5_SEAL_BYTES, f) != MT_H5_SEAL_BYTES)
            st = mt_fail(err, MT_ERR_IO, "%s: cannot write its seal: %s", path, strerror(errno));
    }
    if (fclose(f) != 0 && !st)
        st = mt_fail(err, MT_ERR_IO, "%s: cannot write its seal: %s", path, strerror(errno));
    free(image);
    return st;
}

/* Reads the seal block of fd; 1 when it starts with the magic line. */
static int read_block(int fd, char block[MT_H5_SEAL_BYTES + 1])
{
    ssize_t got = pread(fd, block, MT_H5_SEAL_BYTES, 0);
    block[got > 0 ? got : 0] = '\0';
    return got == MT_H5_SEAL_BYTES && !strncmp(block, SEAL_MAGIC, strlen(SEAL_MAGIC));
}

mt_status mt_h5_seal_verify(const char *path, const char *kind, mt_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open %s: %s", path, kind, strerror(errno));
    char block[MT_H5_SEAL_BYTES + 1];
    struct stat sb;
    unsigned long want_crc = 0;
    unsigned long long want_bytes = 0;
    mt_status st = MT_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = mt_fail(err, MT_ERR_INPUT, "%s: not a regular file", path);
    else if (!read_block(fd, block))
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s: no integrity seal in its first %d bytes (a %s written by an mpitrain "
                     "before seals, or not by mpitrain, or damaged at its start)",
                     path, MT_H5_SEAL_BYTES, kind);
    else if (sscanf(block + strlen(SEAL_MAGIC), "crc32 %8lx\nbytes %llu\n", &want_crc, &want_bytes) != 2)
        st = mt_fail(err, MT_ERR_INPUT, "%s: damaged %s: its integrity seal cannot be read", path, kind);
    else if ((unsigned long long)sb.st_size - MT_H5_SEAL_BYTES != want_bytes)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s %s: %lld bytes, its seal records %llu", path,
                     (unsigned long long)sb.st_size - MT_H5_SEAL_BYTES < want_bytes ? "truncated" : "altered", kind,
                     (long long)sb.st_size, want_bytes + MT_H5_SEAL_BYTES);
    unsigned char *buf = st ? NULL : malloc(READ_CHUNK);
    if (!st && !buf)
        st = mt_fail(err, MT_ERR_NOMEM, "out of memory to verify %s", path);
    unsigned long crc = crc32(0L, Z_NULL, 0);
    for (off_t at = MT_H5_SEAL_BYTES; !st && at < sb.st_size;) {
        ssize_t got = pread(fd, buf, READ_CHUNK, at);
        if (got <= 0)
            st = mt_fail(err, MT_ERR_INPUT, "%s: cannot read: %s", path, got < 0 ? strerror(errno) : "unexpected end");
        else
            crc = crc_of(crc, buf, (size_t)got), at += got;
    }
    if (!st && crc != want_crc)
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s: damaged %s: checksum mismatch: its contents do not match the CRC-32 its seal records "
                     "(%08lx recorded, %08lx computed)",
                     path, kind, want_crc, crc);
    free(buf);
    close(fd);
    return st;
}
