#!/usr/bin/env bash
# Benchmark: deterministic mode against the default mode on launch/configs/fashion_$MODEL.yaml (MODEL mlp
# by default) at np $NP (default 2, each rank bound to its own core), global batch $BATCH (default 128):
#   f32          the default mode (float32 sums)
#   det          training.deterministic: true with the default chunk_size (batch / 8)
#   det_c32      chunk_size 32
#   det_c64      chunk_size 64
#   det_chunks   the default chunk_size on the path of one pass per chunk (MPITRAIN_DETERMINISTIC_CHUNKS=1;
#                what deterministic mode ran before the direct path, and what models with other layers run)
# Each run trains 2 epochs and the second is measured (metrics.jsonl's samples_per_sec, steady state); the
# configurations are interleaved and repeated RUNS times (default 5); the table gives the medians and their
# ratios to f32. The deterministic runs' final weights are compared with det's (bitwise: the chunk size
# changes the sums, so only det_chunks must be equal).
#
# Usage: [MODEL=mlp] [NP=2] [RUNS=5] [BATCH=128] [STEPS=0] [ONLY="f32 det ..."] bench/deterministic.sh [OUT_DIR]
#        (default OUT_DIR /tmp/mpitrain-deterministic; STEPS: optimizer steps per epoch, 0 = all; ONLY: a
#        subset of the configurations, which must include f32). BENCH_LOCK=FILE holds that file (flock)
#        during each run, for machines shared with other work.
# Writes OUT_DIR/deterministic.csv (every run) and prints the table. Needs NP cores and
# datasets/fashion-mnist.h5 (datasets/prepare makes it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-deterministic}
mkdir -p "$out"
out=$(cd "$out" && pwd)
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
runs=${RUNS:-5} batch=${BATCH:-128} model=${MODEL:-mlp} np=${NP:-2} steps=${STEPS:-0}
config=launch/configs/fashion_$model.yaml
cd "$root"
[[ -x $mpitrain ]] || { echo "bench: $mpitrain not found; run launch/setup first" >&2; exit 1; }
[[ -f datasets/fashion-mnist.h5 ]] || MPITRAIN=$mpitrain datasets/prepare
(($(nproc) >= np)) || { echo "bench: needs $np cores" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# shellcheck source=common.bash
. "$root/bench/common.bash"
root_flags=()
[[ $(id -u) == 0 ]] && root_flags=(--allow-run-as-root)
lock=()
[[ -n ${BENCH_LOCK:-} ]] && lock=(flock "$BENCH_LOCK")

# run NAME CHUNKS [SETTINGS...]: one run (CHUNKS 1: MPITRAIN_DETERMINISTIC_CHUNKS=1); prints its samples/s
run() {
  local name=$1 chunks=$2 dir=$out/$1
  rm -rf "$dir"
  MPITRAIN_DETERMINISTIC_CHUNKS=$chunks "${lock[@]}" mpirun "${root_flags[@]}" --bind-to core -np "$np" \
    "$mpitrain" train "$config" --set training.epochs=2 --set training.batch_size="$batch" \
    --set data.validation= --set data.augment= --set training.steps_per_epoch="$steps" \
    --set output="$dir" --quiet "${@:3}" >"$dir.log" 2>&1 || echo "bench: $name failed: $(tail -n 1 "$dir.log")" >&2
  json_last "$dir/metrics.jsonl" samples_per_sec
}

det=(--set training.deterministic=true)
configs=(
  "f32 0"
  "det 0 ${det[*]}"
  "det_c32 0 ${det[*]} --set training.chunk_size=32"
  "det_c64 0 ${det[*]} --set training.chunk_size=64"
  "det_chunks 1 ${det[*]}"
)
if [[ -n ${ONLY:-} ]]; then
  keep=()
  for c in "${configs[@]}"; do [[ " $ONLY " == *" ${c%% *} "* ]] && keep+=("$c"); done
  configs=("${keep[@]}")
fi
echo "run,config,samples_per_sec" >"$out/deterministic.csv"
for ((r = 1; r <= runs; r++)); do
  for c in "${configs[@]}"; do
    read -r -a f <<<"$c"
    echo "$r,${f[0]},$(run "${f[@]}")" >>"$out/deterministic.csv"
  done
done
# median CONFIG: the median samples/s of CONFIG's runs
median() {
  awk -F, -v c="$1" '$2 == c && $3 != "" { print $3 }' "$out/deterministic.csv" | sort -g \
    | awk '{ v[++n] = $1 } END { print n ? (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) : 0 }'
}
base=$(median f32)
echo "fashion_$model.yaml, np $np, global batch $batch, median of $runs interleaved runs (second epoch)"
printf '%-12s %12s %8s  %s\n' config samples/s "x f32" "weights vs det"
for c in "${configs[@]}"; do
  name=${c%% *} same=""
  med=$(median "$name")
  if [[ $name == det?* && -f $out/det/checkpoint.h5 ]]; then
    same=$({ h5diff -r "$out/det/checkpoint.h5" "$out/$name/checkpoint.h5" /params /params 2>&1 || true; } \
      | awk '/differences found/ && $1 > 0 { bad = 1 } END { print bad ? "different" : "bitwise" }')
  fi
  printf '%-12s %12.0f %8.3f  %s\n' "$name" "$med" "$(awk -v a="$med" -v b="$base" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$same"
done
