/* Error reporting: the table of status codes (name, exit code, meaning, an example message), and formatted
 * messages kept to one printable line (control characters become '?'). */
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

/* Every status, indexed by its code: its name, exit status, meaning and one message the program prints with it.
 * mt_status_name, mt_status_exit_code and the reference documentation (mpitrain reference) read this table. */
static const mt_status_info statuses[] = {
    {MT_OK, "MT_OK", "ok", 0, "success", ""},
    {MT_ERR_USAGE, "MT_ERR_USAGE", "usage error", 2,
     "bad command-line usage: unknown command or option, a missing or malformed argument (or a C API call "
     "made with wrong arguments)",
     "mpitrain predict: missing -o OUT.h5 or -o OUT.csv (see 'mpitrain predict --help')"},
    {MT_ERR_CONFIG, "MT_ERR_CONFIG", "config error", 2,
     "bad configuration (YAML or --set): syntax, unknown key, wrong type, value out of range, unknown layer, "
     "activation, loss, metric, optimizer, schedule or initializer name, options that cannot be combined, a "
     "shape a layer cannot take",
     "mpitrain: launch/configs/x.yaml:10: training.epochs: expected an integer, got 'ten'"},
    {MT_ERR_INPUT, "MT_ERR_INPUT", "input error", 2,
     "bad or missing input file (config, dataset, CSV file, checkpoint): its layout, a sample shape that does "
     "not match model.input, a label outside the outputs, a missing value under data.missing: error",
     "mpitrain: datasets/fashion-mnist.h5: /train/y: row 0 has label 9, outside [0, 5)"},
    {MT_ERR_IO, "MT_ERR_IO", "I/O error", 1,
     "a read or write failed at run time (checkpoint, metrics, predictions, plots, a dataset read during "
     "training)",
     "mpitrain: runs/x/checkpoint_epoch003.h5: cannot rename into place: No space left on device"},
    {MT_ERR_NOMEM, "MT_ERR_NOMEM", "out of memory", 1, "an allocation failed",
     "mpitrain: model: cannot allocate 4000000000 parameters"},
    {MT_ERR_MPI, "MT_ERR_MPI", "MPI error", 1, "an MPI call failed; the rank that saw it ends the job",
     "mpitrain: MPI_Allreduce failed: MPI_ERR_TRUNCATE: message truncated"},
    {MT_ERR_NUMERIC, "MT_ERR_NUMERIC", "numeric error", 1,
     "NaN or Inf where a finite number is needed: a loss or gradient under training.on_nonfinite: stop, a "
     "feature scale that is not finite",
     "mpitrain: step 120 (epoch 3): the loss is NaN on some rank; stopped before the update "
     "(training.on_nonfinite: skip_step would skip such steps)"},
    {MT_ERR_INTERNAL, "MT_ERR_INTERNAL", "internal error", 1, "a bug in mpitrain (please report the message)",
     "mpitrain: mt_config_to_yaml: no configuration loaded"},
    {MT_INTERRUPTED, "MT_INTERRUPTED", "interrupted", 1,
     "stopped by SIGTERM, SIGINT or SIGUSR1 at the end of a step, after writing a checkpoint that --resume "
     "continues from",
     "mpitrain: stopped by SIGTERM after step 37 of epoch 2 (step 506 of the run): checkpoint written to "
     "runs/x/checkpoint_interrupted.h5; --resume continues from it"},
    {MT_ERR_STALL, "MT_ERR_STALL", "stalled collective", 1,
     "a collective waited longer than training.stall_timeout: some rank never arrived; the job is ended",
     "mpitrain: rank 0 (node1): stalled during step 12 (epoch 1): rank(s) 3 (1 of 4, on host node2) did not reach "
     "MPI_Allreduce (collective #57) within 600 s, while rank(s) 0-2 waited there (watchdog limit 600 s: "
     "training.stall_timeout)"},
};

_Static_assert(sizeof statuses / sizeof statuses[0] == MT_ERR_STALL + 1, "one entry per mt_status code");

const mt_status_info *mt_status_table(size_t *count)
{
    if (count)
        *count = sizeof statuses / sizeof statuses[0];
    return statuses;
}

int mt_status_exit_code(mt_status code)
{
    if ((unsigned)code < sizeof statuses / sizeof statuses[0])
        return statuses[code].exit_code;
    return 1;
}

const char *mt_status_name(mt_status code)
{
    if ((unsigned)code < sizeof statuses / sizeof statuses[0])
        return statuses[code].name;
    return "unknown error";
}

const char *mt_version(void)
{
    return MT_VERSION_STRING;
}
