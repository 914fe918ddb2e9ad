/* A request to stop training at the next step boundary (SIGTERM, SIGINT, SIGUSR1 from a scheduler, or
 * the API), shared by every kind of training: the flag a signal handler sets, and the
 * message of a run that stopped for it. */
#ifndef MT_TRAIN_STOP_REQUEST_H
#define MT_TRAIN_STOP_REQUEST_H

#include "train/checkpoint.h"

/* Asks a running mt_train_run to stop: async-signal-safe (a signal handler may call it with its signal
 * number; 0 for a request without a signal). At the end of the current step every
 * rank learns of it with the step's sums, rank 0 writes OUTPUT/checkpoint_interrupted.h5 (checkpoint.h5
 * points at it), and the run returns MT_INTERRUPTED. --resume continues from the next step. */
void mt_train_request_stop(int signo);

/* Whether a stop was requested on this rank since the last mt_stop_clear. */
int mt_stop_requested(void);

/* Forgets a request (at the end of a run: it ends that run, not the next one in the same process). */
void mt_stop_clear(void);

/* MT_INTERRUPTED "stopped by SIGTERM after step S of epoch E (step N of the run): checkpoint written to
 * PATH; --resume continues from it"; epoch counts from 0. */
mt_status mt_stop_interrupted(const mt_train_state *state, int epoch, const char *path, mt_error *err);

#endif
