/* The wall clock every timing in mpitrain reads: seconds from a fixed point (CLOCK_MONOTONIC), so
 * differences are durations that never jump with the time of day; and the calling thread's CPU time. */
#ifndef MT_CORE_CLOCK_H
#define MT_CORE_CLOCK_H

#include <time.h>

static inline double mt_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds of CPU the calling thread has used: less than the wall time that passed when the core was
 * given to other processes. */
static inline double mt_cputime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
