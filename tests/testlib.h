/* Small test helpers: checks that record failures and print the values that differed. */
#ifndef MT_TESTLIB_H
#define MT_TESTLIB_H

#include <stddef.h>

extern int mt_test_failures;

/* Records a failure with a message when cond is false. Returns cond. */
int mt_check(int cond, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK(cond, ...) mt_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |a - b| <= tol * max(1, |b|)-style check that prints both values. */
int mt_check_close(double a, double b, double rtol, double atol, const char *file, int line, const char *what);
#define CHECK_CLOSE(a, b, rtol, atol, what) mt_check_close((a), (b), (rtol), (atol), __FILE__, __LINE__, (what))

/* Writes a small classification dataset /train (x float32 [rows, features], or [rows, features / width,
 * width] when width > 0; y int32 [rows], classes cycling 0..classes-1, each class shifting its own
 * features) to path. Returns 0 on success. */
int mt_test_write_dataset(const char *path, int rows, int features, int classes, int width);

/* A fresh directory for this test's files under $TMPDIR or /tmp, named PREFIX.XXXXXX: mt_test_dir holds
 * its path after mt_test_tmpdir_create (which returns 0, or -1 and prints why). */
extern char mt_test_dir[64];
int mt_test_tmpdir_create(const char *prefix);

/* mt_test_dir/name, in one of 32 rotating buffers (enough for the paths a test holds at once). */
const char *mt_test_path(const char *name);

/* Removes mt_test_dir and everything in it. */
void mt_test_tmpdir_remove(void);

/* MPI tests. Collective: rank 0 creates mt_test_dir and every rank receives its path; 0 or -1 everywhere. */
struct mt_comm;
int mt_test_mpi_tmpdir(struct mt_comm *c, const char *prefix);

/* Collective: rank 0 removes mt_test_dir (if any), failures are summed over the ranks, rank 0 prints the
 * verdict; returns this rank's exit status. */
int mt_test_mpi_finish(struct mt_comm *c, const char *name);

/* Prints "N checks failed" or "all checks passed" and returns the process exit status. */
int mt_test_finish(const char *name);

#endif
