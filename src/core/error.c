/* Error reporting: status names, exit codes and formatted messages, kept to one printable line (control
 * characters become '?'). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mt_error_sanitize(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

mt_status mt_fail(mt_error *err, mt_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        mt_error_sanitize(err->msg);
        err->code = code;
    }
    return code;
}

void mt_error_clear(mt_error *err)
{
    if (err) {
        err->code = MT_OK;
        err->msg[0] = '\0';
    }
}

mt_status mt_error_prefix(mt_error *err, const char *fmt, ...)
{
    if (!err)
        return MT_ERR_INTERNAL;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%.500s: %.500s", prefix, old);
    mt_error_sanitize(err->msg);
    return err->code;
}

int mt_status_exit_code(mt_status code)
{
    switch (code) {
    case MT_OK: return 0;
    case MT_ERR_USAGE:
    case MT_ERR_CONFIG:
    case MT_ERR_INPUT: return 2;
    default: return 1;
    }
}

const char *mt_status_name(mt_status code)
{
    static const char *const names[] = {
        [MT_OK] = "ok", [MT_ERR_USAGE] = "usage error", [MT_ERR_CONFIG] = "config error",
        [MT_ERR_INPUT] = "input error", [MT_ERR_IO] = "I/O error", [MT_ERR_NOMEM] = "out of memory",
        [MT_ERR_MPI] = "MPI error", [MT_ERR_NUMERIC] = "numeric error", [MT_ERR_INTERNAL] = "internal error",
        [MT_INTERRUPTED] = "interrupted", [MT_ERR_STALL] = "stalled collective",
    };
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return "unknown error";
}

const char *mt_version(void)
{
    return MT_VERSION_STRING;
}
