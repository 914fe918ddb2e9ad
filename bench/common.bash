# Helpers shared by the benchmark scripts (bench/scaling, bench/scaling_cluster, fashion_epoch.sh, mlp_peak.sh,
# stragglers.sh); sourced, not run.
# They read a run's files with the mpitrain binary in $mpitrain.
# shellcheck disable=SC2154 # mpitrain is set by the script that sources this file

# json_last FILE KEY: KEY's number in the last line of a JSON-lines file.
json_last() { tail -n 1 "$1" 2>/dev/null | grep -o "\"$2\": *[-+0-9.eE]*" | head -n 1 | sed 's/.*: *//' || true; }
# param_count CHECKPOINT: trainable values under /params (running batch-norm statistics excluded).
param_count() {
  "$mpitrain" inspect "$1" 2>/dev/null | awk '/^  params\//{ p = 1; next } p && /^  [^ ]/{ p = 0 }
    p && /: float32 \[/ && !/running_|num_batches/ {
      s = $0; sub(/.*float32 \[/, "", s); sub(/\].*/, "", s); n = split(s, d, ","); v = 1
      for (i = 1; i <= n; i++) v *= d[i]
      t += v }
    END { print t + 0 }'
}
# torch_keep_mapped: glibc malloc settings (environment) under which PyTorch keeps freed memory mapped: no
# mmap for large blocks, no trimming of the heap (the role jemalloc or tcmalloc play in PyTorch's CPU
# builds). With glibc's defaults PyTorch returns its temporaries to the kernel every step and pays page
# faults for them again, 3-4x slower on a virtual machine.
# shellcheck disable=SC2034 # used by the scripts that source this file
torch_keep_mapped=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456)
# median: the median of the numbers on stdin (whitespace- or line-separated), nan when there are none.
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# fma_peak_gflops BINARY [ARGS...]: one core's FMA peak in GFLOP/s from bench/fma_peak's machine-readable
# line (empty when it fails).
fma_peak_gflops() { "$@" 2>/dev/null | sed -n 's/^fma_peak gflops=\([0-9.]*\).*$/\1/p' || true; }
# dense_flops_per_sample CHECKPOINT: the GEMM work of one training sample of a model whose trainable
# tensors are dense weights [out, in]: 2 out in each for the forward product, the weight gradient and the
# input gradient, except that the first layer computes no input gradient: 6 sum(out in) - 2 out_1 in_1.
dense_flops_per_sample() {
  "$mpitrain" inspect "$1" 2>/dev/null | awk '/^  params\//{ p = 1; next } p && /^  [^ ]/{ p = 0 }
    p && /weight: float32 \[/ {
      s = $0; sub(/.*float32 \[/, "", s); sub(/\].*/, "", s); n = split(s, d, ","); v = 1
      for (i = 1; i <= n; i++) v *= d[i]
      t += 6 * v; if (!first++) t -= 2 * v }
    END { printf "%.0f\n", t }'
}
