#!/usr/bin/env bash
# Runs each libFuzzer harness of a -DMT_FUZZ=ON build for SECONDS (default 60) on its seed corpus
# (tests/fuzz/corpus/<harness>, read only: new inputs go to a scratch directory), prints executions and
# crashes per harness, and exits 1 when any harness crashed (crash, leak, timeout or out-of-memory
# input kept as an artifact in $FUZZ_ARTIFACTS, default ./fuzz-artifacts). SECONDS = 0 only replays the
# corpus once (-runs=0): the regression test fuzz.replay. Harnesses: $FUZZ_HARNESSES or all three.
# The fuzzer's random seed is $FUZZ_SEED, 1 by default (runs are still not exactly repeatable: what
# libhdf5 does with a damaged file varies with its internal state, and the fuzzer follows); FUZZ_SEED=0
# draws a new seed each run (for exploring: run it long, keep what it finds). $FUZZ_RUNS, when set,
# also stops each harness after that many executions: one number for every harness, or a list of
# HARNESS=N (e.g. "fuzz_config=30000 fuzz_checkpoint=600"). Inputs libhdf5 still fails on are kept in
# tests/fuzz/hdf5_known/ (README there), outside the corpus.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
#   FUZZ_SEED=0 FUZZ_HARNESSES=fuzz_dataset tests/fuzz/run.sh build-fuzz 3600
set -u
BUILD=${1:?usage: run.sh BUILD_DIR [SECONDS]}
BUILD=$(cd "$BUILD" && pwd) || exit 1   # the harnesses run from a scratch directory
SECONDS_EACH=${2:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ARTIFACTS=${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
HARNESSES=${FUZZ_HARNESSES:-fuzz_config fuzz_dataset fuzz_checkpoint}
SEED=${FUZZ_SEED:-1}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# Leaks libhdf5 makes on its own error paths are suppressed by tests/lsan.supp, compiled into the harnesses.
mkdir -p "$ARTIFACTS" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/mt-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

failed=0
for h in $HARNESSES; do
  bin=$BUILD/tests/fuzz/$h
  corpus=$HERE/corpus/$h
  if [[ ! -x $bin ]]; then
    echo "$h: no harness at $bin (configure with -DCMAKE_C_COMPILER=clang -DMT_FUZZ=ON)"
    failed=1
    continue
  fi
  mkdir -p "$T/$h"
  # -malloc_limit_mb is high: libhdf5 allocates sizes taken from damaged metadata (it handles a failed
  # malloc); memory actually used is still bounded by -rss_limit_mb.
  args=(-rss_limit_mb=2048 -malloc_limit_mb=1048576 -timeout=30 -print_final_stats=1 -seed="$SEED"
        -artifact_prefix="$ARTIFACTS/$h-")
  if [[ $SECONDS_EACH -eq 0 ]]; then
    args+=(-runs=0)
  else
    args+=(-max_total_time="$SECONDS_EACH" "$T/$h")
    runs=${FUZZ_RUNS:-}
    if [[ $runs == *=* ]]; then
      runs=$(tr ' ' '\n' <<<"$runs" | sed -n "s/^$h=//p")
    fi
    [[ -n $runs ]] && args+=(-runs="$runs")
  fi
  [[ -f $HERE/$h.dict ]] && args+=(-dict="$HERE/$h.dict")
  (cd "$T" && TMPDIR=$T "$bin" "${args[@]}" "$corpus") >"$T/$h.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$h.log" | tail -n 1)
  found=$(grep -cE '^(==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)Sanitizer|.*runtime error:|==[0-9]+== ERROR: libFuzzer)' "$T/$h.log")
  inputs=$(find "$corpus" -type f | wc -l)
  if [[ $rc -eq 0 && $found -eq 0 ]]; then
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$T/$h.log" | tail -n 1)
    echo "$h: ${execs:-?} executions in ${secs:-$SECONDS_EACH} s (seed $SEED), $inputs corpus inputs, 0 crashes"
  else
    failed=1
    echo "$h: ${execs:-?} executions, CRASH (exit status $rc); artifacts in $ARTIFACTS:"
    # the report with its first stack frames (CI keeps only what is printed)
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|fuzz:|^ *#[0-9]+ |allocated by|freed by|located' \
      "$T/$h.log" | grep -v 'in fuzzer::\|libc_start\|in _start' | head -n 40 | cut -c1-200 | sed 's/^/    | /'
    cp "$T/$h.log" "$ARTIFACTS/$h.log"
  fi
done
exit $failed
