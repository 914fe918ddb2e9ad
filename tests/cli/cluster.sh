#!/bin/bash
# Training across 2 emulated nodes (launch/emulated_cluster: network namespaces behind a bridge, TCP
# between the nodes, shared memory inside each) with 2 ranks per node: deterministic weights bitwise equal
# to 1 rank's; float32 within 1e-4 of them; a checkpoint of the 2-node run resumed on 1 node and one of
# a 1-node run resumed on the 2 nodes both end with the uninterrupted run's weights (deterministic,
# bitwise). The cluster is taken down at the end, whatever happened. Skipped (exit 77) where network
# namespaces cannot be created. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 1 # its own bridge and namespaces (mtbr1, mt1node*)
"$cluster" up --nodes 2 --slots 2 >"$V/up.log" 2>&1 || stop "up: $(cat "$V/up.log")"
ok "2 emulated nodes up"
# on2 ARGS...: mpitrain on 2 nodes x 2 ranks (files of the run under $V, outside the nodes' /tmp)
on2() { timeout $((180 * MT_TIME_SCALE)) "$cluster" mpirun -np 4 "$MPITRAIN" "$@"; }

linear_dataset "$V/d.h5" 9 400 16
dropout_classifier "$V/c.yaml" "$V/d.h5" 24

mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/one" --quiet >"$V/one.log" 2>&1 || no "1 rank: $(tail -n 1 "$V/one.log")"
on2 train "$V/c.yaml" --set output="$V/two" >"$V/two.log" 2>&1 && grep -q "on 4 rank(s)" "$V/two.log" \
  && ok "trains on 2 nodes x 2 ranks" || no "2 nodes: $(tail -n 3 "$V/two.log")"
h5diff "$V/one/checkpoint.h5" "$V/two/checkpoint.h5" /params /params >"$V/diff.txt" 2>&1 \
  && ok "deterministic: 2 nodes x 2 ranks equal 1 rank bitwise" || no "deterministic weights differ: $(head -n 3 "$V/diff.txt")"

mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/one32" --set training.deterministic=false --quiet \
  >"$V/one32.log" 2>&1 || no "1 rank float32: $(tail -n 1 "$V/one32.log")"
on2 train "$V/c.yaml" --set output="$V/two32" --set training.deterministic=false --quiet >"$V/two32.log" 2>&1 \
  || no "2 nodes float32: $(tail -n 1 "$V/two32.log")"
h5diff -p 1e-4 "$V/one32/checkpoint.h5" "$V/two32/checkpoint.h5" /params /params >"$V/diff32.txt" 2>&1 \
  && ok "float32: 2 nodes within 1e-4 (relative) of 1 rank" || no "float32 weights differ: $(head -n 3 "$V/diff32.txt")"

# 2 epochs on the 2 nodes, then resumed on 1 rank to 4; and the other way round
on2 train "$V/c.yaml" --set output="$V/to1" --set training.epochs=2 --quiet >"$V/to1a.log" 2>&1 \
  || no "2 nodes, 2 epochs: $(tail -n 1 "$V/to1a.log")"
mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/to1" --resume >"$V/to1b.log" 2>&1 \
  && grep -q "resuming from .*(epoch 2," "$V/to1b.log" || no "resume on 1 rank: $(tail -n 1 "$V/to1b.log")"
h5diff "$V/one/checkpoint.h5" "$V/to1/checkpoint.h5" /params /params >/dev/null 2>&1 \
  && ok "--resume from 2 nodes onto 1 rank: bitwise the uninterrupted weights" || no "2 nodes -> 1 rank differs"
mpi 1 "$MPITRAIN" train "$V/c.yaml" --set output="$V/to2" --set training.epochs=2 --quiet >"$V/to2a.log" 2>&1 \
  || no "1 rank, 2 epochs: $(tail -n 1 "$V/to2a.log")"
on2 train "$V/c.yaml" --set output="$V/to2" --resume >"$V/to2b.log" 2>&1 \
  && grep -q "resuming from .*(epoch 2," "$V/to2b.log" || no "resume on 2 nodes: $(tail -n 1 "$V/to2b.log")"
h5diff "$V/one/checkpoint.h5" "$V/to2/checkpoint.h5" /params /params >/dev/null 2>&1 \
  && ok "--resume from 1 rank onto 2 nodes: bitwise the uninterrupted weights" || no "1 rank -> 2 nodes differs"

"$cluster" down >/dev/null 2>&1 && ! ip link show mtbr1 >/dev/null 2>&1 && ! ip netns list | grep -q mt1node \
  && ok "down leaves no namespace or bridge behind" || no "down left $(ip netns list | grep mt1node | tr '\n' ' ')"
finish
