#!/bin/bash
# Smoke test of the scaling report (bench/scaling) in its quick mode: the MLP at np 1 and 2, one repeat,
# 10 steps, no PyTorch. Checks that it exits 0 and writes the strong and weak scaling tables (CSV rows for
# np 1 and 2 with speedup 1.000 at np 1), the projection to 1024 ranks, the machine limits, PNG and SVG
# plots and the markdown report with its sections. Ends with "N passed, M failed".
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
: "${MT_SOURCE:?MT_SOURCE must name the source tree}"

SCALING_QUICK=1 MPITRAIN="$MPITRAIN" timeout 240 "$MT_SOURCE/bench/scaling" "$T/r" >"$T/log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "bench/scaling exits 0" || no "bench/scaling: exit $rc: $(tail -n 3 "$T/log")"
for mode in strong weak; do
  f="$T/r/${mode}_scaling.csv"
  head -n 1 "$f" 2>/dev/null | grep -q "^model,np,global_batch,batch_per_rank,oversubscribed,.*speedup,efficiency" \
    && ok "$mode: CSV header" || no "$mode: CSV header: $(head -n 1 "$f" 2>&1)"
  awk -F, 'NR > 1 { n++; if ($2 == 1 && $9 != "1.000") bad = 1; if ($7 + 0 <= 0) bad = 1 }
           END { exit !(n == 2 && !bad) }' "$f" 2>/dev/null \
    && ok "$mode: rows for np 1 and 2, speedup 1 at np 1, samples/s > 0" || no "$mode: rows: $(cat "$f" 2>&1)"
done
awk -F, '$2 == 1024 { n++ } END { exit !(n >= 4) }' "$T/r/projection.csv" 2>/dev/null \
  && ok "projection reaches 1024 ranks (ring and recursive doubling, two links)" || no "projection.csv lacks p = 1024"
grep -q "square2048" "$T/r/sgemm.csv" 2>/dev/null && ok "sgemm limit measured" || no "sgemm.csv lacks 2048^3"
[ -s "$T/r/allreduce.csv" ] && ok "allreduce microbenchmark ran" || no "allreduce.csv missing"
for p in scaling projection; do
  head -c 8 "$T/r/$p.png" 2>/dev/null | od -An -tx1 | grep -q "89 50 4e 47" && ok "$p.png is a PNG" || no "$p.png missing"
  grep -q "<svg" "$T/r/$p.svg" 2>/dev/null && ok "$p.svg is an SVG" || no "$p.svg missing"
done
for h in "## Strong scaling" "## Weak scaling" "## Machine limits" "## Projection to 16 ... 1024 ranks (a MODEL"; do
  grep -qF "$h" "$T/r/report.md" 2>/dev/null && ok "report.md: $h" || no "report.md lacks '$h'"
done
finish
