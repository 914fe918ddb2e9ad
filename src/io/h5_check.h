/* A cheap look at a file before HDF5 parses it (private to src/io): that it is a readable regular file
 * with an HDF5 superblock, and that it is as long as the superblock says. Catches the common damage
 * (truncated copies, partial downloads, a text file or directory given by mistake) with a message that
 * says what is wrong, before any of HDF5's metadata parsing runs on it. */
#ifndef MT_IO_H5_CHECK_H
#define MT_IO_H5_CHECK_H

#include <mpitrain/mpitrain.h>

/* MT_OK when path can be handed to H5Fopen; else MT_ERR_INPUT "<path>: <what> is wrong", what being
 * e.g. "cannot open: No such file or directory", "is a directory", "is empty", "not an HDF5 file",
 * "truncated: 5360 bytes, but its HDF5 superblock records 10720". kind names the file in messages
 * ("dataset", "checkpoint") or is NULL. */
mt_status mt_h5_check_file(const char *path, const char *kind, mt_error *err);

#endif
