# bench/scaling_cluster helper: medians of the cluster runs, the latency-bandwidth model fitted on the
# allreduce measured across the nodes, and its prediction beside every measured cluster row. A MODEL:
#   awk -F, -v out=DIR -v grads="mlp:PARAMS cnn:PARAMS" -v hmlp=H -v hcnn=H -v cores=C -v batch=B \
#       -f bench/scaling_cluster.awk ALLREDUCE_CSV RUNS_CSV
# Fit, per link rate: t(n) = 2 alpha + n / beta (the Hockney ring at p = 2) by least squares on the median
# np 2 allreduce times from 16 KiB to 1 MiB, the sizes of the models' buckets (4 MiB sums fill the tbf
# queue of a 1 Gbit/s link, and TCP then reaches less than half of the bandwidth of smaller ones).
# Prediction of a cluster row (model, np p, variant) from the one-node row of the same model, np and variant:
#   T_c    = one-node step time x (1 - its exposed communication share)   (the step's own work)
#   bytes  = parameters x (2 for a bfloat16 exchange: variant names "*bf16*", "*bfloat16*"; else 4) x k,
#            k = ranks per node whose sums cross the link: p / 2 for flat sums (the default), 1 for two-level
#            ones (training.node_sums=two_level: variant names "*two*")
#   T_comm = 2 log2(p) alpha + bytes / beta
#   step   = T_c + max(0, T_comm - h T_c), h = the share of the step that can hide the sums (hmlp, hcnn)
# Writes DIR/cluster.csv and DIR/cluster.md. POSIX awk (mawk).

function median(key,   n, i, j, t, v) {
  n = cnt[key]
  if (!n)
    return ""
  for (i = 1; i <= n; i++) v[i] = val[key, i]
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j] < v[j - 1]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, x) { val[key, ++cnt[key]] = x }
function log2(x) { return log(x) / log(2) }

FNR == 1 { file++; next }
file == 1 { # rate,np,repeat,bytes,seconds,busbw_GBps
  k = $1 SUBSEP $2 SUBSEP $4
  if (!(k in seen_ar)) { seen_ar[k] = 1; ar_keys[++n_ar] = k }
  add("ar" SUBSEP k, $5)
  next
}
file == 2 && $7 != "nan" { # where,rate,model,np,variant,repeat,samples_per_sec,compute,exposed,data,idle,allreduce,steps
  k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $5
  if (!(k in seen_run)) { seen_run[k] = 1; run_keys[++n_runs] = k }
  add("rate" SUBSEP k, $7)
  tot = $8 + $9 + $10 + $11
  if (tot > 0) {
    add("compute" SUBSEP k, $8 / tot); add("exposed" SUBSEP k, $9 / tot)
    add("data" SUBSEP k, $10 / tot); add("idle" SUBSEP k, $11 / tot)
  }
}

END {
  ng = split(grads, gl, " ")
  for (i = 1; i <= ng; i++) { split(gl[i], f, ":"); params[f[1]] = f[2] }
  # The fit per rate.
  for (i = 1; i <= n_ar; i++) {
    split(ar_keys[i], f, SUBSEP)
    t = median("ar" SUBSEP ar_keys[i])
    armed[ar_keys[i]] = t
    if (!(f[1] in rate_seen)) { rate_seen[f[1]] = 1; rates[++n_rates] = f[1] }
    if (f[2] == 2 && f[3] >= 16384 && f[3] <= 1048576) {
      r = f[1]; sn[r]++; sx[r] += f[3]; sy[r] += t; sxx[r] += f[3] * f[3]; sxy[r] += f[3] * t
    }
  }
  md = out "/cluster.md"
  print "## Allreduce across the nodes, and the fitted links" > md
  print "" > md
  print "MPI_Allreduce (float sum, in place; `allreduce_bench`, median of the repeats' medians) across the 2 nodes: np 2" > md
  print "= 1 rank per node, np 4 = 2 per node (oversubscribed). The model's alpha and beta are fitted per rate on the" > md
  print "np 2 times from 16 KiB to 1 MiB (t = 2 alpha + n / beta)." > md
  print "" > md
  print "| rate | np | bytes | us per call | bus GB/s |" > md
  print "|---|--:|--:|--:|--:|" > md
  for (i = 1; i <= n_ar; i++) {
    split(ar_keys[i], f, SUBSEP)
    if (f[3] < 1024 && f[3] != 4)
      continue
    bw = 2 * (f[2] - 1) / f[2] * f[3] / armed[ar_keys[i]] / 1e9
    printf "| %s | %s | %d | %.1f | %.3f |\n", f[1], f[2], f[3], 1e6 * armed[ar_keys[i]], bw > md
  }
  print "" > md
  print "| rate | fitted alpha | fitted beta | points |" > md
  print "|---|--:|--:|--:|" > md
  for (i = 1; i <= n_rates; i++) {
    r = rates[i]
    if (sn[r] < 2)
      continue
    b = (sn[r] * sxy[r] - sx[r] * sy[r]) / (sn[r] * sxx[r] - sx[r] * sx[r])
    a = (sy[r] - b * sx[r]) / sn[r]
    alpha[r] = (a > 0 ? a : 0) / 2
    beta[r] = b > 0 ? 1 / b : 0
    printf "| %s | %.1f us | %.3f GB/s | %d |\n", r, 1e6 * alpha[r], beta[r] / 1e9, sn[r] > md
  }
  print "" > md
  # The rows.
  csv = out "/cluster.csv"
  print "rate,model,np,variant,oversubscribed,node_samples_per_sec,cluster_samples_per_sec,cluster_over_node," \
    "compute,exposed_comm,data,idle,predicted_samples_per_sec,measured_over_predicted,t_compute_ms,t_comm_ms," \
    "alpha_us,beta_GBps,exchange_bytes" > csv
  print "## Measured across 2 nodes, and the model's prediction" > md
  print "" > md
  print "**cluster / node**: the cluster row's samples/s over the one-node row's (same model, np, variant). The time" > md
  print "split (compute, exposed communication, data, idle) is the cluster run's. **predicted** is the model's (fitted" > md
  print "links; T_c from the one-node row; h = " hmlp " (MLP), " hcnn " (CNN)); **meas/pred** = measured / predicted." > md
  print "" > md
  print "| rate | model | np | variant | node samples/s | cluster samples/s | cluster / node | compute | exposed comm | data | idle | predicted | meas/pred | T_c ms | T_comm ms | note |" > md
  print "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|" > md
  for (i = 1; i <= n_runs; i++) {
    split(run_keys[i], f, SUBSEP)
    if (f[1] != "cluster")
      continue
    r = f[2]; m = f[3]; p = f[4]; v = f[5]
    nk = "node" SUBSEP "-" SUBSEP m SUBSEP p SUBSEP v
    meas = median("rate" SUBSEP run_keys[i])
    node = median("rate" SUBSEP nk)
    pred = ""; tc = ""; tcomm = ""; bytes = ""
    if (node > 0 && (r in beta) && beta[r] > 0 && params[m] > 0) {
      tc = batch / node * (1 - median("exposed" SUBSEP nk))
      per = v ~ /bf16|bfloat16/ ? 2 : 4
      k = v ~ /two/ ? 1 : p / 2
      bytes = params[m] * per * k
      tcomm = 2 * log2(p) * alpha[r] + bytes / beta[r]
      h = m == "mlp" ? hmlp : hcnn
      over = tcomm - h * tc
      pred = batch / (tc + (over > 0 ? over : 0))
    }
    note = p > cores ? "oversubscribed: " p " ranks on " cores " cores" : ""
    printf "%s,%s,%s,%s,%d,%.1f,%.1f,%s,%.3f,%.3f,%.3f,%.3f,%s,%s,%s,%s,%.2f,%.4f,%s\n", r, m, p, v, (p > cores), node, meas, \
      (node > 0 ? sprintf("%.3f", meas / node) : ""), median("compute" SUBSEP run_keys[i]), \
      median("exposed" SUBSEP run_keys[i]), median("data" SUBSEP run_keys[i]), median("idle" SUBSEP run_keys[i]), \
      (pred != "" ? sprintf("%.1f", pred) : ""), (pred != "" ? sprintf("%.3f", meas / pred) : ""), \
      (tc != "" ? sprintf("%.4f", 1000 * tc) : ""), (tcomm != "" ? sprintf("%.4f", 1000 * tcomm) : ""), \
      1e6 * alpha[r], beta[r] / 1e9, bytes > csv
    printf "| %s | %s | %s | %s | %.0f | %.0f | %s | %.0f%% | %.0f%% | %.0f%% | %.0f%% | %s | %s | %s | %s | %s |\n", r, m, p, v, \
      node, meas, (node > 0 ? sprintf("%.3f", meas / node) : ""), 100 * median("compute" SUBSEP run_keys[i]), \
      100 * median("exposed" SUBSEP run_keys[i]), 100 * median("data" SUBSEP run_keys[i]), \
      100 * median("idle" SUBSEP run_keys[i]), (pred != "" ? sprintf("%.0f", pred) : "n/a"), \
      (pred != "" ? sprintf("%.2f", meas / pred) : "n/a"), (tc != "" ? sprintf("%.3f", 1000 * tc) : ""), \
      (tcomm != "" ? sprintf("%.3f", 1000 * tcomm) : ""), note > md
  }
  close(csv); close(md)
}
