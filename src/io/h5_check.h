/* A cheap look at a file before HDF5 parses it (private to src/io): that it is a readable regular file
 * with an HDF5 superblock, and that it is as long as the superblock says. Catches the common damage
 * (truncated copies, partial downloads, a text file or directory given by mistake) with a message that
 * says what is wrong, before any of HDF5's metadata parsing runs on it. Also what H5Dread trusts of a
 * numeric dataset (its type, chunk size and stored size) and the length of a stored variable-length
 * string, before HDF5 converts or allocates by them. */
#ifndef MT_IO_H5_CHECK_H
#define MT_IO_H5_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>
#include <mpitrain/mpitrain.h>

/* MT_OK when path can be handed to H5Fopen; else MT_ERR_INPUT "<path>: <what> is wrong", what being
 * e.g. "cannot open: No such file or directory", "is a directory", "is empty", "not an HDF5 file",
 * "truncated: 5360 bytes, but its HDF5 superblock records 10720". kind names the file in messages
 * ("dataset", "checkpoint") or is NULL. */
mt_status mt_h5_check_file(const char *path, const char *kind, mt_error *err);

/* Whether type (a dataset's file type) is a number type as writers produce it, or not a number at all (the
 * caller's own check then says what it needs): integers of 1, 2, 4 or 8 bytes with every bit significant,
 * IEEE single or double floats. libhdf5 1.10 converts a damaged type (a size of millions of bytes with 32
 * bits of precision, say) by reading past the end of its buffers. Else MT_ERR_INPUT "<path>: <name>:
 * damaged or unsupported number type (3 bytes, 24 bits of precision)"; name is the dataset's path. */
mt_status mt_h5_check_number_type(hid_t type, const char *path, const char *name, mt_error *err);

/* Whether dataset d's storage can be read as its shape says: a chunk, decompressed, of at most
 * max_chunk_bytes (reading one element reads, and allocates, its whole chunk, and a hostile file can
 * declare chunks far larger than its dimensions), unfiltered chunks stored whole (libhdf5 1.10 copies a
 * whole chunk out of a buffer of the size its chunk index records), and contiguous storage once
 * written, or compact storage, of exactly the bytes of the shape (libhdf5 1.10 reads a damaged one's
 * shape past what is stored). Else MT_ERR_INPUT "<path>: <name>: chunks of more than 256 MiB ...", "<path>: <name>:
 * damaged: its unfiltered chunks are not all 128 bytes", "<path>: <name>: damaged: 40 bytes stored, its
 * shape needs 80". */
/* Whether the dataset at name under loc (of file path; anything else there passes) can be opened and
 * read: its object header, read from the file, decodes, and a chunked layout agrees with itself and with
 * the dataset (chunk dimensions positive, one per dimension of the shape plus the element size, which
 * is the datatype's). libhdf5 1.10 trusts each: it divides by the chunk dimensions when it opens the
 * dataset (SIGFPE on a 0) and sizes its chunk buffers from them when it reads (a heap overrun when they
 * disagree with the type). Call before H5Dopen or H5Oopen of a dataset in a file from outside. Else
 * MT_ERR_INPUT "<path>: <name>: damaged: its layout records a chunk dimension of 0 (or none)", "...: its
 * chunks have 3 dimensions, its shape 2", "...: its chunks hold 8-byte elements, its type is 4 bytes",
 * "...: its object header cannot be read". */
mt_status mt_h5_check_layout(hid_t loc, const char *name, const char *path, mt_error *err);

/* mt_h5_check_layout for every dataset reachable from the root of file (of path): for a file whose
 * datasets are all opened (a checkpoint). The first failure, or "<path>: damaged: its groups cannot be
 * walked". */
mt_status mt_h5_check_layouts(hid_t file, const char *path, mt_error *err);

#define MT_H5_MAX_CHUNK_BYTES ((uint64_t)256 << 20) /* the bound the dataset reader uses */
mt_status mt_h5_check_storage(hid_t d, const char *path, const char *name, uint64_t max_chunk_bytes, mt_error *err);

/* Whether H5Dread may be given dataset d of file path (opened from it), a single variable-length string as
 * mpitrain writes its texts (a scalar or [1] dataset in contiguous storage): MT_OK when the length stored
 * for the string is at most max_bytes and the global heap object holding the text has that length.
 * libhdf5 1.10 trusts both: it allocates and clears a buffer of the recorded length (up to 4 GiB for a
 * damaged one), then copies the whole heap object into it (past its end when the object is longer). Else
 * MT_ERR_INPUT "<path>: /<name>: <what> is wrong", e.g. "not a single variable-length string", "not in
 * contiguous storage", "damaged: its text is recorded as 1701982216 bytes long (at most 67108864)",
 * "damaged: its text is recorded as 19 bytes long, but its heap object holds 20", "damaged: its text is
 * not in the file's global heap". */
mt_status mt_h5_check_vlen_string(hid_t d, const char *path, const char *name, size_t max_bytes, mt_error *err);

#endif
