# Writes a bag-of-words classification problem as CSV (w0 .. w799 word counts, y in 0..4) on stdout.
# The "world" is fixed (its own seed, the same for train and test): a background distribution over the
# 800 words (Zipf weights 1 / (rank + 5), ranks shuffled over the vocabulary) and, for each class c, a
# topic of 160 words starting at word 130 c (wrapping around), so neighbouring classes share 30 topic
# words; topic word weights are uniform in [0.2, 1]. A document of class c (rows cycle through the
# classes) has 15 to 50 words; each is drawn from the class topic with probability p_topic = 0.19, else
# from the background. Most words carry no class information and topics overlap, so even the Bayes rule
# (which knows the distributions) misclassifies some documents: with check=1 the program prints the Bayes
# rule's accuracy on the rows instead of the rows: 0.905 on the 2000 test rows datasets/generate writes.
# An 800-256-256-5 MLP (dropout 0.5, Adam 0.001, 50 epochs, batch 128) reached 0.861 on them.
# Usage: awk -v seed=S -v rows=N [-v check=1] -f datasets/rng.awk -f datasets/bag_of_words.awk
BEGIN {
    V = 800; K = 5; T = 160; STEP = 130
    p_topic = 0.19
    rng_seed(20240601)
    # background: Zipf weights on a random permutation of the words
    for (w = 0; w < V; w++)
        perm[w] = w
    for (w = V - 1; w > 0; w--) {
        j = rng_below(w + 1)
        tmp = perm[w]; perm[w] = perm[j]; perm[j] = tmp
    }
    total = 0
    for (r = 0; r < V; r++) {
        bg[perm[r]] = 1 / (r + 5)
        total += 1 / (r + 5)
    }
    acc = 0
    for (w = 0; w < V; w++) {
        bg[w] /= total
        acc += bg[w]
        bg_cum[w] = acc
    }
    # topics
    for (c = 0; c < K; c++) {
        total = 0
        for (j = 0; j < T; j++) {
            tw[c, j] = (STEP * c + j) % V
            tp[c, j] = rng_between(0.2, 1)
            total += tp[c, j]
        }
        acc = 0
        for (j = 0; j < T; j++) {
            tp[c, j] /= total
            acc += tp[c, j]
            tp_cum[c, j] = acc
            topic_p[c, tw[c, j]] = tp[c, j]
        }
    }
    if (check)
        for (c = 0; c < K; c++)
            for (w = 0; w < V; w++)
                logp[c, w] = log(p_topic * ((c, w) in topic_p ? topic_p[c, w] : 0) + (1 - p_topic) * bg[w])

    rng_seed(seed)
    if (!check) {
        line = "w0"
        for (w = 1; w < V; w++)
            line = line ",w" w
        print line ",y"
    }
    right = 0
    for (i = 0; i < rows; i++) {
        c = i % K
        len = 15 + rng_below(36)
        for (w = 0; w < V; w++)
            count[w] = 0
        for (t = 0; t < len; t++) {
            if (rng_uniform() < p_topic)
                w = tw[c, draw_topic(c, rng_uniform())]
            else
                w = draw_background(rng_uniform())
            count[w]++
        }
        if (check) {
            best = -1
            for (k = 0; k < K; k++) {
                s = 0
                for (w = 0; w < V; w++)
                    if (count[w])
                        s += count[w] * logp[k, w]
                if (best < 0 || s > best_s) {
                    best = k
                    best_s = s
                }
            }
            right += best == c
            continue
        }
        line = count[0]
        for (w = 1; w < V; w++)
            line = line "," count[w]
        print line "," c
    }
    if (check)
        printf "Bayes rule accuracy on %d rows: %.4f\n", rows, right / rows
}
# The first word whose cumulative background probability exceeds u (binary search).
function draw_background(u,    lo, hi, mid) {
    lo = 0; hi = V - 1
    while (lo < hi) {
        mid = int((lo + hi) / 2)
        if (bg_cum[mid] < u)
            lo = mid + 1
        else
            hi = mid
    }
    return lo
}
function draw_topic(c, u,    lo, hi, mid) {
    lo = 0; hi = T - 1
    while (lo < hi) {
        mid = int((lo + hi) / 2)
        if (tp_cum[c, mid] < u)
            lo = mid + 1
        else
            hi = mid
    }
    return lo
}
