/* Replacing a file atomically: the new content goes to a temporary file beside the target
 * ("<path>.tmp.<pid>"), is synced to disk and renamed over the target, then the directory is synced; a
 * reader sees the old file or the new one, never a part of one. On any failure the temporary is removed
 * and the target is left as it was. Errors are MT_ERR_IO messages naming the target and the reason. */
#ifndef MT_CORE_ATOMIC_FILE_H
#define MT_CORE_ATOMIC_FILE_H

#include <stdio.h>

#include <mpitrain/mpitrain.h>

#define MT_ATOMIC_PATH_MAX 4096

/* A replacement being written. */
typedef struct mt_atomic_file {
    char path[MT_ATOMIC_PATH_MAX];     /* the target */
    char tmp[MT_ATOMIC_PATH_MAX + 32]; /* the temporary beside it, "<path>.tmp.<pid>" */
    FILE *f;                           /* the temporary open for writing (mt_atomic_open), or NULL */
    int exists;                        /* the temporary is there (not yet renamed or removed) */
} mt_atomic_file;

/* Creates (or truncates) the temporary of path and opens it as a stream in a->f for the caller's writes. */
mt_status mt_atomic_open(mt_atomic_file *a, const char *path, mt_error *err);

/* The same without a stream, for writers that open files by name (libhdf5): a->tmp names an empty file
 * the caller writes and closes before mt_atomic_commit. */
mt_status mt_atomic_open_path(mt_atomic_file *a, const char *path, mt_error *err);

/* Flushes and closes the stream (when there is one), syncs the temporary to disk, renames it over the
 * target and syncs the directory. A failure removes the temporary; either way a is finished. */
mt_status mt_atomic_commit(mt_atomic_file *a, mt_error *err);

/* Closes and removes the temporary, after a failure of the caller's own; nothing once committed. */
void mt_atomic_abort(mt_atomic_file *a);

/* Makes path another name (a hard link) of the existing file `existing`, replacing atomically whatever
 * path named before. */
mt_status mt_atomic_link(const char *existing, const char *path, mt_error *err);

#endif
