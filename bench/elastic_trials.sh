#!/usr/bin/env bash
# Elastic restarts, repeated: TRIALS (default 10) trials of each fault of tests/cli/elastic.bash (a node
# lost, a node cut off, a rank stalled, a stall then a node lost) on 2 emulated nodes x 2 ranks, each a
# deterministic run under launch/elastic, by tests/cli/elastic_nodes.sh and tests/cli/elastic_stall.sh
# (see there). Prints every check, a line per trial and restart ("measure KIND #N: ..."), and a summary
# per kind: trials bitwise equal to the undisturbed run, the least and most seconds from the fault to
# training again (limit stall_timeout + 30 s), the most steps of work lost (limit: the checkpoint
# interval). Needs root; run from the repository root after launch/setup; exits 1 when a check failed.
#
#   TRIALS=10 flock /var/tmp/mt-cpu.lock bench/elastic_trials.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MT_SOURCE=$root MPITRAIN=${MPITRAIN:-$root/build/mpitrain} MT_ELASTIC_TRIALS=${TRIALS:-10}
export MT_TIME_SCALE=${MT_TIME_SCALE:-1} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[[ $(id -u) -ne 0 ]] || export MPIEXEC_PREFLAGS="--allow-run-as-root"
out=$(mktemp "${TMPDIR:-/tmp}/elastic_trials.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
status=0
for script in elastic_nodes elastic_stall; do
  bash "$root/tests/cli/$script.sh" | tee -a "$out" || status=1
done
echo
echo "summary ($MT_ELASTIC_TRIALS trial(s) of each kind):"
awk '/^measure / {
    kind = $2; sub(/ #.*/, "", kind)
    if (/bitwise equal$/) { equal[kind]++; trials[kind]++ }
    else if (/weights differ$/) trials[kind]++
    else {
      k = kind; if ($4 == "(stall):" || $4 == "(lost):") { k = kind " " $4; sub(/:$/, "", k) }
      match($0, /training again [0-9.]+ s/); t = substr($0, RSTART + 15, RLENGTH - 17) + 0
      match($0, /work lost [0-9]+ step/); w = substr($0, RSTART + 10, RLENGTH - 15) + 0
      if (!(k in n) || t < tmin[k]) tmin[k] = t
      if (!(k in n) || t > tmax[k]) tmax[k] = t
      n[k]++
      if ($0 !~ /work lost [0-9]+ step/) { unknown[k]++; next }
      if (!(k in nw) || w > wmax[k]) wmax[k] = w
      if (!(k in nw) || w < wmin[k]) wmin[k] = w
      nw[k]++
    } }
  END {
    for (k in trials) printf "  %-6s bitwise equal to the undisturbed run: %d of %d\n", k, equal[k], trials[k]
    for (k in n) printf "  %-13s fault -> training again: %.1f to %.1f s; work lost: %d to %d step(s)%s (%d restart(s))\n",
      k, tmin[k], tmax[k], wmin[k], wmax[k], unknown[k] ? sprintf(", %d unknown", unknown[k]) : "", n[k] }' "$out" | sort
exit "$status"
