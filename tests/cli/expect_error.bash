# Shared by bad_inputs.sh and bad_datasets.sh (sourced; not a test itself). Needs T (a scratch
# directory), MPIEXEC, the PREFLAGS array and the counters passed and failed.
#
# expect_error NAME TEXT COMMAND...: COMMAND at np 2 under the launcher (a 60 s limit, times $MT_TIME_SCALE
# in sanitizer builds) must exit with status 2, print exactly one "mpitrain..." line on stderr that matches
# TEXT (an extended regular expression), and show no sign of a crash (signal, sanitizer report). Lines the
# launcher adds about the failed job are not counted.
expect_error() {
  local name=$1 want=$2 rc lines why=""
  shift 2
  timeout $((60 * ${MT_TIME_SCALE:-1})) "$MPIEXEC" -np 2 "${PREFLAGS[@]}" "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
  grep -E '^mpitrain' "$T/err" >"$T/lines"
  lines=$(grep -c . "$T/lines")
  if [[ $rc -eq 124 ]]; then
    why="timed out after $((60 * ${MT_TIME_SCALE:-1})) s"
  elif grep -Eq 'Segmentation|Aborted|signal [0-9]|Sanitizer|runtime error:|core dumped' "$T/err" "$T/out"; then
    why="crashed (exit status $rc)"
  elif [[ $rc -ne 2 ]]; then
    why="exit status $rc, expected 2"
  elif [[ $lines -ne 1 ]]; then
    why="$lines error lines from mpitrain on stderr, expected 1"
  elif ! grep -Eq -- "$want" "$T/lines"; then
    why="message does not match /$want/"
  fi
  if [[ -z $why ]]; then
    passed=$((passed + 1))
    echo "ok   - $name: $(cat "$T/lines")"
  else
    failed=$((failed + 1))
    echo "FAIL - $name: $why"
    sed 's/^/    | /' "$T/err" | head -n 20
  fi
}
