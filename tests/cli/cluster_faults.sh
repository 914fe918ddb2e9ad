#!/bin/bash
# A node lost and a node cut off, on 2 emulated nodes x 2 ranks (launch/emulated_cluster, its mpirun run by
# launch/mpirun_watch), during a deterministic run with training.stall_timeout 5: every process of the job
# (mpirun_watch, mpirun, the daemons and ranks on both nodes) is gone within stall_timeout + 30 s, the exit
# status is 1, the last line names the lost host and its ranks, the newest checkpoint is intact, and
# resuming it on the remaining node ends with the weights of an uninterrupted run (bitwise). Each fault
# hits at a random step after the first checkpoint. MT_FAULT_TRIALS (default 1) repeats each fault that
# many times (bench/node_loss_trials.sh runs 10). Skipped (exit 77) where network namespaces cannot be
# created. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 3 # its own bridge and namespaces (mtbr3, mt3node*)
trials=${MT_FAULT_TRIALS:-1}
limit=$((5 + 30)) # stall_timeout + 30 s

linear_dataset "$V/d.h5" 4 1200 16
stall_classifier "$V/c.yaml" "$V/d.h5" 30 5
mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/ref" --quiet >"$V/ref.log" 2>&1 \
  || stop "uninterrupted 1-rank run: $(tail -n 1 "$V/ref.log")"

# job_processes: the processes of the job left on the machine and on the nodes (none once it is over)
job_processes() {
  { pgrep -f "mpirun_watch .*$V|mpirun .*$V" || true; ip netns pids mt3node1; ip netns pids mt3node2; } 2>/dev/null | wc -l
}

# trial KIND N: a run on the 2 nodes hit by KIND (lost: every process of node2 killed; cut: node2's link
# down) at a random step after its first checkpoint, then resumed on node1 alone.
trial() {
  local kind=$1 run=$V/$1$2 t0 t1 status
  "$cluster" up --nodes 2 --slots 2 >"$V/up.log" 2>&1 || { no "$kind #$2: up: $(tail -n 1 "$V/up.log")"; return; }
  timeout $((300 * MT_TIME_SCALE)) "$cluster" mpirun -np 4 "$MPITRAIN" train "$V/c.yaml" --set output="$run" \
    >"$run.out" 2>"$run.err" &
  local job=$!
  for ((i = 0; i < 600; i++)); do [[ -f $run/checkpoint.h5 ]] && break; sleep 0.1; done
  sleep "0.$((RANDOM % 10))"
  if [[ $kind == lost ]]; then
    ip netns pids mt3node2 | xargs -r kill -9
  else
    "$cluster" cut node2
  fi
  t0=$(date +%s.%N)
  wait "$job"
  status=$?
  for ((i = 0; i < 600 && $(job_processes) > 0; i++)); do sleep 0.1; done
  t1=$(date +%s.%N)
  local took
  took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t <= l) }' && (($(job_processes) == 0)) \
    && ok "$kind #$2: every process of the job gone ${took} s after the fault (limit $limit s)" \
    || no "$kind #$2: $(job_processes) process(es) of the job left ${took} s after the fault"
  [[ $status == 1 ]] && ok "$kind #$2: exit status 1" || no "$kind #$2: exit status $status, not 1"
  grep -q "^mpitrain: the job failed .*: lost or cut off: node2 (rank(s) 2, 3)" "$run.err" \
    && ok "$kind #$2: the last line names node2 and its ranks 2, 3" \
    || no "$kind #$2: no line naming node2 and ranks 2, 3: $(tail -n 1 "$run.err")"
  "$cluster" down >/dev/null 2>&1
  h5dump -H "$run/checkpoint.h5" >/dev/null 2>&1 && ok "$kind #$2: the newest checkpoint is intact" \
    || no "$kind #$2: checkpoint.h5 does not open"
  # the remaining node: 2 ranks, as node1 had
  "$cluster" up --nodes 1 --slots 2 >"$V/up.log" 2>&1 || { no "$kind #$2: up (1 node): $(tail -n 1 "$V/up.log")"; return; }
  timeout $((180 * MT_TIME_SCALE)) "$cluster" mpirun -np 2 "$MPITRAIN" train "$V/c.yaml" --set output="$run" --resume \
    >"$run.resume.log" 2>&1 && grep -q "resuming from" "$run.resume.log" \
    || no "$kind #$2: resume on node1: $(tail -n 1 "$run.resume.log")"
  "$cluster" down >/dev/null 2>&1
  h5diff "$V/ref/checkpoint.h5" "$run/checkpoint.h5" /params /params >/dev/null 2>&1 \
    && ok "$kind #$2: resumed on the remaining node: bitwise the uninterrupted weights" \
    || no "$kind #$2: resumed weights differ from the uninterrupted run"
}

# A config error through launch/mpirun_watch: exit status 2, as mpitrain's, and no failure line of its own.
"$cluster" up --nodes 2 --slots 1 >"$V/up.log" 2>&1 || no "up: $(tail -n 1 "$V/up.log")"
timeout $((60 * MT_TIME_SCALE)) "$cluster" mpirun -np 2 "$MPITRAIN" train "$V/c.yaml" --set training.epoch=3 \
  >"$V/usage.out" 2>"$V/usage.err"
status=$?
[[ $status == 2 ]] && grep -q "unknown key 'epoch'" "$V/usage.err" && ! grep -q "the job failed" "$V/usage.err" \
  && ok "a config error through mpirun_watch: exit status 2, mpitrain's message only" \
  || no "config error: status $status: $(tail -n 2 "$V/usage.err")"
"$cluster" down >/dev/null 2>&1

for ((n = 1; n <= trials; n++)); do
  trial lost "$n"
  trial cut "$n"
done
! ip link show mtbr3 >/dev/null 2>&1 && ! ip netns list | grep -q mt3node \
  && ok "no namespace or bridge left behind" || no "left: $(ip netns list | grep mt3node | tr '\n' ' ')"
finish
