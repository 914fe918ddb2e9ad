/* Atomic replacement of a file: a temporary beside the target, synced, renamed over it, the directory
 * synced (see atomic_file.h). */
#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* Names the target and its temporary; MT_ERR_IO when the path is too long for them. */
static mt_status name(mt_atomic_file *a, const char *path, const char *kind, mt_error *err)
{
    memset(a, 0, sizeof *a);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return mt_fail(err, MT_ERR_IO, "%.200s...: path too long", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.%s.%ld", path, kind, (long)getpid());
    return MT_OK;
}

/* Creates the temporary (or truncates one a killed process of the same id left). */
static mt_status create(mt_atomic_file *a, mt_error *err)
{
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return mt_fail(err, MT_ERR_IO, "%s: cannot create %s: %s", a->path, a->tmp, strerror(errno));
    a->exists = 1;
    if (close(fd) != 0) {
        int e = errno;
        mt_atomic_abort(a);
        return mt_fail(err, MT_ERR_IO, "%s: cannot create %s: %s", a->path, a->tmp, strerror(e));
    }
    return MT_OK;
}

mt_status mt_atomic_open_path(mt_atomic_file *a, const char *path, mt_error *err)
{
    mt_status st = name(a, path, "tmp", err);
    return st ? st : create(a, err);
}

mt_status mt_atomic_open(mt_atomic_file *a, const char *path, mt_error *err)
{
    mt_status st = mt_atomic_open_path(a, path, err);
    if (st)
        return st;
    a->f = fopen(a->tmp, "w");
    if (!a->f) {
        int e = errno;
        mt_atomic_abort(a);
        return mt_fail(err, MT_ERR_IO, "%s: cannot create %s: %s", path, a->tmp, strerror(e));
    }
    return MT_OK;
}

/* fsync of the file or directory at path; 0, or an errno. */
static int sync_path(const char *path, int directory)
{
    int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return e;
}

/* Syncs the directory holding path, so that the rename itself survives a crash. Best effort: some file
 * systems refuse fsync on directories, and the data is already safe. */
static void sync_directory(const char *path)
{
    char dir[MT_ATOMIC_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0'; /* the root */
    else
        *slash = '\0';
    sync_path(dir, 1);
}

mt_status mt_atomic_commit(mt_atomic_file *a, mt_error *err)
{
    int e = 0;
    if (a->f) {
        errno = 0;
        if (ferror(a->f) || fflush(a->f) != 0)
            e = errno ? errno : EIO;
        if (fclose(a->f) != 0 && !e)
            e = errno ? errno : EIO;
        a->f = NULL;
    }
    if (!e)
        e = sync_path(a->tmp, 0);
    if (e) {
        mt_atomic_abort(a);
        return mt_fail(err, MT_ERR_IO, "%s: cannot write: %s", a->path, strerror(e));
    }
    if (rename(a->tmp, a->path) != 0) {
        e = errno;
        mt_atomic_abort(a);
        return mt_fail(err, MT_ERR_IO, "%s: cannot rename %s to it: %s", a->path, a->tmp, strerror(e));
    }
    a->exists = 0;
    sync_directory(a->path);
    return MT_OK;
}

void mt_atomic_abort(mt_atomic_file *a)
{
    if (a->f)
        fclose(a->f);
    a->f = NULL;
    if (a->exists)
        unlink(a->tmp);
    a->exists = 0;
}

mt_status mt_atomic_link(const char *existing, const char *path, mt_error *err)
{
    mt_atomic_file a;
    mt_status st = name(&a, path, "link", err);
    if (st)
        return st;
    unlink(a.tmp);
    if (link(existing, a.tmp) != 0)
        return mt_fail(err, MT_ERR_IO, "%s: cannot link %s to it: %s", path, existing, strerror(errno));
    a.exists = 1;
    if (rename(a.tmp, a.path) != 0) {
        int e = errno;
        mt_atomic_abort(&a);
        return mt_fail(err, MT_ERR_IO, "%s: cannot rename %s to it: %s", path, a.tmp, strerror(e));
    }
    sync_directory(a.path);
    return MT_OK;
}
