# Shared by the tests/cli/*.sh scripts (sourced; not a test itself): a temporary directory removed on
# exit, ok/no to count checks, run2 to start mpitrain on two ranks with a time limit, and finish to
# print "N passed, M failed" and set the exit status.
: "${MPITRAIN:?MPITRAIN must name the mpitrain program}" "${MPIEXEC:=mpiexec}" "${MPIEXEC_PREFLAGS:=}"
T=$(mktemp -d "${TMPDIR:-/tmp}/mt-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
no() { echo "FAIL - $*"; fail=$((fail + 1)); }
# shellcheck disable=SC2086  # the preflags are a list of words
run2() { timeout 120 "$MPIEXEC" -np 2 $MPIEXEC_PREFLAGS "$MPITRAIN" "$@"; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
