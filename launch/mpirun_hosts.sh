#!/usr/bin/env bash
# Example: trains launch/configs/fashion_mlp.yaml on several hosts with Open MPI's mpirun and a
# hostfile -- 8 ranks, 4 per node, one BLAS thread each. Copy and adapt.
#
# Before the first run, on every host:
#   - the same repository at the same path (a shared file system, or the same clone built with
#     launch/setup and datasets/prepare run on each host), and the same Open MPI version;
#   - passwordless ssh from the host you launch on to every host in the hostfile;
#   - the run directory (config key `output`) is written by rank 0 only, on the host rank 0 runs on:
#     on a shared file system every host sees it, which --resume after a requeue needs.
#
# Hostfile format (one host per line; slots = ranks that host may take, usually its core count):
#   # hosts
#   node01 slots=4
#   node02 slots=4
#
# Usage: launch/mpirun_hosts.sh [mpitrain train options...]
#   HOSTFILE=hosts NP=8 PPN=4 launch/mpirun_hosts.sh --set training.epochs=3
#   CONFIG=launch/configs/fashion_cnn.yaml launch/mpirun_hosts.sh --resume --log-format json
#   MPIRUN_FLAGS="--mca btl_tcp_if_include eth0" launch/mpirun_hosts.sh   (extra mpirun options,
#                                                split on spaces: e.g. which network MPI uses)
# Each rank takes batch_size / NP samples of every global batch: keep batch_size (GLOBAL) as it is
# to follow the same training path as one rank, or scale it with NP for more throughput.
#
# The script ends by exec'ing launch/mpirun_watch, which passes USR1, INT and TERM on to mpirun:
# `kill -USR1 PID` is forwarded by Open MPI to every rank, and mpitrain checkpoints
# (OUTPUT/checkpoint_interrupted.h5) and exits 1; run the script again with --resume to go on.
# (SIGTERM to mpirun would end the ranks itself, killing them one second later whether they have
# written the checkpoint or not.) See docs/cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."

hostfile=${HOSTFILE:-hosts}
np=${NP:-8}
ppn=${PPN:-4}
config=${CONFIG:-launch/configs/fashion_mlp.yaml}
read -r -a extra <<<"${MPIRUN_FLAGS:-}"

flags=(
  --hostfile "$hostfile"
  -np "$np"
  --map-by "ppr:$ppn:node"    # PPN ranks on each node, filled node by node
  --bind-to core              # each rank on its own core
  -x OPENBLAS_NUM_THREADS=1   # one BLAS thread per rank: the ranks are the parallelism
  -x PATH                     # the launching shell's PATH on every host
  --wdir "$PWD"               # relative paths in the config resolve from the repository root
  # A node that is lost or cut off: Open MPI's daemons notice within 10 + 3 x 5 s of silence (by
  # default 300 + 9 x 20 s), so that mpirun ends the job after the ranks' watchdog (training.stall_timeout)
  # instead of waiting for the lost node.
  --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 5 --mca oob_tcp_keepalive_probes 3
)
[[ -z ${LD_LIBRARY_PATH:-} ]] || flags+=(-x LD_LIBRARY_PATH)
[[ $(id -u) -ne 0 ]] || flags+=(--allow-run-as-root)

# launch/mpirun_watch runs mpirun: it stops a job that lost a node even when mpirun would wait for
# the node's daemon, and exits 0, 1 or 2 (like mpitrain), naming the lost hosts and their ranks.
set -x
exec launch/mpirun_watch "${flags[@]}" "${extra[@]}" "$PWD/build/mpitrain" train "$config" "$@"
