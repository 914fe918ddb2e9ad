#!/bin/bash
# A NaN loss, end to end at np = 2: one training row has a feature of 3e38, so the step that holds it
# overflows to NaN (on whichever rank reads it). training.on_nonfinite: stop (the default) ends the run
# with exit status 1 and one message naming the step, before any update and without a checkpoint;
# skip_step warns for that step in each epoch, trains on, and the checkpoint holds finite weights;
# deterministic mode reports the values its fixed point cannot take. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

awk 'BEGIN { srand(3); print "x1,x2,y"; for (i = 0; i < 64; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1;
  printf "%s,%.4f,%d\n", (i == 10 ? "3e38" : sprintf("%.4f", a)), b, (a + b > 0) } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label y -o "$T/d.h5" >/dev/null 2>&1 || no "import csv"
cat >"$T/c.yaml" <<YAML
model: {input: [2], layers: [{dense: {units: 8, activation: relu}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: sgd, learning_rate: 0.1}
data: {file: $T/d.h5, train: train}
training: {epochs: 2, batch_size: 16, seed: 1}
YAML

run2 train "$T/c.yaml" --set output="$T/stop" --quiet >"$T/stop.log" 2>&1
rc=$?
[ $rc -eq 1 ] && ok "stop: exit status 1" || no "stop: exit status $rc"
[ "$(grep -c '^mpitrain: step [0-9]* (epoch 1): the loss is NaN on some rank; stopped before the update' "$T/stop.log")" = 1 ] \
  && ok "stop: one message naming the step" || no "stop: $(grep mpitrain "$T/stop.log" | head -n 2)"
[ ! -e "$T/stop/checkpoint.h5" ] && ok "stop: no checkpoint written" || no "stop: a checkpoint was written"

run2 train "$T/c.yaml" --set output="$T/skip" --set training.on_nonfinite=skip_step --quiet >"$T/skip.log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "skip_step: exit status 0" || no "skip_step: exit status $rc: $(tail -n 1 "$T/skip.log")"
[ "$(grep -c 'step skipped (no update)' "$T/skip.log")" = 2 ] && ok "skip_step: one warning per epoch" \
  || no "skip_step: $(grep -c 'step skipped' "$T/skip.log") warnings"
grep -q "2 step(s) were skipped" "$T/skip.log" && ok "skip_step: the count at the end" || no "no count of skipped steps"
h5dump -g /params "$T/skip/checkpoint.h5" >"$T/w.txt" 2>&1 && ! grep -qi "nan\|inf" "$T/w.txt" \
  && ok "skip_step: finite weights in the checkpoint" || no "skip_step: checkpoint weights: $(grep -i -m1 'nan\|inf' "$T/w.txt")"

run2 train "$T/c.yaml" --set output="$T/det" --set training.deterministic=true --quiet >"$T/det.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "value(s) on some rank are NaN or beyond +-2^20; stopped before the update" "$T/det.log" \
  && ok "deterministic: exit 1, the fixed point's count" || no "deterministic: exit $rc: $(grep mpitrain "$T/det.log" | head -n 1)"

finish
