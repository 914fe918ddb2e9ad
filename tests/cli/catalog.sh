#!/bin/bash
# The catalog end to end through the command line, at np = 2 on small generated data: import csv (with a
# missing cell, weights and an order column), standardize + mean imputation stored in the checkpoint and
# applied by eval, a validation fraction, k-fold cross-validation (--folds), early stopping, gradient
# accumulation, dropout and batch norm layers, each loss and optimizer name accepted by the program,
# metrics in metrics.jsonl, and the step-activation warning. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

# A CSV: y = 1 when x1 + x2 > 0, a weight column, a time column, one missing cell.
awk 'BEGIN { srand(7); print "x1,x2,x3,w,t,y";
  for (i = 0; i < 400; i++) { a = rand() * 4 - 2; b = rand() * 4 - 2; c = rand();
    printf "%s,%.5f,%.5f,%.3f,%d,%d\n", (i == 5 ? "" : sprintf("%.5f", a)), b, c, 1 + (i % 2), i, (a + b > 0) } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label y --weights w --order t -o "$T/d.h5" >"$T/import.log" 2>&1 \
  && ok "import csv --label --weights --order" || no "import csv: $(tail -n 1 "$T/import.log")"
h5ls -r "$T/d.h5" 2>/dev/null | grep -q "/train/w" && ok "import csv wrote /train/w" || no "no /train/w"

cat >"$T/c.yaml" <<YAML
model:
  input: [3]
  layers:
    - dense: {units: 16, activation: gelu, kernel_initializer: he_normal}
    - batch_norm: {sync: true}
    - dropout: {rate: 0.1}
    - dense: {units: 8, activation: leaky_relu}
    - dense: {units: 1, activation: sigmoid}
loss: binary_crossentropy
optimizer: {name: nadam, learning_rate: 0.01, clipnorm: 1.0}
lr_schedule: {name: cosine, warmup_epochs: 1}
metrics: [binary_accuracy, mae]
data: {file: $T/d.h5, train: train, scaling: standardize, missing: mean, validation_fraction: 0.2}
training: {epochs: 30, batch_size: 32, accumulate_steps: 2, seed: 2}
early_stopping: {monitor: val_loss, patience: 50}
output: $T/run
YAML
run2 train "$T/c.yaml" >"$T/train.log" 2>&1 && ok "train with the catalog config" || no "train: $(tail -n 1 "$T/train.log")"
last=$(tail -n 1 "$T/run/metrics.jsonl" 2>/dev/null)
for k in binary_accuracy val_binary_accuracy mae val_mae lr; do
  echo "$last" | grep -q "\"$k\"" && ok "metrics.jsonl has $k" || no "metrics.jsonl lacks $k"
done
acc=$(echo "$last" | sed -n 's/.*"val_accuracy": \([0-9.]*\).*/\1/p')
awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.85) }' && ok "val_accuracy $acc > 0.85" || no "val_accuracy $acc"
h5ls -r "$T/run/checkpoint.h5" 2>/dev/null | grep -q "^/preprocessing/shift" && ok "checkpoint has /preprocessing" \
  || no "checkpoint lacks /preprocessing"
h5ls -r "$T/run/checkpoint.h5" 2>/dev/null | grep -q "running_var" && ok "checkpoint has batch_norm running_var" \
  || no "checkpoint lacks running_var"
"$MPITRAIN" eval "$T/run/checkpoint.h5" --data "$T/d.h5" --split train >"$T/eval.log" 2>&1 \
  && grep -q "^accuracy" "$T/eval.log" && ok "eval applies the stored preprocessing" || no "eval: $(tail -n 1 "$T/eval.log")"

run2 train "$T/c.yaml" --folds 3 --set training.epochs=3 --set output="$T/cv" --quiet >"$T/cv.log" 2>&1 \
  && grep -q "cross-validation over 3 folds" "$T/cv.log" && [ -f "$T/cv/fold2/metrics.jsonl" ] \
  && ok "--folds 3 trains 3 folds and reports mean and spread" || no "--folds: $(tail -n 1 "$T/cv.log")"

# --timeline: a Chrome trace with events from every rank (valid JSON when python3 can check it).
run2 train "$T/c.yaml" --set training.epochs=1 --set output="$T/tl" --timeline "$T/tl.json" --quiet >"$T/tl.log" 2>&1 \
  && ok "--timeline FILE" || no "--timeline: $(tail -n 1 "$T/tl.log")"
for r in 0 1; do
  grep -q "\"pid\": $r, \"tid\": 0}" "$T/tl.json" 2>/dev/null && grep -q "\"name\": \"rank $r\"" "$T/tl.json" \
    && ok "timeline has events of rank $r" || no "timeline lacks rank $r"
done
for e in "read batch" "forward 000_dense" "backward 004_dense" "allreduce bucket 0" "wait for gradients" "optimizer step" "evaluate"; do
  grep -q "\"name\": \"$e" "$T/tl.json" 2>/dev/null && ok "timeline has '$e'" || no "timeline lacks '$e'"
done
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert {e["pid"] for e in d["traceEvents"]} == {0, 1}' \
    "$T/tl.json" && ok "timeline is valid JSON" || no "timeline is not valid JSON"
fi

# Every loss and optimizer name trains a step without error (one epoch on the csv data).
for loss in mse rmse mae huber hinge binary_crossentropy; do
  run2 train "$T/c.yaml" --set loss=$loss --set training.epochs=1 --set output="$T/l" --quiet >"$T/l.log" 2>&1 \
    && ok "loss $loss" || no "loss $loss: $(tail -n 1 "$T/l.log")"
done
for opt in gd sgd momentum nesterov adagrad adadelta rmsprop adam nadam adamw; do
  run2 train "$T/c.yaml" --set optimizer=$opt --set training.epochs=1 --set output="$T/o" --quiet >"$T/o.log" 2>&1 \
    && ok "optimizer $opt" || no "optimizer $opt: $(tail -n 1 "$T/o.log")"
done

# step cannot be trained through: the run says so.
run2 train "$T/c.yaml" --set model.layers.3.dense.activation=step --set training.epochs=1 --set output="$T/s" \
  >"$T/step.log" 2>&1
grep -q "warning: .*step" "$T/step.log" && ok "step activation warns" || no "no step warning: $(tail -n 2 "$T/step.log")"

# Token sequences through an embedding and an LSTM; ids outside the vocabulary stop the run cleanly.
awk 'BEGIN { srand(3); print "t1,t2,t3,t4,y"; for (i = 0; i < 200; i++) { a = int(rand() * 10); b = int(rand() * 10);
  printf "%d,%d,%d,%d,%d\n", a, b, int(rand() * 10), int(rand() * 10), (a > b) } }' >"$T/tok.csv"
"$MPITRAIN" import csv "$T/tok.csv" --label y -o "$T/tok.h5" >/dev/null 2>&1
cat >"$T/tok.yaml" <<YAML
model:
  input: [4]
  layers:
    - embedding: {input_dim: 10, output_dim: 8}
    - lstm: {units: 16}
    - dense: {units: 2, activation: softmax}
loss: categorical_crossentropy
optimizer: adam
data: {file: $T/tok.h5, train: train}
training: {epochs: 2, batch_size: 20}
output: $T/tok
YAML
run2 train "$T/tok.yaml" --quiet >"$T/tok.log" 2>&1 && ok "embedding + lstm on token ids" || no "tokens: $(tail -n 1 "$T/tok.log")"
run2 train "$T/tok.yaml" --set model.layers.0.embedding.input_dim=5 --quiet >"$T/tok5.log" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "token id" "$T/tok5.log" && ok "token ids outside the vocabulary: exit 2 naming them" \
  || no "bad token ids: exit $rc: $(grep mpitrain "$T/tok5.log" | head -n 1)"

finish
