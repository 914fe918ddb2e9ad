#!/bin/bash
# launch/elastic on 2 emulated nodes x 2 ranks (tests/cli/elastic.bash): one rank stalled (its process
# stopped) at a random step of a deterministic run: the restart uses both nodes again (node2 still
# answers); and two failures in one run (that stall, then node2 lost once the restarted job trains): the
# job goes on on node1. Each ends with the weights of the undisturbed run, bitwise, every restart logged
# (reason, dropped hosts, step resumed from), training again within stall_timeout + 30 s of each fault,
# having lost at most one checkpoint interval of steps. MT_ELASTIC_TRIALS (default 2) trials of each
# (bench/elastic_trials.sh runs 10). Skipped (exit 77) where network namespaces cannot be created. Ends
# with "N passed, M failed".
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
cluster_setup 41 # its own bridge and namespaces (mtbr41, mt41node*)
# shellcheck source=elastic.bash
. "$(dirname "$0")/elastic.bash"
elastic_setup
for ((n = 1; n <= ${MT_ELASTIC_TRIALS:-2}; n++)); do
  elastic_trial stall "$n"
  elastic_trial twice "$n"
done
"$cluster" down >/dev/null 2>&1
finish
