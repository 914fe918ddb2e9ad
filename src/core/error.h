/* Error reporting inside the library: set a status and a formatted one-line message. */
#ifndef MT_CORE_ERROR_H
#define MT_CORE_ERROR_H

#include <mpitrain/mpitrain.h>

/* Sets err (if not NULL) and returns code, so callers write `return mt_fail(err, MT_ERR_INPUT, ...)`. */
mt_status mt_fail(mt_error *err, mt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to MT_OK with an empty message. */
void mt_error_clear(mt_error *err);

/* Prepends "prefix: " to the message already in err (keeps the code). Returns err->code. */
mt_status mt_error_prefix(mt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
