#!/bin/bash
# Fault injection at np 2 (MPITRAIN_FAULT, src/core/fault.h): a rank killed mid-epoch, a rank that exits,
# rank 0 killed half-way through a checkpoint write, mpirun itself killed, a rank that hangs (the
# watchdog names it), a failed read (also under synchronized batch norm, whose collectives must not
# hang), NaN in one rank's batch, a bit-flipped and a truncated newest checkpoint, a full disk and a
# read-only output directory. Each case asserts the exit status, the message and that every rank is
# gone within a bound (printing the seconds from the fault to the job's end), then resumes with --resume
# and compares the final weights with an uninterrupted run bit for bit (deterministic mode, h5diff).
# Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

linear_dataset "$T/d.h5" 7 600 16
# 600 rows, batch 20: 30 steps per epoch, 5 epochs = 150 steps; a checkpoint after every epoch.
cat >"$T/c.yaml" <<YAML
model: {input: [16], layers: [{dense: {units: 64, activation: relu}}, {dropout: {rate: 0.1}},
        {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.003}
data: {file: $T/d.h5, train: train, validation_fraction: 0.2}
training: {epochs: 5, batch_size: 20, seed: 3, deterministic: true, chunk_size: 5}
checkpoint: {every_epochs: 1, keep: 3}
YAML

run2 train "$T/c.yaml" --set output="$T/ref" --quiet >"$T/ref.log" 2>&1 || no "uninterrupted run: $(tail -n 1 "$T/ref.log")"

now() { date +%s.%N; }
# The seconds from the fault (the time in the injection's trace line) to t_end.
since_fault() {
  awk -v end="$2" 'match($0, /MPITRAIN_FAULT: .* time [0-9.]+/) { n = split(substr($0, RSTART, RLENGTH), w, " "); t = w[n] }
    END { if (t) printf "%.1f", end - t; else print "?" }' "$1"
}

# case NAME FAULT EXPECTED_STATUS MESSAGE_REGEX [SETTINGS...]: one faulty run (output $T/NAME) bounded
# by 60 s; checks status, message and the time to exit, then --resume and the final weights.
case_() {
  local name=$1 fault=$2 want=$3 msg=$4
  shift 4
  local out="$T/$name"
  MPITRAIN_FAULT=$fault run2 train "$T/c.yaml" --set output="$out" "$@" >"$out.log" 2>&1
  local rc=$? end
  end=$(now)
  if { [ "$want" = nonzero ] && [ $rc -ne 0 ] && [ $rc -ne 124 ]; } || [ "$rc" = "$want" ]; then
    ok "$name: exit status $rc, all ranks gone $(since_fault "$out.log" "$end") s after the fault"
  else
    no "$name: exit status $rc (want $want): $(grep -v '^--' "$out.log" | tail -n 3 | tr '\n' ' ')"
  fi
  grep -Eq "$msg" "$out.log" && ok "$name: message" || no "$name: no line matching /$msg/ in: $(grep -E 'mpitrain:|rank' "$out.log" | head -n 3)"
  resume_matches "$name" "$out"
}

# --resume from what the faulty run left must end with the uninterrupted run's weights.
resume_matches() {
  local name=$1 out=$2
  run2 train "$T/c.yaml" --set output="$out" --resume --quiet >"$out.resume.log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || { no "$name: --resume: exit $rc: $(grep mpitrain "$out.resume.log" | tail -n 2)"; return; }
  h5diff "$T/ref/checkpoint.h5" "$out/checkpoint.h5" /params /params >"$out.diff" 2>&1 \
    && ok "$name: resumed weights equal the uninterrupted run's (bitwise)" \
    || no "$name: resumed weights differ: $(head -n 2 "$out.diff")"
}

case_ kill_rank1 kill:step:40:1 nonzero "rank 1 .*exited on signal 9"
case_ exit_rank0 exit:step:75:0 nonzero "Process name: \[\[[0-9]+,[0-9]+\],0\]"
case_ kill_in_checkpoint kill:checkpoint:2:0 nonzero "rank 0 .*exited on signal 9"
ls "$T/kill_in_checkpoint"/*.tmp.* >/dev/null 2>&1 && no "kill_in_checkpoint: temporary file left after --resume" \
  || ok "kill_in_checkpoint: the half-written file was removed, never read"
case_ stall_rank1 stall:step:50:1 1 "^mpitrain: rank 0 \([^)]*\): stalled during step 50 \(epoch 3\): rank\(s\) 1 \(1 of 2, on host [^)]*\) did not reach (MPI_Iallreduce \(gradient sums\)|the gradient sums in the node's shared memory)" \
  --set training.stall_timeout=2
case_ stall_rank0 stall:step:50:0 1 "^mpitrain: rank 1 \([^)]*\): stalled during step 50 \(epoch 3\): rank\(s\) 0 \(1 of 2, on host [^)]*\) did not reach (MPI_Iallreduce \(gradient sums\)|the gradient sums in the node's shared memory)" \
  --set training.stall_timeout=2
case_ read_fails fail:step:20:1 1 "^mpitrain: rank 1: .*d.h5: /train/x: reading .* failed"
case_ nan_input nan:step:35:0 1 "^mpitrain: step 35 \(epoch 2\): .*NaN.*stopped before the update"
case_ eval_fails fail:eval:2:1 1 "^mpitrain: rank 1: .*d.h5: .*/x: reading failed during evaluation"

# mpirun killed (while rank 0 hangs at step 40): the ranks lose their launcher and must not linger.
out="$T/kill_mpirun"
MPITRAIN_FAULT=stall:step:40:0 run2 train "$T/c.yaml" --set output="$out" >"$out.log" 2>&1 &
for _ in $(seq 300); do grep -q MPITRAIN_FAULT "$out.log" 2>/dev/null && break; sleep 0.1; done
for pid in $(pgrep -f -- "-np 2 .*output=$out"); do # the launcher, not timeout(1) around it
  case $(cat "/proc/$pid/comm" 2>/dev/null) in mpirun | mpiexec | orterun) kill -KILL "$pid" ;; esac
done
start=$(now)
for _ in $(seq 100); do pgrep -f "^$MPITRAIN train $T/c.yaml --set output=$out" >/dev/null || break; sleep 0.1; done
if pgrep -f "^$MPITRAIN train $T/c.yaml --set output=$out" >/dev/null; then
  no "kill_mpirun: ranks still running 10 s after mpirun was killed"
  pkill -KILL -f "^$MPITRAIN train $T/c.yaml --set output=$out"
else
  ok "kill_mpirun: all ranks gone $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s after mpirun was killed"
fi
wait
resume_matches kill_mpirun "$out"

# Synchronized batch norm reduces over the ranks inside the forward pass: the rank whose read fails must
# still take part, or the other would wait for ever (here: until the 60 s bound of the watchdog below).
cat >"$T/bn.yaml" <<YAML
model: {input: [16], layers: [{dense: {units: 32}}, {batch_norm: {sync: true}}, relu,
        {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: sgd, learning_rate: 0.1}
data: {file: $T/d.h5, train: train}
training: {epochs: 2, batch_size: 20, seed: 3, accumulate_steps: 2, stall_timeout: 60}
YAML
s0=$(now)
MPITRAIN_FAULT=fail:step:3:1 run2 train "$T/bn.yaml" --set output="$T/bn" >"$T/bn.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "^mpitrain: rank 1: .*reading .* failed" "$T/bn.log" \
  && ok "sync batch norm, failed read: exit 1 with rank 1's message in $(awk -v a="$s0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" \
  || no "sync batch norm, failed read: exit $rc: $(grep mpitrain "$T/bn.log" | tail -n 2)"

# Damaged newest checkpoint: --resume says so and falls back to the previous one.
for damage in flip truncate; do
  out="$T/$damage"
  run2 train "$T/c.yaml" --set output="$out" --set training.epochs=3 --quiet >"$out.log" 2>&1 || no "$damage: first 3 epochs"
  f="$out/checkpoint_epoch0003.h5"
  if [ $damage = flip ]; then
    # Flip one byte inside the first layer's weights (found by value: the raw float32 bytes of one weight).
    off=$(python3 - "$f" <<'PY' 2>/dev/null
import struct, sys, subprocess
data = open(sys.argv[1], 'rb').read()
out = subprocess.run(['h5dump', '-d', '/params/000_dense/weight', '-s', '10,5', '-c', '1,1', '-m', '%.9g', sys.argv[1]],
                     capture_output=True, text=True).stdout
v = float(out.split('(10,5):')[1].split()[0])
print(data.index(struct.pack('<f', v)))
PY
)
    [ -n "$off" ] || off=$(( $(stat -c %s "$f") / 2 ))
    printf '\x5a' | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
    cp "$out/checkpoint_epoch0002.h5" "$T/one.h5"
  else
    truncate -s $(( $(stat -c %s "$f") / 2 )) "$f"
  fi
  run2 train "$T/c.yaml" --set output="$out" --resume --quiet >"$out.resume.log" 2>&1
  rc=$?
  grep -q "checkpoint_epoch0002.h5" "$out.resume.log" && grep -Eqi "fell back past 1 damaged" "$out.resume.log" \
    && ok "$damage: --resume falls back to epoch 2 and says so" \
    || no "$damage: $(grep -i mpitrain "$out.resume.log" | head -n 3)"
  [ $rc -eq 0 ] && h5diff "$T/ref/checkpoint.h5" "$out/checkpoint.h5" /params /params >/dev/null 2>&1 \
    && ok "$damage: weights after the fallback equal the uninterrupted run's" || no "$damage: exit $rc or weights differ"
done
# The damaged file named with the reason, and an explicit --resume FILE of a damaged file refused (exit 2).
grep -Eq "checkpoint(_epoch0003)?\.h5: .*(checksum|corrupt|unreadable|truncated)" "$T/flip.resume.log" \
  && ok "flip: the damaged file and the reason named" || no "flip: $(grep mpitrain "$T/flip.resume.log" | head -n 2)"
truncate -s 4000 "$T/one.h5"
run2 train "$T/c.yaml" --set output="$T/explicit" --resume "$T/one.h5" >"$T/explicit.log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "one.h5: " "$T/explicit.log" && ok "--resume FILE of a damaged file: exit 2 naming it" \
  || no "--resume damaged FILE: exit $rc: $(grep mpitrain "$T/explicit.log" | head -n 2)"

# A full disk during a checkpoint write, and a read-only output directory: a small tmpfs (needs root).
mnt="$T/mnt"
mkdir -p "$mnt"
if mount -t tmpfs -o size=2m tmpfs "$mnt" 2>/dev/null; then
  out="$mnt/run"
  run2 train "$T/c.yaml" --set output="$out" --set training.epochs=1 --quiet >"$T/full1.log" 2>&1 || no "disk full: first epoch"
  cp "$out/checkpoint.h5" "$T/before.h5"
  # Leave room for metrics.jsonl but not for the next checkpoint: free space = half a checkpoint.
  ckpt_k=$(( $(stat -c %s "$out/checkpoint.h5") / 1024 ))
  free_k=$(df -k --output=avail "$mnt" | tail -n 1)
  dd if=/dev/zero of="$mnt/filler" bs=1k count=$((free_k - ckpt_k / 2)) 2>/dev/null
  run2 train "$T/c.yaml" --set output="$out" --resume --quiet >"$T/full2.log" 2>&1
  rc=$?
  [ $rc -eq 1 ] && grep -Eq "^mpitrain: rank 0: .*checkpoint_epoch0002.h5.*(No space left on device|cannot write)" "$T/full2.log" \
    && ok "disk full: exit 1 naming the checkpoint" || no "disk full: exit $rc: $(grep mpitrain "$T/full2.log" | tail -n 2)"
  cmp -s "$out/checkpoint.h5" "$T/before.h5" && ! ls "$out"/*.tmp.* >/dev/null 2>&1 \
    && ok "disk full: the previous checkpoint intact, no partial file left" || no "disk full: checkpoint.h5 changed or a partial file is left"
  rm -f "$mnt/filler"
  run2 train "$T/c.yaml" --set output="$out" --resume --quiet >"$T/full3.log" 2>&1
  h5diff "$T/ref/checkpoint.h5" "$out/checkpoint.h5" /params /params >/dev/null 2>&1 \
    && ok "disk full: after space is freed --resume ends with the uninterrupted run's weights" \
    || no "disk full: resume after freeing space: $(grep mpitrain "$T/full3.log" | tail -n 2)"
  mount -o remount,ro "$mnt"
  run2 train "$T/c.yaml" --set output="$mnt/other" >"$T/ro.log" 2>&1
  rc=$?
  [ $rc -eq 2 ] && grep -Eq "^mpitrain: (rank 0: )?output: .*(Read-only file system|not writable)" "$T/ro.log" \
    && ok "read-only output directory: exit 2 with one line" || no "read-only: exit $rc: $(grep mpitrain "$T/ro.log" | head -n 2)"
  umount "$mnt"
else
  ok "disk full / read-only directory: skipped (cannot mount a tmpfs here: not root?)"
fi
finish
