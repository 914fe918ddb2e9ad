#!/usr/bin/env bash
# End-to-end test of the mpitrain program on a small slice of the real Fashion-MNIST data:
# import idx -> h5ls shapes -> train at np 2 -> metrics.jsonl, scaling.json, checkpoint layout ->
# eval agrees with the last val_accuracy -> inspect -> resume (1 epoch + 1 more == 2 epochs at once)
# -> --resume without a checkpoint starts from scratch -> np 1 follows the same path as np 2.
# Run by CTest as cli.train_end_to_end with MPITRAIN, MPIEXEC, MPIEXEC_PREFLAGS set (see
# tests/CMakeLists.txt); needs the dataset-fashion-mnist package. Prints one line per check and
# ends with "N passed, M failed".
# shellcheck disable=SC2317  # check/cleanup/same4 are called indirectly
set -u

MPITRAIN=${MPITRAIN:?MPITRAIN must name the mpitrain program}
MPIEXEC=${MPIEXEC:-mpiexec}
read -r -a PREFLAGS <<<"${MPIEXEC_PREFLAGS:-}"
FASHION=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

T=$(mktemp -d "${TMPDIR:-/tmp}/mt-e2e.XXXXXX") || exit 1
cleanup() { rm -rf "$T"; }
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
# check NAME COMMAND...: runs COMMAND, ok when it succeeds.
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}
show() { # prints a file indented, for failure diagnosis
  [[ -f $1 ]] && sed 's/^/    | /' "$1" | head -n 40
}
mpi() { timeout $((240 * ${MT_TIME_SCALE:-1})) "$MPIEXEC" -np "$1" "${PREFLAGS[@]}" "${@:2}"; }

# Four big-endian bytes of an unsigned number.
be32() {
  local n=$1 b
  for b in $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255)); do
    printf '%b' "\\0$(printf '%03o' "$b")"
  done
}
# slice_images IN.gz OUT.gz COUNT: the first COUNT 28x28 images with a rewritten IDX header.
slice_images() {
  { be32 $((0x0803)); be32 "$3"; be32 28; be32 28; zcat "$1" | tail -c +17 | head -c $(($3 * 784)); } | gzip -c >"$2"
}
# slice_labels IN.gz OUT.gz COUNT
slice_labels() {
  { be32 $((0x0801)); be32 "$3"; zcat "$1" | tail -c +9 | head -c "$3"; } | gzip -c >"$2"
}
# json_field FILE ROW KEY: value of KEY in row ROW (1-based; "last" for the last row) of a JSON-lines file.
json_field() {
  local line
  if [[ $2 == last ]]; then line=$(tail -n 1 "$1"); else line=$(sed -n "$2p" "$1"); fi
  printf '%s\n' "$line" | grep -o "\"$3\": *[-+0-9.eEaninfNAI]*" | head -n 1 | sed 's/.*: *//'
}
# same4 A B: A and B agree to 4 decimals.
same4() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && sprintf("%.4f", a) == sprintf("%.4f", b)) }'; }

for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [[ ! -r $FASHION/$f ]]; then
    fail "fashion-mnist files present ($FASHION/$f missing: install dataset-fashion-mnist)"
    finish
  fi
done

# --- import a 2000/500 slice -------------------------------------------------------------------
slice_images "$FASHION/train-images-idx3-ubyte.gz" "$T/train-images.gz" 2000
slice_labels "$FASHION/train-labels-idx1-ubyte.gz" "$T/train-labels.gz" 2000
slice_images "$FASHION/t10k-images-idx3-ubyte.gz" "$T/test-images.gz" 500
slice_labels "$FASHION/t10k-labels-idx1-ubyte.gz" "$T/test-labels.gz" 500
DATA=$T/fashion-small.h5
"$MPITRAIN" import idx --train-images "$T/train-images.gz" --train-labels "$T/train-labels.gz" \
  --test-images "$T/test-images.gz" --test-labels "$T/test-labels.gz" -o "$DATA" >"$T/import.out" 2>&1
rc=$?
check "import idx exits 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || { show "$T/import.out"; finish; }

h5ls -r "$DATA" >"$T/h5ls.out" 2>&1
check "/train/x is {2000, 28, 28}" grep -Eq '^/train/x +Dataset \{2000, 28, 28\}' "$T/h5ls.out"
check "/train/y is {2000}" grep -Eq '^/train/y +Dataset \{2000\}' "$T/h5ls.out"
check "/test/x is {500, 28, 28}" grep -Eq '^/test/x +Dataset \{500, 28, 28\}' "$T/h5ls.out"
check "/test/y is {500}" grep -Eq '^/test/y +Dataset \{500\}' "$T/h5ls.out"
[[ $failed -eq 0 ]] || show "$T/h5ls.out"

# --- train 2 epochs at np 2 --------------------------------------------------------------------
CFG=$T/small.yaml
cat >"$CFG" <<YAML
# small Fashion-MNIST MLP for the end-to-end test
model:
  input: [28, 28]
  layers:
    - dense: {units: 32, activation: relu}
    - dense: {units: 10, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.002}
data: {file: $DATA, train: train, validation: test}
training: {epochs: 2, batch_size: 64, seed: 1}
output: $T/run
checkpoint: {every_epochs: 1, keep: 3}
YAML

mpi 2 "$MPITRAIN" train "$CFG" >"$T/train.out" 2>"$T/train.err"
rc=$?
check "train at np 2 exits 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || { show "$T/train.out"; show "$T/train.err"; }
check "train prints a final line" grep -q "^final: val_loss .* val_accuracy " "$T/train.out"

M=$T/run/metrics.jsonl
rows=$(grep -c . "$M" 2>/dev/null)
check "metrics.jsonl has 2 rows (got ${rows:-none})" test "${rows:-0}" -eq 2
for key in epoch loss accuracy val_loss val_accuracy seconds samples_per_sec; do
  n=$(grep -c "\"$key\":" "$M" 2>/dev/null)
  check "every metrics row has $key" test "${n:-0}" -eq "${rows:-0}" -a "${rows:-0}" -gt 0
done
val_acc=$(json_field "$M" last val_accuracy 2>/dev/null)
val_loss=$(json_field "$M" last val_loss 2>/dev/null)
check "last val_accuracy > 0.6 (got ${val_acc:-none})" \
  awk -v a="${val_acc:-0}" 'BEGIN { exit !(a + 0 > 0.6) }'
check "last row is epoch 2" same4 "$(json_field "$M" last epoch 2>/dev/null)" 2
check "scaling.json exists" test -s "$T/run/scaling.json"
check "checkpoint.h5 exists" test -f "$T/run/checkpoint.h5"
check "checkpoint_epoch0002.h5 exists" test -f "$T/run/checkpoint_epoch0002.h5"
h5ls -r "$T/run/checkpoint.h5" >"$T/ckpt.ls" 2>&1
check "checkpoint /params/000_dense/weight is {32, 784}" \
  grep -Eq '^/params/000_dense/weight +Dataset \{32, 784\}' "$T/ckpt.ls"
check "checkpoint /params/001_dense/bias is {10}" grep -Eq '^/params/001_dense/bias +Dataset \{10\}' "$T/ckpt.ls"
check "checkpoint has /state/epoch" grep -Eq '^/state/epoch ' "$T/ckpt.ls"
check "checkpoint has /config" grep -Eq '^/config ' "$T/ckpt.ls"

# --- eval and inspect ------------------------------------------------------------------------
"$MPITRAIN" eval "$T/run/checkpoint.h5" >"$T/eval.out" 2>&1
rc=$?
check "eval exits 0 (got $rc)" test "$rc" -eq 0
eval_acc=$(grep -E '^accuracy ' "$T/eval.out" | awk '{ print $2 }')
check "eval accuracy ${eval_acc:-none} equals last val_accuracy ${val_acc:-none} to 4 decimals" \
  same4 "${eval_acc:-}" "${val_acc:-}"
[[ $rc -eq 0 ]] || show "$T/eval.out"
mpi 2 "$MPITRAIN" eval "$T/run/checkpoint.h5" >"$T/eval2.out" 2>&1
eval2_acc=$(grep -E '^accuracy ' "$T/eval2.out" | awk '{ print $2 }')
check "eval at np 2 gives the same accuracy (${eval2_acc:-none})" same4 "${eval2_acc:-}" "${val_acc:-}"

"$MPITRAIN" inspect "$T/run/checkpoint.h5" >"$T/inspect.out" 2>&1
check "inspect checkpoint exits 0" test $? -eq 0
"$MPITRAIN" inspect "$DATA" >"$T/inspect-data.out" 2>&1
check "inspect dataset exits 0" test $? -eq 0

# --- resume: 1 epoch, then --resume up to 2 ------------------------------------------------------
mpi 2 "$MPITRAIN" train "$CFG" --set output="$T/run2" --set training.epochs=1 --quiet >"$T/r1.out" 2>&1
rc=$?
check "1-epoch run exits 0 (got $rc)" test "$rc" -eq 0
mpi 2 "$MPITRAIN" train "$CFG" --set output="$T/run2" --resume --set training.epochs=2 >"$T/r2.out" 2>&1
rc=$?
check "--resume to epoch 2 exits 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || show "$T/r2.out"
rows=$(grep -c . "$T/run2/metrics.jsonl" 2>/dev/null)
check "resumed metrics.jsonl has 2 rows (got ${rows:-none})" test "${rows:-0}" -eq 2
r_loss=$(json_field "$T/run2/metrics.jsonl" last val_loss 2>/dev/null)
check "resumed run ends where the uninterrupted one does (val_loss ${r_loss:-none} vs ${val_loss:-none})" \
  same4 "${r_loss:-}" "${val_loss:-}"

# --- --resume with nothing to resume from ----------------------------------------------------------
mpi 2 "$MPITRAIN" train "$CFG" --set output="$T/run3" --resume >"$T/r3.out" 2>&1
rc=$?
check "--resume without a checkpoint exits 0 (got $rc)" test "$rc" -eq 0
check "--resume without a checkpoint says 'from scratch'" grep -q "from scratch" "$T/r3.out"
rows=$(grep -c . "$T/run3/metrics.jsonl" 2>/dev/null)
check "it trains all 2 epochs (got ${rows:-none} rows)" test "${rows:-0}" -eq 2
[[ $rc -eq 0 ]] || show "$T/r3.out"

# --- np 1 follows the same path as np 2 with the same global batch -------------------------------
mpi 1 "$MPITRAIN" train "$CFG" --set output="$T/run1" --quiet >"$T/np1.out" 2>&1
rc=$?
check "train at np 1 exits 0 (got $rc)" test "$rc" -eq 0
np1_loss=$(json_field "$T/run1/metrics.jsonl" last val_loss 2>/dev/null)
check "np 1 val_loss ${np1_loss:-none} is within 1e-3 of np 2's ${val_loss:-none}" \
  awk -v a="${np1_loss:-x}" -v b="${val_loss:-y}" \
  'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "x" && b != "y" && d < 1e-3) }'

finish
