# Shared by the tests/cli/*.sh scripts (sourced; not a test itself): a temporary directory removed on
# exit, ok/no to count checks (the counters passed and failed, which expect_error.bash counts in too),
# run2 to start mpitrain on two ranks and mpi to start any command on N ranks with a time limit, finish
# to print "N passed, M failed" and set the exit status, stop to do that and exit at once, and skip to
# exit with status 77 (CTest's SKIP_RETURN_CODE) when what the test needs is not installed, and
# linear_dataset to make a small classification dataset. Time limits
# are multiplied by $MT_TIME_SCALE (3 in sanitizer builds, whose runs take several times as long).
: "${MPITRAIN:?MPITRAIN must name the mpitrain program}" "${MPIEXEC:=mpiexec}" "${MPIEXEC_PREFLAGS:=}"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
read -r -a PREFLAGS <<<"$MPIEXEC_PREFLAGS"
MT_TIME_SCALE=${MT_TIME_SCALE:-1}
T=$(mktemp -d "${TMPDIR:-/tmp}/mt-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { echo "ok   - $*"; passed=$((passed + 1)); }
no() { echo "FAIL - $*"; failed=$((failed + 1)); }
run2() { timeout $((120 * MT_TIME_SCALE)) "$MPIEXEC" -np 2 "${PREFLAGS[@]}" "$MPITRAIN" "$@"; }
mpi() { timeout $((180 * MT_TIME_SCALE)) "$MPIEXEC" -np "$1" "${PREFLAGS[@]}" "${@:2}"; }
# linear_dataset OUT.h5 SEED ROWS FEATURES: ROWS samples of FEATURES values uniform in [-1, 1] (awk's
# generator from SEED), labelled y = 1 where x0 - x2 + x3 - x5 + ... (weights cycling -1, 0, 1 from x0) is
# positive, written as OUT.csv and imported to OUT.h5 (/train).
linear_dataset() {
  awk -v seed="$2" -v rows="$3" -v f="$4" 'BEGIN { srand(seed); printf "y"; for (j = 0; j < f; j++) printf ",x%d", j;
    print ""; for (i = 0; i < rows; i++) { s = 0; line = ""; for (j = 0; j < f; j++) { v = rand() * 2 - 1;
      s += v * (j % 3 - 1); line = line sprintf(",%.4f", v) } print (s > 0) line } }' >"${1%.h5}.csv"
  "$MPITRAIN" import csv "${1%.h5}.csv" --label y -o "$1" >/dev/null 2>&1 || no "import csv ${1%.h5}.csv"
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
stop() {
  finish
  exit $?
}
skip() {
  echo "skipped: $*"
  finish
  exit 77
}
# cluster_setup ID: for a test on emulated cluster ID (launch/emulated_cluster, MT_CLUSTER_ID): sets
# cluster (the script) and V (a scratch directory outside /tmp, which every node has its own of, open to
# all as munged wants), exports MT_CLUSTER_ID and MT_CLUSTER_DIR, skips (exit 77) without root, without
# network namespaces or when cluster ID is up already, and at exit takes the cluster down and removes V.
cluster_setup() {
  : "${MT_SOURCE:?MT_SOURCE must name the source directory}"
  cluster=$MT_SOURCE/launch/emulated_cluster
  V=$(mktemp -d "/var/tmp/mt-cluster$1-test.XXXXXX") || exit 1
  chmod 755 "$V"
  export MT_CLUSTER_ID=$1 MT_CLUSTER_DIR=$V/cluster
  [ "$(id -u)" = 0 ] || { rm -rf "$V"; skip "needs root to create network namespaces"; }
  ip netns add "mtprobe$1" 2>/dev/null || { rm -rf "$V"; skip "cannot create network namespaces here"; }
  ip netns del "mtprobe$1"
  "$cluster" status | grep -q "no emulated cluster" || { rm -rf "$V"; skip "emulated cluster $1 is up already"; }
  trap '"$cluster" down >/dev/null 2>&1; rm -rf "$T" "$V"' EXIT
}
# needs_slurm: skips (exit 77) without the SLURM and munge programs that emulated_cluster up --slurm runs
needs_slurm() {
  for p in munged slurmctld slurmd sbatch; do
    command -v $p >/dev/null 2>&1 || skip "no $p (apt-get install slurmctld slurmd slurm-client munge)"
  done
}
# stall_classifier OUT.yaml DATA.h5 EPOCHS STALL_TIMEOUT: the deterministic classifier of the node-fault
# tests for linear_dataset's 16 features (dense 64 relu, softmax 2; adam; batch 24, seed 3)
stall_classifier() {
  cat >"$1" <<YAML
model: {input: [16], layers: [{dense: {units: 64, activation: relu}}, {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.01}
data: {file: $2, train: train}
training: {epochs: $3, batch_size: 24, seed: 3, deterministic: true, stall_timeout: $4}
YAML
}
# dropout_classifier OUT.yaml DATA.h5 BATCH: a small deterministic classifier for linear_dataset's 16
# features (dense 32 relu, dropout 0.2, softmax 2; adam; 4 epochs, seed 5) at global batch BATCH.
dropout_classifier() {
  cat >"$1" <<YAML
model: {input: [16], layers: [{dense: {units: 32, activation: relu}}, {dropout: {rate: 0.2}},
        {dense: {units: 2, activation: softmax}}]}
loss: categorical_crossentropy
optimizer: {name: adam, learning_rate: 0.01}
data: {file: $2, train: train}
training: {epochs: 4, batch_size: $3, seed: 5, deterministic: true}
YAML
}
