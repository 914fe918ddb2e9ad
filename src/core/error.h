/* Error reporting inside the library: set a status and a formatted one-line message. */
#ifndef MT_CORE_ERROR_H
#define MT_CORE_ERROR_H

#include <stddef.h>
#include <mpitrain/mpitrain.h>

/* Sets err (if not NULL) and returns code, so callers write `return mt_fail(err, MT_ERR_INPUT, ...)`. The
 * message stays one line whatever the arguments hold (a file name, a YAML string): every control byte
 * (0x00-0x1f, 0x7f) becomes '?', so newlines and terminal escape sequences cannot reach the output. */
mt_status mt_fail(mt_error *err, mt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears err to MT_OK with an empty message. */
void mt_error_clear(mt_error *err);

/* Prepends "prefix: " to the message already in err (keeps the code; control bytes become '?' as in
 * mt_fail). Returns err->code. */
mt_status mt_error_prefix(mt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One status code as the reference documentation (mpitrain reference) describes it. */
typedef struct mt_status_info {
    mt_status code;
    const char *ident;   /* the enum name, "MT_ERR_CONFIG" */
    const char *name;    /* what mt_status_name returns */
    int exit_code;       /* what mt_status_exit_code returns */
    const char *meaning; /* one line: when the program returns it */
    const char *example; /* one line the program prints on stderr with it ("" for MT_OK) */
} mt_status_info;

/* Every status code, in the order of their values (entry i has code i); *count receives how many. The
 * table mt_status_name and mt_status_exit_code read. */
const mt_status_info *mt_status_table(size_t *count);

/* Replaces every control byte (< 0x20, and 0x7f) of the string msg by '?' in place (NULL: nothing). */
void mt_error_sanitize(char *msg);

#endif
