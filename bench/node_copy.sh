#!/usr/bin/env bash
# Benchmark: one copy per node (training.shard_optimizer) on one node, against every rank keeping its own
# copy (shard_optimizer: false, sums by MPI allreduce) and against one rank, on a Fashion-MNIST example
# model (launch/configs/fashion_$MODEL.yaml: MODEL=mlp (default), cnn or lstm). Every figure is
# metrics.jsonl's samples_per_sec of the last epoch (EPOCHS, default 2: a warm epoch, then the measured
# one), the median of ROUNDS interleaved rounds; each round runs, one after the other:
#   np1        1 rank, global batch B (default 128)
#   np2        2 ranks, global batch B, one copy per node      -> np2 / np1 (strong scaling)
#   np2_own    2 ranks, global batch B, a copy per rank
#   weak       2 ranks, global batch 2B (B per rank), one copy per node
#   weak_own   the same with a copy per rank
#   pair       two independent 1-rank runs of global batch B started together (they train one epoch more,
#              so that both are surely training during the measured one): what the 2 cores do without
#              talking to each other                           -> weak / pair
# Augmentation is off, one BLAS thread per rank, --bind-to none (two separate mpirun would otherwise both
# bind their rank to core 0).
#
# Usage: [MODEL=cnn] [ROUNDS=5] [B=128] bench/node_copy.sh [OUT_DIR]   (default /tmp/mpitrain-bench)
# Prints the medians and ratios and writes OUT_DIR/node_copy_$MODEL.csv (every run). MPITRAIN selects the
# binary (default build/mpitrain); needs datasets/fashion-mnist.h5 (datasets/prepare makes it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
model=${MODEL:-mlp} rounds=${ROUNDS:-5} batch=${B:-128} epochs=${EPOCHS:-2}
case $model in mlp | cnn | lstm) ;; *) echo "bench: MODEL must be mlp, cnn or lstm" >&2; exit 2 ;; esac
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
cd "$root"
[[ -x $mpitrain ]] || { echo "bench: $mpitrain not found; run launch/setup first" >&2; exit 1; }
[[ -f datasets/fashion-mnist.h5 ]] || MPITRAIN=$mpitrain datasets/prepare
# shellcheck source=common.bash
. "$root/bench/common.bash"

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
flags=(--bind-to none)
(($(nproc) >= 2)) || flags+=(--oversubscribe)
[[ $(id -u) -ne 0 ]] || flags+=(--allow-run-as-root)
work=$(mktemp -d "${TMPDIR:-/tmp}/mt-nodecopy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NP BATCH TAG EPOCHS [--set ...]: trains; prints the last epoch's samples/s.
run() {
  local np=$1 b=$2 tag=$3 ep=$4
  shift 4
  rm -rf "${work:?}/$tag"
  mpirun -np "$np" "${flags[@]}" "$mpitrain" train "launch/configs/fashion_$model.yaml" --quiet \
    --set training.epochs="$ep" --set training.batch_size="$b" --set output="$work/$tag" --set data.augment= "$@" \
    >"$work/$tag.log" 2>&1 || { echo "bench: $tag failed: $(tail -n 2 "$work/$tag.log")" >&2; exit 1; }
  json_last "$work/$tag/metrics.jsonl" samples_per_sec
}

csv=$out/node_copy_$model.csv
echo "round,run,samples_per_sec" >"$csv"
for ((i = 1; i <= rounds; i++)); do
  {
    echo "$i,np1,$(run 1 "$batch" np1 "$epochs")"
    echo "$i,np2,$(run 2 "$batch" np2 "$epochs")"
    echo "$i,np2_own,$(run 2 "$batch" np2_own "$epochs" --set training.shard_optimizer=false)"
    echo "$i,weak,$(run 2 $((2 * batch)) weak "$epochs")"
    echo "$i,weak_own,$(run 2 $((2 * batch)) weak_own "$epochs" --set training.shard_optimizer=false)"
    run 1 "$batch" pair_a $((epochs + 1)) >"$work/pair_a.out" &
    b=$(run 1 "$batch" pair_b $((epochs + 1)))
    wait
    echo "$i,pair,$(awk -v a="$(cat "$work/pair_a.out")" -v b="$b" 'BEGIN { print a + b }')"
  } >>"$csv"
done

# The median of each run over the rounds, then the ratios.
awk -F, -v model="$model" -v batch="$batch" -v rounds="$rounds" 'NR > 1 { v[$2] = v[$2] " " $3 }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    split("np1 np2 np2_own weak weak_own pair", k, " ")
    printf "MODEL=%s B=%d, medians of %d interleaved rounds (samples/s of the last epoch)\n", model, batch, rounds
    for (i = 1; i <= 6; i++) { m[k[i]] = median(v[k[i]]); printf "  %-9s %10.0f\n", k[i], m[k[i]] }
    printf "strong, global batch %d: np2 / np1 = %.2f (a copy per rank: %.2f)\n", batch, m["np2"] / m["np1"],
      m["np2_own"] / m["np1"]
    printf "weak, %d per rank: np2 / pair = %.2f (a copy per rank: %.2f)\n", batch, m["weak"] / m["pair"],
      m["weak_own"] / m["pair"]
  }' "$csv"
echo "every run: $csv"
