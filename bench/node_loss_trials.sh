#!/usr/bin/env bash
# Node loss and link cuts, repeated: TRIALS (default 10) trials each of a node lost (its processes
# killed) and a node cut off (its link down) on 2 emulated nodes x 2 ranks, by tests/cli/cluster_faults.sh
# (see there). Every trial checks that the job is gone within stall_timeout + 30 s with exit status 1 and
# a line naming the lost host and ranks, that the checkpoint is intact, and that resuming on the
# remaining node gives the uninterrupted weights bitwise. Needs root; run from the repository root after
# launch/setup. Prints each check and the seconds from each fault until the job was gone.
#
#   TRIALS=10 bench/node_loss_trials.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export MT_SOURCE=$root MPITRAIN=${MPITRAIN:-$root/build/mpitrain} MT_FAULT_TRIALS=${TRIALS:-10}
export MT_TIME_SCALE=${MT_TIME_SCALE:-1} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[[ $(id -u) -ne 0 ]] || export MPIEXEC_PREFLAGS="--allow-run-as-root"
exec bash "$root/tests/cli/cluster_faults.sh"
