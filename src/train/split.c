/* Training / validation row sets of one training split: random hold-out, time-ordered hold-out, k-fold
 * (see split.h). Everything is a pure function of its arguments, so all ranks agree without talking. */
#include "train/split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

#define SPLIT_PURPOSE 0x5b1175ULL /* key word of the split permutation, apart from the epoch shuffles */

void mt_split_rows_free(mt_split_rows *s)
{
    if (!s)
        return;
    free(s->train);
    free(s->val);
    memset(s, 0, sizeof *s);
}

uint64_t mt_split_validation_count(uint64_t n, double fraction)
{
    if (!(fraction > 0) || n < 2)
        return 0;
    double t = floor(fraction * (double)n + 0.5);
    return t < 1 ? 1 : t > (double)(n - 1) ? n - 1 : (uint64_t)t;
}

/* Allocates the two lists (val only when n_val > 0). */
static mt_status alloc_rows(mt_split_rows *out, uint64_t n_train, uint64_t n_val, mt_error *err)
{
    memset(out, 0, sizeof *out);
    out->train = malloc((n_train ? n_train : 1) * sizeof *out->train);
    out->val = n_val ? malloc(n_val * sizeof *out->val) : NULL;
    if (!out->train || (n_val && !out->val)) {
        mt_split_rows_free(out);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory for the row lists of %llu rows",
                       (unsigned long long)(n_train + n_val));
    }
    out->n_train = n_train;
    out->n_val = n_val;
    return MT_OK;
}

/* Fills both lists in ascending order from a mask (1 = validation). */
static void from_mask(const unsigned char *is_val, uint64_t n, mt_split_rows *out)
{
    uint64_t t = 0, v = 0;
    for (uint64_t r = 0; r < n; r++) {
        if (is_val[r])
            out->val[v++] = r;
        else
            out->train[t++] = r;
    }
}

mt_status mt_split_all(uint64_t n, mt_split_rows *out, mt_error *err)
{
    mt_status st = alloc_rows(out, n, 0, err);
    for (uint64_t r = 0; !st && r < n; r++)
        out->train[r] = r;
    return st;
}

/* perm[0..n) = the split permutation of seed. */
static void split_permutation(uint64_t seed, uint64_t n, uint64_t *perm)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    mt_rng rng = mt_rng_make(mt_key(seed, SPLIT_PURPOSE));
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = mt_rng_below(&rng, i);
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* The rows at positions [first, last) of the split permutation validate. */
static mt_status permuted_part(uint64_t n, uint64_t first, uint64_t last, uint64_t seed, mt_split_rows *out,
                               mt_error *err)
{
    uint64_t *perm = malloc((n ? n : 1) * sizeof *perm);
    unsigned char *is_val = calloc(n ? n : 1, 1);
    mt_status st = perm && is_val ? alloc_rows(out, n - (last - first), last - first, err)
                                  : mt_fail(err, MT_ERR_NOMEM, "out of memory for a permutation of %llu rows",
                                            (unsigned long long)n);
    if (!st) {
        split_permutation(seed, n, perm);
        for (uint64_t p = first; p < last; p++)
            is_val[perm[p]] = 1;
        from_mask(is_val, n, out);
    }
    free(perm);
    free(is_val);
    return st;
}

static mt_status check_fraction(uint64_t n, double fraction, mt_error *err)
{
    if (!(fraction >= 0 && fraction < 1))
        return mt_fail(err, MT_ERR_CONFIG, "data.validation_fraction: %g is outside [0, 1)", fraction);
    if (fraction > 0 && n < 2)
        return mt_fail(err, MT_ERR_INPUT, "a validation fraction needs at least 2 training rows, got %llu",
                       (unsigned long long)n);
    return MT_OK;
}

mt_status mt_split_random(uint64_t n, double fraction, uint64_t seed, mt_split_rows *out, mt_error *err)
{
    memset(out, 0, sizeof *out);
    mt_status st = check_fraction(n, fraction, err);
    return st ? st : permuted_part(n, 0, mt_split_validation_count(n, fraction), seed, out, err);
}

mt_status mt_split_fold(uint64_t n, int k, int i, uint64_t seed, mt_split_rows *out, mt_error *err)
{
    memset(out, 0, sizeof *out);
    if (k < 2 || i < 0 || i >= k)
        return mt_fail(err, MT_ERR_CONFIG, "k-fold: fold %d of %d does not exist (need 2 <= k and 0 <= fold < k)", i,
                       k);
    if ((uint64_t)k > n)
        return mt_fail(err, MT_ERR_INPUT, "k-fold: %d folds need at least %d training rows, got %llu", k, k,
                       (unsigned long long)n);
    unsigned __int128 first = (unsigned __int128)n * (unsigned)i / (unsigned)k;
    unsigned __int128 last = (unsigned __int128)n * (unsigned)(i + 1) / (unsigned)k;
    return permuted_part(n, (uint64_t)first, (uint64_t)last, seed, out, err);
}

typedef struct keyed {
    double key;
    uint64_t row;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *p = a, *q = b;
    if (p->key != q->key)
        return p->key < q->key ? -1 : 1;
    return p->row < q->row ? -1 : p->row > q->row;
}

mt_status mt_split_ordered(uint64_t n, double fraction, const double *order, mt_split_rows *out, mt_error *err)
{
    memset(out, 0, sizeof *out);
    mt_status st = check_fraction(n, fraction, err);
    if (st)
        return st;
    uint64_t n_val = mt_split_validation_count(n, fraction);
    for (uint64_t r = 0; order && r < n; r++)
        if (!isfinite(order[r]))
            return mt_fail(err, MT_ERR_INPUT, "row %llu has order value %g (order values must be finite)",
                           (unsigned long long)r, order[r]);
    keyed *k = order ? malloc((n ? n : 1) * sizeof *k) : NULL;
    unsigned char *is_val = calloc(n ? n : 1, 1);
    st = (order && !k) || !is_val
             ? mt_fail(err, MT_ERR_NOMEM, "out of memory for ordering %llu rows", (unsigned long long)n)
             : alloc_rows(out, n - n_val, n_val, err);
    if (!st) {
        if (order) {
            for (uint64_t r = 0; r < n; r++)
                k[r] = (keyed){order[r], r};
            qsort(k, n, sizeof *k, keyed_cmp);
            for (uint64_t p = n - n_val; p < n; p++)
                is_val[k[p].row] = 1;
        } else {
            memset(is_val + (n - n_val), 1, n_val);
        }
        from_mask(is_val, n, out);
    }
    free(k);
    free(is_val);
    return st;
}

mt_status mt_split_from_config(const mt_data_config *d, uint64_t seed, uint64_t n, const double *order,
                               mt_split_rows *out, mt_error *err)
{
    if (d->folds > 0)
        return mt_split_fold(n, d->folds, d->fold, seed, out, err);
    if (d->validation_fraction > 0 && !strcmp(d->split, "ordered"))
        return mt_split_ordered(n, d->validation_fraction, order, out, err);
    if (d->validation_fraction > 0)
        return mt_split_random(n, d->validation_fraction, seed, out, err);
    return mt_split_all(n, out, err);
}

/* "origin:line: data.key: what", at the key's node (or the data map when the key came from a default). */
static mt_status config_fail(const mt_node *data, const char *key, mt_error *err, const char *what)
{
    char loc[300] = "";
    const mt_node *n = data ? mt_node_get(data, key) : NULL;
    if (n || data)
        mt_node_where(n ? n : data, loc, sizeof loc);
    return mt_fail(err, MT_ERR_CONFIG, "%s%sdata.%s: %s", loc, loc[0] ? ": " : "", key, what);
}

mt_status mt_data_config_check(const mt_data_config *d, const mt_node *data_node, mt_error *err)
{
    char what[300];
    if (d->validation_fraction > 0 && d->validation[0]) {
        snprintf(what, sizeof what,
                 "cannot be combined with data.validation ('%.64s'): validate either on a "
                 "split of the file or on a fraction of the training split",
                 d->validation);
        return config_fail(data_node, "validation_fraction", err, what);
    }
    if (d->folds == 1)
        return config_fail(data_node, "folds", err, "k-fold cross-validation needs at least 2 folds (0 for none)");
    if (d->folds > 0 && d->validation[0]) {
        snprintf(what, sizeof what,
                 "cannot be combined with data.validation ('%.64s'): each fold validates on "
                 "its part of the training split",
                 d->validation);
        return config_fail(data_node, "folds", err, what);
    }
    if (d->folds > 0 && d->validation_fraction > 0)
        return config_fail(data_node, "folds", err,
                           "cannot be combined with data.validation_fraction: each fold "
                           "validates on its part of the training split");
    if (d->folds > 0 && d->fold >= d->folds) {
        snprintf(what, sizeof what, "fold %d does not exist: folds are numbered 0 to %d", d->fold, d->folds - 1);
        return config_fail(data_node, "fold", err, what);
    }
    if (d->folds == 0 && d->fold != 0)
        return config_fail(data_node, "fold", err, "only applies with data.folds (k-fold cross-validation)");
    if (!strcmp(d->split, "ordered") && d->folds > 0)
        return config_fail(data_node, "split", err, "ordered cannot be combined with k-fold cross-validation");
    if (!strcmp(d->split, "ordered") && !(d->validation_fraction > 0))
        return config_fail(data_node, "split", err,
                           "ordered takes the last data.validation_fraction of the "
                           "training rows; set data.validation_fraction");
    return MT_OK;
}
