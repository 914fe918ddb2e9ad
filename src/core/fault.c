/* Fault injection (MPITRAIN_FAULT): parsing the variable once, counting occurrences of each point, and
 * acting at the armed one; it prints one line on stderr when it strikes (with the time, from which the
 * tests measure how long the other ranks take to stop). */
#include "core/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    int armed, rank, slowed;
    enum { KILL, EXIT, STALL, FAIL, NAN_INPUT, SLOW } action;
    double factor; /* slow: how many times as long computation takes */
    mt_fault_point point;
    unsigned long long at, seen[MT_FAULT_POINTS];
} fault;

int mt_fault_setup(int rank, char *buf, unsigned size)
{
    static const char *const actions[] = {"kill", "exit", "stall", "fail", "nan", "slow"};
    static const char *const points[] = {"step", "checkpoint", "eval"};
    memset(&fault, 0, sizeof fault);
    const char *v = getenv("MPITRAIN_FAULT");
    if (!v || !*v)
        return 0;
    char action[16], point[16];
    unsigned long long at = 0;
    int target = 0, n = 0, a = -1, p = -1;
    double factor = 0;
    int fields = sscanf(v, "%15[a-z]:%15[a-z]:%llu%n:%d%n", action, point, &at, &n, &target, &n);
    if (strncmp(v, "slow=", 5) == 0) { /* slow=F:POINT:N[:RANK] */
        fields = sscanf(v, "slow=%lf:%15[a-z]:%llu%n:%d%n", &factor, point, &at, &n, &target, &n);
        snprintf(action, sizeof action, "slow");
    }
    for (int i = 0; i < 6; i++)
        a = fields >= 3 && strcmp(action, actions[i]) == 0 ? i : a;
    for (int i = 0; i < 3; i++)
        p = fields >= 3 && strcmp(point, points[i]) == 0 ? i : p;
    if (fields < 3 || v[n] != '\0' || a < 0 || p < 0 || at == 0 || target < 0 ||
        ((a == NAN_INPUT || a == SLOW) && p != MT_FAULT_STEP) || (a == SLOW && !(factor > 1 && factor <= 100))) {
        snprintf(buf, size,
                 "MPITRAIN_FAULT=%.60s: expected ACTION:POINT:N[:RANK] with ACTION kill|exit|stall|"
                 "fail|nan|slow=F, POINT step|checkpoint|eval (nan, slow: step only), N >= 1, F in (1, 100]",
                 v);
        return -1;
    }
    fault.armed = target == rank;
    fault.rank = rank;
    fault.action = a, fault.point = (mt_fault_point)p, fault.at = at, fault.factor = factor;
    return 0;
}

mt_fault_action mt_fault_check(mt_fault_point point)
{
    static const char *const names[] = {"kill", "exit", "stall", "fail", "nan", "slow"};
    static const char *const points[] = {"step", "checkpoint", "eval"};
    if (!fault.armed || point != fault.point || ++fault.seen[point] != fault.at)
        return MT_FAULT_NONE;
    /* The injection's own trace (a test facility): when it struck, for the time-to-exit figure. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(stderr, "mpitrain: MPITRAIN_FAULT: rank %d: %s at %s %llu, time %.3f\n", fault.rank, names[fault.action],
            points[point], fault.at, (double)now.tv_sec + 1e-9 * (double)now.tv_nsec);
    fflush(stderr);
    switch (fault.action) {
    case KILL:
        raise(SIGKILL);
        break;
    case EXIT:
        _exit(3);
    case STALL:
        for (;;)
            pause();
    case FAIL:
        return MT_FAULT_FAIL;
    case NAN_INPUT:
        return MT_FAULT_NAN;
    case SLOW:
        fault.slowed = 1;
        break;
    }
    return MT_FAULT_NONE;
}

void mt_fault_stretch(double seconds)
{
    if (!fault.slowed || !(seconds > 0))
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double end = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec + (fault.factor - 1) * seconds;
    do /* spins: the core stays busy, as a slower one would be */
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((double)now.tv_sec + 1e-9 * (double)now.tv_nsec < end);
}
