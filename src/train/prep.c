/* Feature preprocessing (see prep.h for the formulas): the scan for NaN and infinities shared by the ranks,
 * the statistics computed by rank 0 in double over the training rows read in blocks (min, max, mean,
 * population variance around the mean in a second pass, medians by quickselect over column groups), the
 * broadcast of the fitted arrays, and the vectorized apply. */
#include "train/prep.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/sampler.h"

#define BLOCK_BYTES ((size_t)4 << 20)    /* x bytes read per block */
#define MEDIAN_BYTES ((size_t)256 << 20) /* column values held at once for medians */

static const char *const scaling_names[] = {"none", "minmax", "standardize"};
static const char *const missing_names[] = {"error", "drop", "mean", "median"};

const char *mt_scaling_name(mt_scaling s)
{
    return (unsigned)s < 3 ? scaling_names[s] : "?";
}

const char *mt_missing_name(mt_missing m)
{
    return (unsigned)m < 4 ? missing_names[m] : "?";
}

int mt_scaling_from_name(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, scaling_names[i]))
            return i;
    return -1;
}

int mt_missing_from_name(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, missing_names[i]))
            return i;
    return -1;
}

void mt_prep_free(mt_prep *p)
{
    if (!p)
        return;
    free(p->shift);
    free(p->scale);
    free(p->fill);
    memset(p, 0, sizeof *p);
}

static int is_identity(const mt_prep *p)
{
    return p->scaling == MT_SCALING_NONE && (p->missing == MT_MISSING_ERROR || p->missing == MT_MISSING_DROP);
}

mt_status mt_prep_init(mt_prep *p, const mt_data_config *cfg, size_t features, mt_error *err)
{
    memset(p, 0, sizeof *p);
    int s = cfg ? mt_scaling_from_name(cfg->scaling) : MT_SCALING_NONE;
    int m = cfg ? mt_missing_from_name(cfg->missing) : MT_MISSING_ERROR;
    if (s < 0 || m < 0)
        return mt_fail(err, MT_ERR_CONFIG, "data.%s: unknown method '%s'", s < 0 ? "scaling" : "missing",
                       s < 0 ? cfg->scaling : cfg->missing);
    if (features == 0)
        return mt_fail(err, MT_ERR_INTERNAL, "preprocessing of samples with 0 features");
    p->scaling = (mt_scaling)s;
    p->missing = (mt_missing)m;
    p->features = features;
    p->shift = malloc(features * sizeof *p->shift);
    p->scale = malloc(features * sizeof *p->scale);
    p->fill = malloc(features * sizeof *p->fill);
    if (!p->shift || !p->scale || !p->fill) {
        mt_prep_free(p);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory for the preprocessing of %zu features", features);
    }
    for (size_t j = 0; j < features; j++) {
        p->shift[j] = 0.0f;
        p->scale[j] = 1.0f;
        p->fill[j] = NAN;
    }
    p->identity = 1;
    return MT_OK;
}

mt_status mt_prep_set(mt_prep *p, const char *scaling, const char *missing, size_t features, const float *shift,
                      const float *scale, const float *fill, mt_error *err)
{
    mt_data_config names;
    memset(&names, 0, sizeof names);
    snprintf(names.scaling, sizeof names.scaling, "%s", scaling ? scaling : "?");
    snprintf(names.missing, sizeof names.missing, "%s", missing ? missing : "?");
    if (mt_scaling_from_name(names.scaling) < 0 || mt_missing_from_name(names.missing) < 0)
        return mt_fail(err, MT_ERR_INPUT, "preprocessing: unknown %s method '%s'",
                       mt_scaling_from_name(names.scaling) < 0 ? "scaling" : "missing-value",
                       mt_scaling_from_name(names.scaling) < 0 ? names.scaling : names.missing);
    if (!shift || !scale || !fill)
        return mt_fail(err, MT_ERR_INPUT, "preprocessing: shift, scale and fill are all needed");
    for (size_t j = 0; j < features; j++)
        if (!isfinite(shift[j]) || !isfinite(scale[j]))
            return mt_fail(err, MT_ERR_INPUT,
                           "preprocessing: feature %zu has shift %g and scale %g (need finite "
                           "values)",
                           j, shift[j], scale[j]);
    mt_status st = mt_prep_init(p, &names, features, err);
    if (st)
        return st;
    memcpy(p->shift, shift, features * sizeof *shift);
    memcpy(p->scale, scale, features * sizeof *scale);
    memcpy(p->fill, fill, features * sizeof *fill);
    p->identity = is_identity(p);
    return MT_OK;
}

void mt_prep_apply(const mt_prep *p, float *x, size_t n)
{
    if (p->identity)
        return;
    const size_t F = p->features;
    const float *restrict shift = p->shift, *restrict scale = p->scale, *restrict fill = p->fill;
    for (size_t i = 0; i < n; i++) {
        float *restrict r = x + i * F;
        for (size_t j = 0; j < F; j++) {
            float v = r[j];
            v = v != v ? fill[j] : v;
            r[j] = (v - shift[j]) * scale[j];
        }
    }
}

/* ---- the scan for NaN and infinity ------------------------------------------------------------------ */

static size_t block_rows(size_t features)
{
    size_t r = BLOCK_BYTES / (features * sizeof(float));
    return r ? r : 1;
}

/* Index of the first value of x[0..F) that is not finite (NaN or +-Inf), or F when there is none (the
 * any-test vectorizes; |v| <= FLT_MAX is false for both NaN and infinity). */
static size_t first_nonfinite(const float *x, size_t F)
{
    int any = 0;
    for (size_t j = 0; j < F; j++)
        any |= !(fabsf(x[j]) <= FLT_MAX);
    if (!any)
        return F;
    size_t j = 0;
    while (fabsf(x[j]) <= FLT_MAX)
        j++;
    return j;
}

/* Index of the first infinity of x[from..F), or F. */
static size_t first_inf(const float *x, size_t from, size_t F)
{
    while (from < F && !isinf(x[from]))
        from++;
    return from;
}

/* What one rank's scan found. */
typedef struct scan {
    uint64_t *kept; /* rows without NaN (drop) */
    uint64_t n_kept;
    int64_t bad_pos; /* position in the list of the first row refused (error: NaN or Inf; else Inf), or -1 */
    int64_t bad_col;
    double bad_value; /* the value refused: NaN, +Inf or -Inf */
} scan;

/* What the policy makes of a row whose first non-finite value is column j < F: the column refused (a NaN
 * under error, an infinity under every policy), or F when the row passes (NaN dropped or imputed later). */
static size_t refused_column(const mt_prep *p, const float *x, size_t j, size_t F)
{
    if (p->missing == MT_MISSING_ERROR || isinf(x[j]))
        return j;
    return first_inf(x, j + 1, F);
}

/* Scans positions [first, first + count) of rows. */
static mt_status scan_part(const mt_prep *p, mt_dataset *ds, const uint64_t *rows, uint64_t first, uint64_t count,
                           scan *s, mt_error *err)
{
    const size_t F = mt_dataset_get_info(ds)->sample_size, blk = block_rows(F);
    const int keep = p->missing == MT_MISSING_DROP;
    float *buf = malloc(blk * F * sizeof *buf);
    s->kept = keep ? malloc((count ? count : 1) * sizeof *s->kept) : NULL;
    if (!buf || (keep && !s->kept)) {
        free(buf);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory for scanning %llu rows", (unsigned long long)count);
    }
    mt_status st = MT_OK;
    for (uint64_t off = 0; off < count && !st && s->bad_pos < 0; off += blk) {
        size_t n = count - off < blk ? (size_t)(count - off) : blk;
        st = mt_dataset_read_rows(ds, rows + first + off, n, buf, NULL, NULL, err);
        for (size_t i = 0; !st && i < n; i++) {
            const float *x = buf + i * F;
            size_t j = first_nonfinite(x, F), bad = j < F ? refused_column(p, x, j, F) : F;
            if (bad < F) {
                s->bad_pos = (int64_t)(first + off + i);
                s->bad_col = (int64_t)bad;
                s->bad_value = x[bad];
                break;
            }
            if (keep && j == F)
                s->kept[s->n_kept++] = rows[first + off + i];
        }
    }
    free(buf);
    return st;
}

/* "f.h5: /train/x: row 17, column 3 ('age') is missing (...)", or "... is +inf (...)". */
static mt_status refuse_value(const char *file, const char *split, uint64_t row, uint64_t col, double value,
                              mt_error *err)
{
    char name[128], shown[140] = "";
    if (mt_dataset_feature_name(file, col, name, sizeof name))
        snprintf(shown, sizeof shown, " ('%s')", name);
    if (isinf(value))
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: /%s/x: row %llu, column %llu%s is %cinf (infinite values are "
                       "refused whatever data.missing says)",
                       file, split, (unsigned long long)row, (unsigned long long)col, shown, value > 0 ? '+' : '-');
    return mt_fail(err, MT_ERR_INPUT,
                   "%s: /%s/x: row %llu, column %llu%s is missing (set data.missing to drop, "
                   "mean or median)",
                   file, split, (unsigned long long)row, (unsigned long long)col, shown);
}

/* Every rank learns the first refused row of the lowest rank that found one (the first in list order). The
 * value travels as its sign (-1, +1 for an infinity, 0 for NaN), which any MPI implementation carries. */
static mt_status agree_first_bad(const scan *s, const uint64_t *rows, const char *file, const char *split,
                                 mt_comm *comm, mt_error *err)
{
    int size = comm ? mt_comm_size(comm) : 1;
    double sign = isinf(s->bad_value) ? (s->bad_value > 0 ? 1.0 : -1.0) : 0.0;
    double mine[3] = {(double)s->bad_pos, (double)s->bad_col, sign}, *all = malloc((size_t)size * 3 * sizeof *all);
    if (!all)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    mt_status st = comm ? mt_comm_allgather_f64(comm, mine, 3, all, err) : (memcpy(all, mine, sizeof mine), MT_OK);
    for (int r = 0; !st && r < size; r++)
        if (all[3 * r] >= 0) {
            double value = all[3 * r + 2] > 0 ? INFINITY : all[3 * r + 2] < 0 ? -INFINITY : NAN;
            st = refuse_value(file, split, rows[(uint64_t)all[3 * r]], (uint64_t)all[3 * r + 1], value, err);
            break;
        }
    free(all);
    return st;
}

/* Every rank gets the kept rows of all ranks, in rank order, in rows[0..*n_rows). */
static mt_status gather_kept(const scan *s, uint64_t *rows, uint64_t *n_rows, mt_comm *comm, mt_error *err)
{
    if (!comm) {
        memcpy(rows, s->kept, s->n_kept * sizeof *rows);
        *n_rows = s->n_kept;
        return MT_OK;
    }
    int size = mt_comm_size(comm), rank = mt_comm_rank(comm);
    double mine = (double)s->n_kept, *counts = malloc((size_t)size * sizeof *counts);
    if (!counts)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    mt_status st = mt_comm_allgather_f64(comm, &mine, 1, counts, err);
    uint64_t at = 0;
    for (int r = 0; !st && r < size; r++) {
        uint64_t n = (uint64_t)counts[r];
        if (r == rank)
            memcpy(rows + at, s->kept, n * sizeof *rows);
        if (n > 0)
            st = mt_comm_bcast(comm, rows + at, n * sizeof *rows, r, err);
        at += n;
    }
    if (!st)
        *n_rows = at;
    free(counts);
    return st;
}

mt_status mt_prep_filter_rows(const mt_prep *p, mt_dataset *ds, const char *file, const char *split, uint64_t *rows,
                              uint64_t *n_rows, mt_comm *comm, mt_error *err)
{
    mt_error_clear(err);
    if (mt_dataset_get_info(ds)->x_is_uint8)
        return MT_OK;
    while (split[0] == '/')
        split++;
    uint64_t first = 0, count = *n_rows;
    if (comm)
        mt_sampler_slice(*n_rows, mt_comm_size(comm), mt_comm_rank(comm), &first, &count);
    scan s = {.bad_pos = -1, .bad_col = -1};
    mt_status st = scan_part(p, ds, rows, first, count, &s, err);
    if (comm)
        st = mt_comm_agree(comm, err);
    if (!st)
        st = agree_first_bad(&s, rows, file, split, comm, err);
    if (!st && p->missing == MT_MISSING_DROP)
        st = gather_kept(&s, rows, n_rows, comm, err);
    free(s.kept);
    return st;
}

/* ---- statistics (rank 0) ------------------------------------------------------------------------------ */

/* Per-column sums of the present (non-NaN) values. */
typedef struct stats {
    double *count, *sum, *min, *max, *ss;
} stats;

static void free_stats(stats *s)
{
    free(s->count), free(s->sum), free(s->min), free(s->max), free(s->ss);
}

/* First pass: count, sum, min, max of the present values of every column. An infinity is refused here
 * (file and split name it): under mean and median this pass is the only one over the training rows. */
static mt_status first_pass(const mt_data_config *cfg, mt_dataset *ds, const uint64_t *rows, uint64_t n_rows, size_t F,
                            float *buf, stats *s, mt_error *err)
{
    const size_t blk = block_rows(F);
    double *restrict cnt = s->count, *restrict sum = s->sum, *restrict mn = s->min, *restrict mx = s->max;
    for (size_t j = 0; j < F; j++) {
        cnt[j] = sum[j] = 0;
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
    }
    for (uint64_t off = 0; off < n_rows; off += blk) {
        size_t n = n_rows - off < blk ? (size_t)(n_rows - off) : blk;
        mt_status st = mt_dataset_read_rows(ds, rows + off, n, buf, NULL, NULL, err);
        if (st)
            return st;
        int inf = 0;
        for (size_t i = 0; i < n; i++) {
            const float *restrict x = buf + i * F;
            for (size_t j = 0; j < F; j++) {
                double v = x[j];
                int present = v == v;
                inf |= fabsf(x[j]) > FLT_MAX; /* false for NaN */
                cnt[j] += present;
                sum[j] += present ? v : 0.0;
                mn[j] = present && v < mn[j] ? v : mn[j];
                mx[j] = present && v > mx[j] ? v : mx[j];
            }
        }
        for (size_t i = 0; inf && i < n; i++) {
            size_t j = first_inf(buf + i * F, 0, F);
            if (j < F)
                return refuse_value(cfg->file, cfg->train, rows[off + i], j, buf[i * F + j], err);
        }
    }
    return MT_OK;
}

/* Second pass (standardize): ss = sum over rows of ((x is NaN ? fill : x) - mean)^2. */
static mt_status variance_pass(mt_dataset *ds, const uint64_t *rows, uint64_t n_rows, size_t F, float *buf,
                               const double *mean, const float *fill, double *ss, mt_error *err)
{
    const size_t blk = block_rows(F);
    memset(ss, 0, F * sizeof *ss);
    for (uint64_t off = 0; off < n_rows; off += blk) {
        size_t n = n_rows - off < blk ? (size_t)(n_rows - off) : blk;
        mt_status st = mt_dataset_read_rows(ds, rows + off, n, buf, NULL, NULL, err);
        if (st)
            return st;
        for (size_t i = 0; i < n; i++) {
            const float *restrict x = buf + i * F;
            for (size_t j = 0; j < F; j++) {
                float v = x[j];
                v = v != v ? fill[j] : v;
                double d = (double)v - mean[j];
                ss[j] += d * d;
            }
        }
    }
    return MT_OK;
}

/* The k-th smallest of a[0..n) (0-based; a is reordered: a[0..k) <= a[k] <= a[k+1..n)). Quickselect with
 * a median-of-three pivot and Hoare partitioning. */
static float select_kth(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi];
        float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

/* Median of a[0..n) (n > 0), the mean of the two middle values when n is even; reorders a. */
static double median_of(float *a, size_t n)
{
    size_t k = n / 2;
    double upper = select_kth(a, n, k);
    if (n % 2)
        return upper;
    float lower = a[0]; /* the largest of a[0..k), which selection left below a[k] */
    for (size_t i = 1; i < k; i++)
        lower = a[i] > lower ? a[i] : lower;
    return 0.5 * ((double)lower + upper);
}

/* Medians of the present values of every column, a group of columns per pass over the rows. */
static mt_status median_pass(mt_dataset *ds, const uint64_t *rows, uint64_t n_rows, size_t F, float *buf, float *median,
                             mt_error *err)
{
    size_t group = MEDIAN_BYTES / (n_rows * sizeof(float));
    group = group < 1 ? 1 : group > F ? F : group;
    float *vals = malloc(group * n_rows * sizeof *vals);
    size_t *cnt = malloc(group * sizeof *cnt);
    mt_status st = vals && cnt ? MT_OK
                               : mt_fail(err, MT_ERR_NOMEM, "out of memory for medians of %llu rows",
                                         (unsigned long long)n_rows);
    const size_t blk = block_rows(F);
    for (size_t c0 = 0; !st && c0 < F; c0 += group) {
        size_t g = F - c0 < group ? F - c0 : group;
        memset(cnt, 0, g * sizeof *cnt);
        for (uint64_t off = 0; !st && off < n_rows; off += blk) {
            size_t n = n_rows - off < blk ? (size_t)(n_rows - off) : blk;
            st = mt_dataset_read_rows(ds, rows + off, n, buf, NULL, NULL, err);
            for (size_t i = 0; !st && i < n; i++)
                for (size_t c = 0; c < g; c++) {
                    float v = buf[i * F + c0 + c];
                    if (v == v)
                        vals[c * n_rows + cnt[c]++] = v;
                }
        }
        for (size_t c = 0; !st && c < g; c++)
            median[c0 + c] = cnt[c] ? (float)median_of(vals + c * n_rows, cnt[c]) : NAN;
    }
    free(vals);
    free(cnt);
    return st;
}

/* sklearn's test for a constant feature (sklearn.preprocessing._data._is_constant_feature). */
static int constant_feature(double var, double mean, double n)
{
    const double eps = DBL_EPSILON;
    double upper = n * eps * var + (n * mean * eps) * (n * mean * eps);
    return var <= upper;
}

/* Rank 0: shift, scale and fill from the training rows (which hold no NaN under error and drop, and no
 * infinity under any policy once first_pass has passed). */
static mt_status compute(mt_prep *p, const mt_data_config *cfg, mt_dataset *ds, const uint64_t *rows, uint64_t n_rows,
                         mt_error *err)
{
    const size_t F = p->features;
    const double N = (double)n_rows;
    float *buf = malloc(block_rows(F) * F * sizeof *buf);
    double *mean = malloc(F * sizeof *mean);
    stats s = {malloc(F * sizeof(double)), malloc(F * sizeof(double)), malloc(F * sizeof(double)),
               malloc(F * sizeof(double)), malloc(F * sizeof(double))};
    mt_status st = buf && mean && s.count && s.sum && s.min && s.max && s.ss
                       ? first_pass(cfg, ds, rows, n_rows, F, buf, &s, err)
                       : mt_fail(err, MT_ERR_NOMEM, "out of memory for the statistics of %zu features", F);
    int impute = p->missing == MT_MISSING_MEAN || p->missing == MT_MISSING_MEDIAN;
    for (size_t j = 0; !st && impute && j < F; j++)
        if (s.count[j] == 0) {
            char name[128], shown[140] = "";
            if (mt_dataset_feature_name(cfg->file, j, name, sizeof name))
                snprintf(shown, sizeof shown, " ('%s')", name);
            st = mt_fail(err, MT_ERR_INPUT,
                         "%s: /%s/x: column %zu%s has no value in the %llu training rows, so its "
                         "%s cannot be imputed",
                         cfg->file, cfg->train, j, shown, (unsigned long long)n_rows, mt_missing_name(p->missing));
        }
    if (!st && p->missing == MT_MISSING_MEDIAN)
        st = median_pass(ds, rows, n_rows, F, buf, p->fill, err);
    for (size_t j = 0; !st && j < F; j++) {
        if (p->missing == MT_MISSING_MEAN)
            p->fill[j] = (float)(s.sum[j] / s.count[j]);
        double absent = N - s.count[j], f = p->fill[j];
        /* statistics of the imputed column */
        mean[j] = absent > 0 ? (s.sum[j] + absent * f) / N : s.sum[j] / N;
        if (absent > 0) {
            s.min[j] = f < s.min[j] ? f : s.min[j];
            s.max[j] = f > s.max[j] ? f : s.max[j];
        }
    }
    if (!st && p->scaling == MT_SCALING_STANDARDIZE)
        st = variance_pass(ds, rows, n_rows, F, buf, mean, p->fill, s.ss, err);
    for (size_t j = 0; !st && j < F; j++) {
        if (p->scaling == MT_SCALING_MINMAX) {
            double range = s.max[j] - s.min[j];
            p->shift[j] = (float)s.min[j];
            p->scale[j] = range > 0 ? (float)(1.0 / range) : 1.0f;
        } else if (p->scaling == MT_SCALING_STANDARDIZE) {
            double var = s.ss[j] / N;
            p->shift[j] = (float)mean[j];
            p->scale[j] = constant_feature(var, mean[j], N) ? 1.0f : (float)(1.0 / sqrt(var));
        }
        if (!isfinite(p->scale[j]))
            st = mt_fail(err, MT_ERR_NUMERIC,
                         "%s: /%s/x: column %zu: scale %g is not finite (its values span too "
                         "small a range for float32)",
                         cfg->file, cfg->train, j, p->scale[j]);
    }
    free(buf);
    free(mean);
    free_stats(&s);
    return st;
}

mt_status mt_prep_fit(mt_prep *p, const mt_data_config *cfg, mt_dataset *train, uint64_t *rows, uint64_t *n_rows,
                      mt_comm *comm, mt_error *err)
{
    mt_error_clear(err);
    size_t F = (size_t)mt_dataset_get_info(train)->sample_size;
    mt_status st = mt_prep_init(p, cfg, F, err);
    if (comm && mt_comm_agree(comm, err))
        return err->code; /* the same config everywhere, so every rank failed alike */
    if (st)
        return st;
    uint64_t before = *n_rows;
    /* error, drop: the scan shared by the ranks refuses NaN (error) and infinities; mean, median: rank 0's
     * first statistics pass refuses infinities, so that the rows are read once */
    if (p->missing == MT_MISSING_ERROR || p->missing == MT_MISSING_DROP)
        st = mt_prep_filter_rows(p, train, cfg->file, cfg->train, rows, n_rows, comm, err);
    if (!st && *n_rows == 0)
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s: /%s/x: every one of the %llu training rows has a missing value "
                     "(data.missing: drop)",
                     cfg->file, cfg->train, (unsigned long long)before);
    if (!st && !is_identity(p)) {
        if (!comm || mt_comm_rank(comm) == 0)
            st = compute(p, cfg, train, rows, *n_rows, err);
        if (comm && !(st = mt_comm_agree(comm, err))) {
            st = mt_comm_bcast(comm, p->shift, F * sizeof *p->shift, 0, err);
            if (!st)
                st = mt_comm_bcast(comm, p->scale, F * sizeof *p->scale, 0, err);
            if (!st)
                st = mt_comm_bcast(comm, p->fill, F * sizeof *p->fill, 0, err);
        }
    }
    if (st)
        mt_prep_free(p);
    else
        p->identity = is_identity(p);
    return st;
}
