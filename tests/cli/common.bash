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
