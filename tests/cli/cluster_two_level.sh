#!/bin/bash
# Two-level gradient sums (training.node_sums: two_level) on 2 emulated nodes x 2 ranks: the run says it
# sums in two levels; deterministic weights bitwise equal to 1 rank's; float32 within 1e-4 of them;
# bfloat16 trains (its loss falls). With one rank per node there is nothing to sum inside a node, and
# the run says nothing of two levels. The cluster (MT_CLUSTER_ID 29) is taken down at the end, whatever
# happened. Skipped (exit 77) where network namespaces cannot be created. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 29
"$cluster" up --nodes 2 --slots 2 >"$V/up.log" 2>&1 || stop "up: $(cat "$V/up.log")"
# on2 NP ARGS...: mpitrain on the 2 nodes (files of the run under $V, outside the nodes' /tmp)
on2() {
  local np=$1
  shift
  timeout $((180 * MT_TIME_SCALE)) "$cluster" mpirun -np "$np" --map-by node "$MPITRAIN" "$@"
}

linear_dataset "$V/d.h5" 9 400 16
cat >"$V/c.yaml" <<YAML
model: {input: [16], layers: [{dense: {units: 32, activation: relu}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.01}
data: {file: $V/d.h5, train: train}
training: {epochs: 3, batch_size: 24, seed: 5, deterministic: true, node_sums: two_level, bucket_mb: 0.0001}
YAML

mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/one" --quiet >"$V/one.log" 2>&1 || no "1 rank: $(tail -n 1 "$V/one.log")"
on2 4 train "$V/c.yaml" --set output="$V/two" >"$V/two.log" 2>&1 && grep -q "in two levels: inside each of 2 nodes" "$V/two.log" \
  && ok "2 nodes x 2 ranks sum in two levels" || no "2 nodes x 2 ranks: $(tail -n 3 "$V/two.log")"
h5diff "$V/one/checkpoint.h5" "$V/two/checkpoint.h5" /params /params >"$V/diff.txt" 2>&1 \
  && ok "deterministic, two levels: bitwise equal to 1 rank" || no "deterministic weights differ: $(head -n 3 "$V/diff.txt")"

mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/one32" --set training.deterministic=false --quiet \
  >"$V/one32.log" 2>&1 || no "1 rank float32: $(tail -n 1 "$V/one32.log")"
on2 4 train "$V/c.yaml" --set output="$V/two32" --set training.deterministic=false --quiet >"$V/two32.log" 2>&1 \
  || no "float32, two levels: $(tail -n 1 "$V/two32.log")"
h5diff -p 1e-4 "$V/one32/checkpoint.h5" "$V/two32/checkpoint.h5" /params /params >"$V/diff32.txt" 2>&1 \
  && ok "float32, two levels: within 1e-4 (relative) of 1 rank" || no "float32 weights differ: $(head -n 3 "$V/diff32.txt")"

on2 4 train "$V/c.yaml" --set output="$V/bf16" --set training.deterministic=false --set training.gradient_dtype=bf16 \
  --quiet >"$V/bf16.log" 2>&1 || no "bfloat16, two levels: $(tail -n 1 "$V/bf16.log")"
losses=$(grep -o '"loss": *[0-9.eE+-]*' "$V/bf16/metrics.jsonl" 2>/dev/null | sed 's/.*: *//' | tr '\n' ' ')
awk -v l="$losses" 'BEGIN { n = split(l, v, " "); exit !(n == 3 && v[3] < v[1]) }' \
  && ok "bfloat16, two levels: the loss falls ($losses)" || no "bfloat16 losses: '$losses'"

on2 2 train "$V/c.yaml" --set output="$V/flat" >"$V/flat.log" 2>&1 && ! grep -q "two levels" "$V/flat.log" \
  && h5diff "$V/one/checkpoint.h5" "$V/flat/checkpoint.h5" /params /params >/dev/null 2>&1 \
  && ok "1 rank per node: no second level, bitwise equal to 1 rank" || no "1 rank per node: $(tail -n 2 "$V/flat.log")"
finish
