#!/usr/bin/env bash
# PyTorch interop and self-describing checkpoints, end to end: on generated 12x12 images of 4 classes, an MLP
# (standardize scaling, batch_norm, prelu, dropout, gelu), a CNN (conv2d same and valid, batch_norm, max and
# `same` average pooling, dropout), an LSTM and a model of the remaining image layers (conv2d_transpose,
# min_pool2d, upsample2d, global_avg_pool, reshape, activation) are trained for 2 to 4 epochs at np 2; h5dump -A shows the
# checkpoint's self-description (format, format_version, mpitrain_version, created, layers, per-layer
# options and torch notes); launch/torch_interop.py --compare builds each model in torch, loads the weights
# and preprocessing and counts the same correct test predictions and the same loss as `mpitrain eval`; the
# exported TorchScript model gives the same predictions; an unknown layer type, a disagreeing eval and a
# checkpoint of a newer format_version are errors (exit 2, 1, 2) naming what is wrong.
# Skipped (exit 0 with "0 passed, 0 failed") when no python3 with torch, h5py and yaml is found ($PYTHON,
# python3, /usr/bin/python3 are tried: Debian's python3-torch python3-h5py python3-yaml).
# Run by CTest as cli.torch_interop with MPITRAIN, MT_SOURCE, MPIEXEC, MPIEXEC_PREFLAGS set.
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
SRC=${MT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
INTEROP=$SRC/launch/torch_interop.py

PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, h5py, yaml' >/dev/null 2>&1; then
    PY=$p
    break
  fi
done
if [ -z "$PY" ]; then
  skip "no python3 with torch, h5py and yaml (apt-get install python3-torch python3-h5py python3-yaml)"
fi
echo "# using $PY ($("$PY" -c 'import torch, h5py; print("torch", torch.__version__, "h5py", h5py.__version__)'))"

# --- data: 4 classes, each a 6x6 quadrant of a noisy 12x12 uint8 image, brighter by class -------------------------------------
"$PY" - "$T/d.h5" <<'PY' || { no "generate the dataset"; stop; }
import sys, numpy as np, h5py
rng = np.random.default_rng(7)
def split(n):
    y = rng.integers(0, 4, n).astype(np.int32)
    x = rng.normal(60, 40, (n, 12, 12))
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, 6 * r:6 * r + 6, 6 * q:6 * q + 6] += rng.normal(40 + 30 * int(c), 8)
    return np.clip(x, 0, 255).astype(np.uint8), y
with h5py.File(sys.argv[1], "w") as f:
    for name, n in (("train", 800), ("test", 300)):
        x, y = split(n)
        f.create_dataset(name + "/x", data=x)
        f.create_dataset(name + "/y", data=y)
PY
ok "generated dataset (800 train, 300 test images of 12x12, 4 classes)"

common() { # common NAME: the config lines shared by the models (SCALING, LR, EPOCHS if set)
  cat <<YAML
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: ${LR:-0.01}}
data: {file: $T/d.h5, train: train, validation: test, scaling: ${SCALING:-none}}
training: {epochs: ${EPOCHS:-2}, batch_size: 32, seed: 3}
output: $T/run_$1
YAML
}
{ cat <<'YAML'
model:
  input: [12, 12]
  layers:
    - dense: {units: 24}
    - batch_norm: {momentum: 0.3}
    - prelu
    - dropout: {rate: 0.2}
    - dense: {units: 16, activation: gelu}
    - leaky_relu: {alpha: 0.05}
    - dense: {units: 4, activation: softmax}
YAML
  SCALING=standardize common mlp; } >"$T/mlp.yaml"
{ cat <<'YAML'
model:
  input: [12, 12]
  layers:
    - conv2d: {filters: 6, kernel_size: 3, padding: same}
    - batch_norm: {sync: true}
    - relu
    - max_pool2d: {pool_size: 2}
    - conv2d: {filters: 8, kernel_size: [3, 3], activation: tanh}
    - avg_pool2d: {pool_size: 3, strides: 2, padding: same}
    - flatten
    - dropout: {rate: 0.3}
    - dense: {units: 4, activation: softmax}
YAML
  common cnn; } >"$T/cnn.yaml"
{ cat <<'YAML'
model:
  input: [12, 12]
  layers:
    - lstm: {units: 12}
    - dense: {units: 4, activation: softmax}
YAML
  SCALING=minmax common lstm; } >"$T/lstm.yaml"

{ cat <<'YAML'
model:
  input: [12, 12]
  layers:
    - conv2d_transpose: {filters: 3, kernel_size: 3, strides: 2, padding: same}
    - min_pool2d: {pool_size: 3}
    - upsample2d: {size: 2}
    - conv2d: {filters: 4, kernel_size: 3, strides: 2, padding: 1, activation: gelu}
    - global_avg_pool
    - reshape: {shape: [2, 2]}
    - leaky_relu
    - dense: {units: 4}
    - activation: {name: softmax}
YAML
  SCALING=standardize LR=0.03 EPOCHS=4 common misc; } >"$T/misc.yaml"

for m in mlp cnn lstm misc; do
  if run2 train "$T/$m.yaml" >"$T/train_$m.log" 2>&1 && [ -s "$T/run_$m/checkpoint.h5" ]; then
    ok "$m: trained at np 2"
  else
    no "$m: training failed: $(tail -n 1 "$T/train_$m.log")"
  fi
done

# --- the checkpoint describes itself ---------------------------------------------------------------------------
ck=$T/run_cnn/checkpoint.h5
if command -v h5dump >/dev/null 2>&1; then
  h5dump -A "$ck" >"$T/attrs.txt" 2>&1
  for want in 'ATTRIBUTE "format"' '"mpitrain-checkpoint"' 'ATTRIBUTE "format_version"' \
    'ATTRIBUTE "mpitrain_version"' 'ATTRIBUTE "created"' 'ATTRIBUTE "layers"' 'ATTRIBUTE "options"' \
    'ATTRIBUTE "torch"' 'ATTRIBUTE "input_shape"' 'ATTRIBUTE "output_shape"' 'torch.nn.Conv2d' \
    '"type": "avg_pool2d", "options": {"pool_size": [3], "strides": [2], "padding": "same"}'; do
    grep -qF -- "$want" "$T/attrs.txt" && ok "h5dump -A shows $want" || no "h5dump -A lacks $want"
  done
  version=$("$MPITRAIN" --version 2>/dev/null | awk '{ print $2 }')
  grep -A 9 'ATTRIBUTE "mpitrain_version"' "$T/attrs.txt" | grep -qF "\"$version\"" \
    && ok "mpitrain_version is $version" || no "mpitrain_version is not '$version'"
  grep -A 9 'ATTRIBUTE "created"' "$T/attrs.txt" | grep -Eq '"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"' \
    && ok "created is an ISO 8601 UTC time" || no "created: $(grep -A 9 'ATTRIBUTE "created"' "$T/attrs.txt" | tr -s ' \n' ' ')"
else
  echo "# h5dump not found (hdf5-tools): attribute listing not checked"
fi

# --- torch computes what mpitrain computes ---------------------------------------------------------------------
for m in mlp cnn lstm misc; do
  [ -s "$T/run_$m/checkpoint.h5" ] || continue
  "$PY" "$INTEROP" "$T/run_$m/checkpoint.h5" --data "$T/d.h5" --split test --compare --mpitrain "$MPITRAIN" \
    >"$T/cmp_$m.log" 2>&1
  rc=$?
  sed 's/^/#   /' "$T/cmp_$m.log"
  read -r tc mc < <(awk '/^agree:/ { print $2, $4 }' "$T/cmp_$m.log")
  if [ "$rc" = 0 ] && [ -n "${tc:-}" ] && [ "$tc" -ge 120 ] && [ $((tc - mc)) -le 1 ] && [ $((mc - tc)) -le 1 ]; then
    ok "$m: torch and mpitrain eval agree ($tc vs $mc correct of 300; loss within 1e-4)"
  else
    no "$m: torch_interop --compare exit $rc: $(tail -n 1 "$T/cmp_$m.log")"
  fi
done

# --- TorchScript export: loads without the script, same predictions --------------------------------------------
if "$PY" "$INTEROP" "$ck" --data "$T/d.h5" --split test --export "$T/cnn.pt" --state-dict "$T/cnn_sd.pt" \
  >"$T/export.log" 2>&1; then
  torch_correct=$(awk '/^torch / { gsub(/[(]/, "", $8); print $8 }' "$T/export.log")
  jit_correct=$("$PY" - "$T/cnn.pt" "$T/d.h5" "$T/cnn_sd.pt" <<'PY' 2>&1
import sys, torch, h5py, numpy as np
m = torch.jit.load(sys.argv[1]).eval()
with h5py.File(sys.argv[2], "r") as f:
    x = torch.from_numpy(f["test/x"][()].astype(np.float32)) / 255.0
    y = torch.from_numpy(f["test/y"][()].astype(np.int64))
with torch.no_grad():
    p = m(x)
sd = torch.load(sys.argv[3])
assert "layer000_conv2d.layer.layer.1.weight" in sd and tuple(sd["layer000_conv2d.layer.layer.1.weight"].shape) == (6, 1, 3, 3), list(sd)
assert abs(float(p.sum()) - p.shape[0]) < 1e-3
print(int((p.argmax(1) == y).sum()))
PY
)
  [ -n "$torch_correct" ] && [ "$jit_correct" = "$torch_correct" ] \
    && ok "TorchScript export: $jit_correct correct, as the script's evaluation; state_dict has the conv weight [6, 1, 3, 3]" \
    || no "TorchScript export: '$jit_correct' vs '$torch_correct' correct"
else
  no "export: $(tail -n 1 "$T/export.log")"
fi

# --- errors ------------------------------------------------------------------------------------------------------
"$PY" - "$ck" "$T/unknown.h5" <<'PY'
import sys, shutil, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    p = f["params"]
    text = p.attrs["layers"]
    text = text.decode() if isinstance(text, bytes) else str(text)
    p.attrs["layers"] = text.replace('"type": "flatten"', '"type": "sparkle"')
PY
"$PY" "$INTEROP" "$T/unknown.h5" --data "$T/d.h5" >"$T/unknown.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "layer 6 is 'sparkle', which has no PyTorch equivalent" "$T/unknown.log" \
  && ok "a layer without a torch equivalent: exit 2 naming it" || no "unknown layer: exit $rc: $(tail -n 1 "$T/unknown.log")"

cat >"$T/fake_mpitrain" <<'SH'
#!/bin/sh
# writes an eval report that counts 7 correct predictions of 300
while [ $# -gt 0 ]; do [ "$1" = --json ] && out=$2; shift; done
echo '{"rows": 300, "loss": 0.5, "accuracy": 0.0233333, "confusion_matrix": [[7, 0], [0, 0]]}' >"$out"
SH
chmod +x "$T/fake_mpitrain"
"$PY" "$INTEROP" "$ck" --data "$T/d.h5" --split test --compare --mpitrain "$T/fake_mpitrain" >"$T/fake.log" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^DISAGREE" "$T/fake.log" && ok "--compare with a disagreeing eval: exit 1" \
  || no "disagreeing eval: exit $rc: $(tail -n 1 "$T/fake.log")"

"$PY" - "$ck" "$T/newer.h5" <<'PY'
import sys, shutil, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["format_version"] = np.int64(99)
PY
cp "$T/newer.h5" "$T/tampered.h5"
"$MPITRAIN" eval "$T/tampered.h5" --data "$T/d.h5" --split test >"$T/tampered.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -Eq "tampered.h5: (altered|damaged) checkpoint" "$T/tampered.log" \
  && ok "a checkpoint changed after it was written (h5py) is refused by its seal: exit 2" \
  || no "tampered checkpoint: exit $rc: $(cat "$T/tampered.log")"
# Seal it again (the layout of docs/formats.md), so that the format check itself is what is tested.
"$PY" - "$T/newer.h5" <<'PY'
import sys, zlib
with open(sys.argv[1], "r+b") as f:
    body = f.read()[512:]
    f.seek(0)
    f.write(("mpitrain seal 1\ncrc32 %08x\nbytes %d\n" % (zlib.crc32(body), len(body))).encode().ljust(512, b"\n"))
PY
"$MPITRAIN" eval "$T/newer.h5" --data "$T/d.h5" --split test >"$T/newer.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "newer.h5: checkpoint format_version 99, this mpitrain .* reads format versions 1 to 1" \
  "$T/newer.log" && [ "$(wc -l <"$T/newer.log")" = 1 ] \
  && ok "eval of a checkpoint of a newer format_version: exit 2, one line naming the file and both versions" \
  || no "newer format_version: exit $rc: $(cat "$T/newer.log")"

finish
