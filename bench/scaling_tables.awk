# bench/scaling helper: turns runs.csv (one line per training run, all repeats) into the scaling tables.
#   awk -F, -v out=DIR -v cores=C -v strong_batch=B -v weak_batch=b -v nps="1 2 4 8" -v models="mlp cnn" \
#       -f bench/scaling_tables.awk runs.csv
# runs.csv columns: implementation,model,np,global_batch,repeat,samples_per_sec,steps,compute_s,
#   exposed_comm_s,data_s,idle_s,allreduce_s,exposed_field   (seconds are per-rank means over the run;
#   empty for torch_ddp, whose processes are not split up)
# Writes DIR/strong_scaling.csv, DIR/weak_scaling.csv (mpitrain), DIR/torch_ddp.csv (when runs.csv has
# torch_ddp rows), their markdown tables DIR/md/{strong,weak,torch}.md, and DIR/plot/IMPL_MODEL_MODE.dat
# (np speedup efficiency efficiency_vs_cores) for gnuplot.
#
# Per configuration: samples/s is the median over the repeats; speedup = samples/s(np) / samples/s(np 1)
# of the same mode (strong: same global batch, so ideal = np; weak: np times the work per step, so ideal =
# np as well); efficiency = speedup / np; per core = speedup / min(np, cores), what the machine allows when
# ranks share cores. The time split is each run's per-rank mean of compute, exposed communication, data
# and idle as shares of their sum, the median over the repeats of each share. POSIX awk (mawk).

function median(list,   v, w, n, i, j, t, m, k) {
  n = 0
  m = split(list, v, " ")
  for (i = 1; i <= m; i++)
    if (v[i] != "" && v[i] != "nan")
      w[++n] = v[i] + 0
  for (i = 2; i <= n; i++)
    for (j = i; j > 1 && w[j] < w[j - 1]; j--) {
      t = w[j]; w[j] = w[j - 1]; w[j - 1] = t
    }
  if (n == 0)
    return "nan"
  k = int((n + 1) / 2)
  return n % 2 ? w[k] : (w[k] + w[k + 1]) / 2
}
function fmt(x, f) { return x == "nan" || x == "" ? "" : sprintf(f, x) }
function pct(x) { return x == "nan" || x == "" ? "n/a" : sprintf("%.0f%%", x) }
function add(arr, key, val,   s) {  # (mawk creates arr[key] before the right side of an assignment)
  s = (key in arr) ? arr[key] " " val : val
  arr[key] = s
}
function oversub(np) { return np > cores ? "yes" : "no" }
function note(np) { return np > cores ? sprintf("**oversubscribed**: %d ranks on %d cores", np, cores) : "" }
function gbatch(mode, np) { return mode == "strong" ? strong_batch : weak_batch * np }

NR == 1 { next }
$6 != "" && $6 != "nan" {
  key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
  add(rate, key, $6)
  count[key]++
  add(steps, key, $7)
  tot = $8 + $9 + $10 + $11
  if ($8 != "" && tot > 0) {
    add(pc, key, 100 * $8 / tot); add(pe, key, 100 * $9 / tot)
    add(pd, key, 100 * $10 / tot); add(pi, key, 100 * $11 / tot)
    if ($13 == 1 && $12 > 0)
      add(ph, key, 100 * (1 - $9 / $12))
  }
  if ($1 == "torch_ddp")
    have_torch = 1
}

END {
  nn = split(nps, npl, " ")
  nm = split(models, ml, " ")
  system("mkdir -p '" out "/md' '" out "/plot'")
  for (mi = 1; mi <= 2; mi++) {
    mode = mi == 1 ? "strong" : "weak"
    csv = out "/" mode "_scaling.csv"
    md = out "/md/" mode ".md"
    print "model,np,global_batch,batch_per_rank,oversubscribed,repeats,samples_per_sec,all_runs,speedup," \
      "efficiency,efficiency_vs_cores,ms_per_step,steps,compute_pct,exposed_comm_pct,data_pct,idle_pct," \
      "comm_hidden_pct" > csv
    print "| model | np | global batch | per rank | samples/s | speedup | efficiency | per core | ms/step | " \
      "compute | exposed comm | data | idle | comm hidden | note |" > md
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|" > md
    for (k = 1; k <= nm; k++) {
      model = ml[k]
      base = median(rate["mpitrain" SUBSEP model SUBSEP 1 SUBSEP gbatch(mode, 1)])
      dat = out "/plot/mpitrain_" model "_" mode ".dat"
      printf "" > dat
      for (j = 1; j <= nn; j++) {
        np = npl[j]; gb = gbatch(mode, np)
        key = "mpitrain" SUBSEP model SUBSEP np SUBSEP gb
        r = median(rate[key])
        sp = (r != "nan" && base != "nan" && base > 0) ? r / base : "nan"
        ef = sp != "nan" ? sp / np : "nan"
        ec = sp != "nan" ? sp / (np < cores ? np : cores) : "nan"
        ms = r != "nan" ? 1000 * gb / r : "nan"
        c = median(pc[key]); e = median(pe[key]); d = median(pd[key]); i = median(pi[key])
        h = np > 1 ? median(ph[key]) : "nan" # one rank sums nothing: no communication to hide
        runs = rate[key]; gsub(/ /, ";", runs)
        print model "," np "," gb "," (gb / np) "," oversub(np) "," (count[key] + 0) "," fmt(r, "%.1f") "," runs \
          "," fmt(sp, "%.3f") "," fmt(ef, "%.3f") "," fmt(ec, "%.3f") "," fmt(ms, "%.3f") "," \
          median(steps[key]) "," fmt(c, "%.1f") "," fmt(e, "%.1f") "," fmt(d, "%.1f") "," fmt(i, "%.1f") "," \
          fmt(h, "%.1f") > csv
        print "| " model " | " np " | " gb " | " (gb / np) " | " (r == "nan" ? "failed" : sprintf("%.0f", r)) \
          " | " fmt(sp, "%.2f") " | " pct(ef == "nan" ? "nan" : 100 * ef) " | " \
          pct(ec == "nan" ? "nan" : 100 * ec) " | " fmt(ms, "%.2f") " | " pct(c) " | " pct(e) " | " pct(d) \
          " | " pct(i) " | " pct(h) " | " note(np) " |" > md
        if (sp != "nan")
          print np, sp, ef, ec > dat
      }
      close(dat)
      if (have_torch) {
        tbase = median(rate["torch_ddp" SUBSEP model SUBSEP 1 SUBSEP gbatch(mode, 1)])
        dat = out "/plot/torch_ddp_" model "_" mode ".dat"
        printf "" > dat
        for (j = 1; j <= nn; j++) {
          np = npl[j]
          r = median(rate["torch_ddp" SUBSEP model SUBSEP np SUBSEP gbatch(mode, np)])
          if (r != "nan" && tbase != "nan" && tbase > 0)
            print np, r / tbase, r / tbase / np, r / tbase / (np < cores ? np : cores) > dat
        }
        close(dat)
      }
    }
    close(csv); close(md)
  }
  if (!have_torch)
    exit 0
  csv = out "/torch_ddp.csv"
  md = out "/md/torch.md"
  print "model,mode,np,global_batch,oversubscribed,mpitrain_samples_per_sec,ddp_samples_per_sec,mpitrain_over_ddp," \
    "mpitrain_speedup,ddp_speedup,mpitrain_efficiency,ddp_efficiency,ddp_repeats,ddp_all_runs" > csv
  print "| model | mode | np | global batch | mpitrain samples/s | DDP samples/s | mpitrain / DDP | " \
    "mpitrain speedup | DDP speedup | mpitrain efficiency | DDP efficiency | note |" > md
  print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|" > md
  for (k = 1; k <= nm; k++)
    for (mi = 1; mi <= 2; mi++) {
      model = ml[k]; mode = mi == 1 ? "strong" : "weak"
      mb = median(rate["mpitrain" SUBSEP model SUBSEP 1 SUBSEP gbatch(mode, 1)])
      tb = median(rate["torch_ddp" SUBSEP model SUBSEP 1 SUBSEP gbatch(mode, 1)])
      for (j = 1; j <= nn; j++) {
        np = npl[j]; gb = gbatch(mode, np)
        tkey = "torch_ddp" SUBSEP model SUBSEP np SUBSEP gb
        if (!(tkey in rate))
          continue
        m = median(rate["mpitrain" SUBSEP model SUBSEP np SUBSEP gb]); t = median(rate[tkey])
        ratio = (m != "nan" && t != "nan" && t > 0) ? m / t : "nan"
        msp = (m != "nan" && mb != "nan" && mb > 0) ? m / mb : "nan"
        tsp = (t != "nan" && tb != "nan" && tb > 0) ? t / tb : "nan"
        runs = rate[tkey]; gsub(/ /, ";", runs)
        print model "," mode "," np "," gb "," oversub(np) "," fmt(m, "%.1f") "," fmt(t, "%.1f") "," \
          fmt(ratio, "%.3f") "," fmt(msp, "%.3f") "," fmt(tsp, "%.3f") "," \
          fmt(msp == "nan" ? "nan" : msp / np, "%.3f") "," fmt(tsp == "nan" ? "nan" : tsp / np, "%.3f") "," \
          (count[tkey] + 0) "," runs > csv
        print "| " model " | " mode " | " np " | " gb " | " fmt(m, "%.0f") " | " fmt(t, "%.0f") " | " \
          fmt(ratio, "%.2f") " | " fmt(msp, "%.2f") " | " fmt(tsp, "%.2f") " | " \
          pct(msp == "nan" ? "nan" : 100 * msp / np) " | " pct(tsp == "nan" ? "nan" : 100 * tsp / np) " | " \
          note(np) " |" > md
      }
    }
  close(csv); close(md)
}
