#!/bin/bash
# A GAN end to end at np = 2: a tiny generator and discriminator train 2 epochs on 2x3 uint8 images;
# samples_epoch001.png and samples_epoch002.png are valid PNGs of the 8 x 8 grid's size (42 x 34, read
# back in full with libpng by $MT_TOOLS/pngcheck), metrics.jsonl has one row per epoch with finite d_loss
# and g_loss, the checkpoint holds both networks and both optimizer states, --resume trains epoch 3
# only; --timeline names both networks' layers and buckets; early stopping on g_loss stops the run; the
# score classifier's histogram; a config read from a pipe trains (the file is read once). Bad
# GAN configs, and a score classifier (gan.classifier) that is missing, a GAN's or of another input size,
# end before the first epoch with exit status 2 and one message naming file:line. Ends with "N passed, M
# failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
: "${MT_TOOLS:?MT_TOOLS must name the directory of the test tools}"
# shellcheck source=expect_error.bash
. "$(dirname "$0")/expect_error.bash"

"$MT_TOOLS/mkdataset" "$T/img.h5" uint8 64 >/dev/null 2>&1 || no "mkdataset"
write_config() { # $1: file, $2: generator's last dense units, $3: discriminator's last units, $4: extra lines
  cat >"$1" <<YAML
gan:
  noise: 4
  generator:
    layers:
      - dense: {units: 8, activation: relu}
      - dense: {units: $2, activation: tanh}
      - reshape: {shape: [2, 3]}
    optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.5}
  discriminator:
    layers:
      - flatten
      - dense: {units: 8}
      - leaky_relu: {alpha: 0.2}
      - dense: {units: $3}
    optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.5}
data: {file: $T/img.h5, train: train}
training: {epochs: 2, batch_size: 16, seed: 3}
output: $T/run
$4
YAML
}
write_config "$T/c.yaml" 6 1 ""

run2 train "$T/c.yaml" >"$T/train.log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "trains 2 epochs at np 2" || no "exit status $rc: $(tail -n 3 "$T/train.log")"
[ "$(grep -c '^epoch [12]/2  d_loss [0-9.]*  g_loss [0-9.]*  D(x) ' "$T/train.log")" = 2 ] \
  && ok "one progress line per epoch with d_loss and g_loss" || no "progress lines: $(grep -m2 '^epoch' "$T/train.log")"
for e in 001 002; do
  out=$("$MT_TOOLS/pngcheck" "$T/run/samples_epoch$e.png" 2>&1)
  [ "$out" = "${out#42 34 1 8 }" ] && no "samples_epoch$e.png: '$out', expected a 42 x 34 grey 8-bit image" \
    || ok "samples_epoch$e.png: a valid 42 x 34 PNG ($out)"
done
read -r _ _ _ _ lo hi <<<"$("$MT_TOOLS/pngcheck" "$T/run/samples_epoch002.png" 2>/dev/null)"
[ "${lo:-0}" -lt "${hi:-0}" ] && ok "the grid is not blank (grey levels $lo..$hi)" || no "blank grid: $lo..$hi"
printf 'junk' >"$T/bad.png"
"$MT_TOOLS/pngcheck" "$T/bad.png" >/dev/null 2>&1 && no "pngcheck accepts junk" || ok "pngcheck refuses junk"
[ "$(grep -c '"d_loss": [0-9.e-]*, "g_loss": [0-9.e-]*' "$T/run/metrics.jsonl")" = 2 ] \
  && ok "metrics.jsonl: 2 rows with finite d_loss and g_loss" || no "metrics.jsonl: $(cat "$T/run/metrics.jsonl")"
if command -v h5ls >/dev/null; then
  h5ls -r "$T/run/checkpoint.h5" >"$T/ls.txt" 2>&1
  for g in /generator/params /generator/optimizer/exp_avg /discriminator/params /discriminator/optimizer/exp_avg_sq \
           /state /config /metrics/d_loss /metrics/g_loss; do
    grep -q "^$g " "$T/ls.txt" && ok "checkpoint has $g" || no "checkpoint lacks $g"
  done
fi

run2 train "$T/c.yaml" --resume --set training.epochs=3 >"$T/resume.log" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^resuming from .*epoch 2" "$T/resume.log" && [ "$(grep -c '^epoch ' "$T/resume.log")" = 1 ] \
  && [ -e "$T/run/samples_epoch003.png" ] && [ "$(grep -c . "$T/run/metrics.jsonl")" = 3 ] \
  && ok "--resume trains epoch 3 only" || no "resume: exit $rc: $(grep -E '^(epoch|resuming|mpitrain)' "$T/resume.log")"

# The score: a small classifier of the same images, then 200 generated samples and its test split.
cat >"$T/clf.yaml" <<YAML
model: {input: [2, 3], layers: [{dense: {units: 8, activation: relu}}, {dense: {units: 3, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.01}
data: {file: $T/img.h5, train: train, test: train}
training: {epochs: 2, batch_size: 16, seed: 1}
output: $T/clf
YAML
run2 train "$T/clf.yaml" --quiet >"$T/clf.log" 2>&1 || no "classifier training: $(tail -n 2 "$T/clf.log")"
run2 train "$T/c.yaml" --set output="$T/scored" --set training.epochs=1 --set gan.classifier="$T/clf/checkpoint.h5" \
  --set gan.score_samples=200 >"$T/score.log" 2>&1
rc=$?
line=$(grep '^score (exp E\[KL' "$T/score.log")
[ $rc -eq 0 ] && [[ $line =~ generated\ ([0-9.]+)\ \ real\ ([0-9.]+)\ \ ratio\ ([0-9.]+)\ \(200\ generated\ samples,\ 64\ real ]] \
  && ok "score printed: $line" || no "score: exit $rc: $line $(tail -n 2 "$T/score.log")"
total=$(grep -o '"generated_histogram": \[[0-9, ]*\]' "$T/scored/gan_score.json" | grep -o '[0-9]\+' | awk '{ s += $1 } END { print s }')
[ "$total" = 200 ] && grep -q '"class_names": \["zero", "one", "two"\]' "$T/scored/gan_score.json" \
  && ok "gan_score.json: histogram of 200 samples over the 3 named classes" || no "gan_score.json: $(cat "$T/scored/gan_score.json")"

# The config file is read once: from a pipe (one process, no launcher), a GAN's and a classifier's train.
"$MPITRAIN" train <(cat "$T/c.yaml") --set output="$T/piped" --set training.epochs=1 --quiet >"$T/piped.log" 2>&1 \
  && [ -e "$T/piped/samples_epoch001.png" ] && ok "a GAN config read from a pipe trains" \
  || no "GAN config from a pipe: $(grep mpitrain "$T/piped.log" | tail -n 2)"
"$MPITRAIN" train <(cat "$T/clf.yaml") --set output="$T/clf_piped" --set training.epochs=1 --quiet \
  >"$T/clf_piped.log" 2>&1 && [ -e "$T/clf_piped/checkpoint.h5" ] && ok "a classifier config read from a pipe trains" \
  || no "classifier config from a pipe: $(grep mpitrain "$T/clf_piped.log" | tail -n 2)"

# What the score reads at the end is checked before the first epoch: exit 2 naming the field and the file.
write_config "$T/nocls.yaml" 6 1 ""
sed -i "s|^  noise: 4|  noise: 4\n  classifier: $T/missing.h5|" "$T/nocls.yaml"
sed -i 's/epochs: 2,/epochs: 1000,/' "$T/nocls.yaml"
s0=$(date +%s.%N)
expect_error "missing score classifier" "nocls.yaml:3: gan.classifier: .*/missing.h5: cannot open checkpoint: No such file" \
  "$MPITRAIN" train "$T/nocls.yaml" --set output="$T/nocls"
secs=$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ ! -e "$T/nocls/samples_epoch001.png" ] && [ ! -e "$T/nocls/checkpoint.h5" ] \
  && ok "missing score classifier: stopped after $secs s, before the first epoch" || no "missing score classifier: trained"
expect_error "GAN checkpoint as score classifier" "--set: gan.classifier: .*run/checkpoint.h5: this is a GAN's checkpoint" \
  "$MPITRAIN" train "$T/c.yaml" --set output="$T/gancls" --set gan.classifier="$T/run/checkpoint.h5"
"$MT_TOOLS/mkdataset" "$T/four.h5" good 64 >/dev/null 2>&1 || no "mkdataset good"
sed -e 's/input: \[2, 3\]/input: [4]/' -e "s|$T/img.h5|$T/four.h5|" -e "s|output: .*|output: $T/four|" "$T/clf.yaml" \
  >"$T/four.yaml"
run2 train "$T/four.yaml" --quiet >"$T/four.log" 2>&1 || no "classifier of 4 features: $(tail -n 2 "$T/four.log")"
expect_error "score classifier of another input size" \
  "--set: gan.classifier: .*four/checkpoint.h5: the classifier takes samples of 4 values, the GAN's data has 6" \
  "$MPITRAIN" train "$T/c.yaml" --set output="$T/foursc" --set gan.classifier="$T/four/checkpoint.h5"

write_config "$T/size.yaml" 12 1 ""
sed -i 's/shape: \[2, 3\]/shape: [2, 6]/' "$T/size.yaml"
expect_error "generator output size" "size.yaml:[0-9]+: gan.generator: its output has 12 values per sample .shape \[2, 6\]., the samples of .* have 6" \
  "$MPITRAIN" train "$T/size.yaml"
write_config "$T/logits.yaml" 6 2 ""
expect_error "discriminator outputs" "logits.yaml:[0-9]+: gan.discriminator.layers\[3\].dense: the discriminator must end in one linear output" \
  "$MPITRAIN" train "$T/logits.yaml"
write_config "$T/key.yaml" 6 1 ""
sed -i 's/^  noise: 4/  noise: 4\n  nosie: 4/' "$T/key.yaml"
expect_error "unknown gan key" "key.yaml:3: gan: unknown key 'nosie'" "$MPITRAIN" train "$T/key.yaml"
write_config "$T/model.yaml" 6 1 "model: {input: [6], layers: [dense: {units: 2}]}"
expect_error "model beside gan" "model.yaml:[0-9]+: unknown key 'model'" "$MPITRAIN" train "$T/model.yaml"
write_config "$T/det.yaml" 6 1 ""
sed -i 's/seed: 3}/seed: 3, deterministic: true}/' "$T/det.yaml"
expect_error "deterministic" "det.yaml:[0-9]+: training.deterministic: not available for a GAN" \
  "$MPITRAIN" train "$T/det.yaml"
# --timeline: both networks' layers and gradient buckets, named by network, from both ranks.
run2 train "$T/c.yaml" --set output="$T/tl" --set training.epochs=1 --timeline "$T/tl.json" --quiet >"$T/tl.log" 2>&1 \
  && ok "--timeline FILE" || no "--timeline: $(tail -n 1 "$T/tl.log")"
for e in "forward generator.000_dense" "backward discriminator.003_dense" "allreduce bucket 0 (generator" \
  "allreduce bucket 1 (discriminator" "rank 1"; do
  grep -q "\"name\": \"$e" "$T/tl.json" 2>/dev/null && ok "timeline has '$e'" || no "timeline lacks '$e'"
done

# early_stopping on g_loss: nothing counts as an improvement, so the run stops after 2 of 4 epochs.
write_config "$T/es.yaml" 6 1 "early_stopping: {monitor: g_loss, patience: 1, min_delta: 1e30}"
run2 train "$T/es.yaml" --set output="$T/es" --set training.epochs=4 >"$T/es.log" 2>&1 \
  && [ "$(wc -l <"$T/es/metrics.jsonl")" = 2 ] && grep -q "early stopping after epoch 2: g_loss" "$T/es.log" \
  && ok "early stopping on g_loss after 2 of 4 epochs" || no "early stopping: $(tail -n 2 "$T/es.log")"
write_config "$T/esm.yaml" 6 1 "early_stopping: {monitor: val_loss}"
expect_error "early stopping on a classifier's metric" \
  "esm.yaml:[0-9]+: early_stopping.monitor: 'val_loss' is not a metric of this run .it has d_loss, g_loss." \
  "$MPITRAIN" train "$T/esm.yaml"
write_config "$T/opt.yaml" 6 1 ""
sed -i '0,/optimizer: {name: adam/s//optimizer: {name: adamm/' "$T/opt.yaml"
expect_error "unknown optimizer" "opt.yaml:[0-9]+: .*adamm" "$MPITRAIN" train "$T/opt.yaml"

finish
