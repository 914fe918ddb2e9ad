#!/usr/bin/env bash
# Benchmark: training throughput of a Fashion-MNIST example model (launch/configs/fashion_$MODEL.yaml:
# MODEL=mlp (default), cnn or lstm) in samples/s at steady state, against PyTorch on one thread.
# Both sides are timed the same way: each run trains a fresh model for EPOCH epochs (default 2) in one
# process and the last epoch is measured, after a warm one (the first epoch of a process runs slower,
# PyTorch's much slower on some machines, so it is reported beside but never compared). mpitrain's
# figure is metrics.jsonl's samples_per_sec (training time only: evaluation, start-up and checkpointing
# excluded), PyTorch's the timed training loop of bench/torch_fashion.py. The runs are interleaved (run
# 1 of every row, then run 2, ...) so that a busy spell on a shared machine hits every row, and each row
# is the median of RUNS runs. Augmentation is switched off, since the PyTorch reference has none.
#
#   (a) mpitrain at np 1, one BLAS thread, global batch 128 (and 32 for mlp)
#   (b) PyTorch, one thread, the same model and batches (bench/torch_fashion.py; skipped with a
#       note when no python3 can import torch), and the ratios mpitrain / PyTorch; twice: as it runs
#       by default, and with glibc's malloc told to keep freed memory mapped (MALLOC_MMAP_THRESHOLD_,
#       MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_; the role jemalloc or tcmalloc play in PyTorch's CPU
#       tuning guides): by default glibc hands the step's large temporaries back to the kernel and
#       faults them in again at every step, which costs a lot on some machines (virtual ones most)
#   (c) mlp only, weak scaling: np 2 with 128 samples per rank (global batch 256) against two
#       independent np 1 runs (global batch 128) started together, whose combined samples/s is what
#       this machine can do with two busy cores (they train one epoch more than measured, so that
#       both are surely training during the measured one); prints np2 / pair and np2 / np1
#
# Usage: [MODEL=cnn] bench/fashion_epoch.sh [OUT_DIR]     (default /tmp/mpitrain-bench)
# Prints a table on stdout and writes OUT_DIR/fashion_$MODEL.csv (per row: the median and every run of
# the measured epoch, and the median of epoch 1). Environment: MODEL, RUNS (default 5 for mlp, 3
# otherwise), EPOCH (the measured epoch, default 2; 1 times a cold first epoch), MPITRAIN (default
# build/mpitrain), PYTHON (default: /usr/bin/python3 if it has torch, else python3), TORCH=0 skips
# PyTorch, TORCH_MALLOC=0 runs only its default-allocator row. OPENBLAS_CORETYPE is left as the environment has it. Needs datasets/fashion-mnist.h5
# (datasets/prepare is run when it is missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
model=${MODEL:-mlp}
case $model in mlp) batches=(128 32) ;; cnn | lstm) batches=(128) ;; *) echo "bench: MODEL must be mlp, cnn or lstm" >&2; exit 2 ;; esac
[[ $model == mlp ]] && runs=${RUNS:-5} || runs=${RUNS:-3}
epoch=${EPOCH:-2}
[[ $runs =~ ^[1-9][0-9]*$ && $epoch =~ ^[1-9][0-9]*$ ]] || { echo "bench: RUNS and EPOCH must be positive whole numbers" >&2; exit 2; }
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
echo "mode,implementation,ranks,global_batch,batch_per_rank,runs,median_samples_per_sec,all_runs,measured_epoch,epoch1_median_samples_per_sec" >"$csv"

# shellcheck source=common.bash
. "$root/bench/common.bash"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "n/a" }'; }
# paired KEY_A KEY_B: the median over runs of run i of row A / run i of row B (the runs of one i were
# made one after the other, so a busy spell of the machine weighs on both), or n/a.
paired() {
  [[ -n ${rates[$1]:-} && -n ${rates[$2]:-} ]] || { echo n/a; return; }
  awk -v a="${rates[$1]}" -v b="${rates[$2]}" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) r[i] = x[i] / y[i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j] < r[j - 1]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
    printf "%.2f", n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2 }'
}

# The samples/s of every run, per row key: measured epoch in rates[KEY], epoch 1 in first[KEY].
declare -A rates=() first=()
add() { rates[$1]+="$2 "; first[$1]+="$3 "; } # KEY MEASURED EPOCH1

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
# run_c NP BATCH: one run of EPOCH epochs; adds epoch EPOCH's and epoch 1's samples/s to row "c NP BATCH".
run_c() {
  local r1
  start_run "$1" "$2" run "$epoch"
  wait $! || true   # a failed run is reported by rate_of, with its log
  rate_of run 1
  r1=$rate
  rate_of run "$epoch"
  add "c $1 $2" "$rate" "$r1"
}
# run_pair BATCH: two independent np 1 runs started together; adds their summed samples/s (epoch EPOCH,
# and epoch 1) to row "pair BATCH". Each trains one epoch more, so that both processes are training
# during the whole measured epoch even though their start-up times differ.
run_pair() {
  local a b r0 f0 f1
  start_run 1 "$1" pair0 $((epoch + 1))
  a=$!
  start_run 1 "$1" pair1 $((epoch + 1))
  b=$!
  wait "$a" || true
  wait "$b" || true
  rate_of pair0 1; f0=$rate
  rate_of pair0 "$epoch"; r0=$rate
  rate_of pair1 1; f1=$rate
  rate_of pair1 "$epoch"
  add "pair $1" "$(awk -v x="$r0" -v y="$rate" 'BEGIN { printf "%.1f", x + y }')" \
    "$(awk -v x="$f0" -v y="$f1" 'BEGIN { printf "%.1f", x + y }')"
}
# run_torch BATCH SEED [KEY [ENV...]]: one PyTorch process training a fresh model EPOCH epochs, with the
# environment variables ENV; adds to row KEY (default "torch BATCH").
run_torch() {
  local list key=${3:-torch $1}
  env "${@:4}" "$python" bench/torch_fashion.py --model "$model" --batch "$1" --epochs "$epoch" --runs 1 --seed "$2" \
    --threads 1 >"$work/torch.out" 2>"$work/torch.err" || {
    echo "bench: bench/torch_fashion.py failed:" >&2; sed 's/^/    | /' "$work/torch.err" >&2; exit 1; }
  list=$(awk '$1 == "torch" { print $NF }' "$work/torch.out")
  [[ -n $list ]] || { echo "bench: bench/torch_fashion.py printed no result" >&2; exit 1; }
  torch_head=$(sed -n 's/^# torch/torch/p' "$work/torch.err")
  add "$key" "${list##*,}" "${list%%,*}"
}
# row MODE IMPL NP GLOBAL PER_RANK KEY: prints and writes the row of KEY's runs; sets $med.
row() {
  local all=${rates[$6]% } f1
  med=$(echo "$all" | median)
  f1=$(echo "${first[$6]}" | median)
  printf '%-28s %-12s np %-3s batch %3s (%3s/rank) %9.0f samples/s  (epoch 1: %6.0f)   runs: %s\n' \
    "$1" "$2" "$3" "$4" "$5" "$med" "$f1" "$all"
  echo "$1,$2,$3,$4,$5,$runs,$med,${all// /;},$epoch,$f1" >>"$csv"
}

# The PyTorch to run (b), if any.
python=${PYTHON:-}
if [[ -z $python ]]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then python=$p; break; fi
  done
fi
torch_ok=0
if [[ ${TORCH:-1} != 0 && -n $python ]] && "$python" -c 'import torch' >/dev/null 2>&1; then torch_ok=1; fi
torch_head=""
torch_malloc=${TORCH_MALLOC:-1}

echo "fashion_epoch: Fashion-MNIST (60000 training samples an epoch), model $config, Adam;"
echo "  samples/s over training time of epoch $epoch of each run (steady state: after $((epoch - 1)) warm epoch(s) in the"
echo "  same process, for mpitrain and PyTorch alike), median of $runs interleaved runs; 1 BLAS thread per rank; $cores cores;"
echo "  $("$mpitrain" --version); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
# Other work on the machine skews everything, the np 2 row most (its ranks wait for each other).
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
for ((i = 1; i <= runs; i++)); do
  for b in "${batches[@]}"; do
    run_c 1 "$b"                                        # (a)
    ((torch_ok == 0)) || run_torch "$b" "$i"            # (b)
    ((torch_ok == 0 || torch_malloc == 0)) || run_torch "$b" "$i" "mapped $b" "${torch_keep_mapped[@]}"
  done
  if [[ $model == mlp ]]; then                          # (c)
    run_c 2 256
    run_pair 128
  fi
done
[[ -z $torch_head ]] || echo "  $torch_head"
echo

# (a) mpitrain, one rank
c128=nan c32=nan t128=nan t32=nan m128=nan m32=nan c2=nan pair=nan
row "a: single rank" mpitrain 1 128 128 "c 1 128"; c128=$med
[[ $model != mlp ]] || { row "a: single rank" mpitrain 1 32 32 "c 1 32"; c32=$med; }
# (b) PyTorch, one thread
if ((torch_ok)); then
  row "b: PyTorch 1 thread" torch 1 128 128 "torch 128"; t128=$med
  [[ $model != mlp ]] || { row "b: PyTorch 1 thread" torch 1 32 32 "torch 32"; t32=$med; }
  if ((torch_malloc)); then
    row "b: PyTorch, malloc kept" torch_mapped 1 128 128 "mapped 128"; m128=$med
    [[ $model != mlp ]] || { row "b: PyTorch, malloc kept" torch_mapped 1 32 32 "mapped 32"; m32=$med; }
  fi
else
  echo "b: PyTorch                    skipped: no python3 here can import torch (apt-get install python3-torch), or TORCH=0"
  echo "b: PyTorch 1 thread,torch,1,,,0,nan,skipped: no torch,," >>"$csv"
fi
# (c) weak scaling
if [[ $model == mlp ]]; then
  row "c: two ranks" mpitrain 2 256 128 "c 2 256"; c2=$med
  row "c: two np 1 runs at once" mpitrain "1+1" 128 128 "pair 128"; pair=$med
fi

echo
echo "ratios (epoch $epoch on both sides): of the medians; [median of the runs' own ratios]"
# ratio_row NAME LABEL KEY_A KEY_B MED_A MED_B: prints and writes one ratio, when both rows were measured.
ratio_row() {
  [[ -n ${rates[$3]:-} && -n ${rates[$4]:-} ]] || return 0
  printf '  %-48s %5s  [%s]\n' "$2" "$(ratio "$5" "$6")" "$(paired "$3" "$4")"
  echo "ratio,$1,,,,,$(ratio "$5" "$6"),paired;$(paired "$3" "$4"),$epoch," >>"$csv"
}
ratio_row mpitrain_over_torch_b128 "mpitrain / PyTorch, batch 128:" "c 1 128" "torch 128" "$c128" "$t128"
ratio_row mpitrain_over_torch_b32 "mpitrain / PyTorch, batch 32:" "c 1 32" "torch 32" "$c32" "$t32"
ratio_row mpitrain_over_torch_mapped_b128 "mpitrain / PyTorch with malloc kept, batch 128:" "c 1 128" "mapped 128" "$c128" "$m128"
ratio_row mpitrain_over_torch_mapped_b32 "mpitrain / PyTorch with malloc kept, batch 32:" "c 1 32" "mapped 32" "$c32" "$m32"
ratio_row np2_over_pair "np 2 / two independent np 1 (1.00 = all the machine allows):" "c 2 256" "pair 128" "$c2" "$pair"
ratio_row np2_over_np1 "np 2 / np 1 (weak scaling; 2.00 = perfect on two cores):" "c 2 256" "c 1 128" "$c2" "$c128"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "wrote $csv"
