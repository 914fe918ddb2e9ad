#!/usr/bin/env bash
# Benchmark: one training epoch of a Fashion-MNIST example model (launch/configs/fashion_$MODEL.yaml:
# MODEL=mlp (default), cnn or lstm) in samples/s, counted over training time only (metrics.jsonl's
# samples_per_sec: evaluation, start-up and checkpointing excluded); the median of RUNS runs.
# Each run of mpitrain trains EPOCH epochs and the last one is measured (default 2 for mlp: a warm
# epoch, as PyTorch's in-process repeats are; 1 for the slower cnn and lstm). Augmentation is switched
# off in the measured runs, since the PyTorch reference has none.
#
#   (a) mpitrain at np 1, one BLAS thread, global batch 128 (and 32 for mlp)
#   (b) PyTorch, one thread, the same model and batches (bench/torch_fashion.py; skipped with a
#       note when no python3 can import torch), and the ratios mpitrain / PyTorch
#   (c) mlp only, weak scaling: np 2 with 128 samples per rank (global batch 256) against two
#       independent np 1 runs (global batch 128) started together, whose combined samples/s is what
#       this machine can do with two busy cores (they train one epoch more than measured, so that
#       both are surely training during the measured one); prints np2 / pair and np2 / np1
#
# Usage: [MODEL=cnn] bench/fashion_epoch.sh [OUT_DIR]     (default /tmp/mpitrain-bench)
# Prints a table on stdout and writes OUT_DIR/fashion_$MODEL.csv. Environment: MODEL, RUNS (default 5
# for mlp, 3 otherwise), EPOCH, MPITRAIN (default build/mpitrain), PYTHON (default: /usr/bin/python3 if it
# has torch, else python3). OPENBLAS_CORETYPE is left as the environment has it. Needs
# datasets/fashion-mnist.h5 (datasets/prepare is run when it is missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
model=${MODEL:-mlp}
case $model in mlp) batches=(128 32) ;; cnn | lstm) batches=(128) ;; *) echo "bench: MODEL must be mlp, cnn or lstm" >&2; exit 2 ;; esac
[[ $model == mlp ]] && runs=${RUNS:-5} epoch=${EPOCH:-2} || runs=${RUNS:-3} epoch=${EPOCH:-1}
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
cd "$root"
config=launch/configs/fashion_$model.yaml

[[ -x $mpitrain ]] || { echo "bench: $mpitrain not found; run launch/setup first" >&2; exit 1; }
[[ -f datasets/fashion-mnist.h5 ]] || MPITRAIN=$mpitrain datasets/prepare

cores=$(nproc 2>/dev/null || echo 1)   # before OMP_NUM_THREADS is set: nproc obeys it
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# --bind-to none: the two independent np 1 runs of (c) must not both be pinned to core 0; every
# run uses it so that all rows are measured the same way.
mpirun_flags=(--bind-to none)
((cores >= 2)) || mpirun_flags+=(--oversubscribe)
[[ $(id -u) -ne 0 ]] || mpirun_flags+=(--allow-run-as-root)

work=$(mktemp -d "${TMPDIR:-/tmp}/mt-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
csv=$out/fashion_$model.csv
echo "mode,implementation,ranks,global_batch,batch_per_rank,runs,median_samples_per_sec,all_runs" >"$csv"

# shellcheck source=common.bash
. "$root/bench/common.bash"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "n/a" }'; }

# start_run NP BATCH TAG EPOCHS: starts mpitrain in the background; output in $work/TAG.
start_run() {
  rm -rf "${work:?}/$3"
  mpirun -np "$1" "${mpirun_flags[@]}" "$mpitrain" train "$config" --quiet \
    --set training.epochs="$4" --set training.batch_size="$2" --set output="$work/$3" --set data.augment= \
    >"$work/$3.log" 2>&1 &
}
# rate_of TAG ROW: sets $rate to samples_per_sec of epoch ROW of a finished run (exits on failure).
rate_of() {
  rate=$(sed -n "$2p" "$work/$1/metrics.jsonl" 2>/dev/null | grep -o '"samples_per_sec": *[0-9.eE+-]*' |
    sed 's/.*: *//') || rate=""
  if [[ -z $rate ]]; then
    echo "bench: run $1 failed:" >&2
    sed 's/^/    | /' "$work/$1.log" >&2
    exit 1
  fi
}
# time_c NP BATCH: $runs runs one after the other; sets $all (each run's samples/s in epoch $epoch)
# and $med.
time_c() {
  local i rates=()
  for ((i = 0; i < runs; i++)); do
    start_run "$1" "$2" run "$epoch"
    wait $! || true   # a failed run is reported by rate_of, with its log
    rate_of run "$epoch"
    rates+=("$rate")
  done
  all=${rates[*]}
  med=$(echo "$all" | median)
}
# time_pair BATCH: $runs times, two independent np 1 runs started together; sets $all (their summed
# samples/s in epoch $epoch) and $med. Each trains one epoch more, so that both processes are
# training during the whole measured epoch even though their start-up times differ.
time_pair() {
  local i sums=() a b r0
  for ((i = 0; i < runs; i++)); do
    start_run 1 "$1" pair0 $((epoch + 1))
    a=$!
    start_run 1 "$1" pair1 $((epoch + 1))
    b=$!
    wait "$a" || true
    wait "$b" || true
    rate_of pair0 "$epoch"
    r0=$rate
    rate_of pair1 "$epoch"
    sums+=("$(awk -v x="$r0" -v y="$rate" 'BEGIN { printf "%.1f", x + y }')")
  done
  all=${sums[*]}
  med=$(echo "$all" | median)
}
row() { # MODE IMPL NP GLOBAL PER_RANK MEDIAN ALL
  printf '%-28s %-8s np %s  batch %3s (%3s/rank) %9.0f samples/s   runs: %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7"
  echo "$1,$2,$3,$4,$5,$runs,$6,$(echo "$7" | tr ' ' ';')" >>"$csv"
}

echo "fashion_epoch: one epoch (60000 samples) of Fashion-MNIST, model $config, Adam;"
echo "  samples/s over training time of epoch $epoch of each run, median of $runs runs; 1 BLAS thread per rank; $cores cores;"
echo "  $("$mpitrain" --version); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
# Other work on the machine skews everything, the np 2 row most (its ranks wait for each other).
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo

# (a) mpitrain, one rank
c128=nan c32=nan
time_c 1 128; c128=$med; row "a: single rank" mpitrain 1 128 128 "$med" "$all"
[[ $model != mlp ]] || { time_c 1 32; c32=$med; row "a: single rank" mpitrain 1 32 32 "$med" "$all"; }

# (b) PyTorch, one thread
python=${PYTHON:-}
if [[ -z $python ]]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
  done
fi
t128=nan t32=nan
if [[ -n $python ]] && "$python" -c 'import torch' >/dev/null 2>&1; then
  "$python" bench/torch_fashion.py --model "$model" --batch "${batches[@]}" --runs "$runs" --threads 1 \
    >"$work/torch.out" 2>"$work/torch.err" || {
    echo "bench: bench/torch_fashion.py failed:" >&2; sed 's/^/    | /' "$work/torch.err" >&2; exit 1; }
  while read -r _ _ batch _ _ _ _ _ rate _ list; do
    row "b: PyTorch 1 thread" torch 1 "$batch" "$batch" "$rate" "${list//,/ }"
    if [[ $batch == 128 ]]; then t128=$rate; else t32=$rate; fi
  done <"$work/torch.out"
  sed 's/^# /  /' "$work/torch.err"
else
  echo "b: PyTorch                    skipped: no python3 here can import torch (apt-get install python3-torch)"
  echo "b: PyTorch 1 thread,torch,1,,,0,nan,skipped: no torch" >>"$csv"
fi

# (c) weak scaling
c2=nan pair=nan
if [[ $model == mlp ]]; then
  time_c 2 256; c2=$med; row "c: two ranks" mpitrain 2 256 128 "$med" "$all"
  time_pair 128; pair=$med; row "c: two np 1 runs at once" mpitrain "1+1" 128 128 "$med" "$all"
fi

echo
echo "ratios"
printf '  mpitrain / PyTorch, batch 128:  %s\n' "$(ratio "$c128" "$t128")"
printf '  mpitrain / PyTorch, batch 32:   %s\n' "$(ratio "$c32" "$t32")"
printf '  np 2 / two independent np 1:    %s   (1.00 = as good as the machine allows)\n' "$(ratio "$c2" "$pair")"
printf '  np 2 / np 1 (weak scaling):     %s   (2.00 = perfect on two cores)\n' "$(ratio "$c2" "$c128")"
{
  echo "ratio,mpitrain_over_torch_b128,,,,,$(ratio "$c128" "$t128"),"
  echo "ratio,mpitrain_over_torch_b32,,,,,$(ratio "$c32" "$t32"),"
  echo "ratio,np2_over_pair,,,,,$(ratio "$c2" "$pair"),"
  echo "ratio,np2_over_np1,,,,,$(ratio "$c2" "$c128"),"
} >>"$csv"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "wrote $csv"
