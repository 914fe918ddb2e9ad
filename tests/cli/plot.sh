#!/usr/bin/env bash
# mpitrain plot end to end: a 2-feature classifier with two hidden dense layers (trained at np 2 from a
# config whose data.file is relative, plotted from another directory) gives learning curves, decision
# regions and one hidden-layer figure per hidden layer, as PNG and SVG files with valid signatures; an
# image classifier on a Fashion-MNIST slice gives the prediction grid, with one red frame per misclassified
# image (checked against predict's CSV). Without gnuplot the command exits 2 naming the package. Skips
# (passing) when gnuplot is not installed; the image part needs dataset-fashion-mnist. Run by CTest as
# cli.plot with MPITRAIN, MPIEXEC, MPIEXEC_PREFLAGS set. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
FASHION=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
# shellcheck source=expect_error.bash
. "$(dirname "$0")/expect_error.bash"

# is_png FILE: the 8-byte PNG signature, an IHDR chunk and a width and height above 0.
is_png() {
  [[ -s $1 ]] || return 1
  [[ $(head -c 16 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a0000000d49484452 ]] || return 1
  local w h
  w=$(od -An -tu1 -j16 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  h=$(od -An -tu1 -j20 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  [[ $w -gt 0 && $h -gt 0 ]]
}
# is_svg FILE: an XML document whose root is <svg ...> and that is closed.
is_svg() { [[ -s $1 ]] && grep -q '<svg' "$1" && tail -c 200 "$1" | grep -q '</svg>'; }

# Without gnuplot (a name that is not there): exit 2, one line naming what to install.
cat >"$T/none.csv" <<'CSV'
a,b,label
0,0,0
CSV
mkdir -p "$T/emptyrun"
GNUPLOT=/nonexistent/gnuplot expect_error "plot without gnuplot" "gnuplot.*not found.*gnuplot-nox" \
  "$MPITRAIN" plot "$T/emptyrun"
expect_error "plot of a directory that is not there" "$T/nosuchrun: not a run directory" "$MPITRAIN" plot "$T/nosuchrun"
expect_error "plot --grid 5" "--grid: expected an integer in 10\.\.1000" "$MPITRAIN" plot "$T/emptyrun" --grid 5

if ! command -v gnuplot >/dev/null 2>&1; then
  ok "skipped: gnuplot is not installed (apt-get install gnuplot-nox)"
  stop
fi

# --- two input features ---------------------------------------------------------------------------------
awk 'BEGIN { srand(11); print "a,b,label";
  for (i = 0; i < 400; i++) { t = rand() * 3.14159; c = i % 2; n1 = (rand() - 0.5) * 0.4; n2 = (rand() - 0.5) * 0.4;
    if (c == 0) printf "%.4f,%.4f,0\n", cos(t) + n1, sin(t) + n2;
    else printf "%.4f,%.4f,1\n", 1 - cos(t) + n1, 0.5 - sin(t) + n2 } }' >"$T/moons.csv"
"$MPITRAIN" import csv "$T/moons.csv" --label label --test-fraction 0.25 -o "$T/moons.h5" >"$T/import.log" 2>&1 \
  && ok "import csv of two moons" || { no "import: $(tail -n 1 "$T/import.log")"; stop; }
cat >"$T/moons.yaml" <<'YAML'
model:
  input: [2]
  layers:
    - dense: {units: 4, activation: tanh}
    - dense: {units: 3, activation: relu}
    - dense: {units: 2, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.03}
data: {file: moons.h5, train: train, validation: test}
training: {epochs: 12, batch_size: 32, seed: 1}
output: runs/moons
YAML
(cd "$T" && mpi 2 "$MPITRAIN" train moons.yaml --quiet) >"$T/train.log" 2>&1 && ok "train the 2-feature model at np 2" \
  || { no "train: $(tail -n 1 "$T/train.log")"; stop; }
# From another directory: the relative data.file is found next to runs/.
(cd / && mpi 2 "$MPITRAIN" plot "$T/runs/moons" --grid 60) >"$T/plot.log" 2>&1 \
  && ok "plot RUN_DIR at np 2 from another directory" || no "plot: $(tail -n 3 "$T/plot.log")"
P=$T/runs/moons/plots
for f in loss accuracy decision_regions hidden_layer0 hidden_layer1; do
  is_png "$P/$f.png" && ok "$f.png is a PNG" || no "$f.png missing or not a PNG"
  is_svg "$P/$f.svg" && ok "$f.svg is an SVG" || no "$f.svg missing or not an SVG"
  grep -q "wrote $P/$f.png" "$T/plot.log" && ok "plot lists $f.png" || no "plot does not list $f.png"
done
[[ ! -e $P/hidden_layer2.png && ! -e $P/predictions.png ]] && ok "no figure for the output layer, no image grid" \
  || no "unexpected figures in $P"
[[ $(grep -c . "$P/gnuplot/curves.dat") -eq 13 ]] && ok "curves.dat: a header and 12 epochs" \
  || no "curves.dat has $(grep -c . "$P/gnuplot/curves.dat") lines"
# 60 x 60 grid points, one line each (+ a blank line per grid row and a header).
[[ $(grep -c '^[-0-9]' "$P/gnuplot/regions.dat") -eq 3600 ]] && ok "decision regions on a 60 x 60 grid" \
  || no "regions.dat has $(grep -c '^[-0-9]' "$P/gnuplot/regions.dat") points"
# Where the model is sure, the region's class is what predict says for a data point there: compare the
# majority class over the grid with the majority of the model's predictions on the test points.
mpi 1 "$MPITRAIN" predict "$T/runs/moons/checkpoint.h5" "$T/moons.h5" -o "$T/moons_pred.csv" >/dev/null 2>&1
awk -F, 'NR > 1 { n[$3]++ } END { exit !(n[0] > 0 && n[1] > 0) }' "$T/moons_pred.csv" \
  && awk '/^[-0-9]/ { n[$6]++ } END { exit !(n[0] > 0 && n[1] > 0) }' "$P/gnuplot/regions.dat" \
  && ok "both classes predicted on the points and on the grid" || no "a class missing from the predictions"
"$MPITRAIN" plot "$T/runs/moons" -o "$T/elsewhere/figs" --grid 20 >"$T/plot2.log" 2>&1 && is_png "$T/elsewhere/figs/loss.png" \
  && ok "-o DIR (parents created)" || no "-o DIR: $(tail -n 1 "$T/plot2.log")"

# --- image classifier on a Fashion-MNIST slice ----------------------------------------------------------
if [[ ! -r $FASHION/t10k-images-idx3-ubyte.gz ]]; then
  ok "image grid skipped: dataset-fashion-mnist is not installed"
  stop
fi
be32() {
  local n=$1 b
  for b in $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255)); do
    printf '%b' "\\0$(printf '%03o' "$b")"
  done
}
{ be32 $((0x0803)); be32 600; be32 28; be32 28; zcat "$FASHION/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c $((600 * 784)); } | gzip -c >"$T/img.gz"
{ be32 $((0x0801)); be32 600; zcat "$FASHION/t10k-labels-idx1-ubyte.gz" | tail -c +9 | head -c 600; } | gzip -c >"$T/lab.gz"
"$MPITRAIN" import idx --train-images "$T/img.gz" --train-labels "$T/lab.gz" --test-images "$T/img.gz" \
  --test-labels "$T/lab.gz" --classes "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot" \
  -o "$T/f.h5" >"$T/import2.log" 2>&1 && ok "import a 600-image slice" || { no "import idx: $(tail -n 1 "$T/import2.log")"; stop; }
cat >"$T/f.yaml" <<YAML
model:
  input: [28, 28]
  layers:
    - dense: {units: 16, activation: relu}
    - dense: {units: 10, activation: softmax}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.003}
data: {file: $T/f.h5, train: train, validation: test}
training: {epochs: 2, batch_size: 64, seed: 1}
output: $T/runs/fmlp
YAML
mpi 2 "$MPITRAIN" train "$T/f.yaml" --quiet >"$T/ftrain.log" 2>&1 && ok "train the image classifier at np 2" \
  || { no "train: $(tail -n 1 "$T/ftrain.log")"; stop; }
"$MPITRAIN" plot "$T/runs/fmlp" --images 30 >"$T/fplot.log" 2>&1 && ok "plot the image classifier" \
  || no "plot: $(tail -n 3 "$T/fplot.log")"
FP=$T/runs/fmlp/plots
is_png "$FP/predictions.png" && ok "predictions.png is a PNG" || no "predictions.png missing or not a PNG"
[[ ! -e $FP/decision_regions.png ]] && ok "no decision regions for 784 inputs" || no "decision regions drawn for images"
[[ $(grep -c "binary array=(28,28)" "$FP/gnuplot/predictions.gp") -eq 30 ]] && ok "30 images in the grid" \
  || no "$(grep -c "binary array=(28,28)" "$FP/gnuplot/predictions.gp") images in the grid"
[[ $(stat -c %s "$FP/gnuplot/images.bin") -eq $((30 * 784 * 4)) ]] && ok "images.bin holds 30 float images" \
  || no "images.bin has $(stat -c %s "$FP/gnuplot/images.bin") bytes"
mpi 1 "$MPITRAIN" predict "$T/runs/fmlp/checkpoint.h5" "$T/f.h5" -o "$T/fpred.csv" >/dev/null 2>&1
wrong=$(awk -F, 'NR > 1 && NR <= 31 && $2 != $3 { n++ } END { print n + 0 }' "$T/fpred.csv")
frames=$(grep -c "^set object .* border lc rgb '#d62728'" "$FP/gnuplot/predictions.gp")
[[ -s $T/fpred.csv && $frames -eq $wrong ]] && ok "one red frame per misclassified image ($wrong of 30)" \
  || no "$frames red frames, predict finds $wrong misclassified"
grep -q "'Ankle boot'" "$FP/gnuplot/predictions.gp" && ok "labels use the dataset's class names" \
  || no "no class names in the grid"
finish
