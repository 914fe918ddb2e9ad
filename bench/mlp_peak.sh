#!/usr/bin/env bash
# Benchmark: one rank's training epoch of the Fashion-MNIST MLP (launch/configs/fashion_mlp.yaml, or
# CONFIG) against the core's FMA peak. Each run trains 2 epochs at one rank (one BLAS thread, mpirun
# --bind-to none, augmentation off, no validation split) and the second is measured: metrics.jsonl's
# samples_per_sec, over training time only. The GEMM work per sample is computed from the model's dense
# weights (bench/common.bash dense_flops_per_sample: 6 x sum(out x in) - 2 x the first layer's, since no
# input gradient is computed there; 1,211,392 FLOP for 784-256-256-10); samples/s x that work is the
# GEMM rate actually done, over the FMA peak of build/bench/fma_peak (12 independent AVX-512 FMA chains)
# = the fraction of peak. The peak is measured (0.25 s) just before every run, since on a shared or
# virtual machine it moves with what the other cores do: "of peak" divides by the highest peak of the
# whole benchmark (the core can do at least that: the stricter figure), "of adjacent" is the median over
# the runs of each run's GEMM rate over the peak measured just before it. "opt ms" is the optimizer's time
# per step in the same runs (scaling.json: Adam over every parameter, and the check of the summed gradient
# for NaN), "ceiling" the fraction of peak the epoch would reach if everything but that ran at the peak:
# 1 / (1 + opt time x peak / (GEMM work per sample x batch)), what no fusion around the products can beat.
# Batches (BATCHES, default "128 32") and binaries (BINS) are interleaved and repeated RUNS times
# (default 5); medians are reported.
#
# Usage: [RUNS=5] [BATCHES="128 32"] [BINS="before=/path/mpitrain after=build/mpitrain"] [CONFIG=...]
#        [FMA_PEAK=build/bench/fma_peak] bench/mlp_peak.sh [OUT_DIR]      (default OUT_DIR /tmp/mpitrain-peak)
# BINS: NAME=PATH pairs (default "mpitrain=$MPITRAIN", MPITRAIN defaulting to build/mpitrain).
# Prints a table, then one line per binary and batch:
#   mlp_peak bin=NAME batch=B samples_per_sec=S gflops=G peak_gflops=P fraction=F fraction_adjacent=A
#            optimizer_ms=O ceiling=C
# and writes OUT_DIR/mlp_peak.csv (the medians) and OUT_DIR/mlp_peak_runs.csv (every run). Take the CPU
# lock on a shared machine: flock /var/tmp/mt-cpu.lock bench/mlp_peak.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-peak}
mkdir -p "$out"
out=$(cd "$out" && pwd)
runs=${RUNS:-5}
read -r -a batches <<<"${BATCHES:-128 32}"
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
read -r -a bins <<<"${BINS:-mpitrain=$mpitrain}"
peak_bin=${FMA_PEAK:-$root/build/bench/fma_peak}
config=${CONFIG:-launch/configs/fashion_mlp.yaml}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench: RUNS must be a positive integer, got '$runs'" >&2; exit 2; }
names=() paths=()
for b in "${bins[@]}"; do
  [[ $b == ?*=?* ]] || { echo "bench: BINS: expected NAME=PATH, got '$b'" >&2; exit 2; }
  p=${b#*=}
  [[ $p == /* ]] || p=$PWD/$p
  [[ -x $p ]] || { echo "bench: $p not found (build it first)" >&2; exit 1; }
  names+=("${b%%=*}") paths+=("$p")
done
for b in "${batches[@]}"; do
  [[ $b =~ ^[1-9][0-9]*$ ]] || { echo "bench: BATCHES: expected positive integers, got '$b'" >&2; exit 2; }
done
[[ -x $peak_bin ]] || { echo "bench: $peak_bin not found (cmake --build build --target fma_peak)" >&2; exit 1; }
cd "$root"
[[ -f $config ]] || { echo "bench: $config not found" >&2; exit 2; }
[[ -f datasets/fashion-mnist.h5 ]] || MPITRAIN=${paths[0]} datasets/prepare
cores=$(nproc 2>/dev/null || echo 1) # before OMP_NUM_THREADS is set: nproc obeys it
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# shellcheck source=common.bash
. "$root/bench/common.bash"
mpirun_flags=(--bind-to none)
[[ $(id -u) -ne 0 ]] || mpirun_flags+=(--allow-run-as-root)

# run PATH BATCH DIR: one run of 2 epochs; prints epoch 2's samples/s and the optimizer's milliseconds per
# step over both epochs (scaling.json: rank 0's optimizer seconds over its samples / the batch), nothing
# when it failed
run() {
  rm -rf "$3"
  mpirun -np 1 "${mpirun_flags[@]}" "$1" train "$config" --quiet --set training.epochs=2 \
    --set training.batch_size="$2" --set output="$3" --set data.augment= --set data.validation= \
    >"$3.log" 2>&1 || { echo "bench: run $3 failed: $(tail -n 1 "$3.log")" >&2; return 0; }
  local sps opt
  sps=$(sed -n 2p "$3/metrics.jsonl" | grep -o '"samples_per_sec": *[0-9.eE+-]*' | sed 's/.*: *//')
  opt=$(grep '"rank": 0,' "$3/scaling.json" | awk -v b="$2" '{
    if (match($0, /"optimizer": *[0-9.eE+-]+/)) { o = substr($0, RSTART, RLENGTH); sub(/.*: */, "", o) }
    if (match($0, /"samples": *[0-9]+/)) { n = substr($0, RSTART, RLENGTH); sub(/.*: */, "", n) }
    if (n > 0 && o != "") printf "%.4f", o * 1e3 * b / n }')
  echo "$sps,$opt"
}

echo "mlp_peak: $config at one rank, epoch 2 of 2, median of $runs interleaved runs; $cores cores"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "r,bin,batch,samples_per_sec,optimizer_ms_per_step,peak_gflops_before" >"$out/mlp_peak_runs.csv"
flops=""
for ((r = 1; r <= runs; r++)); do
  for i in "${!names[@]}"; do
    for b in "${batches[@]}"; do
      dir=$out/${names[$i]}_b$b
      p=$(fma_peak_gflops "$peak_bin" -t 0.25)
      v=$(run "${paths[$i]}" "$b" "$dir")
      echo "$r,${names[$i]},$b,${v:-,},$p" >>"$out/mlp_peak_runs.csv"
      [[ -n $flops ]] || flops=$(mpitrain=${paths[$i]} dense_flops_per_sample "$dir/checkpoint.h5")
    done
  done
done
read -r peak lo < <(awk -F, 'NR > 1 && $6 != "" { if ($6 > p) p = $6; if (l == "" || $6 < l) l = $6 } END { print p + 0, l + 0 }' \
  "$out/mlp_peak_runs.csv")
[[ $peak != 0 && -n $flops && $flops != 0 ]] || { echo "bench: no peak or no FLOP count ($flops)" >&2; exit 1; }
echo "  FMA peak (build/bench/fma_peak, 12 chains) before each run: $lo to $peak GFLOP/s; of peak = over $peak"
echo "  GEMM work per sample: $flops FLOP (dense weights: 6 x sum(out x in) - 2 x the first layer's)"
echo "  load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo
echo "bin,batch,runs,median_samples_per_sec,gflops,peak_gflops,fraction,fraction_adjacent,flops_per_sample,all_runs,optimizer_ms_per_step,ceiling" \
  >"$out/mlp_peak.csv"
printf '%-12s %5s %12s %9s %9s %12s %8s %8s  %s\n' bin batch samples/s GFLOP/s "of peak" "of adjacent" "opt ms" ceiling \
  "runs (samples/s)"
for i in "${!names[@]}"; do
  for b in "${batches[@]}"; do
    all=$(awk -F, -v n="${names[$i]}" -v b="$b" '$2 == n && $3 == b && $4 != "" { printf "%s%.0f", sep, $4; sep = " " }' "$out/mlp_peak_runs.csv")
    med=$(echo "$all" | median)
    adj=$(awk -F, -v n="${names[$i]}" -v b="$b" -v w="$flops" '$2 == n && $3 == b && $4 != "" && $6 > 0 {
      printf "%.4f ", $4 * w * 1e-9 / $6 }' "$out/mlp_peak_runs.csv" | median)
    opt=$(awk -F, -v n="${names[$i]}" -v b="$b" '$2 == n && $3 == b && $5 != "" { printf "%s ", $5 }' \
      "$out/mlp_peak_runs.csv" | median)
    # the ceiling: the fraction of peak if everything but the optimizer ran at the peak
    read -r g f c < <(awk -v s="$med" -v w="$flops" -v p="$peak" -v o="$opt" -v b="$b" 'BEGIN {
      c = o == "nan" ? "nan" : sprintf("%.3f", 1 / (1 + o * 1e-3 * p * 1e9 / (w * b)))
      if (s == "nan") print "nan nan " c; else printf "%.1f %.3f %s\n", s * w * 1e-9, s * w * 1e-9 / p, c }')
    printf '%-12s %5s %12.0f %9s %9s %12.3f %8s %8s  %s\n' "${names[$i]}" "$b" "$med" "$g" "$f" "$adj" "$opt" "$c" "$all"
    echo "${names[$i]},$b,$runs,$med,$g,$peak,$f,$adj,$flops,${all// /;},$opt,$c" >>"$out/mlp_peak.csv"
  done
done
echo
for i in "${!names[@]}"; do
  for b in "${batches[@]}"; do
    awk -F, -v n="${names[$i]}" -v b="$b" '$1 == n && $2 == b {
      printf "mlp_peak bin=%s batch=%s samples_per_sec=%.0f gflops=%s peak_gflops=%s fraction=%s fraction_adjacent=%.3f optimizer_ms=%s ceiling=%s\n",
        $1, $2, $4, $5, $6, $7, $8, $11, $12 }' \
      "$out/mlp_peak.csv"
  done
done
echo "wrote $out/mlp_peak.csv, $out/mlp_peak_runs.csv"
