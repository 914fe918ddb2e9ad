/* Small test helpers: failure counting and value-printing checks. */
#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

int mt_test_failures;

int mt_check(int cond, const char *file, int line, const char *fmt, ...)
{
    if (!cond) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "FAIL %s:%d: ", file, line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        mt_test_failures++;
    }
    return cond;
}

int mt_check_close(double a, double b, double rtol, double atol, const char *file, int line, const char *what)
{
    double diff = fabs(a - b);
    int ok = isfinite(a) && isfinite(b) && diff <= atol + rtol * fabs(b);
    return mt_check(ok, file, line, "%s: got %.9g, expected %.9g (diff %.3g, rtol %.1g, atol %.1g)", what, a, b,
                    diff, rtol, atol);
}

int mt_test_finish(const char *name)
{
    if (mt_test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, mt_test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}
