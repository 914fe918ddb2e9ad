#!/bin/bash
# A run stopped by SIGTERM (what a scheduler sends at the time limit) at np 2: the ranks finish the step
# they are in, rank 0 writes checkpoint_interrupted.h5 (checkpoint.h5 points at it), every rank exits with
# status 1 and one message naming the step; --resume continues from the next step, and in deterministic
# mode the final weights equal those of an uninterrupted run bit for bit (h5diff). The signal goes to the
# mpitrain processes (as srun delivers it; Open MPI's mpirun would abort the job on its own SIGTERM).
# Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

linear_dataset "$T/d.h5" 5 1500 32
cat >"$T/c.yaml" <<YAML
model: {input: [32], layers: [{dense: {units: 256, activation: relu}}, {dropout: {rate: 0.2}},
        {dense: {units: 256, activation: relu}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.001}
data: {file: $T/d.h5, train: train}
training: {epochs: 30, batch_size: 20, seed: 3, deterministic: true, chunk_size: 1}
YAML

run2 train "$T/c.yaml" --set output="$T/ref" --quiet >"$T/ref.log" 2>&1 || no "uninterrupted run: $(tail -n 1 "$T/ref.log")"

run2 train "$T/c.yaml" --set output="$T/run" --quiet >"$T/run.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do # up to 60 s for the first epoch to end
  [ -s "$T/run/metrics.jsonl" ] && break
  sleep 0.1
done
# The ranks themselves (their command line starts with the program; the launcher's and timeout's do not).
pkill -TERM -f "^$MPITRAIN train $T/c.yaml --set output=$T/run" || no "no rank to signal"
wait "$launcher"
rc=$?
[ $rc -eq 1 ] && ok "SIGTERM: exit status 1" || no "SIGTERM: exit status $rc"
grep -Eq "^mpitrain: stopped by SIGTERM after step [0-9]+ of epoch [0-9]+ \(step [0-9]+ of the run\): checkpoint written to .*checkpoint_interrupted.h5; --resume continues from it" "$T/run.log" \
  && ok "SIGTERM: one message naming the step" || no "SIGTERM: $(grep mpitrain "$T/run.log" | head -n 2)"
[ -f "$T/run/checkpoint_interrupted.h5" ] && [ "$T/run/checkpoint.h5" -ef "$T/run/checkpoint_interrupted.h5" ] \
  && ok "checkpoint.h5 is the interrupted run's checkpoint" || no "no checkpoint_interrupted.h5 behind checkpoint.h5"

run2 train "$T/c.yaml" --set output="$T/run" --resume >"$T/resume.log" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -Eq "resuming from .*checkpoint.h5 \(epoch [0-9]+, step [1-9][0-9]*," "$T/resume.log" \
  && ok "--resume continues mid-epoch" || no "--resume: exit $rc: $(grep -E 'mpitrain|resum' "$T/resume.log" | head -n 2)"
[ ! -e "$T/run/checkpoint_interrupted.h5" ] && ok "the next epoch checkpoint supersedes the interrupted one" \
  || no "checkpoint_interrupted.h5 left behind"
h5diff "$T/ref/checkpoint.h5" "$T/run/checkpoint.h5" /params /params >"$T/diff.txt" 2>&1 \
  && ok "interrupted + resumed weights equal the uninterrupted run's (bitwise)" \
  || no "weights differ: $(head -n 3 "$T/diff.txt")"
finish
