#!/bin/bash
# Faults injected (MPITRAIN_FAULT, src/core/fault.h) into the MPI commands other than train, at np 2:
# eval and predict with one rank hanging in its evaluation or prediction pass end the whole job through
# the watchdog of the checkpoint's training.stall_timeout (exit 1, the stall named on stderr, every rank
# gone within a bound, no process left), and with one rank's read failing end with that rank's message
# (exit 1). A malformed MPITRAIN_FAULT is a usage error (exit 2) for each of them. Ends with
# "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

awk 'BEGIN { srand(5); print "a,b,label"; for (i = 0; i < 400; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1;
  printf "%.4f,%.4f,%d\n", a, b, (a > b) } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label label --test-fraction 0.25 --seed 1 -o "$T/d.h5" >"$T/import.log" 2>&1 \
  || { no "import csv: $(tail -n 1 "$T/import.log")"; stop; }
cat >"$T/c.yaml" <<YAML
model: {input: [2], layers: [{dense: {units: 8, activation: tanh}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.03}
data: {file: $T/d.h5, train: train, test: test}
training: {epochs: 2, batch_size: 20, seed: 1, stall_timeout: 2}
output: $T/run
YAML
run2 train "$T/c.yaml" --quiet >"$T/train.log" 2>&1 || { no "training: $(tail -n 2 "$T/train.log")"; stop; }
ckpt=$T/run/checkpoint.h5

now() { date +%s.%N; }
# Seconds from the fault (the time in the injection's trace line) to $2.
since_fault() {
  awk -v end="$2" 'match($0, /MPITRAIN_FAULT: .* time [0-9.]+/) { n = split(substr($0, RSTART, RLENGTH), w, " "); t = w[n] }
    END { if (t) printf "%.1f", end - t; else print "?" }' "$1"
}

# case_ NAME FAULT STATUS MESSAGE_REGEX COMMAND ARGS...: one faulty run of mpitrain COMMAND at np 2 bounded by
# 60 s; checks the exit status, the message and that no rank is left.
case_() {
  local name=$1 fault=$2 want=$3 msg=$4 rc end
  shift 4
  MPITRAIN_FAULT=$fault timeout $((60 * MT_TIME_SCALE)) "$MPIEXEC" -np 2 "${PREFLAGS[@]}" "$MPITRAIN" "$@" \
    >"$T/$name.log" 2>&1 </dev/null
  rc=$?
  end=$(now)
  [ "$rc" = "$want" ] && ok "$name: exit status $rc, all ranks gone $(since_fault "$T/$name.log" "$end") s after the fault" \
    || no "$name: exit status $rc (want $want$([ $rc = 124 ] && echo ': hung')): $(grep mpitrain "$T/$name.log" | tail -n 3 | tr '\n' ' ')"
  grep -Eq "$msg" "$T/$name.log" && ok "$name: message" \
    || no "$name: no line matching /$msg/ in: $(grep -E 'mpitrain' "$T/$name.log" | head -n 3)"
  if pgrep -f "^$MPITRAIN $1 $2" >/dev/null; then
    no "$name: ranks still running after the launcher returned"
    pkill -KILL -f "^$MPITRAIN $1 $2"
  else
    ok "$name: no rank left"
  fi
}

stalled="rank\(s\) 1 \(1 of 2, on host [^)]*\) did not reach MPI_Allreduce .*training.stall_timeout"
case_ eval_stall_rank1 stall:eval:1:1 1 "^mpitrain: rank 0 \([^)]*\): stalled during evaluating .*d.h5 split 'test': $stalled" \
  eval "$ckpt"
case_ eval_stall_rank0 stall:eval:1:0 1 "^mpitrain: rank 1 \([^)]*\): stalled during evaluating .*d.h5 split 'test': rank\(s\) 0 \(1 of 2, on host [^)]*\)" \
  eval "$ckpt"
case_ eval_confusion_stall stall:eval:2:1 1 "^mpitrain: rank 0 \([^)]*\): stalled during .*split 'test': $stalled" eval "$ckpt"
case_ predict_stall_rank1 stall:eval:1:1 1 "^mpitrain: rank 0 \([^)]*\): stalled during predicting .*d.h5 split 'test': $stalled" \
  predict "$ckpt" "$T/d.h5" -o "$T/p.csv"
case_ eval_read_fails fail:eval:1:1 1 "^mpitrain: rank 1: .*d.h5: /test/x: reading failed during evaluation" eval "$ckpt"
case_ predict_read_fails fail:eval:1:1 1 "^mpitrain: rank 1: .*d.h5: /test/x: reading failed during prediction" \
  predict "$ckpt" "$T/d.h5" -o "$T/p.csv"
case_ eval_bad_fault bogus 2 "^mpitrain: MPITRAIN_FAULT=bogus: expected ACTION:POINT:N" eval "$ckpt"
case_ predict_bad_fault kill:step 2 "^mpitrain: MPITRAIN_FAULT=kill:step: expected ACTION:POINT:N" \
  predict "$ckpt" "$T/d.h5" -o "$T/p.csv"
finish
