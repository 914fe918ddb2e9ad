/* Choosing and reading the checkpoint a --resume continues from (see resume.h). */
#include "train/resume.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "train/run_dir.h"

static void notice(const mt_resume_source *src, int warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void notice(const mt_resume_source *src, int warning, const char *fmt, ...)
{
    char text[sizeof((mt_error *)0)->msg + MT_PATH_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    src->notice(src->user, warning, text);
}

/* The newest intact checkpoint of the run directory (every tensor's checksum and the completeness
 * marker verified), with a warning for each damaged one passed over. An intact checkpoint that does not
 * match the model is an error, not a reason to fall back. */
static mt_status read_newest(const mt_resume_source *src, mt_run_dir_path path, int *found, mt_error *err)
{
    mt_run_dir_path cands[16];
    const int n = mt_run_dir_list_checkpoints(src->output, cands, 16);
    char first_reason[sizeof err->msg] = "";
    for (int i = 0; i < n; i++) {
        if (!mt_checkpoint_verify(cands[i], err)) {
            memcpy(path, cands[i], sizeof cands[i]);
            *found = 1;
            if (i > 0)
                notice(src, 1, "fell back past %d damaged checkpoint file(s) to %s", i, cands[i]);
            return src->read(src->user, path, err);
        }
        if (!first_reason[0])
            snprintf(first_reason, sizeof first_reason, "%s", err->msg);
        notice(src, 1, "%s%s", err->msg, i + 1 < n ? "; trying the previous checkpoint" : "");
        mt_error_clear(err);
    }
    *found = 0;
    if (n > 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no usable checkpoint: all %d file(s) are damaged (newest: %s)",
                       src->output, n, first_reason);
    notice(src, 0, "no checkpoint in %s: starting from scratch", src->output);
    return MT_OK;
}

mt_status mt_resume_read(const mt_resume_source *src, int *found, mt_error *err)
{
    mt_run_dir_path path = "";
    mt_error_clear(err);
    *found = 1;
    mt_status st;
    if (src->path) {
        snprintf(path, sizeof path, "%s", src->path);
        st = src->read(src->user, path, err);
    } else {
        st = read_newest(src, path, found, err);
    }
    if (st || !*found)
        return st;
    const mt_train_state *s = src->state;
    notice(src, 0, "resuming from %s (epoch %lld, step %lld, written by %lld rank(s))", path, (long long)s->epoch,
           (long long)s->step, (long long)s->world_size);
    if (s->epoch > src->epochs)
        return mt_fail(err, MT_ERR_INPUT, "%s: already trained %lld epochs, more than training.epochs = %d", path,
                       (long long)s->epoch, src->epochs);
    return MT_OK;
}
