# Helpers shared by the benchmark scripts (bench/scaling, bench/scaling_cluster); sourced, not run.
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
