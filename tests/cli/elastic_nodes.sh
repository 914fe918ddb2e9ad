#!/bin/bash
# launch/elastic on 2 emulated nodes x 2 ranks (tests/cli/elastic.bash): a config error under it is not
# retried (exit status 2, one attempt) and its bad flags are one-line errors; a node lost (its processes
# killed) and a node cut off (its link down) at a random step of a deterministic run: the job goes on
# on node1 and ends with the weights of the undisturbed run, bitwise, the restart logged (reason,
# dropped host, step resumed from), training again within stall_timeout + 30 s of the fault, having
# lost at most one checkpoint interval of steps. MT_ELASTIC_TRIALS (default 2) trials of each
# (bench/elastic_trials.sh runs 10). Skipped (exit 77) where network namespaces cannot be created. Ends
# with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 40 # its own bridge and namespaces (mtbr40, mt40node*)
# shellcheck source=elastic.bash
. "$(dirname "$0")/elastic.bash"
elastic_setup
elastic_usage
for ((n = 1; n <= ${MT_ELASTIC_TRIALS:-2}; n++)); do
  elastic_trial lost "$n"
  elastic_trial cut "$n"
done
"$cluster" down >/dev/null 2>&1
finish
