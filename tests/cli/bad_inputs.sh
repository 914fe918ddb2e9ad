#!/usr/bin/env bash
# Bad-input test of the mpitrain program: every case runs under the MPI launcher at np 2 (within
# 60 s) and must end with exit status exactly 2 and exactly one error line from mpitrain on stderr
# that contains the expected text (file, field, line number or row), with no sign of a crash (signal,
# sanitizer report). A failing run must not damage an existing checkpoint. Hostile dataset and checkpoint
# files have their own script, bad_datasets.sh. Run by CTest as cli.bad_inputs with MPITRAIN, MPIEXEC, MPIEXEC_PREFLAGS
# (and optionally MT_TOOLS with the mkdataset fixture writer) set; needs dataset-fashion-mnist.
# Prints one line per case and ends with "N passed, M failed".
# shellcheck disable=SC2317  # cleanup runs from the EXIT trap
set -u

MPITRAIN=${MPITRAIN:?MPITRAIN must name the mpitrain program}
MPIEXEC=${MPIEXEC:-mpiexec}
read -r -a PREFLAGS <<<"${MPIEXEC_PREFLAGS:-}"
FASHION=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
MKDATASET=${MT_TOOLS:+$MT_TOOLS/mkdataset}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

T=$(mktemp -d "${TMPDIR:-/tmp}/mt-bad.XXXXXX") || exit 1
cleanup() { chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

passed=0
failed=0
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}

# shellcheck source=expect_error.bash
. "$(dirname "$0")/expect_error.bash"

# Four big-endian bytes of an unsigned number.
be32() {
  local n=$1 b
  for b in $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255)); do
    printf '%b' "\\0$(printf '%03o' "$b")"
  done
}
# slice_images IN.gz OUT.gz COUNT / slice_labels IN.gz OUT.gz COUNT: the first COUNT records with
# a rewritten IDX header (images: 16-byte header, 28x28 bytes each; labels: 8-byte header).
slice_images() {
  { be32 $((0x0803)); be32 "$3"; be32 28; be32 28; zcat "$1" | tail -c +17 | head -c $(($3 * 784)); } | gzip -c >"$2"
}
slice_labels() {
  { be32 $((0x0801)); be32 "$3"; zcat "$1" | tail -c +9 | head -c "$3"; } | gzip -c >"$2"
}

# --- a small real dataset: 300 training and 100 test images of Fashion-MNIST ---------------------
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [[ ! -r $FASHION/$f ]]; then
    failed=$((failed + 1))
    echo "FAIL - fashion-mnist files present ($FASHION/$f missing: install dataset-fashion-mnist)"
    finish
  fi
done
slice_images "$FASHION/train-images-idx3-ubyte.gz" "$T/tri.gz" 300
slice_labels "$FASHION/train-labels-idx1-ubyte.gz" "$T/trl.gz" 300
slice_images "$FASHION/t10k-images-idx3-ubyte.gz" "$T/tei.gz" 100
slice_labels "$FASHION/t10k-labels-idx1-ubyte.gz" "$T/tel.gz" 100
DATA=$T/fashion.h5
if ! "$MPITRAIN" import idx --train-images "$T/tri.gz" --train-labels "$T/trl.gz" \
  --test-images "$T/tei.gz" --test-labels "$T/tel.gz" -o "$DATA" >"$T/import.out" 2>&1; then
  failed=$((failed + 1))
  echo "FAIL - import of the Fashion-MNIST slice"
  sed 's/^/    | /' "$T/import.out"
  finish
fi

# config NAME [sed expressions...]: writes $T/NAME.yaml from the good config below, edited by sed.
# Line numbers of the good config are fixed: tests below rely on them.
good_config() {
  cat <<YAML
model:
  input: [28, 28]
  layers:
    - dense: {units: 16, activation: relu}
    - dense: {units: 10, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.001}
data: {file: $DATA, train: train, validation: test}
training:
  epochs: 1
  batch_size: 32
  seed: 1
output: $T/run
checkpoint: {every_epochs: 1, keep: 2}
YAML
}
config() {
  local name=$1
  shift
  local args=()
  for e in "$@"; do args+=(-e "$e"); done
  if ((${#args[@]})); then good_config | sed "${args[@]}" >"$T/$name.yaml"; else good_config >"$T/$name.yaml"; fi
  echo "$T/$name.yaml"
}

GOOD=$(config good)

# --- configuration and command line ------------------------------------------------------------
expect_error "missing config file" "nope\.yaml" "$MPITRAIN" train "$T/nope.yaml"
expect_error "YAML syntax error names file:line" "syntax\.yaml:7\b" \
  "$MPITRAIN" train "$(config syntax '7s/.*/optimizer: {name: adam: learning_rate: 0.001}/')"
expect_error "unknown top-level key" "lose\.yaml:6\b.*lose" \
  "$MPITRAIN" train "$(config lose '6s/^loss:/lose:/')"
expect_error "unknown layer type" "layertype\.yaml:4\b.*dense2" \
  "$MPITRAIN" train "$(config layertype '4s/dense:/dense2:/')"
expect_error "unknown key in a layer" "unitz\.yaml:4\b.*unitz" \
  "$MPITRAIN" train "$(config unitz '4s/units:/unitz:/')"
expect_error "wrong type (epochs: ten)" "wrongtype\.yaml:10\b.*epochs" \
  "$MPITRAIN" train "$(config wrongtype '10s/epochs: 1/epochs: ten/')"
expect_error "out of range (units: 1000000000000)" "range\.yaml:4\b.*units" \
  "$MPITRAIN" train "$(config range '4s/units: 16/units: 1000000000000/')"
expect_error "global batch smaller than the ranks" "batch_size" \
  "$MPITRAIN" train "$GOOD" --set training.batch_size=1
expect_error "--set with an unknown key" "epochz" "$MPITRAIN" train "$GOOD" --set training.epochz=3
expect_error "negative size (units: -5)" "negative\.yaml:4\b.*units.*-5" \
  "$MPITRAIN" train "$(config negative '4s/units: 16/units: -5/')"
expect_error "negative epochs" "negepochs\.yaml:10\b.*epochs" "$MPITRAIN" train "$(config negepochs '10s/1/-3/')"
expect_error "zero batch size" "batch0\.yaml:11\b.*batch_size" "$MPITRAIN" train "$(config batch0 '11s/32/0/')"
expect_error "zero input dimension" "zeroinput\.yaml:2\b.*model\.input" \
  "$MPITRAIN" train "$(config zeroinput '2s/\[28, 28\]/[0, 28]/')"
expect_error "absurd sample size (10^12 values)" "hugeinput\.yaml:2\b.*more than 2\^31" \
  "$MPITRAIN" train "$(config hugeinput '2s/\[28, 28\]/[1000000, 1000000]/')"
expect_error "absurd layer (16777216 units on 10^6 inputs)" "hugelayer\.yaml:4\b.*too large" \
  "$MPITRAIN" train "$(config hugelayer '2s/\[28, 28\]/[1000000]/' '4s/units: 16/units: 16777216/')"
# Models that would not fit in this machine's memory, refused before anything is allocated: the bytes are
# parameters x (2 + optimizer slots) x 4. Ten pairs of dense 16777216 / dense 1024 on 784 inputs, then
# dense 10: (784 + 1) 2^24 + 10 (2^24 + 1) 1024 + 9 (1024 + 1) 2^24 + (1024 + 1) 10 parameters; the largest
# layer is model.layers[2] (line 6), (1024 + 1) 2^24 parameters. Over 5 TB: more than any test machine.
huge_layers=() params=0 in=784 largest=0
for i in $(seq 0 20); do
  act=relu
  if ((i == 20)); then units=10 act=softmax; elif ((i % 2)); then units=1024; else units=16777216; fi
  huge_layers+=("4i\    - dense: {units: $units, activation: $act}")
  n=$(((in + 1) * units)) params=$((params + (in + 1) * units)) in=$units
  ((n > largest)) && largest=$n
done
for case in "adam 2" "{name: rmsprop, momentum: 0.9, centered: true} 3"; do
  opt=${case% *} slots=${case##* } name=hugemodel$slots
  want="$name\.yaml:6: model\.layers\[2\]\.dense: the model needs $((params * (2 + slots) * 4)) bytes"
  want+=" \($params parameters x \(2 \+ $slots optimizer slots\) x 4 bytes\), more than the [0-9]+ bytes of"
  want+=" this machine's memory; this layer needs $((largest * (2 + slots) * 4)) bytes of it"
  expect_error "model over the physical memory ($slots optimizer slots)" "$want" \
    "$MPITRAIN" train "$(config "$name" "${huge_layers[@]}" '4,5d' "7s/.*/optimizer: $opt/")"
done
expect_error "conv2d with 2^20 filters of 28x28" "hugeconv\.yaml:4\b.*too large" \
  "$MPITRAIN" train "$(config hugeconv '4s/.*/    - conv2d: {filters: 1048576, kernel_size: 28}/')"
expect_error "wrong type (units: sixteen)" "strunits\.yaml:4\b.*integer" \
  "$MPITRAIN" train "$(config strunits '4s/units: 16/units: sixteen/')"
expect_error "NaN learning rate" "lrnan\.yaml:7\b.*learning_rate" "$MPITRAIN" train "$(config lrnan '7s/0.001/.nan/')"
expect_error "duplicate key" "dupkey\.yaml:7\b.*duplicate key 'loss'" "$MPITRAIN" train "$(config dupkey '6a\loss: mse')"
expect_error "YAML anchor" "anchor\.yaml:7\b.*anchors" \
  "$MPITRAIN" train "$(config anchor '7s/.*/optimizer: \&opt {name: adam}/')"
expect_error "layers given as a map" "layersmap\.yaml:3\b.*list" \
  "$MPITRAIN" train "$(config layersmap '3s/.*/  layers: {dense: {units: 16}}/' '4,5d')"
expect_error "unknown optimizer" "optname\.yaml:7\b.*adamx" "$MPITRAIN" train "$(config optname '7s/adam/adamx/')"
expect_error "unknown loss" "lossname\.yaml:6\b.*crossentropyy" \
  "$MPITRAIN" train "$(config lossname '6s/categorical_crossentropy/categorical_crossentropyy/')"
expect_error "tab in indentation" "tab\.yaml:4\b" "$MPITRAIN" train "$(config tab '4s/^    /\t/')"
expect_error "unterminated flow map" "unterminated\.yaml:6\b" "$MPITRAIN" train "$(config unterminated '5s/}$//')"
printf '\377\376\000\001garbage: [' >"$T/binary.yaml"
expect_error "binary garbage as config" "binary\.yaml:1\b" "$MPITRAIN" train "$T/binary.yaml"
: >"$T/empty.yaml"
expect_error "empty config" "empty\.yaml:1\b.*model" "$MPITRAIN" train "$T/empty.yaml"
mkdir -p "$T/dir.yaml"
expect_error "config is a directory" "dir\.yaml.*directory" "$MPITRAIN" train "$T/dir.yaml"
# Control characters in a file name or a YAML string reach the one error line only as '?': a newline
# there would make a second "mpitrain:" line (expect_error counts them), an escape would reach the terminal.
EVIL="$T/evil"$'\n'"mpitrain: all fine"$'\e'"[2J.yaml"
expect_error "newline and escape in the config file name" "evil\?mpitrain: all fine\?\[2J\.yaml" \
  "$MPITRAIN" train "$EVIL"
expect_error "newline and escape in a YAML string" "yamlesc\.yaml:4\b.*unknown layer 'dense\?mpitrain: ok\?\[31m'" \
  "$MPITRAIN" train "$(config yamlesc '4s/dense:/"dense\\nmpitrain: ok\\e[31m":/')"
if grep -q $'\e' "$T/err"; then
  failed=$((failed + 1))
  echo "FAIL - an escape byte from the YAML string reached stderr"
fi
expect_error "unknown command" "frobnicate" "$MPITRAIN" frobnicate
expect_error "unknown option" "--frobnicate" "$MPITRAIN" train "$GOOD" --frobnicate

# --- data and output -------------------------------------------------------------------------------
expect_error "missing dataset file" "missing\.h5" \
  "$MPITRAIN" train "$GOOD" --set data.file="$T/missing.h5"
expect_error "sample shape does not match model.input" "model\.input" \
  "$MPITRAIN" train "$GOOD" --set "model.input=[10, 10]"
expect_error "labels outside the number of classes" "row [0-9]+.*label" \
  "$MPITRAIN" train "$(config classes '5s/units: 10/units: 5/')"
# Malformed dataset files from the fixture writer (tests/tools/mkdataset), on a model for its
# samples: x [N, 4] float32, labels 0..2. Each message must name the file and what is wrong.
if [[ -n $MKDATASET && -x $MKDATASET ]]; then
  SMALL=$(config small '2s/.*/  input: [4]/' '5s/units: 10/units: 3/' '11s/batch_size: 32/batch_size: 8/')
  while read -r kind want; do
    if "$MKDATASET" "$T/mk-$kind.h5" "$kind" >"$T/mk.out" 2>&1; then
      expect_error "dataset $kind" "mk-$kind\.h5: .*$want" \
        "$MPITRAIN" train "$SMALL" --set data.file="$T/mk-$kind.h5"
    else
      failed=$((failed + 1))
      echo "FAIL - mkdataset $kind could not write its fixture"
    fi
  done <<'CASES'
label_out_of_range row 17 .*12
negative_label row 5 .*-1
wrong_rank /train/x
rows_mismatch /train/y
zero_rows /train/x
bad_dtype /train/x
missing_split /train
missing_y /train/y
x_group /train/x
huge_rows /train/x
not_hdf5 HDF5
targets /train/y
CASES
  # Activations over the physical memory at the batch the ranks will use, refused before they are
  # allocated: 60000 rows and batch 60000 give 30000 samples per rank at np 2. Per sample: input 4, the
  # embedding's and 8 relu outputs of 4 x 2^20, dense 3 (softmax keeps 3 logits), 2 x 4 x 2^20 for the
  # gradients; parameters 2^20 + 3 (4 2^20 + 1). Over 5 TB.
  if "$MKDATASET" "$T/rows60k.h5" good 60000 >"$T/mk.out" 2>&1; then
    acts=$((4 + 11 * 4 * 1048576 + 6)) p=$((1048576 + 3 * (4 * 1048576 + 1)))
    relus=()
    for i in 1 2 3 4 5 6 7 8; do relus+=("5i\    - relu"); done
    want="acts\.yaml:4: model\.layers\[0\]\.embedding: the model needs $((p * 16 + 30000 * acts * 4)) bytes"
    want+=" \($p parameters x \(2 \+ 2 optimizer slots\) x 4 bytes \+ $acts floats of activations per sample"
    want+=" x a batch of 30000 x 4 bytes\)"
    expect_error "activations over the physical memory at the batch size" "$want" \
      "$MPITRAIN" train "$(config acts '2s/.*/  input: [4]/' "${relus[@]}" '5s/units: 10/units: 3/' \
        '4s/.*/    - embedding: {input_dim: 1, output_dim: 1048576}/' '11s/batch_size: 32/batch_size: 60000/')" \
      --set data.file="$T/rows60k.h5"
  else
    failed=$((failed + 1))
    echo "FAIL - mkdataset good 60000 could not write its fixture"
  fi
else
  echo "skip - mkdataset fixtures (no \$MT_TOOLS/mkdataset)"
fi
: >"$T/file"
expect_error "unwritable output directory" "output" "$MPITRAIN" train "$GOOD" --set output="$T/file/run"

# --- a failing run leaves an existing checkpoint alone ---------------------------------------------
if timeout $((120 * ${MT_TIME_SCALE:-1})) "$MPIEXEC" -np 2 "${PREFLAGS[@]}" "$MPITRAIN" train "$GOOD" --quiet >"$T/good.out" 2>&1 &&
  [[ -f $T/run/checkpoint.h5 ]]; then
  before=$(md5sum "$T/run/checkpoint.h5" "$T/run/metrics.jsonl" | awk '{ print $1 }')
  expect_error "resume with a checkpoint of another model" "000_dense.*(shape|match)" \
    "$MPITRAIN" train "$GOOD" --resume --set model.layers.0.dense.units=8
  expect_error "failing run into the same output directory" "row [0-9]+.*label" \
    "$MPITRAIN" train "$(config classes2 '5s/units: 10/units: 5/')"
  after=$(md5sum "$T/run/checkpoint.h5" "$T/run/metrics.jsonl" | awk '{ print $1 }')
  if [[ $before == "$after" ]]; then
    passed=$((passed + 1))
    echo "ok   - checkpoint.h5 and metrics.jsonl unchanged by the failing runs"
  else
    failed=$((failed + 1))
    echo "FAIL - checkpoint.h5 or metrics.jsonl changed by a failing run"
  fi
else
  failed=$((failed + 1))
  echo "FAIL - good run to make a checkpoint"
  sed 's/^/    | /' "$T/good.out" | head -n 20
fi

finish
