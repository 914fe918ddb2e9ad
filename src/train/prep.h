/* Feature preprocessing fitted on the training rows only: scaling (data.scaling: none, minmax,
 * standardize) and missing values (data.missing: error, drop, mean, median). The fitted transform is
 * three arrays per feature, applied to every sample the model sees (training, validation, eval, predict):
 *
 *     x' = ((x is NaN ? fill : x) - shift) * scale
 *
 *   minmax:      shift = min, scale = 1 / (max - min)   -> [0, 1] (sklearn MinMaxScaler); 1 when max == min
 *   standardize: shift = mean, scale = 1 / std, std the POPULATION standard deviation (divide by N, as
 *                sklearn's StandardScaler; torch.std would divide by N - 1); scale 1 for a constant column
 *                (sklearn's rule: var <= N eps var + (N eps mean)^2, eps of double)
 *   none:        shift = 0, scale = 1
 *   fill:        mean: the mean of the column's present training values; median: their median (the mean
 *                of the two middle values for an even count, as numpy); error and drop: NaN (rows with a
 *                NaN never reach the model). Imputation comes first: the scaling statistics are those of
 *                the imputed column (sklearn's Pipeline(SimpleImputer, Scaler)).
 * Statistics are computed in double by rank 0 alone over the training rows (read in blocks) and
 * broadcast, so they are bit-identical whatever the number of ranks; the NaN scan behind error and drop
 * is shared by the ranks. An infinite feature (+-Inf) is never a missing value: every policy refuses it
 * (MT_ERR_INPUT naming file, split, row and column), in the scan that is already made over those rows
 * (the shared scan under error and drop, rank 0's statistics pass over the training rows under mean and
 * median; other splits under mean and median get the shared scan for it). Nothing is hidden: the arrays
 * and the two method names are the whole state, and the checkpoint stores them (/preprocessing). */
#ifndef MT_TRAIN_PREP_H
#define MT_TRAIN_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "comm/comm.h"
#include "io/dataset.h"

typedef enum mt_scaling { MT_SCALING_NONE, MT_SCALING_MINMAX, MT_SCALING_STANDARDIZE } mt_scaling;
typedef enum mt_missing { MT_MISSING_ERROR, MT_MISSING_DROP, MT_MISSING_MEAN, MT_MISSING_MEDIAN } mt_missing;

typedef struct mt_prep {
    mt_scaling scaling;
    mt_missing missing;
    size_t features; /* values per sample (model input size); 0 before init */
    float *shift;    /* [features] */
    float *scale;    /* [features] */
    float *fill;     /* [features] raw value a NaN takes (NaN under error and drop) */
    int identity;    /* apply changes nothing (shift 0, scale 1, fill unused): callers may skip it */
} mt_prep;

/* Config names ("none", "minmax", "standardize"; "error", "drop", "mean", "median") and back (-1 when
 * unknown). */
const char *mt_scaling_name(mt_scaling s);
const char *mt_missing_name(mt_missing m);
int mt_scaling_from_name(const char *name);
int mt_missing_from_name(const char *name);

/* The identity transform for samples of `features` values, with the methods of cfg (cfg may be NULL:
 * none / error). Allocates the arrays; mt_prep_free releases them. */
mt_status mt_prep_init(mt_prep *p, const mt_data_config *cfg, size_t features, mt_error *err);

/* Collective. Fits p on rows[0..*n_rows) of the training split `train` (cfg->file, cfg->train name it in
 * messages): first the missing-value policy on those rows (error and drop as mt_prep_filter_rows: error
 * fails naming the first row and column with a NaN or an infinity, drop fails at the first infinity or
 * removes the rows with a NaN from `rows` in place, keeping their order, and lowers *n_rows), then rank 0
 * computes shift / scale / fill from the remaining rows and broadcasts them (under mean and median that
 * pass fails at the first infinity, "f.h5: /train/x: row 6, column 0 is +inf (...)", with the rank named).
 * Every rank passes the same rows and gets the same p and rows. mean / median need at least one present
 * value per column (MT_ERR_INPUT naming the column otherwise); drop removing every row is MT_ERR_INPUT.
 * comm NULL: this process alone. p is initialized here (no mt_prep_init needed before); free with
 * mt_prep_free. Reads through train's scratch (mt_dataset_read_rows). */
mt_status mt_prep_fit(mt_prep *p, const mt_data_config *cfg, mt_dataset *train, uint64_t *rows, uint64_t *n_rows,
                      mt_comm *comm, mt_error *err);

/* Collective. Applies p's missing-value policy to rows[0..*n_rows) of another split (validation, test,
 * eval), and refuses infinite features whatever the policy: MT_ERR_INPUT at the first row (in list order)
 * refused, "f.h5: /test/x: row 17, column 3 ('age') is missing (set data.missing to drop, mean or median)"
 * (error, at a NaN) or "f.h5: /test/x: row 17, column 3 ('age') is -inf (...)" (every policy, at an
 * infinity; under error the first non-finite value of the row decides). drop also removes the rows with a
 * NaN (order kept, *n_rows lowered; may reach 0); mean / median keep every row. uint8 x cannot hold NaN or
 * infinities and is not read. The ranks share the scan (contiguous parts of the list) and exchange the
 * result, so every rank ends with the same list. comm NULL: this process alone. */
mt_status mt_prep_filter_rows(const mt_prep *p, mt_dataset *ds, const char *file, const char *split, uint64_t *rows,
                              uint64_t *n_rows, mt_comm *comm, mt_error *err);

/* In place on n samples of p->features values: x = ((x is NaN ? fill : x) - shift) * scale. Does nothing
 * when p->identity. No allocation; vectorized. */
void mt_prep_apply(const mt_prep *p, float *x, size_t n);

/* Rebuilds a fitted transform from what a checkpoint stores: the method names, features and the three
 * arrays (copied). Unknown names, NULL arrays or non-finite shift / scale are MT_ERR_INPUT. */
mt_status mt_prep_set(mt_prep *p, const char *scaling, const char *missing, size_t features, const float *shift,
                      const float *scale, const float *fill, mt_error *err);

void mt_prep_free(mt_prep *p);

#endif
