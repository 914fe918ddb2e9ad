# Trials of launch/elastic on 2 emulated nodes x 2 ranks (sourced by tests/cli/elastic_*.sh after
# common.bash and cluster_setup; not a test itself). elastic_setup makes a deterministic run (training.
# stall_timeout 5, checkpoint.every_steps 5, 4 epochs of 50 steps) and its reference (1 rank, never disturbed); elastic_trial
# KIND N runs the job under launch/elastic --min-ranks 1 (MT_JOB_GRACE 5), hits it with fault KIND at a
# random step after its first checkpoint, and checks that it ends with exit status 0 and the reference
# weights bitwise, with the restarts logged (reason, hosts dropped, step resumed from) within the limits:
#   lost     every process of node2 killed (at the N-th step of the run, N random: rank 3 holds there,
#            by MPITRAIN_FAULT=stall, so that the step is known), once it is there; node2 is dropped
#            (Open MPI tells of its lost daemon, or first of its ranks killed)
#   cut      node2's link taken down (launch/emulated_cluster cut); node2 does not answer, is dropped
#   stall    rank 3 stopped (kill -STOP); node2 answers: the restart uses both nodes again
#   twice    a stall as above, then, once the restarted job trains, node2 lost as in `lost`
# Each trial prints "measure KIND #N: bitwise equal|weights differ; fault -> training again S s (limit
# L s); work lost W step(s) (limit I)" for each restart (bench/elastic_trials.sh sums them up).
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
# shellcheck disable=SC2154 # cluster, V, MT_CLUSTER_ID and MPITRAIN come from common.bash and cluster_setup

stall_timeout=5
interval=5      # steps between checkpoints (checkpoint.every_steps)
epoch_steps=50 # 1200 samples at batch 24
limit=$((stall_timeout + 30)) # seconds from a fault to training again
export MT_JOB_GRACE=5         # launch/mpirun_watch ends a failing job 5 s after it is seen to fail
elastic=$MT_SOURCE/launch/elastic
ns=mt${MT_CLUSTER_ID}node # the nodes' network namespaces

# elastic_setup: the dataset, the config ($V/c.yaml: 200 steps) and the undisturbed 1-rank run ($V/ref)
elastic_setup() {
  linear_dataset "$V/d.h5" 4 1200 16
  stall_classifier "$V/c.yaml" "$V/d.h5" 4 "$stall_timeout"
  echo "checkpoint: {every_steps: $interval}" >>"$V/c.yaml"
  mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/ref" --quiet >"$V/ref.log" 2>&1 \
    || stop "undisturbed 1-rank run: $(tail -n 1 "$V/ref.log")"
}

# cluster_up: 2 nodes x 2 slots, with their mpirun settings in the environment (for launch/elastic)
cluster_up() {
  "$cluster" down >/dev/null 2>&1
  "$cluster" up --nodes 2 --slots 2 >"$V/up.log" 2>&1 || return 1
  eval "$("$cluster" env)"
}

# wait_line FILE PATTERN COUNT SECONDS: until FILE has COUNT lines matching PATTERN (fails after SECONDS)
wait_line() {
  local i
  for ((i = 0; i < $4 * 10 * MT_TIME_SCALE; i++)); do
    (($(grep -c -e "$2" "$1" 2>/dev/null) >= $3)) && return 0
    sleep 0.1
  done
  return 1
}
now() { date +%s.%N; }
# field LINE KEY: KEY's value in a JSON line of launch/elastic's log (a number, a string, a list)
field() { grep -oE "\"$2\": (\"[^\"]*\"|\[[^]]*\]|[^,}]*)" <<<"$1" | head -n 1 | sed -E "s/^\"$2\": //; s/^\"(.*)\"$/\1/"; }
# rank_pid NODE RANK: the process id of rank RANK on node NODE
rank_pid() {
  local p
  for p in $(ip netns pids "$ns${1#node}"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p" && return
  done
}
kill_node() { ip netns pids "$ns${1#node}" | xargs -r kill -9; }

# check_restart KIND#N LINE FAULT_TIME FAILED_STEP REASON DROPPED HOSTS: one restart's JSON line: its
# reason (REASON: a regular expression), hosts dropped and hosts of the new attempt; the step resumed from (a checkpoint's, before the
# failure); the time from the fault to training again and the work lost (from the log, else from
# FAILED_STEP) against the limits; prints the measure line
check_restart() {
  local t=$1 line=$2 t0=$3 at=$4
  [[ -n $line ]] || { no "$t: no restart logged"; return; }
  [[ $(field "$line" reason) =~ ^($5)$ && $(field "$line" hosts_dropped) == "$6" && $(field "$line" hosts) == "$7" ]] \
    && ok "$t: restart logged: reason $5, dropped $6, restarted on $7" \
    || no "$t: restart logged as: reason $(field "$line" reason), dropped $(field "$line" hosts_dropped), hosts $(field "$line" hosts) (expected $5, $6, $7)"
  local resumed lost took
  resumed=$(field "$line" resumed_step)
  lost=$(field "$line" work_lost_steps)
  # not from a step's stall (a node lost: the step the test made it at; a stall in the evaluation
  # after epoch E or in its checkpoint: E x steps_per_epoch steps done)
  if [[ ! $lost =~ ^[0-9]+$ ]]; then
    if [[ -n $at ]]; then
      lost=$((at - 1 - resumed))
    elif [[ $(field "$line" failed_during) =~ (after|of)\ epoch\ ([0-9]+) ]]; then
      lost=$((BASH_REMATCH[2] * epoch_steps - resumed))
    fi
  fi
  [[ $resumed =~ ^[0-9]+$ ]] && ((resumed % interval == 0)) && ((resumed > 0)) \
    && ok "$t: resumed from step $resumed (a checkpoint's)" || no "$t: resumed from step '${resumed}'"
  took=$(awk -v a="$t0" -v b="$(field "$line" resumed_at)" 'BEGIN { if (b == "" || b == "null") print "none"; else printf "%.1f", b - a }')
  [[ $took != none ]] && awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t <= l) }' \
    && ok "$t: training again $took s after the fault (limit $limit s)" || no "$t: training again $took s after the fault (limit $limit s)"
  [[ $lost =~ ^[0-9]+$ ]] && ((lost <= interval)) && ok "$t: work lost $lost step(s) (limit $interval)" \
    || no "$t: work lost '$lost' step(s) (limit $interval)"
  echo "measure $t: fault -> training again $took s (limit $limit s); work lost $lost step(s) (limit $interval)"
}

# elastic_trial KIND N: see the top of this file
elastic_trial() {
  local kind=$1 t="$1 #$2" run=$V/$1$2 fault_step="" t0 t1="" failed2="" i
  cluster_up || { no "$t: up: $(tail -n 1 "$V/up.log")"; return; }
  local env=()
  if [[ $kind == lost ]]; then
    fault_step=$((interval + 2 + RANDOM % 40))
    env=(MPITRAIN_FAULT="stall:step:$fault_step:3")
  elif [[ $kind == twice ]]; then
    # rank 3 holds at the N-th step of the restarted job (its processes count from 1); the first
    # attempt is stopped before it gets that far (about step 30 at most)
    failed2=$((45 + RANDOM % 30))
    env=(MPITRAIN_FAULT="stall:step:$failed2:3")
  fi
  env "${env[@]}" timeout $((300 * MT_TIME_SCALE)) "$elastic" --min-ranks 1 --hostfile "$MT_CLUSTER_DIR/hosts" \
    --log "$run.jsonl" -- "$MPITRAIN" train "$V/c.yaml" --set output="$run" >"$run.out" 2>"$run.err" &
  local job=$!
  if [[ $kind == lost ]]; then
    wait_line "$run.err" "MPITRAIN_FAULT: rank 3: stall at step $fault_step," 1 60 || no "$t: rank 3 never held at step $fault_step"
    kill_node node2
  else
    wait_line "$run.err" "^elastic: attempt 1:" 1 10 # the job was started
    for ((i = 0; i < 600; i++)); do [[ -f $run/checkpoint.h5 ]] && break; sleep 0.1; done
    sleep "0.$((RANDOM % 10))"
    case $kind in
    cut) "$cluster" cut node2 ;;
    stall | twice) kill -STOP "$(rank_pid node2 3)" ;;
    esac
  fi
  t0=$(now)
  if [[ $kind == twice ]]; then
    wait_line "$run.err" "^elastic: restart 1 of" 1 60 \
      && wait_line "$run.err" "MPITRAIN_FAULT: rank 3: stall at step $failed2," 1 60 || no "$t: rank 3 never held in the restarted job"
    kill_node node2
    t1=$(now)
  fi
  wait "$job"
  local status=$?
  [[ $status == 0 ]] && ok "$t: launch/elastic exit status 0" || no "$t: exit status $status: $(grep '^elastic:' "$run.err" | tail -n 2)"
  local restarts
  restarts=$(grep -c '"event": "restart"' "$run.jsonl" 2>/dev/null)
  local want=1
  [[ $kind != twice ]] || want=2
  ((restarts == want)) && grep -q "^elastic: restart $want of at most 3: dropped: " "$run.err" \
    && ok "$t: $want restart(s), logged on stderr and in --log" || no "$t: $restarts restart(s) logged, not $want"
  local first second
  first=$(grep -m 1 '"restart": 1,' "$run.jsonl")
  second=$(grep -m 1 '"restart": 2,' "$run.jsonl")
  case $kind in
  lost) check_restart "$t" "$first" "$t0" "$fault_step" "node lost|rank lost" '["node2"]' '["node1"]' ;;
  cut) check_restart "$t" "$first" "$t0" "" stall '["node2"]' '["node1"]' ;;
  stall) check_restart "$t" "$first" "$t0" "" stall '[]' '["node1", "node2"]' ;;
  twice)
    check_restart "$t (stall)" "$first" "$t0" "" stall '[]' '["node1", "node2"]'
    local base
    base=$(field "$first" resumed_step)
    check_restart "$t (lost)" "$second" "$t1" "$((base + failed2))" "node lost|rank lost" '["node2"]' '["node1"]'
    ;;
  esac
  [[ $kind != cut ]] || "$cluster" heal node2
  # every process of the job gone (the ranks left on a cut node end by themselves)
  for ((i = 0; i < limit * 10 && $(ip netns pids "${ns}1" | wc -l) + $(ip netns pids "${ns}2" | wc -l) > 0; i++)); do sleep 0.1; done
  (($(ip netns pids "${ns}1" | wc -l) + $(ip netns pids "${ns}2" | wc -l) == 0)) && ok "$t: no process of the job left on the nodes" \
    || no "$t: processes left on the nodes: $(ip netns pids "${ns}1") $(ip netns pids "${ns}2")"
  if h5diff "$V/ref/checkpoint.h5" "$run/checkpoint.h5" /params /params >/dev/null 2>&1; then
    ok "$t: bitwise the weights of the undisturbed run"
    echo "measure $t: bitwise equal"
  else
    no "$t: the weights differ from the undisturbed run"
    echo "measure $t: weights differ"
  fi
}

# elastic_usage: a config error under launch/elastic: exit status 2, one attempt, no restart; the
# supervisor's own bad flags: exit status 2 and one line naming the flag; USR1 and INT to the
# supervisor: passed on to the job, which stops (USR1: after a checkpoint), not restarted
elastic_usage() {
  cluster_up || { no "usage: up: $(tail -n 1 "$V/up.log")"; return; }
  timeout $((60 * MT_TIME_SCALE)) "$elastic" --hostfile "$MT_CLUSTER_DIR/hosts" --log "$V/usage.jsonl" -- \
    "$MPITRAIN" train "$V/c.yaml" --set training.epoch=3 >"$V/usage.out" 2>"$V/usage.err"
  local status=$?
  [[ $status == 2 ]] && grep -q "unknown key 'epoch'" "$V/usage.err" && (($(grep -c "^elastic: attempt" "$V/usage.err") == 1)) \
    && ! grep -q "restart" "$V/usage.err" && grep -q '"event": "end", "status": 2' "$V/usage.jsonl" \
    && ok "a config error under launch/elastic: exit status 2, one attempt, not retried" \
    || no "config error: status $status: $(grep -E 'elastic|epoch' "$V/usage.err" | tr '\n' ' ')"
  local sig
  for sig in USR1 INT; do
    # (a background job of a script starts with SIGINT ignored, unless restored)
    env --default-signal=INT "$elastic" --hostfile "$MT_CLUSTER_DIR/hosts" --log "$V/$sig.jsonl" -- "$MPITRAIN" train "$V/c.yaml" \
      --set output="$V/$sig" >"$V/$sig.out" 2>"$V/$sig.err" &
    local job=$! i
    for ((i = 0; i < 600; i++)); do [[ -f $V/$sig/checkpoint.h5 ]] && break; sleep 0.1; done
    kill -"$sig" "$job"
    wait "$job"
    status=$?
    [[ $status == 1 ]] && grep -q "^elastic: interrupted by SIG$sig: not restarting" "$V/$sig.err" \
      && (($(grep -c "^elastic: attempt" "$V/$sig.err") == 1)) && ! grep -q '"event": "restart"' "$V/$sig.jsonl" \
      && ok "SIG$sig to launch/elastic: the job stops, exit status 1, not restarted" \
      || no "SIG$sig: status $status: $(grep -E '^elastic|stopped' "$V/$sig.err" | tr '\n' ' ')"
  done
  [[ -f $V/USR1/checkpoint_interrupted.h5 ]] && ok "USR1: the ranks wrote checkpoint_interrupted.h5" \
    || no "USR1: no checkpoint_interrupted.h5: $(grep -E 'stopped|mpitrain' "$V/USR1.err" | head -n 2)"
  local flag
  for flag in "--min-ranks 0" "--max-restarts x" "--max-ranks" "--bogus 1"; do
    # shellcheck disable=SC2086 # a flag and its value
    "$elastic" $flag --hostfile "$MT_CLUSTER_DIR/hosts" -- "$MPITRAIN" train "$V/c.yaml" >"$V/flag.out" 2>"$V/flag.err"
    status=$?
    [[ $status == 2 && $(wc -l <"$V/flag.err") == 1 ]] && grep -q -- "^elastic: .*${flag% *}" "$V/flag.err" \
      && ok "launch/elastic $flag: exit status 2, one line naming the flag" \
      || no "launch/elastic $flag: status $status: $(head -n 2 "$V/flag.err")"
  done
}
