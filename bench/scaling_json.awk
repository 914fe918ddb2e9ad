# bench/scaling helper: reads one run's scaling.json (any layout: the file is read as one string) and prints
# one line, the per-rank means over all ranks of the run's seconds in each part of the step:
#   world_size compute exposed_comm data idle allreduce exposed_field
# exposed_comm is the rank's "exposed_comm" when the file has it (exposed_field 1; allreduce is then the time
# gradient buckets were in flight, overlapped with backprop or not); otherwise the rank's "allreduce" is
# taken as exposed, since nothing overlapped it (exposed_field 0). Missing numbers print as "nan".
# POSIX awk (mawk): no gawk extensions.

# value(STR, KEY): the number after "KEY": in STR, or "" when there is none.
function value(str, key,   i, t) {
  i = index(str, "\"" key "\"")
  if (!i)
    return ""
  t = substr(str, i + length(key) + 2)
  sub(/^[ \t\r\n]*:[ \t\r\n]*/, "", t)
  if (!match(t, /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?/))
    return ""
  return substr(t, 1, RLENGTH)
}
function mean(sum, n) { return n > 0 ? sprintf("%.6f", sum / n) : "nan" }

{ s = s $0 "\n" }

END {
  i = index(s, "\"ranks\"")
  head = i ? substr(s, 1, i - 1) : s
  world = value(head, "world_size")
  if (world == "")
    world = "nan"
  n = i ? split(substr(s, i), obj, "}") : 0
  ranks = 0; has_exposed = 0
  for (k = 1; k <= n; k++) {
    o = obj[k]
    if (!match(o, /"rank"[ \t\r\n]*:[ \t\r\n]*[0-9]/))
      continue
    ranks++
    compute += value(o, "compute")
    data += value(o, "data")
    idle += value(o, "idle")
    allreduce += value(o, "allreduce")
    e = value(o, "exposed_comm")
    if (e != "") {
      has_exposed = 1
      exposed += e
    }
  }
  if (!has_exposed)
    exposed = allreduce
  print world, mean(compute, ranks), mean(exposed, ranks), mean(data, ranks), mean(idle, ranks), \
    mean(allreduce, ranks), has_exposed
}
