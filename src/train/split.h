/* Which rows of the training split train and which validate: a seeded random validation fraction, a
 * time-ordered one (the last rows by an order column), or fold i of k-fold cross-validation. Pure
 * functions of (n, fraction or k, seed, order): every rank computes the same row sets whatever the number
 * of ranks, and they are tested in one process. The trainer shuffles within the training rows each epoch. */
#ifndef MT_TRAIN_SPLIT_H
#define MT_TRAIN_SPLIT_H

#include <stdint.h>

#include "config/config.h"

/* Rows of one training split, as indices into it. Both lists ascending (reads go in file order). */
typedef struct mt_split_rows {
    uint64_t *train; /* [n_train] rows to train on */
    uint64_t n_train;
    uint64_t *val; /* [n_val] rows held out for validation; NULL when n_val == 0 */
    uint64_t n_val;
} mt_split_rows;

/* Rows a validation fraction takes from n rows: round(fraction * n), at least 1 and at most n - 1 when
 * fraction > 0 (so both sides are non-empty); 0 when fraction is 0. */
uint64_t mt_split_validation_count(uint64_t n, double fraction);

/* Every row trains, none validates. */
mt_status mt_split_all(uint64_t n, mt_split_rows *out, mt_error *err);

/* Random hold-out: the first mt_split_validation_count(n, fraction) positions of a permutation of [0, n)
 * drawn from seed (Fisher-Yates on the counter-based generator, key (seed, "split")) validate; the rest
 * train. fraction in [0, 1); n >= 2 when fraction > 0 (MT_ERR_INPUT otherwise). */
mt_status mt_split_random(uint64_t n, double fraction, uint64_t seed, mt_split_rows *out, mt_error *err);

/* Time-ordered hold-out: rows sorted by (order[row], row) (order NULL: by row index); the last
 * mt_split_validation_count(n, fraction) validate, the earlier ones train. An order value that is NaN or
 * infinite is MT_ERR_INPUT naming the row. */
mt_status mt_split_ordered(uint64_t n, double fraction, const double *order, mt_split_rows *out, mt_error *err);

/* Fold i (0 <= i < k, 2 <= k <= n) of k-fold cross-validation: a permutation of [0, n) from seed (the
 * same one mt_split_random draws) is cut into k consecutive parts, part j = positions
 * [floor(j n / k), floor((j + 1) n / k)); part i validates, the others train. Over i = 0..k-1 the
 * validation sets are disjoint and cover every row once. */
mt_status mt_split_fold(uint64_t n, int k, int i, uint64_t seed, mt_split_rows *out, mt_error *err);

/* The split the data section asks for, on the n rows of data.train: folds > 0 -> mt_split_fold(n,
 * folds, fold, seed); validation_fraction > 0 -> mt_split_ordered (split: ordered, with order = the
 * /<train>/order column or NULL) or mt_split_random (seed); otherwise mt_split_all. seed is
 * training.seed. */
mt_status mt_split_from_config(const mt_data_config *d, uint64_t seed, uint64_t n, const double *order,
                               mt_split_rows *out, mt_error *err);

void mt_split_rows_free(mt_split_rows *s);

/* Cross-checks of the data section the option table cannot express (MT_ERR_CONFIG, "origin:line:
 * data.key: ..."): validation_fraction or folds together with a validation split, validation_fraction
 * together with folds, folds == 1, fold outside [0, folds), split: ordered without validation_fraction.
 * data_node is the config's "data" map (mt_node_get(cfg->root, "data")), for line numbers. */
mt_status mt_data_config_check(const mt_data_config *d, const mt_node *data_node, mt_error *err);

#endif
