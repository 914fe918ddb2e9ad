#!/usr/bin/env bash
# Hostile dataset and checkpoint files against the mpitrain program, run under the MPI launcher at np 2:
# malformed shapes and types, absurd sizes (products overflowing 64 bits, more rows than a split may
# hold, 2 GiB chunks), data never written or written only in part (it would read as fill values), NaN
# features and targets, infinite features (under every data.missing, in training, validation and eval
# splits), dangling links, truncated and damaged files, fewer rows than ranks; then checkpoints that do
# not fit (truncated, bit-flipped tensor, other optimizer, other shapes, a missing layer, not a
# checkpoint). Every case must end with exit status exactly 2, exactly one error line from mpitrain on
# stderr containing the expected text (file and dataset), within 60 s, and no crash (signal, sanitizer
# report); the checkpoint of an earlier good run must stay unchanged.
# Files come from the fixture writer tests/tools/mkdataset ($MT_TOOLS/mkdataset). Run by CTest as
# cli.bad_datasets with MPITRAIN, MPIEXEC, MPIEXEC_PREFLAGS and MT_TOOLS set. Prints one line per case
# and ends with "N passed, M failed".
set -u

MPITRAIN=${MPITRAIN:?MPITRAIN must name the mpitrain program}
MKDATASET=${MT_TOOLS:?MT_TOOLS must name the directory of the mkdataset fixture writer}/mkdataset
MPIEXEC=${MPIEXEC:-mpiexec}
read -r -a PREFLAGS <<<"${MPIEXEC_PREFLAGS:-}"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

T=$(mktemp -d "${TMPDIR:-/tmp}/mt-baddata.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}
fail() {
  failed=$((failed + 1))
  echo "FAIL - $1"
}

# shellcheck source=expect_error.bash
. "$(dirname "$0")/expect_error.bash"

# mk NAME KIND [N]: writes $T/NAME.h5 with mkdataset; echoes its path.
mk() {
  if ! "$MKDATASET" "$T/$1.h5" "$2" ${3:+"$3"} >"$T/mk.out" 2>&1; then
    fail "mkdataset $2 could not write its fixture"
    sed 's/^/    | /' "$T/mk.out" | head -n 5
  fi
  echo "$T/$1.h5"
}

# A model for mkdataset's samples: x [N, 4], labels 0..2. Line numbers are fixed (cases below use them).
config() {
  local name=$1 loss=${2:-categorical_crossentropy} out=${3:-3} act=${4:-softmax}
  cat >"$T/$name.yaml" <<YAML
model:
  input: [4]
  layers:
    - dense: {units: 16, activation: relu}
    - dense: {units: $out, activation: $act}
loss: $loss
optimizer: {name: adam, learning_rate: 0.01}
data: {file: $T/good.h5, train: train}
training:
  epochs: 1
  batch_size: 8
  seed: 1
output: $T/run
checkpoint: {every_epochs: 1, keep: 2}
YAML
  echo "$T/$name.yaml"
}

mk good good >/dev/null
SMALL=$(config small)
REGRESSION=$(config regression mse 1 linear)

# --- malformed and hostile dataset files: the message names the file and the dataset ----------------
while read -r kind want; do
  f=$(mk "$kind" "$kind")
  expect_error "dataset $kind" "$kind\.h5: .*$want" "$MPITRAIN" train "$SMALL" --set data.file="$f"
done <<'CASES'
rank6 /train/x: rank 6
string_x /train/x: unsupported type
y_rank2_int /train/y: integer class labels must have rank 1
huge_dims /train/x: .*more than 2\^40 elements per row
overflow_dims /train/x: .*more than 2\^40 elements per row
many_rows /train/x: N = 2199023255552 rows
huge_chunk /train/x: chunks of more than 256 MiB
unwritten /train/x: no data stored
unwritten_chunks /train/x: 0 of its 1073741824 chunks are stored
half_written /train/x: 3 of its 5 chunks are stored
nan_x /train/x: row 3, column 1 is missing
scalar_x /train/x: rank 0
null_x /train/x: rank 0
compound_x /train/x: unsupported type
string_y /train/y: unsupported type
dangling_x /train/x: a link to nothing
truncated truncated HDF5 dataset: [0-9]+ bytes, but its superblock records [0-9]+
corrupt_header damaged HDF5 file
empty_file is empty
uint8 /train/x: sample shape \[2, 3\] does not match model.input \[4\]
CASES
# Damage libhdf5 1.10 does not survive, kept from fuzzing: a chunked layout with no chunk dimensions (it
# divides by them when it opens the dataset: SIGFPE). Refused before the dataset is opened.
ZERO_CHUNK=$(dirname "$0")/../fuzz/corpus/fuzz_dataset/regress-hdf5-zero-chunk-dim.h5
expect_error "chunked layout with a zero chunk dimension" \
  "regress-hdf5-zero-chunk-dim\.h5: /train/y: damaged: its layout records a chunk dimension of 0" \
  "$MPITRAIN" train "$SMALL" --set data.file="$ZERO_CHUNK"
expect_error "fewer rows than ranks" "one\.h5: /train: 1 training rows cannot be shared by 2 ranks" \
  "$MPITRAIN" train "$SMALL" --set data.file="$(mk one good 1)"
mkdir -p "$T/dir.h5"
expect_error "dataset is a directory" "dir\.h5: is a directory" "$MPITRAIN" train "$SMALL" --set data.file="$T/dir.h5"
expect_error "NaN regression target" "nan_targets\.h5: /train/y: row 4 has a non-finite target" \
  "$MPITRAIN" train "$REGRESSION" --set data.file="$(mk nan_targets nan_targets)"
# Infinite features: never a missing value, refused under every data.missing, in the scan each policy
# already makes (the shared NaN scan for error and drop, rank 0's statistics pass for mean and median).
# nan_inf_x: row 3 has a NaN, row 29 (in rank 1's half of the scan at np 2) a NaN then a -Inf.
INF=$(mk inf_x inf_x)
NANINF=$(mk nan_inf_x nan_inf_x)
expect_error "infinite feature" "inf_x\.h5: /train/x: row 6, column 0 is \+inf" \
  "$MPITRAIN" train "$SMALL" --set data.file="$INF"
expect_error "infinite feature, minmax scaling" "inf_x\.h5: /train/x: row 6, column 0 is \+inf" \
  "$MPITRAIN" train "$SMALL" --set data.file="$INF" --set data.scaling=minmax
for missing in drop mean median; do
  expect_error "infinite feature, data.missing $missing" "inf_x\.h5: /train/x: row 6, column 0 is \+inf" \
    "$MPITRAIN" train "$SMALL" --set data.file="$INF" --set data.missing=$missing
  expect_error "-Inf after a NaN in its row, data.missing $missing" \
    "nan_inf_x\.h5: /train/x: row 29, column 3 is -inf" \
    "$MPITRAIN" train "$SMALL" --set data.file="$NANINF" --set data.missing=$missing --set data.scaling=standardize
done
expect_error "NaN before a -Inf, data.missing error" "nan_inf_x\.h5: /train/x: row 3, column 1 is missing" \
  "$MPITRAIN" train "$SMALL" --set data.file="$NANINF"
expect_error "infinite feature in the validation split, data.missing mean" \
  "inf_x\.h5: /train/x: row 6, column 0 is \+inf" \
  "$MPITRAIN" train "$SMALL" --set data.file="$INF" --set data.missing=mean --set data.train=test \
  --set data.validation=train
expect_error "missing validation split" "good\.h5: /nosuch/x: not found \(splits in file: test, train\)" \
  "$MPITRAIN" train "$SMALL" --set data.validation=nosuch
expect_error "bad labels in the validation split" "lab\.h5: /train/y: row 17 has label 12" \
  "$MPITRAIN" train "$SMALL" --set data.file="$(mk lab label_out_of_range)" --set data.train=test \
  --set data.validation=train

# --- checkpoints that do not fit ---------------------------------------------------------------------
if ! timeout $((120 * ${MT_TIME_SCALE:-1})) "$MPIEXEC" -np 2 "${PREFLAGS[@]}" "$MPITRAIN" train "$SMALL" --quiet >"$T/good.out" 2>&1 ||
  [[ ! -f $T/run/checkpoint.h5 ]]; then
  fail "good run to make a checkpoint"
  sed 's/^/    | /' "$T/good.out" | head -n 20
  finish
fi
CKPT=$T/run/checkpoint.h5
before=$(md5sum "$CKPT" "$T/run/metrics.jsonl" | awk '{ print $1 }')
cp "$CKPT" "$T/trunc.h5"
truncate -s $(($(stat -c %s "$CKPT") / 2)) "$T/trunc.h5"
expect_error "resume from a truncated checkpoint" "trunc\.h5: truncated HDF5 checkpoint" \
  "$MPITRAIN" train "$SMALL" --resume "$T/trunc.h5"
expect_error "eval of a truncated checkpoint" "trunc\.h5: truncated HDF5 checkpoint" "$MPITRAIN" eval "$T/trunc.h5"
cp "$CKPT" "$T/flip.h5"
if "$MKDATASET" --flip "$T/flip.h5" /params/000_dense/weight >"$T/mk.out" 2>&1; then
  expect_error "resume from a checkpoint with a flipped bit" \
    "flip\.h5: damaged checkpoint: checksum mismatch: its contents do not match the CRC-32 its seal records" \
    "$MPITRAIN" train "$SMALL" --resume "$T/flip.h5"
else
  fail "mkdataset --flip could not damage the checkpoint copy"
  sed 's/^/    | /' "$T/mk.out" | head -n 5
fi
expect_error "eval of a split with an infinite feature" "inf_x\.h5: /train/x: row 6, column 0 is \+inf" \
  "$MPITRAIN" eval "$CKPT" --data "$INF" --split train
cp "$CKPT" "$T/seal.h5"
printf 'crc32 00000000' | dd of="$T/seal.h5" bs=1 seek=16 conv=notrunc status=none
expect_error "eval of a checkpoint with a changed seal" "seal\.h5: damaged checkpoint: checksum mismatch" \
  "$MPITRAIN" eval "$T/seal.h5"
printf 'garbage' | dd of="$T/seal.h5" bs=1 seek=0 conv=notrunc status=none
expect_error "eval of a checkpoint whose seal is gone" "seal\.h5: no integrity seal in its first 512 bytes" \
  "$MPITRAIN" eval "$T/seal.h5"
expect_error "resume from a dataset file" "good\.h5: no integrity seal in its first 512 bytes" \
  "$MPITRAIN" train "$SMALL" --resume "$T/good.h5"
: >"$T/empty.h5"
expect_error "resume from an empty file" "empty\.h5: is empty" "$MPITRAIN" train "$SMALL" --resume "$T/empty.h5"
expect_error "resume with another optimizer" "checkpoint\.h5: /optimizer: state is for optimizer 'adam', the config uses 'sgd'" \
  "$MPITRAIN" train "$SMALL" --resume --set optimizer=sgd
expect_error "resume with other layer shapes" \
  "checkpoint\.h5: /params/000_dense/weight: shape \[16, 4\] does not match the model's \[8, 4\]" \
  "$MPITRAIN" train "$SMALL" --resume --set model.layers.0.dense.units=8
sed -e '5a\    - dense: {units: 3, activation: softmax}' -e '5s/softmax/relu/' "$SMALL" >"$T/extra.yaml"
expect_error "resume with an extra layer" "checkpoint\.h5: /params/002_dense: missing" \
  "$MPITRAIN" train "$T/extra.yaml" --resume
expect_error "resume with another loss and output size" "checkpoint\.h5: /params/001_dense/weight: shape \[3, 16\]" \
  "$MPITRAIN" train "$REGRESSION" --resume --set data.file="$(mk targets1d targets1d)"
after=$(md5sum "$CKPT" "$T/run/metrics.jsonl" | awk '{ print $1 }')
if [[ $before == "$after" ]]; then
  passed=$((passed + 1))
  echo "ok   - checkpoint.h5 and metrics.jsonl unchanged by the failing runs"
else
  fail "checkpoint.h5 or metrics.jsonl changed by a failing run"
fi
finish
