/* A cheap look at a file before HDF5 parses it (private to src/io): that it is a readable regular file
 * with an HDF5 superblock, and that it is as long as the superblock says. Catches the common damage
 * (truncated copies, partial downloads, a text file or directory given by mistake) with a message that
 * says what is wrong, before any of HDF5's metadata parsing runs on it. Also the length of a stored
 * variable-length string, before HDF5 allocates that much to read it. */
#ifndef MT_IO_H5_CHECK_H
#define MT_IO_H5_CHECK_H

#include <stddef.h>

#include <hdf5.h>
#include <mpitrain/mpitrain.h>

/* MT_OK when path can be handed to H5Fopen; else MT_ERR_INPUT "<path>: <what> is wrong", what being
 * e.g. "cannot open: No such file or directory", "is a directory", "is empty", "not an HDF5 file",
 * "truncated: 5360 bytes, but its HDF5 superblock records 10720". kind names the file in messages
 * ("dataset", "checkpoint") or is NULL. */
mt_status mt_h5_check_file(const char *path, const char *kind, mt_error *err);

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
