#!/bin/bash
# launch/elastic inside a SLURM allocation (launch/emulated_cluster up --slurm, 2 nodes x 2 tasks, sbatch
# --no-kill): without --hostfile it takes the allocation's nodes and tasks, starts the job with srun, and
# when node2 is lost at a random step (every process in its namespaces killed, its slurmd included)
# drops it (it does not answer srun's probe) and restarts on node1 within the allocation: the batch job
# ends COMPLETED, the restart is logged, and the weights are bitwise those of the undisturbed run
# (deterministic). Skipped (exit 77) when not root, where network namespaces cannot be created, or without
# the SLURM packages. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 43 # its own bridge, namespaces and SLURM ports
needs_slurm
# shellcheck source=elastic.bash
. "$(dirname "$0")/elastic.bash"
elastic_setup
"$cluster" up --nodes 2 --slots 2 --slurm >"$V/up.log" 2>&1 || stop "up --slurm: $(tail -n 1 "$V/up.log")"

cat >"$V/job.sbatch" <<EOF
#!/bin/bash
export OPENBLAS_NUM_THREADS=1 MT_JOB_GRACE=5
exec "$elastic" --min-ranks 1 --probe-timeout 5 --log "$V/run.jsonl" -- "$MPITRAIN" train "$V/c.yaml" --set output="$V/run"
EOF
job=$(cd "$V" && "$cluster" slurm sbatch --parsable --no-kill --nodes=2 --ntasks-per-node=2 --time=5 \
  --output="$V/job.out" --error="$V/job.err" "$V/job.sbatch") || no "sbatch: $job"
wait_line "$V/job.err" "^elastic: attempt 1: 4 rank(s) on node1, node2" 1 60 \
  && ok "without --hostfile: 4 ranks on the allocation's node1, node2" || no "first attempt: $(head -n 3 "$V/job.err")"
for ((i = 0; i < 600; i++)); do [[ -f $V/run/checkpoint.h5 ]] && break; sleep 0.1; done
sleep "0.$((RANDOM % 10))"
kill_node node2
t0=$(now)
for ((i = 0; i < 1200; i++)); do
  state=$("$cluster" slurm scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  # COMPLETING: SLURM is still cleaning up the lost node's part of the job; the final state follows
  [[ $state == RUNNING || $state == PENDING || $state == COMPLETING ]] || break
  sleep 0.1
done
[[ $state == COMPLETED ]] && grep -q "^elastic: the job succeeded after 1 restart(s)" "$V/job.err" \
  && ok "node2 lost: the batch job ends COMPLETED after 1 restart" \
  || no "job $job: $state: $(grep -E '^elastic' "$V/job.err" | tr '\n' ' ')"
line=$(grep -m 1 '"restart": 1,' "$V/run.jsonl")
[[ $(field "$line" hosts_dropped) == '["node2"]' && $(field "$line" hosts_not_answering) == '["node2"]' && $(field "$line" hosts) == '["node1"]' ]] \
  && ok "the restart drops node2 (it does not answer srun) and runs on node1" || no "restart: $line"
took=$(awk -v a="$t0" -v b="$(field "$line" resumed_at)" 'BEGIN { printf "%.1f", b - a }')
awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t > 0 && t <= l) }' \
  && ok "training again $took s after the fault (limit $limit s)" || no "training again $took s after the fault"
h5diff "$V/ref/checkpoint.h5" "$V/run/checkpoint.h5" /params /params >/dev/null 2>&1 \
  && ok "bitwise the weights of the undisturbed run" || no "the weights differ from the undisturbed run"
"$cluster" down >/dev/null 2>&1
finish
