#!/usr/bin/env bash
# Smoke test of the scaling report (bench/scaling) in its quick mode on a 4096-sample slice of Fashion-MNIST:
# the MLP at np 1 and 2, one repeat, no PyTorch, with the core count set to 1 so that the np 2 rows are
# marked oversubscribed. Checks that the CSV tables, plots and markdown report exist with the expected
# columns and rows, that speedup and efficiency follow from the samples/s, that the projection matches the
# Hockney formula computed here, and (without training) the scaling.json reader and the table arithmetic
# (median of repeats, exposed_comm taken when present) on hand-made input.
# Run by CTest as cli.scaling_report with MPITRAIN, MT_SOURCE, MPIEXEC, MPIEXEC_PREFLAGS set (see
# tests/CMakeLists.txt); the bench programs are expected beside MPITRAIN in bench/. Needs
# dataset-fashion-mnist. Prints one line per check and ends with "N passed, M failed".
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
SRC=${MT_SOURCE:?MT_SOURCE must name the source tree}
FASHION=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

check() { # NAME COMMAND...: ok when COMMAND succeeds
  local name=$1
  shift
  if "$@"; then ok "$name"; else no "$name"; fi
}
show() { [[ -f $1 ]] && sed 's/^/    | /' "$1" | head -n "${2:-30}"; }

# --- the helpers on hand-made input (no training) -------------------------------------------------
cat >"$T/scaling.json" <<'EOF'
{
  "world_size": 2,
  "time_split": "compute = ...; the words \"rank\" and allreduce in a description must not count",
  "ranks": [
    {"rank": 0, "compute": 1.5, "allreduce": 0.8, "exposed_comm": 0.1, "data": 0.25, "idle": 0.5},
    {"rank": 1, "compute": 2.5, "allreduce": 0.4, "exposed_comm": 0.3, "data": 0.75, "idle": 0}
  ]
}
EOF
got=$(awk -f "$SRC/bench/scaling_json.awk" "$T/scaling.json")
want="2 2.000000 0.200000 0.500000 0.250000 0.600000 1"
check "scaling_json.awk: per-rank means, exposed_comm read when present (got '$got', want '$want')" \
  test "$got" = "$want"
sed 's/, "exposed_comm": [0-9.]*//' "$T/scaling.json" >"$T/scaling_old.json"
got=$(awk -f "$SRC/bench/scaling_json.awk" "$T/scaling_old.json")
want="2 2.000000 0.600000 0.500000 0.250000 0.600000 0"
check "scaling_json.awk: without exposed_comm, allreduce counts as exposed (got '$got', want '$want')" \
  test "$got" = "$want"

# Three repeats per configuration: medians 1000 (np 1) and 1500 (np 2, b 128) and 1800 (np 2, b 256).
cat >"$T/runs.csv" <<'EOF'
implementation,model,np,global_batch,repeat,samples_per_sec,steps,compute_s,exposed_comm_s,data_s,idle_s,allreduce_s,exposed_field
mpitrain,mlp,1,128,1,900,10,8,0,2,0,0,0
mpitrain,mlp,1,128,2,1000,10,9,0,1,0,0,0
mpitrain,mlp,1,128,3,1100,10,7,0,3,0,0,0
mpitrain,mlp,2,128,1,1500,10,6,2,1,1,4,1
mpitrain,mlp,2,128,2,1400,10,6,2,1,1,4,1
mpitrain,mlp,2,128,3,nan,,,,,,,
mpitrain,mlp,2,128,4,1600,10,6,2,1,1,4,1
mpitrain,mlp,2,256,1,1800,10,5,3,1,1,3,0
EOF
mkdir -p "$T/tab"
awk -F, -v out="$T/tab" -v cores=1 -v strong_batch=128 -v weak_batch=128 -v nps="1 2" -v models=mlp \
  -f "$SRC/bench/scaling_tables.awk" "$T/runs.csv"
row=$(grep '^mlp,2,' "$T/tab/strong_scaling.csv")
# model,np,gb,per rank,oversub,repeats,rate,all,speedup,eff,eff/cores,ms,steps,compute,exposed,data,idle,hidden
want="mlp,2,128,64,yes,3,1500.0,1500;1400;1600,1.500,0.750,1.500,85.333,10,60.0,20.0,10.0,10.0,50.0"
check "scaling_tables.awk: strong np 2 row (got '$row', want '$want')" test "$row" = "$want"
row=$(grep '^mlp,1,' "$T/tab/weak_scaling.csv")
want="mlp,1,128,128,no,3,1000.0,900;1000;1100,1.000,1.000,1.000,128.000,10,80.0,0.0,20.0,0.0,"
check "scaling_tables.awk: weak np 1 row, split medians (got '$row', want '$want')" test "$row" = "$want"
row=$(grep '^mlp,2,' "$T/tab/weak_scaling.csv")
want="mlp,2,256,128,yes,1,1800.0,1800,1.800,0.900,1.800,142.222,10,50.0,30.0,10.0,10.0,"
check "scaling_tables.awk: weak np 2 row (got '$row', want '$want')" test "$row" = "$want"
check "scaling_tables.awk: markdown marks the oversubscribed row" grep -q '| mlp | 2 | 128 | 64 | 1500 | 1.50 | 75% |.*oversubscribed.*2 ranks on 1 cores' "$T/tab/md/strong.md"

# --- a 4096-sample slice of Fashion-MNIST -------------------------------------------------------
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz; do
  if [[ ! -r $FASHION/$f ]]; then
    no "fashion-mnist files present ($FASHION/$f missing: install dataset-fashion-mnist)"
    finish
    exit
  fi
done
N=4096
# u32 N: four big-endian bytes
u32() { printf '%b' "$(printf '\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
{ u32 2051; u32 $N; u32 28; u32 28; zcat "$FASHION/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $((N * 784)); } |
  gzip -1 >"$T/images.gz"
{ u32 2049; u32 $N; zcat "$FASHION/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c $N; } | gzip -1 >"$T/labels.gz"
if ! "$MPITRAIN" import idx --train-images "$T/images.gz" --train-labels "$T/labels.gz" -o "$T/small.h5" \
  >"$T/import.log" 2>&1; then
  no "import of the slice"
  show "$T/import.log"
  finish
  exit
fi

# --- the quick report ---------------------------------------------------------------------------
O=$T/report
start=$SECONDS
SCALING_QUICK=1 SCALING_CORES=1 DATA=$T/small.h5 MPITRAIN=$MPITRAIN timeout $((240 * MT_TIME_SCALE)) bash "$SRC/bench/scaling" "$O" \
  >"$T/scaling.out" 2>&1
st=$?
check "bench/scaling quick mode exits 0 (exit $st, $((SECONDS - start)) s)" test $st -eq 0
[[ $st -eq 0 ]] || show "$T/scaling.out" 60

for f in report.md runs.csv strong_scaling.csv weak_scaling.csv sgemm.csv allreduce.csv limits.csv projection.csv \
  scaling.png scaling.svg projection.png projection.svg plot/scaling.gp plot/projection.gp; do
  check "$f written" test -s "$O/$f"
done
check "scaling.png is a PNG" bash -c "head -c 8 '$O/scaling.png' | od -An -c | grep -q 'P   N   G'"
check "projection.png is a PNG" bash -c "head -c 8 '$O/projection.png' | od -An -c | grep -q 'P   N   G'"
check "scaling.svg is SVG" grep -q '<svg' "$O/scaling.svg"
check "projection.svg is SVG" grep -q '<svg' "$O/projection.svg"

header="model,np,global_batch,batch_per_rank,oversubscribed,repeats,samples_per_sec,all_runs,speedup,efficiency,efficiency_vs_cores,ms_per_step,steps,compute_pct,exposed_comm_pct,data_pct,idle_pct,comm_hidden_pct"
for mode in strong weak; do
  csv=$O/${mode}_scaling.csv
  check "$mode: header" test "$(head -n 1 "$csv")" = "$header"
  check "$mode: rows np 1 and 2 of mlp" test "$(tail -n +2 "$csv" | cut -d, -f1,2 | tr '\n' ' ')" = "mlp,1 mlp,2 "
  # samples/s > 0, speedup = rate / rate(np 1), efficiency = speedup / np, shares sum to 100, batches right
  if awk -F, -v mode=$mode 'NR == 1 { next }
      { bad = "" }
      !($7 > 0) { bad = "samples/s" }
      $2 == 1 { base = $7 }
      base > 0 && (($9 - $7 / base) ^ 2 > 1e-4 || ($10 - $9 / $2) ^ 2 > 1e-4) { bad = bad " speedup/efficiency" }
      ($14 + $15 + $16 + $17 - 100) ^ 2 > 1 { bad = bad " split sum" }
      $3 != (mode == "strong" ? 128 : 128 * $2) { bad = bad " global batch" }
      $5 != ($2 > 1 ? "yes" : "no") { bad = bad " oversubscribed" }
      bad != "" { print "  row " NR ": " bad ": " $0; err = 1 }
      END { exit err }' "$csv"; then
    ok "$mode: samples/s, speedup, efficiency, split, batches, oversubscription consistent"
  else
    no "$mode: samples/s, speedup, efficiency, split, batches, oversubscription consistent"
    show "$csv"
  fi
done
check "runs.csv: 3 mpitrain runs (np 1 shared by both modes)" test "$(grep -c '^mpitrain,mlp,' "$O/runs.csv")" -eq 3
check "sgemm.csv: header" test "$(head -n 1 "$O/sgemm.csv")" = \
  "name,m,n,k,transa,transb,seconds,gflops,mt_gemm_seconds,mt_gemm_gflops,fraction_of_2048"
check "sgemm.csv: 2048^3 and the 8 MLP GEMMs" test "$(grep -cE '^(square2048|mlp\.)' "$O/sgemm.csv")" -eq 9
check "limits.csv: the MLP's 269322 parameters" grep -q '^mlp,269322,1077288,' "$O/limits.csv"

# The projection: 11 rank counts x 2 links x 2 algorithms, and the formula recomputed here.
check "projection.csv: 44 rows" test "$(tail -n +2 "$O/projection.csv" | wc -l)" -eq 44
if awk -F, 'NR == 1 { next }
    { p = $2; a = $4 * 1e-6; b = $5 * 1e9; n = $15; t1 = $14 / 1000
      c = p == 1 ? 0 : ($6 == "ring" ? 2 * (p - 1) * a + 2 * (p - 1) / p * n / b : log(p) / log(2) * (a + n / b))
      e = t1 / (t1 + c); o = c - 0.667 * t1; eo = t1 / (t1 + (o > 0 ? o : 0))
      if ((1000 * c - $7) ^ 2 > 1e-6 || (e - $9) ^ 2 > 1e-6 || (eo - $12) ^ 2 > 1e-6) {
        print "  " $0 ": want comm_ms " 1000 * c ", efficiency " e ", with overlap " eo; err = 1 } }
    END { exit err }' "$O/projection.csv"; then
  ok "projection.csv follows the Hockney ring / recursive-doubling formulas"
else
  no "projection.csv follows the Hockney ring / recursive-doubling formulas"
fi

R=$O/report.md
for pat in '^## Strong scaling: global batch 128' '^## Weak scaling: 128 samples per rank' '^## Machine limits' \
  '^## Projection to 16 ... 1024 ranks (a MODEL, not a measurement)' 'T_ring(p) = 2 (p - 1) alpha' \
  'T_rd(p)   = log2(p)' '^| mlp | 2 | 128 | 64 | .*oversubscribed' '^| mlp | 2 | 256 | 128 | .*oversubscribed' \
  '^| 1024 | ' 'PyTorch DDP: skipped' '!\[measured scaling\](scaling.png)'; do
  check "report.md has: $pat" grep -q -- "$pat" "$R"
done
finish
