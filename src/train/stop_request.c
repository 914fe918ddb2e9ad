/* The stop request of a training run (see stop_request.h). */
#include "train/stop_request.h"

#include <signal.h>

#include "core/error.h"

static volatile sig_atomic_t stop_signal; /* the signal number, -1 for a request without one, 0 none */

void mt_train_request_stop(int signo)
{
    stop_signal = signo ? signo : -1;
}

int mt_stop_requested(void)
{
    return stop_signal != 0;
}

void mt_stop_clear(void)
{
    stop_signal = 0;
}

mt_status mt_stop_interrupted(const mt_train_state *state, int epoch, const char *path, mt_error *err)
{
    const int signo = stop_signal;
    return mt_fail(err, MT_INTERRUPTED,
                   "stopped by %s after step %lld of epoch %d (step %lld of the run): "
                   "checkpoint written to %s; --resume continues from it",
                   signo == SIGTERM   ? "SIGTERM"
                   : signo == SIGINT  ? "SIGINT"
                   : signo == SIGUSR1 ? "SIGUSR1"
                                      : "a stop request",
                   (long long)state->epoch_step, epoch + 1, (long long)state->step, path);
}
