#!/usr/bin/env bash
# --log-format json and --quiet for job scripts: a small classifier trained at np 2 prints only JSON lines
# on stdout (every line parses; start, one epoch event per epoch equal to the metrics.jsonl rows,
# checkpoint events for the epochs that write one, a summary whose final metrics are the last
# metrics.jsonl row and whose scaling has both ranks); --quiet leaves only the summary; errors are one
# line on stderr and one error event on stdout with the exit status (config error 2, SIGTERM 1 after a
# checkpoint event for checkpoint_interrupted.h5); strings are escaped (quotes, backslashes, bad UTF-8);
# a bad --log-format value exits 2 with one message; the default stays the text output; a GAN's events;
# eval and predict in JSON agree with their text output. Run by CTest as cli.log_format with MPITRAIN,
# MT_TOOLS, MPIEXEC, MPIEXEC_PREFLAGS set. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
: "${MT_TOOLS:?MT_TOOLS must name the directory of the test tools}"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
command -v python3 >/dev/null || { no "python3 is needed to parse the JSON lines"; finish; exit; }

# Checks written in Python print "ok   - ..." / "FAIL - ..." lines; py counts them (a crash is a failure).
cat >"$T/lf.py" <<'PY'
import json, re, sys
def check(name, good, detail=""):
    print(("ok   - " if good else "FAIL - ") + name + ("" if good else ": " + str(detail)[:300]))
def events(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")]
def rows(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
def common_fields(evs):
    bad = [e for e in evs if not (isinstance(e.get("event"), str) and ISO.match(str(e.get("time")))
                                  and isinstance(e.get("elapsed"), (int, float)) and e["elapsed"] >= 0)]
    check("every event has event, time (ISO 8601 UTC) and elapsed", evs and not bad, bad[:1])
    el = [e["elapsed"] for e in evs]
    check("elapsed never decreases", el == sorted(el), el)
PY
py() {
  local out line
  out=$(python3 -c "import sys; sys.path.insert(0, '$T'); from lf import *; exec(sys.stdin.read())" "$@" 2>&1) \
    || { echo "$out" | tail -n 5 | sed 's/^/    | /'; no "python check failed to run"; }
  while IFS= read -r line; do
    case $line in
    "ok   - "*) ok "${line#ok   - }" ;;
    "FAIL - "*) no "${line#FAIL - }" ;;
    esac
  done <<<"$out"
}
# all_json FILE: every line of FILE parses as JSON (and there is at least one).
all_json() {
  [ -s "$1" ] && python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$1" 2>/dev/null
}
mlines() { grep -c '^mpitrain' "$1"; }

# --- data and config: three classes from two features, 4 epochs, a checkpoint every 2 ----------------------
awk 'BEGIN { srand(3); print "a,b,label";
  for (i = 0; i < 400; i++) { a = rand() * 4 - 2; b = rand() * 4 - 2; c = (a < -0.6) ? 0 : (b > 0 ? 1 : 2);
    if (rand() < 0.1) c = int(rand() * 3); printf "%.4f,%.4f,%d\n", a, b, c } }' >"$T/d.csv"
"$MPITRAIN" import csv "$T/d.csv" --label label --test-fraction 0.25 --seed 2 -o "$T/d.h5" >"$T/import.log" 2>&1 \
  || { no "import csv: $(tail -n 1 "$T/import.log")"; finish; exit; }
cat >"$T/c.yaml" <<YAML
model:
  input: [2]
  layers:
    - dense: {units: 8, activation: tanh}
    - dense: {units: 3, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.03}
data: {file: $T/d.h5, train: train, validation: test, test: test}
training: {epochs: 4, batch_size: 32, seed: 1}
checkpoint: {every_epochs: 2, keep: 3}
output: $T/run
YAML

# --- a JSON run -------------------------------------------------------------------------------------------
run2 train "$T/c.yaml" --log-format json --set training.seed=1 >"$T/j.out" 2>"$T/j.err"
rc=$?
[ $rc -eq 0 ] && ok "train --log-format json at np 2" || no "train --log-format json: exit $rc: $(tail -n 2 "$T/j.err")"
all_json "$T/j.out" && ok "every stdout line parses as JSON ($(wc -l <"$T/j.out") lines)" \
  || no "stdout is not JSON lines: $(head -c 300 "$T/j.out")"
grep -q $'\r\|\033' "$T/j.out" && no "progress bar characters on stdout" || ok "no progress bar on stdout"
[ "$(mlines "$T/j.err")" = 0 ] && ok "nothing from mpitrain on stderr" || no "stderr: $(head -n 2 "$T/j.err")"
py "$T/j.out" "$T/run/metrics.jsonl" "$T/c.yaml" "$T/run" <<'PY'
evs = events(sys.argv[1]); m = rows(sys.argv[2]); cfg, run = sys.argv[3], sys.argv[4]
common_fields(evs)
kinds = [e["event"] for e in evs]
s = evs[0]
check("first event is start", s["event"] == "start", kinds[:2])
check("start: config, world_size 2", s.get("config") == cfg and s.get("world_size") == 2, s)
p = s.get("parameters", {})
check("start: parameters (epochs 4, batch_size 32, output, the --set override)",
      p.get("epochs") == 4 and p.get("batch_size") == 32 and p.get("output") == run
      and p.get("overrides") == ["training.seed=1"] and p.get("resume") is False, p)
ep = [e for e in evs if e["event"] == "epoch"]
check("4 epoch events, epochs 1..4 of 4", [e.get("epoch") for e in ep] == [1, 2, 3, 4]
      and all(e.get("epochs") == 4 for e in ep), [(e.get("epoch"), e.get("epochs")) for e in ep])
strip = lambda e: {k: v for k, v in e.items() if k not in ("event", "time", "elapsed", "epochs")}
check("each epoch event holds exactly its metrics.jsonl row", [strip(e) for e in ep] == m,
      [strip(e) for e in ep][:1] + m[:1])
check("epoch events: loss, accuracy, val_loss, val_accuracy, samples_per_sec > 0",
      all(all(isinstance(e.get(k), float) or isinstance(e.get(k), int) for k in
              ("loss", "accuracy", "val_loss", "val_accuracy")) and e["samples_per_sec"] > 0 for e in ep), ep[:1])
ck = [e for e in evs if e["event"] == "checkpoint"]
check("checkpoint events for epochs 2 and 4 (every_epochs 2)",
      [(e.get("epoch"), e.get("path"), e.get("interrupted")) for e in ck]
      == [(2, run + "/checkpoint_epoch0002.h5", False), (4, run + "/checkpoint_epoch0004.h5", False)], ck)
order = [k for k in kinds if k in ("epoch", "checkpoint")]
check("each checkpoint event follows its epoch event",
      order == ["epoch", "epoch", "checkpoint", "epoch", "epoch", "checkpoint"], order)
su = evs[-1]
check("last event is the summary", su["event"] == "summary" and kinds.count("summary") == 1, kinds[-2:])
f = su.get("final", {})
check("summary: final metrics equal the last metrics.jsonl row (accuracy %s)" % f.get("accuracy"),
      f == m[-1] and f.get("accuracy") == m[-1]["accuracy"], (f, m[-1]))
check("summary: epochs_run 4, output, validation_split", su.get("epochs_run") == 4 and su.get("output") == run
      and su.get("validation_split") == "test", su)
t = su.get("test", {})
check("summary: test split loss and accuracy in [0, 1]", t.get("split") == "test" and t.get("loss", -1) > 0
      and 0 <= t.get("accuracy", -1) <= 1, t)
sc = su.get("scaling", {})
r = sc.get("ranks", [])
check("summary: scaling of 2 ranks (samples_per_sec, train_seconds, efficiency, per-rank times)",
      sc.get("world_size") == 2 and sc.get("samples_per_sec", 0) > 0 and sc.get("train_seconds", 0) > 0
      and 0 < sc.get("efficiency", 0) <= 1 and [x.get("rank") for x in r] == [0, 1]
      and all(x.get("compute", -1) >= 0 and x.get("exposed_comm", -1) >= 0 and x.get("idle", -1) >= 0 for x in r)
      and sc.get("dtype") == "float32", sc)
check("summary: one copy per node of 2 ranks, each with its summing and optimizer times and half the state",
      sc.get("shared_ranks") == 2 and all(x.get("summing", -1) >= 0 and x.get("optimizer", -1) >= 0 for x in r)
      and len(r) == 2 and r[0].get("optimizer_state_bytes", 0) > 0
      and r[0].get("optimizer_state_bytes") == r[1].get("optimizer_state_bytes"), sc)
PY

# --- --quiet: the summary only ----------------------------------------------------------------------------
run2 train "$T/c.yaml" --quiet --log-format=json --set output="$T/quiet" >"$T/q.out" 2>"$T/q.err"
rc=$?
[ $rc -eq 0 ] && all_json "$T/q.out" && [ "$(wc -l <"$T/q.out")" = 1 ] && grep -q '^{"event": "summary"' "$T/q.out" \
  && ok "--quiet --log-format json prints the summary event only" || no "--quiet json: exit $rc: $(head -c 300 "$T/q.out")"
py "$T/q.out" "$T/quiet/metrics.jsonl" <<'PY'
su = events(sys.argv[1])[-1]; m = rows(sys.argv[2])
check("--quiet summary: final equals the last metrics.jsonl row", su.get("final") == m[-1], su.get("final"))
PY

# --- the default stays text -------------------------------------------------------------------------------
run2 train "$T/c.yaml" --set output="$T/text" >"$T/t.out" 2>"$T/t.err"
rc=$?
[ $rc -eq 0 ] && [ "$(grep -c '^epoch [1-4]/4  loss ' "$T/t.out")" = 4 ] && grep -q '^scaling: 2 rank(s)' "$T/t.out" \
  && ! grep -q '^{' "$T/t.out" && ok "without --log-format: the text lines, no JSON" \
  || no "text output: exit $rc: $(head -n 3 "$T/t.out")"
run2 train "$T/c.yaml" --set output="$T/text2" --log-format text >"$T/t2.out" 2>&1
# The same lines but for times and rates (and the straggler line, which timing decides).
norm() { sed -E '/persistently slower/d; s/(summing|optimizer) [0-9.]+ s/\1 T/g; s/[0-9.]+ s  [0-9]+ samples\/s/T/; s/[0-9]+ samples\/s over [0-9.]+ s.*/R/; s/^( +[0-9]+) .*/\1 R/; s/run directory: .*/D/' "$1"; }
[ "$(norm "$T/t.out")" = "$(norm "$T/t2.out")" ] && ok "--log-format text is the default output" \
  || no "--log-format text differs: $(diff <(norm "$T/t.out") <(norm "$T/t2.out") | head -n 4)"

# --- --folds: fold events, a summary per fold, the cross_validation event ----------------------------------
run2 train "$T/c.yaml" --folds 2 --log-format json --set data.test= --set output="$T/cv" >"$T/cv.out" 2>"$T/cv.err"
rc=$?
[ $rc -eq 0 ] && all_json "$T/cv.out" && ok "--folds 2 --log-format json" || no "--folds json: exit $rc: $(tail -n 2 "$T/cv.err")"
py "$T/cv.out" <<'PY'
evs = events(sys.argv[1]); kinds = [e["event"] for e in evs]
check("--folds: fold events 1 and 2 of 2", [(e["fold"], e["folds"]) for e in evs if e["event"] == "fold"] == [(1, 2), (2, 2)], kinds)
su = [e for e in evs if e["event"] == "summary"]
cv = evs[-1]
mean = sum(s["final"]["val_loss"] for s in su) / 2 if len(su) == 2 else None
check("--folds: two summaries, then cross_validation whose val_loss_mean is their mean (%s)" % mean,
      len(su) == 2 and cv["event"] == "cross_validation" and cv.get("folds") == 2
      and abs(cv.get("val_loss_mean", 1e9) - mean) < 1e-8 and cv.get("val_loss_std", -1) >= 0, cv)
PY

# --- errors: one line on stderr, one error event on stdout --------------------------------------------------
sed 's/^training: {/training: {bogus_key: 1, /' "$T/c.yaml" >"$T/bad.yaml"
run2 train "$T/bad.yaml" --log-format json >"$T/e.out" 2>"$T/e.err"
rc=$?
[ $rc -eq 2 ] && ok "config error: exit 2" || no "config error: exit $rc"
[ "$(mlines "$T/e.err")" = 1 ] && ok "config error: one line on stderr ($(grep '^mpitrain' "$T/e.err"))" \
  || no "config error stderr: $(head -n 3 "$T/e.err")"
py "$T/e.out" "$T/e.err" "$T/bad.yaml" <<'PY'
evs = events(sys.argv[1]); err = [l[len("mpitrain: "):].rstrip("\n") for l in open(sys.argv[2]) if l.startswith("mpitrain")]
check("config error: stdout is one error event with status 2", len(evs) == 1 and evs[0]["event"] == "error"
      and evs[0].get("status") == 2, evs)
check("config error: the event's message is the stderr line, naming the file and the key",
      evs and err and evs[0].get("message") == err[0] and sys.argv[3] in err[0] and "bogus_key" in err[0], (evs, err))
PY
weird="$T/q\"uo\\te"$'\xff'"d.yaml"
run2 train "$weird" --log-format json >"$T/w.out" 2>"$T/w.err"
rc=$?
py "$T/w.out" "$T/q\"uo\\te" <<PY
evs = events(sys.argv[1])
check("a missing config named with a quote, a backslash and a non-UTF-8 byte: exit $rc, valid JSON, name kept",
      $rc == 2 and len(evs) == 1 and evs[0].get("status") == 2 and (sys.argv[2] + "\ufffdd.yaml") in evs[0].get("message", ""), evs)
PY
for bad in "--log-format xml" "--log-format"; do
  # shellcheck disable=SC2086  # the option and its value are two words
  run2 train "$T/c.yaml" $bad >"$T/b.out" 2>"$T/b.err"
  rc=$?
  [ $rc -eq 2 ] && [ "$(mlines "$T/b.err")" = 1 ] && grep -q "^mpitrain train: --log-format .*text or json" "$T/b.err" \
    && [ ! -s "$T/b.out" ] && ok "train $bad: exit 2, one message: $(grep '^mpitrain' "$T/b.err")" \
    || no "train $bad: exit $rc, stderr: $(head -n 2 "$T/b.err"), stdout: $(head -c 200 "$T/b.out")"
done
run2 train "$T/c.yaml" --log-format json --no-such-option >"$T/u.out" 2>"$T/u.err"
rc=$?
[ $rc -eq 2 ] && all_json "$T/u.out" && grep -q '"event": "error", .*"status": 2, "message": "train: unknown option' "$T/u.out" \
  && ok "usage error in JSON mode: error event, exit 2" || no "usage error: exit $rc: $(cat "$T/u.out")"

# --- SIGTERM: checkpoint event for checkpoint_interrupted.h5, error event with status 1 ----------------------
linear_dataset "$T/big.h5" 5 1500 32
cat >"$T/big.yaml" <<YAML
model: {input: [32], layers: [{dense: {units: 256, activation: relu}}, {dense: {units: 256, activation: relu}},
        {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.001}
data: {file: $T/big.h5, train: train}
training: {epochs: 200, batch_size: 20, seed: 3}
output: $T/big
YAML
run2 train "$T/big.yaml" --log-format json >"$T/s.out" 2>"$T/s.err" &
launcher=$!
for _ in $(seq 600); do
  [ -s "$T/big/metrics.jsonl" ] && break
  sleep 0.1
done
# The ranks (their command line starts with the program; the launcher's and timeout's do not).
pkill -TERM -f "^$MPITRAIN train $T/big.yaml --log-format json" || no "no rank to signal"
wait "$launcher"
rc=$?
[ $rc -eq 1 ] && ok "SIGTERM: exit 1" || no "SIGTERM: exit $rc"
py "$T/s.out" "$T/big" <<'PY'
evs = events(sys.argv[1]); run = sys.argv[2]
kinds = [e["event"] for e in evs]
ck = [e for e in evs if e["event"] == "checkpoint"]
ep = [e["epoch"] for e in evs if e["event"] == "epoch"]
check("SIGTERM: a checkpoint event per finished epoch, then one for checkpoint_interrupted.h5",
      [(e.get("epoch"), e.get("interrupted")) for e in ck[:-1]] == [(n, False) for n in ep] and ck
      and ck[-1].get("interrupted") is True and ck[-1].get("path") == run + "/checkpoint_interrupted.h5"
      and "epoch" not in ck[-1], ck[-2:])
check("SIGTERM: then one error event with status 1 naming the checkpoint", kinds[-1] == "error"
      and kinds.count("error") == 1 and evs[-1].get("status") == 1 and "checkpoint_interrupted.h5" in evs[-1].get("message", ""),
      evs[-1])
check("SIGTERM: no summary", "summary" not in kinds, kinds)
PY

# --- a GAN's events -----------------------------------------------------------------------------------------
"$MT_TOOLS/mkdataset" "$T/img.h5" uint8 64 >/dev/null 2>&1 || no "mkdataset"
cat >"$T/gan.yaml" <<YAML
gan:
  noise: 4
  generator:
    layers: [{dense: {units: 8, activation: relu}}, {dense: {units: 6, activation: tanh}}, {reshape: {shape: [2, 3]}}]
    optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.5}
  discriminator:
    layers: [flatten, {dense: {units: 8}}, {leaky_relu: {alpha: 0.2}}, {dense: {units: 1}}]
    optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.5}
data: {file: $T/img.h5, train: train}
training: {epochs: 2, batch_size: 16, seed: 3}
output: $T/gan
YAML
run2 train "$T/gan.yaml" --log-format json >"$T/g.out" 2>"$T/g.err"
rc=$?
[ $rc -eq 0 ] && all_json "$T/g.out" && ok "GAN: --log-format json, every line JSON" \
  || no "GAN json: exit $rc: $(tail -n 2 "$T/g.err")"
py "$T/g.out" "$T/gan/metrics.jsonl" "$T/gan" <<'PY'
evs = events(sys.argv[1]); m = rows(sys.argv[2]); run = sys.argv[3]
common_fields(evs)
check("GAN: start says gan", evs[0]["event"] == "start" and evs[0].get("gan") is True, evs[0])
ep = [e for e in evs if e["event"] == "epoch"]
strip = lambda e: {k: v for k, v in e.items() if k not in ("event", "time", "elapsed", "epochs", "samples")}
check("GAN: epoch events hold the metrics.jsonl rows (d_loss, g_loss, d_real, d_fake)",
      len(ep) == 2 and [strip(e) for e in ep] == m and all("d_loss" in e for e in ep), (ep[:1], m[:1]))
check("GAN: epoch events name the sample grids", [e.get("samples") for e in ep]
      == [run + "/samples_epoch001.png", run + "/samples_epoch002.png"], [e.get("samples") for e in ep])
ck = [e for e in evs if e["event"] == "checkpoint"]
check("GAN: checkpoint events of epochs 1 and 2", [(e.get("epoch"), e.get("path")) for e in ck]
      == [(1, run + "/checkpoint_epoch0001.h5"), (2, run + "/checkpoint_epoch0002.h5")], ck)
su = evs[-1]
check("GAN: summary with the last row and 2 ranks", su["event"] == "summary" and su.get("final") == m[-1]
      and su.get("scaling", {}).get("world_size") == 2, su)
PY

# --- eval and predict -----------------------------------------------------------------------------------------
CKPT=$T/run/checkpoint.h5
run2 eval "$CKPT" >"$T/ev.txt" 2>&1 || no "eval (text): $(tail -n 1 "$T/ev.txt")"
run2 eval "$CKPT" --log-format json >"$T/ev.out" 2>"$T/ev.err"
rc=$?
[ $rc -eq 0 ] && all_json "$T/ev.out" && ok "eval --log-format json" || no "eval json: exit $rc: $(tail -n 2 "$T/ev.err")"
py "$T/ev.out" "$T/ev.txt" "$CKPT" <<'PY'
evs = events(sys.argv[1]); txt = open(sys.argv[2]).read()
common_fields(evs)
check("eval: start then summary", [e["event"] for e in evs] == ["start", "summary"], [e["event"] for e in evs])
su = evs[-1]
acc = re.search(r"^accuracy ([0-9.]+)$", txt, re.M)
check("eval: summary accuracy equals the text output's", acc and "%.6f" % su.get("accuracy", -1) == acc.group(1),
      (su.get("accuracy"), acc and acc.group(1)))
cm = su.get("confusion_matrix", [])
check("eval: 3x3 confusion matrix summing to the %s rows" % su.get("rows"), len(cm) == 3
      and sum(map(sum, cm)) == su.get("rows") == 100 and su.get("checkpoint") == sys.argv[3], cm)
PY
run2 eval "$CKPT" --quiet --log-format json >"$T/evq.out" 2>&1
[ "$(wc -l <"$T/evq.out")" = 1 ] && grep -q '^{"event": "summary"' "$T/evq.out" && ok "eval --quiet --log-format json: summary only" \
  || no "eval --quiet json: $(head -c 300 "$T/evq.out")"
run2 eval "$CKPT" --quiet >"$T/evqt.out" 2>&1
[ "$(head -n 3 "$T/ev.txt")" = "$(cat "$T/evqt.out")" ] && ok "eval --quiet: the loss and metric lines only" \
  || no "eval --quiet: $(cat "$T/evqt.out")"
run2 eval "$T/none.h5" --log-format json >"$T/eve.out" 2>"$T/eve.err"
rc=$?
[ $rc -eq 2 ] && [ "$(mlines "$T/eve.err")" = 1 ] && grep -q '"event": "error", .*"status": 2, "message": ".*none.h5' "$T/eve.out" \
  && ok "eval of a missing checkpoint: exit 2, error event" || no "eval error: exit $rc: $(cat "$T/eve.out")"
run2 eval "$CKPT" --log-format yaml >"$T/evb.out" 2>"$T/evb.err"
rc=$?
[ $rc -eq 2 ] && grep -q "^mpitrain eval: --log-format must be text or json, got 'yaml'" "$T/evb.err" \
  && ok "eval --log-format yaml: exit 2" || no "eval bad format: exit $rc: $(cat "$T/evb.err")"

run2 predict "$CKPT" "$T/d.h5" -o "$T/p.csv" --log-format json >"$T/pr.out" 2>"$T/pr.err"
rc=$?
[ $rc -eq 0 ] && all_json "$T/pr.out" && ok "predict --log-format json" || no "predict json: exit $rc: $(tail -n 2 "$T/pr.err")"
py "$T/pr.out" "$T/ev.out" "$T/p.csv" <<'PY'
evs = events(sys.argv[1]); ev = events(sys.argv[2])[-1]
check("predict: start then summary", [e["event"] for e in evs] == ["start", "summary"], evs)
su = evs[-1]
n = sum(1 for _ in open(sys.argv[3])) - 1
check("predict: 100 rows of split test, as many as the CSV holds, 3 probabilities", su.get("rows") == n == 100
      and su.get("split") == "test" and su.get("per_row") == 3 and su.get("values") == "probabilities", su)
check("predict: accuracy equals eval's", su.get("accuracy") == ev.get("accuracy")
      and su.get("correct") == round(ev.get("accuracy", 0) * 100), (su.get("accuracy"), ev.get("accuracy")))
PY
run2 predict "$CKPT" "$T/d.h5" -o "$T/p2.csv" --quiet >"$T/prq.out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ ! -s "$T/prq.out" ] && [ -s "$T/p2.csv" ] && ok "predict --quiet: writes the file, prints nothing" \
  || no "predict --quiet: exit $rc: $(cat "$T/prq.out")"
run2 predict "$CKPT" "$T/nothing.h5" -o "$T/p3.csv" --log-format json >"$T/pre.out" 2>"$T/pre.err"
rc=$?
[ $rc -eq 2 ] && [ "$(mlines "$T/pre.err")" = 1 ] && grep -q '"event": "error", .*"status": 2' "$T/pre.out" \
  && ok "predict of a missing input: exit 2, error event" || no "predict error: exit $rc: $(cat "$T/pre.out")"

# --- --help ---------------------------------------------------------------------------------------------------
for cmd in train eval predict; do
  "$MPITRAIN" "$cmd" --help | grep -q -- "--log-format" && ok "$cmd --help describes --log-format" \
    || no "$cmd --help lacks --log-format"
done
finish
