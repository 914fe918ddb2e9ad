#!/bin/bash
# launch/elastic's decisions, without MPI: a stand-in mpirun (MPIRUN, run by launch/mpirun_watch) plays
# a script of attempts (the lines each prints, its exit status) and records the hosts and ranks it was
# given; a stand-in agent (OMPI_MCA_plm_rsh_agent) answers for the hosts marked up. Checked: the hosts
# and ranks of each attempt, --resume from the second on; a host whose daemon was lost is dropped, so
# is one where a rank was killed by a signal, and one that does not answer; one a stall named that
# answers stays; a host that answers again is taken back up to --max-ranks, and by default never beyond
# the ranks of the attempt before; giving up after --max-restarts and below --min-ranks (exit status 1,
# a last line saying why); exit 2 and a failure without a sign of a lost rank or node are not retried;
# the JSON log. Ends with "N passed, M failed".
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
: "${MT_SOURCE:?MT_SOURCE must name the source directory}"
elastic=$MT_SOURCE/launch/elastic

# the stand-in mpirun: attempt K prints $T/plan.K's lines ("err TEXT", "out TEXT") and exits with its
# "exit N" (0 without a plan); records "HOSTS NP resume|fresh" in $T/calls
cat >"$T/mpirun" <<'MPIRUN'
#!/bin/bash
hosts="" np="" resume=fresh
while (($#)); do
  case $1 in
  --hostfile) hosts=$(awk '{ print $1 }' "$2" | paste -sd, -); shift ;;
  -np) np=$2; shift ;;
  --resume) resume=resume ;;
  esac
  shift
done
echo "$hosts $np $resume" >>"$T/calls"
k=$(wc -l <"$T/calls")
status=0
[[ -f $T/plan.$k ]] || exit 0
while read -r kind text; do
  case $kind in
  err) echo "$text" >&2 ;;
  out) echo "$text" ;;
  exit) status=$text ;;
  esac
done <"$T/plan.$k"
exit "$status"
MPIRUN
# the stand-in agent: HOST true answers when $T/up.HOST exists
cat >"$T/agent" <<'AGENT'
#!/bin/sh
[ -f "$T/up.$1" ] || exit 255
AGENT
chmod +x "$T/mpirun" "$T/agent"
export T MPIRUN=$T/mpirun OMPI_MCA_plm_rsh_agent=$T/agent MT_JOB_GRACE=1

resumed="out resuming from /r/checkpoint.h5 (epoch 0, step 10, written by 4 rank(s))"
stall() { # HOST RANKS: a stall message naming them
  echo "err mpitrain: rank 0 (a): stalled during step 13 (epoch 1): rank(s) $2 (1 of 4, on host $1) did not reach MPI_Iallreduce (gradient sums) (collective #9) within 5 s, while rank(s) 0 waited there (watchdog limit 5 s: training.stall_timeout)"
  echo "exit 1"
}
lost() { # HOST: Open MPI's message of a lost daemon
  echo "err ORTE has lost communication with a remote daemon."
  echo "err   Remote daemon: [[1,0],2] on node $1"
  echo "exit 205"
}
# scenario NAME HOSTFILE_LINES UP_HOSTS ELASTIC_OPTIONS... : runs launch/elastic with the plans written
# before; its status in $status, stderr in $T/NAME.err, the attempts in $T/NAME.calls
scenario() {
  local name=$1 h
  printf '%s\n' "$2" | tr ';' '\n' >"$T/hosts"
  rm -f "$T"/up.* "$T/calls" "$T/$name.jsonl"
  for h in $3; do : >"$T/up.$h"; done
  timeout 60 "$elastic" "${@:4}" --log "$T/$name.jsonl" --hostfile "$T/hosts" -- mpitrain train c.yaml >"$T/$name.out" 2>"$T/$name.err"
  status=$?
  cp "$T/calls" "$T/$name.calls" 2>/dev/null || : >"$T/$name.calls"
  rm -f "$T"/plan.*
}
calls() { paste -sd'|' "$T/$1.calls"; }

# a lost daemon, then a stall naming a host that answers, then success; c comes back within --max-ranks
lost b >"$T/plan.1"
{ echo "$resumed"; stall c 2; } >"$T/plan.2"
echo "$resumed" >"$T/plan.3"
scenario back "a slots=2;b slots=2;c slots=2" "a b c" --max-ranks 4
[[ $status == 0 && $(calls back) == "a,b 4 fresh|a,c 4 resume|a,c 4 resume" ]] \
  && ok "--max-ranks 4: b lost -> a and c (taken back); a stall naming c, which answers -> a and c again; exit 0" \
  || no "max-ranks: status $status, attempts $(calls back): $(grep ^elastic "$T/back.err" | tr '\n' ' ')"
grep -q '^elastic: restart 1 of at most 3: dropped: b; taken back: c; 4 rank(s) (was 4) on a, c' "$T/back.err" \
  && grep -q '^elastic: restart 1: training again from step 10 (epoch 0), .* s after the failure; work lost: unknown' "$T/back.err" \
  && grep -q '^elastic: restart 2: training again from step 10 (epoch 0), .* s after the failure; work lost: 2 step(s)' "$T/back.err" \
  && ok "stderr: each restart's dropped and taken-back hosts, the step resumed from, the work lost" \
  || no "stderr: $(grep ^elastic "$T/back.err" | tr '\n' ' ')"
grep -q '"event": "restart", "restart": 1, "reason": "node lost", .*"hosts_dropped": \["b"\], .*"hosts_taken_back": \["c"\], "hosts": \["a", "c"\], "ranks": 4, .*"resumed_step": 10, .*"work_lost_steps": null' "$T/back.jsonl" \
  && grep -q '"event": "restart", "restart": 2, "reason": "stall", .*"hosts_dropped": \[\], .*"failed_step": 13, .*"steps_done": 12, .*"resumed_step": 10, .*"work_lost_steps": 2, "time_lost_s": [0-9.]*' "$T/back.jsonl" \
  && grep -q '"event": "end", "status": 0, "restarts": 2' "$T/back.jsonl" \
  && ok "--log: a JSON line per restart (reason, hosts, steps, time lost) and the end" || no "--log: $(cat "$T/back.jsonl")"

# without --max-ranks: never more ranks than the attempt before (c back, but 2 + 2 would be 4 > 2)
lost c >"$T/plan.1"
{ echo "$resumed"; lost b; } >"$T/plan.2"
{ echo "$resumed"; stall a 0; } >"$T/plan.3"
scenario cap "a slots=2;b slots=2;c slots=2" "a b c" --max-restarts 2
[[ $status == 1 && $(calls cap) == "a,b,c 6 fresh|a,b 4 resume|a,c 4 resume" ]] \
  && [[ $(tail -n 1 "$T/cap.err") == "elastic: giving up: 2 restart(s) made, --max-restarts 2" ]] \
  && ok "no --max-ranks: c lost -> a, b (4); b lost -> a and c taken back (4, not more); then gives up after --max-restarts 2" \
  || no "cap: status $status, attempts $(calls cap), last line: $(tail -n 1 "$T/cap.err")"

# too few ranks: b does not answer (and its daemon was lost), 2 ranks left < --min-ranks 3
lost b >"$T/plan.1"
scenario few "a slots=2;b slots=2" "a" --min-ranks 3
[[ $status == 1 && $(calls few) == "a,b 4 fresh" ]] \
  && [[ $(tail -n 1 "$T/few.err") == "elastic: giving up: 2 rank(s) left (hosts: a), fewer than --min-ranks 3" ]] \
  && ok "2 ranks left under --min-ranks 3: gives up, exit status 1, saying why" \
  || no "few: status $status, attempts $(calls few), last line: $(tail -n 1 "$T/few.err")"

# a host that does not answer is dropped even when nothing named it
stall a 1 >"$T/plan.1"
scenario silent "a slots=1;b slots=1;c slots=1" "a b" --max-ranks 3
[[ $status == 0 && $(calls silent) == "a,b,c 3 fresh|a,b 2 resume" ]] && grep -q "dropped: c (not answering: c)" "$T/silent.err" \
  && ok "a stall naming a (which answers), c silent: restarted on a and b" \
  || no "silent: status $status, attempts $(calls silent): $(grep ^elastic "$T/silent.err" | tr '\n' ' ')"

# a rank killed by a signal on b (mpirun's message, before any of a lost daemon): b is dropped
{ echo "err mpirun noticed that process rank 2 with PID 0 on node b exited on signal 9 (Killed)."; echo "exit 137"; } >"$T/plan.1"
scenario killed "a slots=2;b slots=2" "a b"
[[ $status == 0 && $(calls killed) == "a,b 4 fresh|a 2 resume" ]] && grep -q '"reason": "rank lost", .*"hosts_dropped": \["b"\]' "$T/killed.jsonl" \
  && ok "a rank on b killed by a signal: b dropped, restarted on a" \
  || no "killed: status $status, attempts $(calls killed): $(grep ^elastic "$T/killed.err" | tr '\n' ' ')"

# not retried: exit 2; an exit 1 without a sign of a lost rank or node
echo "exit 2" >"$T/plan.1"
scenario usage "a slots=2" "a"
[[ $status == 2 && $(calls usage) == "a 2 fresh" ]] && ok "exit status 2: not retried, exit status 2" \
  || no "usage: status $status, attempts $(calls usage)"
{ echo "err mpitrain: step 120 (epoch 3): the loss is NaN on some rank; stopped before the update"; echo "exit 1"; } >"$T/plan.1"
scenario nan "a slots=2" "a"
[[ $status == 1 && $(calls nan) == "a 2 fresh" ]] && grep -q "^elastic: giving up: the job failed (exit status 1) without a sign" "$T/nan.err" \
  && ok "mpitrain's own exit 1 (a NaN loss): not retried, exit status 1" || no "nan: status $status, attempts $(calls nan)"
finish
