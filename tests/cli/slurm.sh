#!/bin/bash
# launch/slurm.sbatch as shipped under a real SLURM (Debian's slurmctld and slurmd, munge) on 2 emulated
# nodes (launch/emulated_cluster up --slurm): submitted with 2 nodes x 2 tasks and a small config
# (MPITRAIN_CONFIG) it trains, the job ends COMPLETED, and its deterministic weights equal 1 rank's
# bitwise; with --signal=B:USR1 and --requeue, the batch shell's USR1 (sent by `scancel --signal=USR1
# --batch`, the signal SLURM sends before the time limit; a real limit takes minutes, since --time is
# at least 1 minute) makes the ranks checkpoint, the job is requeued and resumes, ends COMPLETED, and
# its weights equal the uninterrupted run's bitwise. With node2 lost mid-run (every process in its
# namespaces killed), and in another job with node2 cut off, the job ends with exit code 1 within
# training.stall_timeout + 30 s, srun and every rank gone, the stall named, and its last checkpoint
# resumes. `down` leaves no daemon, namespace or file behind.
# Skipped (exit 77) when not root, where network namespaces cannot be created, or without the SLURM
# packages (launch/setup --test-tools installs them). Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 2 # its own bridge, namespaces and SLURM ports
needs_slurm
"$cluster" up --nodes 2 --slots 2 --slurm >"$V/up.log" 2>&1 || stop "up --slurm: $(tail -n 1 "$V/up.log")"
[ "$("$cluster" slurm sinfo -h -N -o %T | sort -u)" = idle ] \
  && "$cluster" slurm scontrol show config | grep -Eq '^MpiDefault += none$' && ok "SLURM up: 2 idle nodes, MpiDefault=none" \
  || no "sinfo: $("$cluster" slurm sinfo -h -N -o '%N %T' | tr '\n' ' ')"
ctld_pid=$(cat "$MT_CLUSTER_DIR/slurm/slurmctld.pid")
munged_pid=$(cat "$MT_CLUSTER_DIR/slurm/munge/pid")

# submit NAME ARGS...: sbatch of launch/slurm.sbatch as shipped, from the repository root, with the
# config and program from the environment, 2 nodes x 2 tasks, output in $V/NAME.out and .err; prints
# the job id
submit() {
  local name=$1
  shift
  (cd "$MT_SOURCE" && MPITRAIN_CONFIG=$V/c.yaml MPITRAIN_PROGRAM=$MPITRAIN "$cluster" slurm sbatch --parsable \
    --nodes=2 --ntasks-per-node=2 --time=5 --output="$V/$name.out" --error="$V/$name.err" "$@")
}
# ended JOB SECONDS: waits until the job has ended (requeues included) and prints its state
ended() {
  local i state=""
  for ((i = 0; i < $2 * 10 * MT_TIME_SCALE; i++)); do
    state=$("$cluster" slurm scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
    case $state in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
      echo "$state"
      return
      ;;
    esac
    sleep 0.1
  done
  echo "${state:-unknown} after $2 s"
}

linear_dataset "$V/d.h5" 9 600 16
dropout_classifier "$V/c.yaml" "$V/d.h5" 12
mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/one" --quiet >"$V/one.log" 2>&1 || no "1 rank: $(tail -n 1 "$V/one.log")"

# as shipped: the default MpiDefault=none, and the script picks PMIx itself
job=$(submit plain launch/slurm.sbatch --set output="$V/plain") || no "sbatch: $job"
state=$(ended "$job" 120)
[ "$state" = COMPLETED ] && grep -q "on 4 rank(s)" "$V/plain.out" && ok "sbatch launch/slurm.sbatch: 2 nodes x 2 tasks, COMPLETED" \
  || no "job $job: $state: $(tail -n 3 "$V/plain.err" "$V/plain.out" 2>&1 | tr '\n' ' ')"
grep -q "JobId=$job .*JobState=COMPLETED" "$MT_CLUSTER_DIR/slurm/jobcomp.txt" && ok "jobcomp.txt: job $job COMPLETED" \
  || no "jobcomp.txt: $(cat "$MT_CLUSTER_DIR/slurm/jobcomp.txt")"
h5diff "$V/one/checkpoint.h5" "$V/plain/checkpoint.h5" /params /params >"$V/diff.txt" 2>&1 \
  && ok "deterministic: the job's weights equal 1 rank's bitwise" || no "weights differ: $(head -n 3 "$V/diff.txt")"

# USR1 to the batch shell mid-run: checkpoint, requeue, resume
job=$(submit requeue --signal=B:USR1@10 --requeue launch/slurm.sbatch --set output="$V/requeue") \
  || no "sbatch: $job"
for _ in $(seq $((600 * MT_TIME_SCALE))); do # up to 60 s for the first epoch to end
  [ -s "$V/requeue/metrics.jsonl" ] && break
  sleep 0.1
done
"$cluster" slurm scancel --signal=USR1 --batch "$job" || no "scancel --signal=USR1 --batch $job"
state=$(ended "$job" 120)
[ "$state" = COMPLETED ] && "$cluster" slurm scontrol show job "$job" | grep -q "Restarts=1 " \
  && ok "USR1: the job is requeued once and ends COMPLETED" || no "job $job: $state: $(tail -n 3 "$V/requeue.err" | tr '\n' ' ')"
grep -q "^mpitrain: stopped by SIGUSR1 after step .*checkpoint written to $V/requeue/checkpoint_interrupted.h5" "$V/requeue.err" \
  && grep -q "^resuming from $V/requeue/checkpoint.h5" "$V/requeue.out" && ok "checkpointed on USR1, resumed after the requeue" \
  || no "no checkpoint and resume: $(grep -h -E 'mpitrain:|resuming|slurm.sbatch' "$V/requeue.err" "$V/requeue.out" | tr '\n' ' ')"
h5diff "$V/one/checkpoint.h5" "$V/requeue/checkpoint.h5" /params /params >"$V/diff.txt" 2>&1 \
  && ok "requeued run: the weights equal the uninterrupted run's bitwise" || no "weights differ: $(head -n 3 "$V/diff.txt")"

# node2 lost mid-run (every process in its namespaces killed, its slurmd included), then in a second job
# cut off (its link down): the watchdog of the ranks on node1 (training.stall_timeout 5) aborts the step
# naming node2's ranks, the job leaves RUNNING with exit code 1 within stall_timeout + 30 s, srun and every
# rank gone (on a cut-off node SLURM's own slurmstepd stays until the node is back), and the last
# checkpoint is intact: 1 rank resumes from it.
fault() {
  local kind=$1 job state took exit_code left lost_at
  job=$(submit "$kind" launch/slurm.sbatch --set output="$V/$kind" --set training.epochs=30 \
    --set training.stall_timeout=5) || no "sbatch: $job"
  for _ in $(seq $((600 * MT_TIME_SCALE))); do
    [ -s "$V/$kind/metrics.jsonl" ] && break
    sleep 0.1
  done
  sleep 1 # into epoch 2
  lost_at=$SECONDS
  if [ "$kind" = lost ]; then ip netns pids mt2node2 | xargs -r kill -9; else "$cluster" cut node2; fi
  for _ in $(seq $((60 * MT_TIME_SCALE))); do
    state=$("$cluster" slurm scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
    left=$(pgrep -f "srun .*$V/c.yaml|mpitrain train $V/c.yaml" | wc -l)
    [ "$state" != RUNNING ] && [ "$left" = 0 ] && break
    sleep 1
  done
  took=$((SECONDS - lost_at))
  exit_code=$("$cluster" slurm scontrol show job "$job" | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2)
  echo "node2 $kind: job $job $state after $took s, ExitCode=$exit_code; $(grep -h -E '^mpitrain:|^srun: error' "$V/$kind.err" | tr '\n' ' ')"
  [ "$state" != RUNNING ] && [ "$took" -le $((35 * MT_TIME_SCALE)) ] && [ "${exit_code%%:*}" = 1 ] && [ "$left" = 0 ] \
    && ok "node2 $kind: the job ends $state (ExitCode $exit_code) $took s later, srun and every rank gone" \
    || no "node2 $kind: job $job: $state after $took s, ExitCode $exit_code, $left process(es) left: $(tail -n 2 "$V/$kind.err" | tr '\n' ' ')"
  # the whole job's sum (a copy per rank), or with one copy per node the sum of rank 0's slice with its owner
  # on node2 (rank 2)
  grep -qE "^mpitrain: rank 0 \(node1\): stalled during .*rank\(s\) (2, 3 \(2 of 4|2 \(1 of 2), on host node2\) did not reach .*training.stall_timeout" \
    "$V/$kind.err" && ok "node2 $kind: the watchdog names the lost ranks and their host" \
    || no "node2 $kind: no stall message naming node2: $(grep -h mpitrain: "$V/$kind.err")"
  h5dump -H "$V/$kind/checkpoint.h5" >/dev/null 2>&1 \
    && mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/$kind" --set training.epochs=30 --resume >"$V/resume.log" 2>&1 \
    && grep -q "^resuming from $V/$kind/checkpoint.h5 (epoch [1-9]" "$V/resume.log" \
    && ok "node2 $kind: the last checkpoint is intact and 1 rank resumes from it" \
    || no "node2 $kind: checkpoint or resume: $(tail -n 1 "$V/resume.log" 2>&1)"
}
fault lost
"$cluster" down >/dev/null 2>&1 # a fresh cluster for the second fault (node2's slurmd was killed)
"$cluster" up --nodes 2 --slots 2 --slurm >"$V/up.log" 2>&1 || stop "up --slurm: $(tail -n 1 "$V/up.log")"
ctld_pid=$(cat "$MT_CLUSTER_DIR/slurm/slurmctld.pid")
munged_pid=$(cat "$MT_CLUSTER_DIR/slurm/munge/pid")
fault cut

"$cluster" down >/dev/null 2>&1 && ! kill -0 "$ctld_pid" 2>/dev/null && ! kill -0 "$munged_pid" 2>/dev/null \
  && ! ip netns list | grep -q mt2node && [ ! -e "$MT_CLUSTER_DIR" ] \
  && ok "down stops slurmctld, munged and the slurmds, and removes the state" \
  || no "down left $(ip netns list | grep mt2node | tr '\n' ' ') $(ls "$MT_CLUSTER_DIR" 2>&1)"
finish
