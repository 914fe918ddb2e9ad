#!/bin/bash
# --resume with another training.epochs, at np = 2: under a cosine lr_schedule (whose rates span the run)
# the resumed run says in one warning that its rates differ from an uninterrupted run's, naming both epoch
# counts; under a constant schedule, or with the same epochs, it says nothing. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

awk 'BEGIN { srand(5); print "x1,x2,y"; for (i = 0; i < 48; i++) { a = rand() * 2 - 1; b = rand() * 2 - 1;
  printf "%.4f,%.4f,%d\n", a, b, (a + b > 0) } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label y -o "$T/d.h5" >/dev/null 2>&1 || no "import csv"
cat >"$T/c.yaml" <<YAML
model: {input: [2], layers: [{dense: {units: 4, activation: relu}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: sgd, learning_rate: 0.1}
data: {file: $T/d.h5, train: train}
training: {epochs: 2, batch_size: 16, seed: 1}
YAML

# run NAME SCHEDULE: 2 epochs, then --resume with training.epochs=3 (log NAME.log) and with 2 (NAME_same.log)
run() {
  run2 train "$T/c.yaml" --set output="$T/$1" --set lr_schedule="$2" --quiet >"$T/$1_first.log" 2>&1 \
    || no "$1: first run: $(tail -n 1 "$T/$1_first.log")"
  run2 train "$T/c.yaml" --set output="$T/$1" --set lr_schedule="$2" --set training.epochs=3 --resume --quiet \
    >"$T/$1.log" 2>&1 || no "$1: resumed run: $(tail -n 1 "$T/$1.log")"
  run2 train "$T/c.yaml" --set output="$T/$1" --set lr_schedule="$2" --set training.epochs=3 --resume --quiet \
    >"$T/$1_same.log" 2>&1 || no "$1: resumed again: $(tail -n 1 "$T/$1_same.log")"
}

run cosine cosine
[ "$(grep -c 'warning: .*written by a run of training.epochs = 2, this one has 3: the lr_schedule spans the run' \
  "$T/cosine.log")" = 1 ] && ok "cosine, 2 -> 3 epochs: one warning" || no "cosine: $(grep -i warn "$T/cosine.log")"
! grep -q 'spans the run' "$T/cosine_same.log" && ok "cosine, 3 -> 3 epochs: no warning" \
  || no "cosine, same epochs: $(grep -i warn "$T/cosine_same.log")"
run constant constant
! grep -q 'spans the run' "$T/constant.log" && ok "constant, 2 -> 3 epochs: no warning" \
  || no "constant: $(grep -i warn "$T/constant.log")"
finish
