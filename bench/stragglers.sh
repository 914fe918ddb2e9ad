#!/usr/bin/env bash
# Benchmark: training with one straggling rank, with and without training.balance, against one undisturbed
# rank, on launch/configs/fashion_$MODEL.yaml (MODEL mlp by default, or cnn, lstm; global batch $BATCH,
# default 128; STEPS optimizer steps per epoch, default all; each rank bound to its own core). Two kinds of straggler:
#   slow  rank 1 at half speed from the first step (MPITRAIN_FAULT=slow=2:step:1:1: every stretch of its
#         computation takes twice as long, like a core at half the clock); deterministic mode, chunk
#         $CHUNK (default 16); the ideal for the pair is 1.5x one rank
#   busy  a busy loop on rank 1's core (a neighbour process time-sharing it: the scheduler gives each
#         half of the core, in slices of milliseconds); default (float32) and deterministic mode
# Each run trains 2 epochs and the second is measured (metrics.jsonl's samples_per_sec); the configurations
# are interleaved and repeated RUNS times (default 5), medians reported as ratios to one undisturbed rank
# of the same mode, with the deterministic runs' final weights compared with 1 rank's (bitwise; batch norm's
# running statistics left out: they are averaged over the ranks in floating point).
#
# Usage: [MODEL=mlp] [RUNS=5] [BATCH=128] [CHUNK=16] [STEPS=0] [ONLY="one_det ..."] bench/stragglers.sh [OUT_DIR]
#        (default OUT_DIR /tmp/mpitrain-stragglers; ONLY: a subset of the configurations below, which
#        must include the one_* reference of each mode it uses)
# Writes OUT_DIR/stragglers.csv (every run) and prints the table. Needs 2 cores and
# datasets/fashion-mnist.h5 (datasets/prepare makes it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-stragglers}
mkdir -p "$out"
out=$(cd "$out" && pwd)
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
runs=${RUNS:-5} batch=${BATCH:-128} chunk=${CHUNK:-16} model=${MODEL:-mlp} steps=${STEPS:-0}
config=launch/configs/fashion_$model.yaml
cd "$root"
[[ -x $mpitrain ]] || { echo "bench: $mpitrain not found; run launch/setup first" >&2; exit 1; }
[[ -f datasets/fashion-mnist.h5 ]] || MPITRAIN=$mpitrain datasets/prepare
(($(nproc) >= 2)) || { echo "bench: needs 2 cores" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# shellcheck source=common.bash
. "$root/bench/common.bash"
root_flags=()
[[ $(id -u) == 0 ]] && root_flags=(--allow-run-as-root)

# run NAME NP MODE BUSY FAULT [SETTINGS...]: one run; prints NAME's samples/s of the second epoch
run() {
  local name=$1 np=$2 mode=$3 busy=$4 fault=$5 dir=$out/$1 pid=""
  local sets=(--set training.epochs=2 --set training.batch_size="$batch" --set data.validation=
    --set training.steps_per_epoch="$steps" --set data.augment=
    --set output="$dir" --quiet "${@:6}")
  [[ $mode == det ]] && sets+=(--set training.deterministic=true --set training.chunk_size="$chunk")
  rm -rf "$dir"
  if [[ $busy == yes ]]; then
    taskset -c 1 sh -c 'while :; do :; done' &
    pid=$!
  fi
  MPITRAIN_FAULT=$fault mpirun "${root_flags[@]}" --bind-to core -np "$np" "$mpitrain" train \
    "$config" "${sets[@]}" >"$dir.log" 2>&1 || { echo "bench: $name failed: $(tail -n 1 "$dir.log")" >&2; }
  [[ -n $pid ]] && kill "$pid"
  json_last "$dir/metrics.jsonl" samples_per_sec
}

configs=(
  "one_f32 1 f32 no -"
  "pair_f32 2 f32 no -"
  "busy_f32 2 f32 yes -"
  "busy_f32_balance 2 f32 yes - --set training.balance=true"
  "one_det 1 det no -"
  "pair_det 2 det no -"
  "slow_det 2 det no slow=2:step:1:1"
  "slow_det_balance 2 det no slow=2:step:1:1 --set training.balance=true"
  "busy_det 2 det yes -"
  "busy_det_balance 2 det yes - --set training.balance=true"
)
if [[ -n ${ONLY:-} ]]; then # a subset: the configurations named in ONLY (with the references they need)
  keep=()
  for c in "${configs[@]}"; do [[ " $ONLY " == *" ${c%% *} "* ]] && keep+=("$c"); done
  configs=("${keep[@]}")
fi
echo "run,config,samples_per_sec" >"$out/stragglers.csv"
for ((r = 1; r <= runs; r++)); do
  for c in "${configs[@]}"; do
    read -r -a f <<<"$c"
    fault=${f[4]}
    [[ $fault == - ]] && fault=""
    v=$(run "${f[0]}" "${f[1]}" "${f[2]}" "${f[3]}" "$fault" "${f[@]:5}")
    echo "$r,${f[0]},$v" >>"$out/stragglers.csv"
  done
done
# median CONFIG: the median samples/s of CONFIG's runs
median() {
  awk -F, -v c="$1" '$2 == c && $3 != "" { print $3 }' "$out/stragglers.csv" | sort -g \
    | awk '{ v[++n] = $1 } END { print n ? (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) : 0 }'
}
# same_weights A B: "bitwise" when the trainable tensors of two checkpoints are equal bit for bit (batch
# norm's running statistics, averaged over the ranks in floating point, are left out), else DIFFERENT
same_weights() {
  { h5diff -r "$1" "$2" /params /params 2>&1 || true; } | awk '/^dataset: / { name = $2 } /differences found/ && $1 > 0 && name !~ /running_/ { bad = 1 }
    END { print bad ? "DIFFERENT" : "bitwise" }'
}
ref_det=$out/one_det/checkpoint.h5
echo "fashion_$model.yaml, global batch $batch, deterministic chunk $chunk, median of $runs interleaved runs"
printf '%-18s %12s %10s  %s\n' config samples/s "x one" "weights vs 1 rank"
for c in "${configs[@]}"; do
  read -r -a f <<<"$c"
  med=$(median "${f[0]}") base=$(median "one_${f[2]}")
  same=""
  if [[ ${f[2]} == det && ${f[0]} != one_det ]]; then
    same=$(same_weights "$ref_det" "$out/${f[0]}/checkpoint.h5")
  fi
  printf '%-18s %12.0f %10.3f  %s\n' "${f[0]}" "$med" "$(awk -v a="$med" -v b="$base" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$same"
done
