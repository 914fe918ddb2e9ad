/* Fault injection for the fault-tolerance tests: the environment variable MPITRAIN_FAULT makes one rank
 * fail at one point of a run, the way clusters fail (a killed or hung rank, a failed read, a bad sample,
 * a crash in the middle of a checkpoint write). Unset, every check is one branch on a cached flag.
 *
 *   MPITRAIN_FAULT=ACTION:POINT:N[:RANK]
 *
 * ACTION  kill (SIGKILL to itself), exit (_exit(3)), stall (sleeps for ever), fail (the operation at the
 *         point returns an error), nan (step only: a NaN in the rank's first input value), slow=F (step
 *         only: from the N-th step on, every stretch of computation the trainer reports takes F times
 *         as long, the rank spinning for the difference, like a core F times slower; F in (1, 100])
 * POINT   step (the N-th optimizer step of this process, counted from 1), checkpoint (the N-th checkpoint
 *         file this process writes, halfway through it), eval (the N-th evaluation or prediction pass
 *         over a split)
 * RANK    the rank that fails (world rank, default 0) */
#ifndef MT_CORE_FAULT_H
#define MT_CORE_FAULT_H

typedef enum mt_fault_point { MT_FAULT_STEP, MT_FAULT_CHECKPOINT, MT_FAULT_EVAL, MT_FAULT_POINTS } mt_fault_point;

typedef enum mt_fault_action { MT_FAULT_NONE, MT_FAULT_FAIL, MT_FAULT_NAN } mt_fault_action;

/* Reads MPITRAIN_FAULT for the process of world rank `rank`. Returns 0, or -1 with a message in
 * buf when the variable is malformed. */
int mt_fault_setup(int rank, char *buf, unsigned size);

/* Counts one occurrence of `point`; when it is the armed one, kill, exit and stall act here (they do not
 * return) and fail or nan are returned for the caller to act on. MT_FAULT_NONE otherwise. */
mt_fault_action mt_fault_check(mt_fault_point point);

/* After `seconds` of computation: when the slow action is active, spins for (F - 1) x seconds. */
void mt_fault_stretch(double seconds);

#endif
