#!/bin/bash
# Kill/resume trials: TRIALS runs (default 20) of a small deterministic training job at np 2 or 4, each hit
# by one to three random faults in a row (MPITRAIN_FAULT: a rank killed or exiting at a random step, rank 0
# killed half-way through a checkpoint write, a rank hanging until the watchdog stops the job), each fault
# followed by --resume, until the run completes. Counts the trials whose final weights are bitwise those
# of an uninterrupted run (h5diff of /params), and reports the seconds from each fault to the job's end.
#
#   MPITRAIN=build/mpitrain TRIALS=20 bench/kill_trials.sh
set -u
MPITRAIN=${MPITRAIN:-build/mpitrain}
TRIALS=${TRIALS:-20}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
T=$(mktemp -d "${TMPDIR:-/tmp}/mt-kill.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
RANDOM=${SEED:-42}

awk 'BEGIN { srand(11); printf "y"; for (j = 0; j < 16; j++) printf ",x%d", j; print "";
  for (i = 0; i < 800; i++) { s = 0; line = ""; for (j = 0; j < 16; j++) { v = rand() * 2 - 1; s += v * (j % 3 - 1);
    line = line sprintf(",%.4f", v) } print (s > 0) line } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label y -o "$T/d.h5" >/dev/null || exit 1
# 800 rows, batch 20: 40 steps per epoch, 6 epochs = 240 steps.
cat >"$T/c.yaml" <<YAML
model: {input: [16], layers: [{dense: {units: 64, activation: relu}}, {dropout: {rate: 0.1}},
        {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.003}
data: {file: $T/d.h5, train: train}
training: {epochs: 6, batch_size: 20, seed: 3, deterministic: true, chunk_size: 5, stall_timeout: 2}
YAML
run() { local np=$1; shift; timeout 120 mpirun --oversubscribe -np "$np" "$MPITRAIN" train "$T/c.yaml" "$@"; }
run 2 --set output="$T/ref" --quiet >/dev/null 2>&1 || { echo "reference run failed"; exit 1; }

same=0 faults=0
times=()
for trial in $(seq "$TRIALS"); do
  np=$((RANDOM % 2 ? 4 : 2))
  out="$T/t$trial"
  n_faults=$((1 + RANDOM % 3))
  desc=""
  for f in $(seq "$n_faults"); do
    case $((RANDOM % 4)) in
      0) fault="kill:step:$((1 + RANDOM % 60)):$((RANDOM % np))" ;;
      1) fault="exit:step:$((1 + RANDOM % 60)):$((RANDOM % np))" ;;
      2) fault="kill:checkpoint:$((1 + RANDOM % 2)):0" ;;
      3) fault="stall:step:$((1 + RANDOM % 60)):$((RANDOM % np))" ;;
    esac
    resume=()
    [ "$f" -gt 1 ] && resume=(--resume)
    MPITRAIN_FAULT=$fault run "$np" --set output="$out" "${resume[@]}" --quiet >"$out.$f.log" 2>&1
    rc=$? end=$(date +%s.%N)
    t=$(awk -v end="$end" 'match($0, /MPITRAIN_FAULT: .* time [0-9.]+/) { n = split(substr($0, RSTART, RLENGTH), w, " "); t = w[n] }
      END { if (t) printf "%.1f", end - t }' "$out.$f.log")
    [ -n "$t" ] && times+=("$t") && faults=$((faults + 1))
    desc="$desc $fault(rc $rc${t:+, ${t} s})"
  done
  run "$np" --set output="$out" --resume --quiet >"$out.final.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && h5diff "$T/ref/checkpoint.h5" "$out/checkpoint.h5" /params /params >/dev/null 2>&1; then
    same=$((same + 1))
    echo "trial $trial np $np:$desc -> identical"
  else
    echo "trial $trial np $np:$desc -> DIFFERENT or failed (rc $rc): $(grep mpitrain "$out.final.log" | tail -n 1)"
  fi
done
echo "$same of $TRIALS trials ended with weights identical to the uninterrupted run ($faults faults struck)"
printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "seconds from fault to job end: min %.1f, median %.1f, max %.1f (stalls include the 2 s watchdog limit)\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
[ "$same" -eq "$TRIALS" ]
