#!/bin/bash
# Checkpoints at step granularity, at np 2, deterministic mode: with checkpoint.every_steps 7 a run killed
# at a random step has its newest checkpoint at most 6 steps back (the newest multiple of 7, or the epoch
# checkpoint if newer), and resumed on 1 rank it ends bitwise equal to an uninterrupted run, saying that it
# continues a 2-rank run; with checkpoint.every_seconds (rank 0's clock) every rank writes after the step
# rank 0 asked for, and only the newest checkpoint.keep step files stay. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

linear_dataset "$T/d.h5" 6 600 16 # 25 steps per epoch at batch 24, 100 in the 4 epochs
dropout_classifier "$T/c.yaml" "$T/d.h5" 24
mpi 1 "$MPITRAIN" train "$T/c.yaml" --set output="$T/ref" --quiet >"$T/ref.log" 2>&1 \
  || stop "uninterrupted run: $(tail -n 1 "$T/ref.log")"

# state_step FILE: the optimizer steps a checkpoint was written after
state_step() { h5dump -d /state/step "$1" 2>/dev/null | awk '/\(0\):/ { print $2 }'; }

# killed NAME K SETTINGS...: a 2-rank run whose rank 1 is killed at the start of its step K
killed() {
  MPITRAIN_FAULT=kill:step:$2:1 run2 train "$T/c.yaml" --set output="$T/$1" "${@:3}" --quiet >"$T/$1.log" 2>&1
  [[ -f $T/$1/checkpoint.h5 ]] || no "$1: no checkpoint after the kill at step $2: $(tail -n 1 "$T/$1.log")"
}

k=$((30 + RANDOM % 60))
killed steps "$k" --set checkpoint.every_steps=7
done_steps=$((k - 1)) want=$(((k - 1) / 7 * 7))
((want < (k - 1) / 25 * 25)) && want=$(((k - 1) / 25 * 25))
got=$(state_step "$T/steps/checkpoint.h5")
[[ $got == "$want" ]] && ok "killed after $done_steps steps: the newest checkpoint is after step $got ($((done_steps - got)) step(s) lost, at most 6)" \
  || no "killed after $done_steps steps: newest checkpoint after step '$got', expected $want"
mpi 1 "$MPITRAIN" train "$T/c.yaml" --set output="$T/steps" --set checkpoint.every_steps=7 --resume \
  >"$T/steps_resumed.log" 2>&1 || no "resume on 1 rank: $(tail -n 1 "$T/steps_resumed.log")"
grep -q "resuming from .*(epoch [0-9]*, step $got, written by 2 rank(s))" "$T/steps_resumed.log" \
  && grep -q "continuing on 1 rank(s) a run written by 2: .*bitwise" "$T/steps_resumed.log" \
  && ok "the resumed run says where it continues from and on how many ranks" \
  || no "resume notices: $(grep -i "resum\|continuing" "$T/steps_resumed.log" | head -n 2)"
h5diff "$T/ref/checkpoint.h5" "$T/steps/checkpoint.h5" /params /params >/dev/null 2>&1 \
  && ok "resumed on 1 rank after the kill: bitwise the uninterrupted weights" || no "resumed weights differ"

# every_seconds as good as zero: rank 0 asks for a checkpoint after every step, and every rank follows
killed seconds 40 --set checkpoint.every_seconds=0.000001
[[ $(state_step "$T/seconds/checkpoint.h5") == 39 && -f $T/seconds/checkpoint_step00000039.h5 ]] \
  && ok "every_seconds: checkpoint_step00000039.h5 after the kill at step 40" \
  || no "every_seconds: newest checkpoint after step $(state_step "$T/seconds/checkpoint.h5"), expected 39"
kept=$(cd "$T/seconds" && echo checkpoint_step*.h5)
[[ $kept == "checkpoint_step00000037.h5 checkpoint_step00000038.h5 checkpoint_step00000039.h5" ]] \
  && ok "checkpoint.keep 3: the step files of steps 37-39 kept, the older ones removed" || no "step files kept: $kept"
finish
