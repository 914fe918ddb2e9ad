# bench/scaling helper: the projection of weak scaling to many ranks from a latency-bandwidth (Hockney
# alpha-beta) model of the gradient allreduce. A MODEL, not a measurement.
#   awk -v out=DIR -v models="mlp:T1_MS:GRAD_BYTES cnn:..." -v links="NAME:ALPHA_S:BETA_BYTES_PER_S ..." \
#       -v hidden=0.667 -v ps="1 2 4 ... 1024" -f bench/scaling_model.awk </dev/null
# For each model (measured one-rank step time T1 at the weak-scaling batch per rank, gradient of n bytes),
# each link and p ranks (one per node, the allreduce crossing the network):
#   ring allreduce:               T_ring(p) = 2 (p - 1) alpha + 2 (p - 1) / p * n / beta
#   recursive doubling allreduce: T_rd(p)   = log2(p) (alpha + n / beta)
#   step time without overlap:    T(p) = T1 + T_comm(p)
#   step time with overlap:       T(p) = T1 + max(0, T_comm(p) - hidden * T1)   (communication hidden behind
#                                 the backward pass, `hidden` of the step: about 2/3, backward costing twice
#                                 the forward)
#   efficiency E(p) = T1 / T(p); speedup S(p) = p E(p) (p ranks each process a per-rank batch per step).
# Writes DIR/projection.csv (long format), DIR/md/projection_MODEL.md (efficiency table for p >= 16) and
# DIR/plot/proj_MODEL.dat (p, then efficiency of the 8 curves, then their speedup, in the order
# for link: for algorithm ring, rd: without, with overlap). POSIX awk (mawk).

function log2(x) { return log(x) / log(2) }
function comm(alg, p, n, a, b) {
  if (p <= 1)
    return 0
  if (alg == "ring")
    return 2 * (p - 1) * a + 2 * (p - 1) / p * n / b
  return (log2(p) == int(log2(p)) ? log2(p) : int(log2(p)) + 1) * (a + n / b)
}

BEGIN {
  nm = split(models, ml, " ")
  nl = split(links, ll, " ")
  np = split(ps, pl, " ")
  alg[1] = "ring"; alg[2] = "rd"; algname["ring"] = "ring"; algname["rd"] = "rec. doubling"
  csv = out "/projection.csv"
  print "model,p,link,alpha_us,beta_GBps,algorithm,comm_ms,step_ms,efficiency,speedup," \
    "step_ms_overlap,efficiency_overlap,speedup_overlap,t1_ms,gradient_bytes" > csv
  for (k = 1; k <= nm; k++) {
    split(ml[k], f, ":")
    model = f[1]; t1 = f[2] / 1000; n = f[3]
    if (!(t1 > 0 && n > 0))
      continue
    md = out "/md/projection_" model ".md"
    dat = out "/plot/proj_" model ".dat"
    head = "| p |"; rule = "|--:|"
    for (l = 1; l <= nl; l++) {
      split(ll[l], g, ":")
      for (a = 1; a <= 2; a++) {
        head = head " " algname[alg[a]] ", " g[1] " | +overlap |"
        rule = rule "--:|--:|"
      }
    }
    print head > md
    print rule > md
    printf "# p" > dat
    for (l = 1; l <= nl; l++) {
      split(ll[l], g, ":")
      for (a = 1; a <= 2; a++)
        printf " eff_%s_%s eff_%s_%s_overlap", alg[a], g[1], alg[a], g[1] > dat
    }
    printf " (then the same order as speedup)\n" > dat
    for (j = 1; j <= np; j++) {
      p = pl[j]
      row = "| " p " |"
      effs = ""; sps = ""
      for (l = 1; l <= nl; l++) {
        split(ll[l], g, ":")
        for (a = 1; a <= 2; a++) {
          c = comm(alg[a], p, n, g[2], g[3])
          t = t1 + c
          e = t1 / t
          over = c - hidden * t1
          to = t1 + (over > 0 ? over : 0)
          eo = t1 / to
          printf "%s,%d,%s,%.3g,%.4g,%s,%.4f,%.4f,%.4f,%.2f,%.4f,%.4f,%.2f,%.4f,%d\n", model, p, g[1], g[2] * 1e6, \
            g[3] / 1e9, alg[a], 1000 * c, 1000 * t, e, p * e, 1000 * to, eo, p * eo, 1000 * t1, n > csv
          row = row sprintf(" %.0f%% (%.2f ms) | %.0f%% |", 100 * e, 1000 * c, 100 * eo)
          effs = effs sprintf(" %.5f %.5f", e, eo)
          sps = sps sprintf(" %.3f %.3f", p * e, p * eo)
        }
      }
      print p effs sps > dat
      if (p >= 16)
        print row > md
    }
    close(md); close(dat)
  }
  close(csv)
}
