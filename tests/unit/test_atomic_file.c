/* Atomic file replacement (core/atomic_file.h): a stream written and committed replaces the target and
 * leaves no temporary; an aborted one leaves the old target and no temporary; a temporary named by path
 * and written by another writer is committed alike; a commit into a missing directory or over a
 * directory fails with MT_ERR_IO naming the target; a hard link replaces the target atomically. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "testlib.h"

/* The whole content of path (up to size - 1 bytes) in buf; "" when it cannot be read. */
static const char *slurp(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Files in the test directory whose name holds ".tmp." or ".link.". */
static int temporaries(void)
{
    DIR *d = opendir(mt_test_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL || strstr(e->d_name, ".link.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_stream(void)
{
    const char *path = mt_test_path("a.txt");
    char buf[256];
    mt_error err = {0};
    mt_atomic_file a;
    write_text(path, "old\n");
    if (CHECK(mt_atomic_open(&a, path, &err) == MT_OK && a.f, "open: %s", err.msg)) {
        fputs("new content\n", a.f);
        CHECK(!strcmp(slurp(path, buf, sizeof buf), "old\n"), "before the commit the target is the old file: '%s'",
              buf);
        CHECK(temporaries() == 1, "one temporary while writing, %d", temporaries());
        CHECK(mt_atomic_commit(&a, &err) == MT_OK, "commit: %s", err.msg);
    }
    CHECK(!strcmp(slurp(path, buf, sizeof buf), "new content\n"), "after the commit: '%s'", buf);
    CHECK(temporaries() == 0, "no temporary after the commit, %d", temporaries());

    if (CHECK(mt_atomic_open(&a, path, &err) == MT_OK, "open: %s", err.msg)) {
        fputs("abandoned\n", a.f);
        mt_atomic_abort(&a);
        mt_atomic_abort(&a); /* twice is harmless */
    }
    CHECK(!strcmp(slurp(path, buf, sizeof buf), "new content\n"), "after an abort the target is unchanged: '%s'", buf);
    CHECK(temporaries() == 0, "no temporary after an abort, %d", temporaries());
}

static void test_by_path(void)
{
    const char *path = mt_test_path("b.bin");
    char buf[256];
    mt_error err = {0};
    mt_atomic_file a;
    if (CHECK(mt_atomic_open_path(&a, path, &err) == MT_OK && !a.f, "open_path: %s", err.msg)) {
        write_text(a.tmp, "written by name\n");
        CHECK(mt_atomic_commit(&a, &err) == MT_OK, "commit: %s", err.msg);
    }
    CHECK(!strcmp(slurp(path, buf, sizeof buf), "written by name\n"), "by path: '%s'", buf);
    CHECK(temporaries() == 0, "no temporary, %d", temporaries());
}

static void test_failures(void)
{
    mt_error err = {0};
    mt_atomic_file a;
    const char *missing = mt_test_path("no/such/dir/c.txt");
    CHECK(mt_atomic_open(&a, missing, &err) == MT_ERR_IO && strstr(err.msg, missing) &&
              strstr(err.msg, "No such file or directory"),
          "a missing directory: %d '%s'", err.code, err.msg);
    /* renaming a file over a non-empty directory fails: the temporary must go */
    const char *dir = mt_test_path("d");
    mkdir(dir, 0777);
    write_text(mt_test_path("d/inside"), "x");
    if (CHECK(mt_atomic_open(&a, dir, &err) == MT_OK, "open over a directory: %s", err.msg)) {
        fputs("x", a.f);
        CHECK(mt_atomic_commit(&a, &err) == MT_ERR_IO && strstr(err.msg, dir) && strstr(err.msg, "cannot rename"),
              "commit over a directory: %d '%s'", err.code, err.msg);
    }
    CHECK(temporaries() == 0, "no temporary after a failed commit, %d", temporaries());
}

static void test_link(void)
{
    const char *one = mt_test_path("one.h5"), *two = mt_test_path("two.h5"), *latest = mt_test_path("latest.h5");
    char buf[64];
    mt_error err = {0};
    write_text(one, "one");
    write_text(two, "two");
    CHECK(mt_atomic_link(one, latest, &err) == MT_OK, "link: %s", err.msg);
    CHECK(!strcmp(slurp(latest, buf, sizeof buf), "one"), "latest is one: '%s'", buf);
    CHECK(mt_atomic_link(two, latest, &err) == MT_OK, "link again: %s", err.msg);
    CHECK(!strcmp(slurp(latest, buf, sizeof buf), "two"), "latest is two: '%s'", buf);
    struct stat a, b;
    CHECK(stat(two, &a) == 0 && stat(latest, &b) == 0 && a.st_ino == b.st_ino, "latest is a hard link of two.h5");
    CHECK(mt_atomic_link(mt_test_path("none.h5"), latest, &err) == MT_ERR_IO && strstr(err.msg, "none.h5"),
          "link of a missing file: '%s'", err.msg);
    CHECK(!strcmp(slurp(latest, buf, sizeof buf), "two"), "latest unchanged by the failure: '%s'", buf);
    CHECK(temporaries() == 0, "no temporary, %d", temporaries());
}

int main(void)
{
    if (mt_test_tmpdir_create("mt-atomic") != 0)
        return 1;
    test_stream();
    test_by_path();
    test_failures();
    test_link();
    mt_test_tmpdir_remove();
    return mt_test_finish("atomic_file");
}
