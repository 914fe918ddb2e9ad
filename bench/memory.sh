#!/usr/bin/env bash
# Benchmark: the memory of a run, as the proportional set size (PSS) summed over all ranks, for a model of
# about 50 million parameters (dense 4096-4096-4096-10 on 4096 inputs, relu, softmax, Adam) at np 1, 2
# and 4, with the optimizer state sharded across ranks (training.shard_optimizer=true) and replicated
# (=false), and the samples/s of the same runs.
#
# PSS counts each shared page (libraries, shared-memory segments) once over the processes that map it,
# so the sum over ranks is the memory the job really takes. Each rank's Pss comes from
# /proc/PID/smaps_rollup, summed over the ranks (the mpitrain children of mpirun) every SAMPLE seconds
# while training is at steady state: from the end of epoch 1 (metrics.jsonl's first line) until the end
# of the last epoch, so start-up and the final checkpoint are left out; the figure is the largest sum
# seen. samples/s is metrics.jsonl's samples_per_sec of the last epoch. The data is a small synthetic
# HDF5 set (ROWS rows of 4096 features, tests/cli/common.bash's linear_dataset), no validation, no
# checkpoints between epochs.
#
# At an even np >= 4 two more rows run the ranks as 2 nodes (MPITRAIN_RANKS_PER_NODE = np / 2, a test
# setting: nodes of consecutive ranks on this one host): `nodes`, one copy per node (each node keeps the
# whole optimizer state), and `pieces`, with training.shard_across_nodes (the state split between the nodes).
#
# When this mpitrain has no training.shard_optimizer (it exits 2 with a config error naming the key),
# only the replicated runs are made (without the --set), and a note says so.
#
# Usage: bench/memory.sh [OUT_DIR]     (default /tmp/mpitrain-memory)
# Prints a table and writes OUT_DIR/memory.csv. Environment (defaults in brackets): NPS ["1 2 4"],
# ROWS [512], BATCH [64, global], EPOCHS [4], SAMPLE [0.2 s], MPITRAIN [build/mpitrain].
# Ranks beyond the core count run with --oversubscribe. Run it on an otherwise idle machine (samples/s).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/mpitrain-memory}
mkdir -p "$out"
out=$(cd "$out" && pwd)
nps=${NPS:-1 2 4}
rows=${ROWS:-512}
batch=${BATCH:-64}
epochs=${EPOCHS:-4}
sample=${SAMPLE:-0.2}
for v in $nps "$rows" "$batch" "$epochs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/memory.sh: NPS, ROWS, BATCH and EPOCHS must be positive whole numbers, not '$v'" >&2; exit 2; }
done
((epochs >= 2)) || { echo "bench/memory.sh: EPOCHS must be at least 2 (epoch 1 is not sampled)" >&2; exit 2; }
[[ $sample =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "bench/memory.sh: SAMPLE must be a number of seconds" >&2; exit 2; }
mpitrain=${MPITRAIN:-$root/build/mpitrain}
[[ $mpitrain == /* ]] || mpitrain=$PWD/$mpitrain
[[ -x $mpitrain ]] || { echo "bench/memory.sh: $mpitrain not found (build first, or set MPITRAIN)" >&2; exit 1; }

cores=$(nproc 2>/dev/null || echo 1)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
preflags=(--bind-to none)
[[ $(id -u) -ne 0 ]] || preflags+=(--allow-run-as-root)

# json_last from the benchmarks' helpers; linear_dataset (and the scratch directory $T, removed at exit)
# from the CLI tests' helpers.
# shellcheck source=common.bash
. "$root/bench/common.bash"
export MPITRAIN=$mpitrain
# shellcheck source=../tests/cli/common.bash
. "$root/tests/cli/common.bash"
echo "bench/memory.sh: making $rows rows of 4096 features ..." >&2
linear_dataset "$T/data.h5" 7 "$rows" 4096
[[ -f $T/data.h5 ]] || { echo "bench/memory.sh: could not make the dataset" >&2; exit 1; }
rm -f "$T/data.csv"
config=$T/model.yaml
cat >"$config" <<YAML
# About 50 million parameters: 3 x (4096 x 4096 + 4096) + 4096 x 10 + 10.
model:
  input: [4096]
  layers:
    - dense: {units: 4096, activation: relu}
    - dense: {units: 4096, activation: relu}
    - dense: {units: 4096, activation: relu}
    - dense: {units: 10, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.0001}
data: {file: $T/data.h5, train: train}
training: {epochs: $epochs, batch_size: $batch, seed: 1}
checkpoint: {every_epochs: 0}
YAML

# Does this mpitrain know training.shard_optimizer? epochs=0 makes a known key's run stop at once (exit 2
# naming epochs); an unknown key is named instead.
modes=(true false)
note=""
if ! err=$("$mpitrain" train "$config" --quiet --set training.shard_optimizer=true --set training.epochs=0 \
  --set "output=$T/probe" 2>&1) && [[ $err == *shard_optimizer* ]]; then
  modes=(replicated)
  note="this mpitrain has no training.shard_optimizer (${err#mpitrain: }): only the replicated runs (its only mode) were made"
fi

# pss_sum PID: the summed Pss (kB) of the mpitrain processes among PID's children, or nothing.
pss_sum() {
  local c sum=0 n=0 kb
  for c in $(pgrep -P "$1" 2>/dev/null); do
    [[ $(cat "/proc/$c/comm" 2>/dev/null) == mpitrain ]] || continue
    kb=$(awk '$1 == "Pss:" { print $2 }' "/proc/$c/smaps_rollup" 2>/dev/null) || continue
    [[ -n $kb ]] || continue
    sum=$((sum + kb)) n=$((n + 1))
  done
  ((n == 0)) || echo "$sum $n"
}

csv=$out/memory.csv
echo "np,shard_optimizer,pss_max_mb,ranks_seen,samples,samples_per_sec,oversubscribed" >"$csv"
echo "bench/memory.sh: 50M-parameter MLP (4096-4096-4096-4096-10), Adam, batch $batch (global), $rows rows, $epochs epochs"
echo "  PSS summed over ranks, largest of the samples every $sample s from the end of epoch 1 to the end of epoch $epochs;"
echo "  $("$mpitrain" --version); $cores cores; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -z $note ]] || echo "  note: $note"
echo
printf '%-4s %-16s %12s %8s %14s\n' np shard_optimizer "PSS sum MB" samples "samples/s"
declare -A pss=()
for np in $nps; do
  flags=("${preflags[@]}")
  ((np <= cores)) || flags+=(--oversubscribe)
  np_modes=("${modes[@]}")
  # at an even np >= 4, also as 2 nodes (MPITRAIN_RANKS_PER_NODE=np/2): one copy per node, and with the
  # optimizer state split between the nodes too (training.shard_across_nodes)
  [[ ${modes[0]} != true ]] || ((np < 4 || np % 2)) || np_modes+=(nodes pieces)
  for mode in "${np_modes[@]}"; do
    run=$T/run_${np}_$mode
    set_mode=() nodes=()
    case $mode in
      replicated) ;;
      nodes) nodes=(-x "MPITRAIN_RANKS_PER_NODE=$((np / 2))") ;;
      pieces) nodes=(-x "MPITRAIN_RANKS_PER_NODE=$((np / 2))") set_mode=(--set training.shard_across_nodes=true) ;;
      *) set_mode=(--set "training.shard_optimizer=$mode") ;;
    esac
    mpirun -np "$np" "${flags[@]}" "${nodes[@]}" "$mpitrain" train "$config" --quiet "${set_mode[@]}" --set "output=$run" \
      >"$run.log" 2>&1 &
    pid=$!
    max=0 seen=0 samples=0
    while kill -0 "$pid" 2>/dev/null; do
      lines=$({ wc -l <"$run/metrics.jsonl"; } 2>/dev/null || echo 0)
      if ((lines >= epochs)); then break; fi
      if ((lines >= 1)) && s=$(pss_sum "$pid") && [[ -n $s ]]; then
        read -r kb n <<<"$s"
        samples=$((samples + 1))
        ((kb <= max)) || max=$kb
        ((n <= seen)) || seen=$n
      fi
      sleep "$sample"
    done
    st=0
    wait "$pid" || st=$?
    rate=$(json_last "$run/metrics.jsonl" samples_per_sec)
    if ((st != 0)) || [[ -z $rate ]] || ((samples == 0)); then
      echo "bench/memory.sh: np $np $mode failed (exit $st, $samples samples); its log:" >&2
      sed 's/^/    | /' "$run.log" >&2
      exit 1
    fi
    mb=$(awk -v k="$max" 'BEGIN { printf "%.0f", k / 1024 }')
    pss[$np $mode]=$mb
    printf '%-4s %-16s %12s %8s %14.0f%s\n' "$np" "$mode" "$mb" "$samples" "$rate" \
      "$( ((seen == np)) || echo "  (only $seen of $np ranks seen)")"
    echo "$np,$mode,$mb,$seen,$samples,$rate,$( ((np > cores)) && echo yes || echo no)" >>"$csv"
    rm -rf "$run"
  done
done
if [[ ${modes[0]} == true ]]; then
  echo
  echo "sharded / replicated PSS:"
  for np in $nps; do
    r=$(awk -v a="${pss[$np true]}" -v b="${pss[$np false]}" 'BEGIN { printf "%.2f", a / b }')
    echo "  np $np: $r"
    echo "ratio_np$np,sharded_over_replicated,$r,,,," >>"$csv"
    [[ -n ${pss[$np pieces]:-} ]] || continue
    r=$(awk -v a="${pss[$np pieces]}" -v b="${pss[$np nodes]}" 'BEGIN { printf "%.2f", a / b }')
    echo "  np $np as 2 nodes: state split between the nodes / a copy per node: $r"
    echo "ratio_np${np}_nodes,pieces_over_nodes,$r,,,," >>"$csv"
  done
fi
[[ -z $note ]] || echo "# $note" >>"$csv"
echo "wrote $csv"
