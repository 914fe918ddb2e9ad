#!/usr/bin/env bash
# predict and eval end to end on a generated 3-class CSV dataset: a small classifier trained at np 2;
# predict at np 2 to HDF5 (shapes, attributes) and to CSV (probabilities sum to 1, predicted = arg-max,
# the same file at np 1 and np 2, accuracy equal to eval's); eval's confusion matrix sums to N and its
# per-class precision, recall and F1 (table and --json) equal those computed here with awk from predict's
# CSV, also on a 12-row split; --help of every command; bad arguments exit 2 with one error line.
# Run by CTest as cli.predict_eval with MPITRAIN, MPIEXEC, MPIEXEC_PREFLAGS set. Ends with
# "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
# same4 A B: A and B agree to 4 decimals.
same4() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && sprintf("%.4f", a) == sprintf("%.4f", b)) }'; }
# shellcheck source=expect_error.bash
. "$(dirname "$0")/expect_error.bash"

# --- data: three classes by the sign pattern of two features, with noise; 12 extra rows as split "tiny" ---
gen() { # gen SEED ROWS
  awk -v s="$1" -v n="$2" 'BEGIN { srand(s); print "a,b,label";
    for (i = 0; i < n; i++) { a = rand() * 4 - 2; b = rand() * 4 - 2;
      c = (a < -0.6) ? 0 : (b > 0 ? 1 : 2); if (rand() < 0.1) c = int(rand() * 3);
      printf "%.4f,%.4f,%d\n", a, b, c } }'
}
gen 3 600 >"$T/d.csv"
gen 5 12 >"$T/tiny.csv"
"$MPITRAIN" import csv "$T/d.csv" --label label --test-fraction 0.25 --seed 2 -o "$T/d.h5" >"$T/import.log" 2>&1 \
  && ok "import csv (450 train, 150 test rows)" || { no "import csv: $(tail -n 1 "$T/import.log")"; stop; }
"$MPITRAIN" import csv "$T/tiny.csv" --label label --split tiny -o "$T/tiny.h5" >>"$T/import.log" 2>&1 \
  && ok "import csv of the 12-row split" || no "import tiny: $(tail -n 1 "$T/import.log")"

cat >"$T/c.yaml" <<YAML
model:
  input: [2]
  layers:
    - dense: {units: 8, activation: tanh}
    - dense: {units: 3, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.03}
data: {file: $T/d.h5, train: train, validation: test}
training: {epochs: 15, batch_size: 32, seed: 1}
output: $T/run
YAML
mpi 2 "$MPITRAIN" train "$T/c.yaml" --quiet >"$T/train.log" 2>&1 && ok "train at np 2" \
  || { no "train: $(tail -n 1 "$T/train.log")"; stop; }
CKPT=$T/run/checkpoint.h5

# --- predict to HDF5 ------------------------------------------------------------------------------------
mpi 2 "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/p.h5" >"$T/p.log" 2>&1 && ok "predict -o p.h5 at np 2" \
  || no "predict h5: $(tail -n 1 "$T/p.log")"
grep -q "wrote $T/p.h5: 150 rows of .* split 'test', 3 probabilities per row" "$T/p.log" \
  && ok "predict chose split test and says what it wrote" || no "predict line: $(cat "$T/p.log")"
h5ls -r "$T/p.h5" >"$T/h5ls.out" 2>&1
for want in '^/probabilities +Dataset \{150, 3\}' '^/predicted +Dataset \{150\}' '^/y +Dataset \{150\}' \
  '^/row +Dataset \{150\}'; do
  grep -Eq "$want" "$T/h5ls.out" && ok "p.h5 has ${want//[\\^+]/}" || no "p.h5 lacks $want: $(tr '\n' ' ' <"$T/h5ls.out")"
done
h5dump -A "$T/p.h5" 2>/dev/null | grep -q "\"$CKPT\"" && ok "p.h5 names the checkpoint in an attribute" \
  || no "p.h5: no checkpoint attribute"

# same_csv A B: equal headers, rows, y and predicted columns; probabilities within 1e-6 (batch size
# changes the matrix kernels' blocking, so the last bits may differ).
same_csv() {
  paste -d '|' "$1" "$2" | awk -F'|' 'NR == 1 { if ($1 != $2) exit 1; next }
    { n1 = split($1, a, ","); n2 = split($2, b, ","); if (n1 != n2) exit 1
      for (i = 1; i <= 3; i++) if (a[i] != b[i]) exit 1
      for (i = 4; i <= n1; i++) { d = a[i] - b[i]; if (d > 1e-6 || d < -1e-6) exit 1 } }
    END { if (NR < 2) exit 1 }' && [[ $(wc -l <"$1") -eq $(wc -l <"$2") ]]
}

# --- predict to CSV, np 2 and np 1 ----------------------------------------------------------------------
mpi 2 "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/p2.csv" --batch 7 >"$T/p2.log" 2>&1 && ok "predict -o p2.csv at np 2" \
  || no "predict csv: $(tail -n 1 "$T/p2.log")"
mpi 1 "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/p1.csv" --split test >"$T/p1.log" 2>&1 \
  && same_csv "$T/p1.csv" "$T/p2.csv" \
  && ok "np 1 (batch 256) and np 2 (batch 7): same rows and classes, probabilities within 1e-6" \
  || no "CSV differs between np 1 and np 2: $(diff "$T/p1.csv" "$T/p2.csv" | head -n 2 | tr '\n' ' ')"
[[ $(head -n 1 "$T/p2.csv") == "row,y,predicted,p0,p1,p2" ]] && ok "CSV header row,y,predicted,p0,p1,p2" \
  || no "CSV header: $(head -n 1 "$T/p2.csv")"
rows=$(($(wc -l <"$T/p2.csv") - 1))
[[ $rows -eq 150 ]] && ok "CSV has 150 rows" || no "CSV has $rows rows"
awk -F, 'NR > 1 { s = $4 + $5 + $6; if (s < 0.9999 || s > 1.0001) bad++;
  m = 0; for (j = 1; j < 3; j++) if ($(4 + j) > $(4 + m)) m = j; if (m != $3) bad++; if ($1 != NR - 2) bad++ }
  END { exit bad > 0 }' "$T/p2.csv" && ok "probabilities sum to 1, predicted is their arg-max, rows in order" \
  || no "CSV values inconsistent"

# --- eval: accuracy, confusion matrix and per-class values against awk on predict's CSV -----------------
mpi 2 "$MPITRAIN" eval "$CKPT" --json "$T/e.json" >"$T/e.out" 2>&1 && ok "eval --json at np 2" \
  || no "eval: $(tail -n 1 "$T/e.out")"
eacc=$(awk '$1 == "accuracy" { print $2 }' "$T/e.out")
pacc=$(awk -F, 'NR > 1 { n++; r += ($2 == $3) } END { if (n) printf "%.6f", r / n }' "$T/p2.csv")
same4 "$eacc" "$pacc" && ok "eval accuracy $eacc equals predict's ($pacc)" || no "eval accuracy $eacc, predict $pacc"
grep -q "^loss " "$T/e.out" && grep -q "^confusion matrix" "$T/e.out" && grep -q "^macro avg" "$T/e.out" \
  && ok "eval prints loss, the confusion matrix and the per-class table" || no "eval output: $(head -c 600 "$T/e.out")"
csum=$(grep -o '"confusion_matrix": \[[^a-z]*\]\]' "$T/e.json" | tr -c '0-9\n' ' ' | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }')
[[ $csum -eq 150 ]] && ok "confusion matrix sums to N = 150" || no "confusion matrix sums to $csum"

# per_class FILE.csv: "class precision recall f1 support" lines computed from predict's CSV, then macro.
per_class() {
  awk -F, 'NR > 1 { t = $2; p = $3; cnt[t, p]++; sup[t]++; pred[p]++ }
    END { for (c = 0; c < 3; c++) { P = pred[c] ? cnt[c, c] / pred[c] : 0; R = sup[c] ? cnt[c, c] / sup[c] : 0;
            F = P + R ? 2 * P * R / (P + R) : 0; printf "%d %.4f %.4f %.4f %d\n", c, P, R, F, sup[c];
            if (sup[c] || pred[c]) { n++; mp += P; mr += R; mf += F } }
          printf "macro %.4f %.4f %.4f\n", mp / n, mr / n, mf / n }' "$1"
}
# eval_class FILE.out: the same lines from eval's table.
eval_class() {
  awk '/^per-class metrics/ { on = 1; next } on && $1 ~ /^[0-9]+$/ { printf "%d %.4f %.4f %.4f %d\n", $1, $(NF-3), $(NF-2), $(NF-1), $NF }
    on && $1 == "macro" { printf "macro %.4f %.4f %.4f\n", $3, $4, $5 }' "$1"
}
per_class "$T/p2.csv" >"$T/want.txt"
eval_class "$T/e.out" >"$T/got.txt"
if [[ -s $T/want.txt ]] && diff "$T/want.txt" "$T/got.txt" >"$T/diff.txt"; then
  ok "eval's per-class precision, recall, F1, support and macro averages equal awk's"
else
  no "per-class values differ: $(tr '\n' ' ' <"$T/diff.txt")"
fi
jf1=$(grep -o '"macro_avg": {[^}]*}' "$T/e.json" | grep -o '"f1": [0-9.e-]*' | awk '{ print $2 }')
same4 "$jf1" "$(awk '$1 == "macro" { print $4 }' "$T/want.txt")" && ok "--json macro f1 $jf1 equals awk's" \
  || no "--json macro f1 ${jf1:-none}"

# The 12-row split: small enough to read; the same agreement, and a sum of 12.
mpi 2 "$MPITRAIN" predict "$CKPT" "$T/tiny.h5" -o "$T/tiny.csv.out.csv" >"$T/tp.log" 2>&1 \
  && grep -q "split 'tiny'" "$T/tp.log" && ok "predict picks the only split 'tiny'" || no "tiny predict: $(tail -n 1 "$T/tp.log")"
mpi 2 "$MPITRAIN" eval "$CKPT" --data "$T/tiny.h5" --split tiny --json "$T/tiny.json" >"$T/te.out" 2>&1 \
  || no "tiny eval: $(tail -n 1 "$T/te.out")"
per_class "$T/tiny.csv.out.csv" >"$T/want.txt"
eval_class "$T/te.out" >"$T/got.txt"
diff -q "$T/want.txt" "$T/got.txt" >/dev/null && ok "12 rows: per-class values equal awk's ($(tr '\n' ';' <"$T/want.txt"))" \
  || no "12 rows: $(tr '\n' ' ' <"$T/got.txt") vs $(tr '\n' ' ' <"$T/want.txt")"
tsum=$(grep -o '"confusion_matrix": \[[^a-z]*\]\]' "$T/tiny.json" | tr -c '0-9\n' ' ' | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }')
[[ $tsum -eq 12 ]] && ok "12-row confusion matrix sums to 12" || no "12-row confusion matrix sums to $tsum"

# A checkpoint named with non-ASCII UTF-8, a quote, a backslash and a tab: --json is valid JSON holding the
# name as it is.
weird="$T/ré\"s\\"$'\t'"ü.h5"
cp "$CKPT" "$weird"
mpi 2 "$MPITRAIN" eval "$weird" --data "$T/tiny.h5" --split tiny --json "$T/weird.json" >"$T/we.out" 2>&1 \
  || no "eval of $weird: $(tail -n 1 "$T/we.out")"
if command -v python3 >/dev/null; then
  python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1], encoding="utf-8"))["checkpoint"] != sys.argv[2])' \
    "$T/weird.json" "$weird" && ok "eval --json: the odd checkpoint name reads back equal" \
    || no "eval --json with an odd name: $(head -c 300 "$T/weird.json")"
fi

# --- help on every command ------------------------------------------------------------------------------
for c in train eval predict import inspect plot; do
  "$MPITRAIN" "$c" --help >"$T/help.out" 2>&1 && grep -q "^usage: " "$T/help.out" \
    && ok "$c --help prints usage and exits 0" || no "$c --help"
done
for c in eval predict import inspect plot; do
  "$MPITRAIN" "$c" --help | grep -q "Exit status" && ok "$c --help names the exit statuses" || no "$c --help lacks exit statuses"
done

# --- bad arguments: exit 2, one line ---------------------------------------------------------------------
expect_error "predict without -o" "missing -o" "$MPITRAIN" predict "$CKPT" "$T/d.h5"
expect_error "predict to .txt" "must end in \.h5, \.hdf5 or \.csv" "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/x.txt"
expect_error "predict --batch 0" "--batch: expected an integer" "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/x.h5" --batch 0
expect_error "predict with one argument" "expected CHECKPOINT\.h5 and INPUT\.h5" "$MPITRAIN" predict "$CKPT" -o "$T/x.h5"
expect_error "predict unknown option" "unknown option or missing value '--frobnicate'" \
  "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/x.h5" --frobnicate
expect_error "predict missing split" "nosuch" "$MPITRAIN" predict "$CKPT" "$T/d.h5" -o "$T/x.h5" --split nosuch
expect_error "predict missing checkpoint" "$T/none\.h5" "$MPITRAIN" predict "$T/none.h5" "$T/d.h5" -o "$T/x.h5"
printf 'a,b,c,label\n1,2,3,0\n4,5,6,1\n' >"$T/wide.csv"
"$MPITRAIN" import csv "$T/wide.csv" --label label --split test -o "$T/wide.h5" >/dev/null 2>&1
expect_error "predict input of the wrong shape" "wide\.h5: /test/x: sample shape \[3\] does not match model\.input \[2\]" \
  "$MPITRAIN" predict "$CKPT" "$T/wide.h5" -o "$T/x.h5"
expect_error "eval --json without a file" "unknown option or missing value '--json'" "$MPITRAIN" eval "$CKPT" --json
[[ -e $T/x.h5 || -e $T/x.txt ]] && no "a failed predict left an output file" || ok "failed predicts left no output file"
finish
