/* CSV import: numeric CSV with a header line (plain or gzip, read through zlib) into the dataset layout:
 * /<split>/x float32 [N, F], /<split>/y int32 [N] (classes) or float32 [N, k] (targets), optional
 * /<split>/w float32 [N] and /<split>/order float64 [N], file attributes features, labels, task, classes,
 * source, format, format_version. Two streaming passes over each input: the first checks every cell and
 * counts rows and distinct labels (so the task and the class numbering are known before writing), the
 * second parses again and writes blocks of rows. The output is written to "<out>.tmp.<pid>" and renamed.
 * An optional seeded test fraction is chosen on the fly with selection sampling (Knuth's Algorithm S:
 * row i goes to the test split with probability needed / remaining), so exactly round(f * N) rows move and
 * nothing per row is stored. */
#define _POSIX_C_SOURCE 200809L

#include "io/dataset.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/h5_write.h"

#define BLOCK_BYTES ((size_t)4 << 20) /* x bytes per written block */
#define MAX_CLASSES 65536             /* distinct labels a classification may have */
#define MAX_INT_LABEL 2147483647.0    /* labels are integers of at most this magnitude */
#define SHOW 40                       /* characters of a bad cell shown in messages */

enum role { FEATURE, LABEL, WEIGHT, ORDER, IGNORE };

/* One CSV input being read. */
typedef struct csv_file {
    const char *path;
    gzFile gz;
    char *line; /* current line without its line end */
    size_t cap;
    uint64_t lineno; /* 1-based line number of `line` */
    char **field;    /* fields of the current line (pointing into line) */
    size_t n_field, cap_field;
    uint64_t rows; /* data rows counted by the first pass */
} csv_file;

/* The columns of the header and what each is for. */
typedef struct columns {
    char **name; /* [n] names as in the header ("Unnamed: j" for an empty one) */
    size_t n;
    enum role *role;  /* [n] */
    int *label_index; /* [n] position among the label columns, for LABEL */
    size_t n_features, n_labels;
    const char **feature_names, **label_names; /* views into name */
} columns;

/* Distinct integer labels seen so far, sorted. */
typedef struct label_set {
    double *v;
    size_t n, cap;
    int integral; /* every label so far is an integer of magnitude <= MAX_INT_LABEL */
    int overflow; /* more than MAX_CLASSES distinct values */
} label_set;

/* One split of the output. */
typedef struct out_split {
    const char *name;
    uint64_t rows, written, buffered, cap;
    hid_t g, x, y, w, order;
    float *bx, *by_target, *bw;
    int32_t *by_class;
    double *border;
} out_split;

/* ---- reading lines and fields -------------------------------------------------------------------------- */

static mt_status open_csv(csv_file *f, const char *path, mt_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return mt_fail(err, MT_ERR_INPUT, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f->gz, 1 << 18);
    return MT_OK;
}

static void close_csv(csv_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    free(f->line);
    free(f->field);
    f->gz = NULL;
    f->line = NULL;
    f->field = NULL;
}

/* Reads the next line into f->line without "\n" or "\r\n". Returns 1, 0 at the end, -1 on error. */
static int read_line(csv_file *f, mt_error *err)
{
    size_t len = 0;
    for (;;) {
        if (f->cap - len < 2) {
            size_t cap = f->cap ? 2 * f->cap : 4096;
            char *p = realloc(f->line, cap);
            if (!p) {
                mt_fail(err, MT_ERR_NOMEM, "%s:%llu: out of memory for a line of %zu bytes", f->path,
                        (unsigned long long)f->lineno + 1, len);
                return -1;
            }
            f->line = p;
            f->cap = cap;
        }
        if (!gzgets(f->gz, f->line + len, (int)(f->cap - len > (1u << 30) ? (1u << 30) : f->cap - len))) {
            int code;
            const char *msg = gzerror(f->gz, &code);
            if (code == Z_BUF_ERROR) {
                mt_fail(err, MT_ERR_INPUT, "%s: truncated: the gzip stream ends before its trailer", f->path);
                return -1;
            }
            if (code != Z_OK) {
                mt_fail(err, MT_ERR_INPUT, "%s: read error: %s", f->path, code == Z_ERRNO ? strerror(errno) : msg);
                return -1;
            }
            if (len == 0)
                return 0;
            break;
        }
        len += strlen(f->line + len);
        if (len > 0 && f->line[len - 1] == '\n')
            break;
    }
    f->lineno++;
    if (len > 0 && f->line[len - 1] == '\n')
        f->line[--len] = '\0';
    if (len > 0 && f->line[len - 1] == '\r')
        f->line[--len] = '\0';
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static mt_status add_field(csv_file *f, char *start, mt_error *err)
{
    if (f->n_field == f->cap_field) {
        size_t cap = f->cap_field ? 2 * f->cap_field : 64;
        char **p = realloc(f->field, cap * sizeof *p);
        if (!p)
            return mt_fail(err, MT_ERR_NOMEM, "%s:%llu: out of memory for %zu fields", f->path,
                           (unsigned long long)f->lineno, cap);
        f->field = p;
        f->cap_field = cap;
    }
    f->field[f->n_field++] = start;
    return MT_OK;
}

/* Cuts f->line into fields in place: ',' separates; spaces around a field are dropped; a field in double
 * quotes may hold commas and "" for a quote, but must end on the same line. */
static mt_status split_fields(csv_file *f, mt_error *err)
{
    char *p = f->line;
    f->n_field = 0;
    for (;;) {
        while (is_blank(*p))
            p++;
        char *start = p, *end, *next; /* the field is [start, end); next is the ',' or '\0' after it */
        if (*p == '"') {
            char *q = p + 1;
            start = end = q;
            for (; *q; q++) {
                if (*q == '"' && q[1] != '"')
                    break;
                if (*q == '"')
                    q++; /* "" stands for one quote */
                *end++ = *q;
            }
            if (!*q)
                return mt_fail(err, MT_ERR_INPUT,
                               "%s:%llu: field %zu: quote not closed on this line (fields "
                               "spanning lines are not supported)",
                               f->path, (unsigned long long)f->lineno, f->n_field + 1);
            for (next = q + 1; is_blank(*next); next++)
                ;
            if (*next && *next != ',')
                return mt_fail(err, MT_ERR_INPUT, "%s:%llu: field %zu: text after the closing quote", f->path,
                               (unsigned long long)f->lineno, f->n_field + 1);
        } else {
            next = p + strcspn(p, ",");
            for (end = next; end > start && is_blank(end[-1]); end--)
                ;
        }
        char sep = *next;
        *end = '\0'; /* end <= next: a ',' it overwrites was read into sep */
        mt_status st = add_field(f, start, err);
        if (st)
            return st;
        if (sep != ',')
            return MT_OK;
        p = next + 1;
    }
}

static int blank_line(const char *s)
{
    while (is_blank(*s))
        s++;
    return *s == '\0';
}

/* Reads the next non-blank line and splits it. Returns 1, 0 at the end, -1 on error. */
static int next_record(csv_file *f, mt_error *err)
{
    int got;
    while ((got = read_line(f, err)) == 1 && blank_line(f->line))
        ;
    if (got == 1 && split_fields(f, err))
        return -1;
    return got;
}

/* ---- cells -------------------------------------------------------------------------------------------- */

typedef enum cell { CELL_NUMBER, CELL_MISSING, CELL_BAD, CELL_INFINITE } cell;

/* Parses one cell: empty, NaN (any case) and NA are missing; otherwise the whole text must be a number. */
static cell parse_cell(const char *s, double *v)
{
    *v = NAN;
    if (!*s || !strcasecmp(s, "nan") || !strcmp(s, "NA"))
        return CELL_MISSING;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end)
        return CELL_BAD;
    *v = d;
    if (isnan(d))
        return CELL_MISSING;
    return isinf(d) ? CELL_INFINITE : CELL_NUMBER;
}

/* Copies a cell for a message, cut to SHOW characters. */
static const char *show(const char *s, char *buf)
{
    snprintf(buf, SHOW + 4, "%.*s%s", SHOW, s, strlen(s) > SHOW ? "..." : "");
    return buf;
}

/* ---- header and columns ------------------------------------------------------------------------------- */

static void free_columns(columns *c)
{
    for (size_t j = 0; c->name && j < c->n; j++)
        free(c->name[j]);
    free(c->name);
    free(c->role);
    free(c->label_index);
    free(c->feature_names);
    free(c->label_names);
    memset(c, 0, sizeof *c);
}

static int find_column(const columns *c, const char *name)
{
    for (size_t j = 0; j < c->n; j++)
        if (!strcmp(c->name[j], name))
            return (int)j;
    return -1;
}

/* Lists the header's columns into buf for "no column X" messages. */
static const char *column_list(const columns *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < c->n && used + 8 < size; j++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", j ? ", " : "", c->name[j]);
    if (used >= size - 8)
        snprintf(buf + size - 5, 5, "...");
    return buf;
}

/* Gives the columns named in a comma-separated list (or one name) the role r. */
static mt_status assign(columns *c, const csv_file *f, const char *list, enum role r, const char *option, mt_error *err)
{
    char *copy = strdup(list), *save = NULL, names[1000];
    if (!copy)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    mt_status st = MT_OK;
    int any = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (is_blank(*tok))
            tok++;
        for (size_t len = strlen(tok); len > 0 && is_blank(tok[len - 1]); len--)
            tok[len - 1] = '\0';
        int j = find_column(c, tok);
        if (j < 0)
            st = mt_fail(err, MT_ERR_INPUT, "%s: %s: no column '%s' in the header (columns: %s)", f->path, option, tok,
                         column_list(c, names, sizeof names));
        else if (c->role[j] != FEATURE)
            st = mt_fail(err, MT_ERR_INPUT, "%s: %s: column '%s' is already used as %s", f->path, option, tok,
                         c->role[j] == LABEL    ? "a label"
                         : c->role[j] == WEIGHT ? "the weights"
                         : c->role[j] == ORDER  ? "the order"
                                                : "an ignored column");
        else {
            c->role[j] = r;
            if (r == LABEL)
                c->label_index[j] = (int)c->n_labels++;
            any = 1;
        }
    }
    free(copy);
    if (!st && !any)
        st = mt_fail(err, MT_ERR_INPUT, "%s: %s: no column named", f->path, option);
    return st;
}

/* Reads the header line of f (a UTF-8 byte-order mark dropped) and splits it into fields. */
static mt_status read_header_fields(csv_file *f, mt_error *err)
{
    int got = read_line(f, err);
    if (got < 0)
        return err->code;
    if (got == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: empty file (a header line is needed)", f->path);
    if (!strncmp(f->line, "\xEF\xBB\xBF", 3))
        memmove(f->line, f->line + 3, strlen(f->line + 3) + 1);
    if (split_fields(f, err))
        return err->code;
    return MT_OK;
}

/* Reads the header of f into c (names, roles) and checks the roles. */
static mt_status read_header(csv_file *f, const mt_csv_import *opt, columns *c, mt_error *err)
{
    if (read_header_fields(f, err))
        return err->code;
    c->n = f->n_field;
    c->name = calloc(c->n, sizeof *c->name);
    c->role = calloc(c->n, sizeof *c->role);
    c->label_index = calloc(c->n, sizeof *c->label_index);
    if (!c->name || !c->role || !c->label_index)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for %zu columns", f->path, c->n);
    for (size_t j = 0; j < c->n; j++) {
        char unnamed[32];
        snprintf(unnamed, sizeof unnamed, "Unnamed: %zu", j); /* what pandas calls an empty header cell */
        if (!(c->name[j] = strdup(f->field[j][0] ? f->field[j] : unnamed)))
            return mt_fail(err, MT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < j; i++)
            if (!strcmp(c->name[i], c->name[j]))
                return mt_fail(err, MT_ERR_INPUT,
                               "%s:%llu: column '%s' appears twice in the header (columns %zu "
                               "and %zu)",
                               f->path, (unsigned long long)f->lineno, c->name[j], i + 1, j + 1);
    }
    mt_status st = assign(c, f, opt->label, LABEL, "--label", err);
    if (!st && opt->weights)
        st = assign(c, f, opt->weights, WEIGHT, "--weights", err);
    if (!st && opt->order)
        st = assign(c, f, opt->order, ORDER, "--order", err);
    if (!st && opt->ignore)
        st = assign(c, f, opt->ignore, IGNORE, "--ignore", err);
    if (st)
        return st;
    size_t n_weight = 0, n_order = 0;
    for (size_t j = 0; j < c->n; j++) {
        c->n_features += c->role[j] == FEATURE;
        n_weight += c->role[j] == WEIGHT;
        n_order += c->role[j] == ORDER;
    }
    if (n_weight > 1 || n_order > 1)
        return mt_fail(err, MT_ERR_INPUT, "%s: %s takes one column", f->path, n_weight > 1 ? "--weights" : "--order");
    if (c->n_features == 0)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: no feature columns left (all %zu columns are labels, weights, "
                       "order or ignored)",
                       f->path, c->n);
    if (c->n_labels > 1 && opt->task == MT_CSV_CLASSIFICATION)
        return mt_fail(err, MT_ERR_INPUT, "%s: --label: classification takes one label column, got %zu", f->path,
                       c->n_labels);
    c->feature_names = malloc(c->n_features * sizeof *c->feature_names);
    c->label_names = malloc(c->n_labels * sizeof *c->label_names);
    if (!c->feature_names || !c->label_names)
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    for (size_t j = 0, nf = 0; j < c->n; j++) {
        if (c->role[j] == FEATURE)
            c->feature_names[nf++] = c->name[j];
        if (c->role[j] == LABEL)
            c->label_names[c->label_index[j]] = c->name[j];
    }
    return MT_OK;
}

/* The test input must have the same columns in the same order. */
static mt_status same_header(csv_file *f, const columns *c, mt_error *err)
{
    if (read_header_fields(f, err))
        return err->code;
    int same = f->n_field == c->n;
    for (size_t j = 0; same && j < c->n; j++) {
        char unnamed[32];
        snprintf(unnamed, sizeof unnamed, "Unnamed: %zu", j);
        same = !strcmp(f->field[j][0] ? f->field[j] : unnamed, c->name[j]);
    }
    if (!same)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s:1: the header differs from the first input's (the same columns in "
                       "the same order are needed)",
                       f->path);
    return MT_OK;
}

/* ---- the first pass: checking --------------------------------------------------------------------------- */

/* Adds an integer label to the sorted set. */
static mt_status add_label(label_set *s, double v, mt_error *err)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->v[lo] == v)
        return MT_OK;
    if (s->n == MAX_CLASSES) {
        s->overflow = 1;
        return MT_OK;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *p = realloc(s->v, cap * sizeof *p);
        if (!p)
            return mt_fail(err, MT_ERR_NOMEM, "out of memory for %zu labels", cap);
        s->v = p;
        s->cap = cap;
    }
    memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof *s->v);
    s->v[lo] = v;
    s->n++;
    return MT_OK;
}

/* Position of label v in the sorted set (v is in it). */
static int32_t label_position(const label_set *s, double v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int32_t)lo;
}

/* Checks one cell of column j on the current line; *v gets its value (NaN when missing). */
static mt_status check_cell(const csv_file *f, const columns *c, size_t j, const mt_csv_import *opt, double *v,
                            uint64_t *missing, mt_error *err)
{
    const char *text = f->field[j], *name = c->name[j];
    char shown[SHOW + 4];
    unsigned long long line = (unsigned long long)f->lineno;
    cell k = parse_cell(text, v);
    enum role r = c->role[j];
    if (k == CELL_BAD)
        return mt_fail(err, MT_ERR_INPUT, "%s:%llu: column '%s': '%s' is not a number", f->path, line, name,
                       show(text, shown));
    if (k == CELL_INFINITE)
        return mt_fail(err, MT_ERR_INPUT, "%s:%llu: column '%s': '%s' is not finite", f->path, line, name,
                       show(text, shown));
    if (k == CELL_MISSING && r == FEATURE) {
        ++*missing;
        return MT_OK;
    }
    if (k == CELL_MISSING)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s:%llu: column '%s' (%s) is missing; only feature cells may be empty "
                       "or NaN",
                       f->path, line, name,
                       r == LABEL    ? "the label"
                       : r == WEIGHT ? "the weights"
                                     : "the order");
    if ((r == FEATURE || r == WEIGHT || (r == LABEL && opt->task != MT_CSV_CLASSIFICATION)) && fabs(*v) > FLT_MAX)
        return mt_fail(err, MT_ERR_INPUT, "%s:%llu: column '%s': %s is outside the float32 range", f->path, line, name,
                       show(text, shown));
    if (r == WEIGHT && *v < 0)
        return mt_fail(err, MT_ERR_INPUT, "%s:%llu: column '%s' (the weights): %s is negative", f->path, line, name,
                       show(text, shown));
    return MT_OK;
}

/* Notes a label for the choice of task and the class numbering. */
static mt_status check_label(const csv_file *f, const columns *c, size_t j, const mt_csv_import *opt, double v,
                             label_set *labels, mt_error *err)
{
    if (!labels->integral || c->n_labels > 1 || opt->task == MT_CSV_REGRESSION)
        return MT_OK;
    if (v != floor(v) || fabs(v) > MAX_INT_LABEL) {
        char shown[SHOW + 4];
        if (opt->task == MT_CSV_CLASSIFICATION)
            return mt_fail(err, MT_ERR_INPUT,
                           "%s:%llu: column '%s' (the label): '%s' is not an integer class "
                           "(use --task regression for real-valued targets)",
                           f->path, (unsigned long long)f->lineno, c->name[j], show(f->field[j], shown));
        labels->integral = 0;
        return MT_OK;
    }
    mt_status st = add_label(labels, v == 0 ? 0.0 : v, err); /* -0 and 0 are one class */
    if (!st && labels->overflow && opt->task == MT_CSV_CLASSIFICATION)
        st = mt_fail(err, MT_ERR_INPUT,
                     "%s:%llu: column '%s' (the label) has more than %d distinct values; use "
                     "--task regression",
                     f->path, (unsigned long long)f->lineno, c->name[j], MAX_CLASSES);
    return st;
}

/* First pass over one input: every cell checked, rows counted, labels collected. */
static mt_status check_pass(csv_file *f, const columns *c, const mt_csv_import *opt, label_set *labels,
                            uint64_t *missing, mt_error *err)
{
    int got;
    while ((got = next_record(f, err)) == 1) {
        if (f->n_field != c->n)
            return mt_fail(err, MT_ERR_INPUT, "%s:%llu: %zu fields, but the header has %zu columns", f->path,
                           (unsigned long long)f->lineno, f->n_field, c->n);
        for (size_t j = 0; j < c->n; j++) {
            double v = 0;
            if (c->role[j] == IGNORE)
                continue;
            mt_status st = check_cell(f, c, j, opt, &v, missing, err);
            if (!st && c->role[j] == LABEL)
                st = check_label(f, c, j, opt, v, labels, err);
            if (st)
                return st;
        }
        f->rows++;
    }
    if (got < 0)
        return err->code;
    if (f->rows == 0)
        return mt_fail(err, MT_ERR_INPUT, "%s: no data rows after the header", f->path);
    return MT_OK;
}

/* ---- writing -------------------------------------------------------------------------------------------- */

static void free_split(out_split *s)
{
    free(s->bx), free(s->by_target), free(s->bw), free(s->by_class), free(s->border);
    hid_t ids[5] = {s->x, s->y, s->w, s->order, s->g};
    for (int i = 0; i < 5; i++)
        if (ids[i] > 0)
            i < 4 ? H5Dclose(ids[i]) : H5Gclose(ids[i]);
    s->bx = s->by_target = s->bw = NULL;
    s->by_class = NULL;
    s->border = NULL;
    s->x = s->y = s->w = s->order = s->g = -1;
}

/* Creates the split's group and datasets and its block buffers. */
static mt_status create_split(mt_h5w *w, out_split *s, const columns *c, int classes, int has_w, int has_order,
                              mt_error *err)
{
    char what[300];
    uint64_t F = c->n_features, k = c->n_labels, dims[2] = {s->rows, F}, ydims[2] = {s->rows, k};
    snprintf(what, sizeof what, "/%s", s->name);
    s->cap = BLOCK_BYTES / (F * sizeof(float)) ? BLOCK_BYTES / (F * sizeof(float)) : 1;
    if (s->cap > s->rows)
        s->cap = s->rows;
    s->bx = malloc(s->cap * F * sizeof *s->bx);
    s->by_class = classes ? malloc(s->cap * sizeof *s->by_class) : NULL;
    s->by_target = classes ? NULL : malloc(s->cap * k * sizeof *s->by_target);
    s->bw = has_w ? malloc(s->cap * sizeof *s->bw) : NULL;
    s->border = has_order ? malloc(s->cap * sizeof *s->border) : NULL;
    if (!s->bx || (classes ? !s->by_class : !s->by_target) || (has_w && !s->bw) || (has_order && !s->border))
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory for blocks of %llu rows", w->out,
                       (unsigned long long)s->cap);
    if ((s->g = H5Gcreate2(w->file, s->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return mt_h5w_error(w, what, err);
    s->x = mt_h5w_dataset(s->g, "x", H5T_IEEE_F32LE, 2, dims);
    s->y = classes ? mt_h5w_dataset(s->g, "y", H5T_STD_I32LE, 1, dims)
                   : mt_h5w_dataset(s->g, "y", H5T_IEEE_F32LE, 2, ydims);
    s->w = has_w ? mt_h5w_dataset(s->g, "w", H5T_IEEE_F32LE, 1, dims) : 0;
    s->order = has_order ? mt_h5w_dataset(s->g, "order", H5T_IEEE_F64LE, 1, dims) : 0;
    if (s->x < 0 || s->y < 0 || s->w < 0 || s->order < 0)
        return mt_h5w_error(w, what, err);
    return MT_OK;
}

/* Writes the buffered rows of the split. */
static mt_status flush_split(mt_h5w *w, out_split *s, const columns *c, mt_error *err)
{
    uint64_t first = s->written, n = s->buffered;
    char what[300];
    snprintf(what, sizeof what, "/%s", s->name);
    if (mt_h5w_rows(s->x, H5T_NATIVE_FLOAT, first, n, c->n_features, s->bx) < 0 ||
        (s->by_class && mt_h5w_rows(s->y, H5T_NATIVE_INT32, first, n, 1, s->by_class) < 0) ||
        (s->by_target && mt_h5w_rows(s->y, H5T_NATIVE_FLOAT, first, n, c->n_labels, s->by_target) < 0) ||
        (s->bw && mt_h5w_rows(s->w, H5T_NATIVE_FLOAT, first, n, 1, s->bw) < 0) ||
        (s->border && mt_h5w_rows(s->order, H5T_NATIVE_DOUBLE, first, n, 1, s->border) < 0))
        return mt_h5w_error(w, what, err);
    s->written += n;
    s->buffered = 0;
    return MT_OK;
}

/* Stores the current line's values as the next row of s (cells were checked by the first pass). */
static void put_row(const csv_file *f, const columns *c, const label_set *labels, int renumber, out_split *s)
{
    uint64_t i = s->buffered++;
    float *x = s->bx + i * c->n_features;
    for (size_t j = 0; j < c->n; j++) {
        double v = 0;
        parse_cell(f->field[j], &v);
        switch (c->role[j]) {
        case FEATURE:
            *x++ = (float)v;
            break;
        case LABEL:
            if (s->by_class)
                s->by_class[i] = renumber ? label_position(labels, v == 0 ? 0.0 : v) : (int32_t)v;
            else
                s->by_target[i * c->n_labels + (size_t)c->label_index[j]] = (float)v;
            break;
        case WEIGHT:
            s->bw[i] = (float)v;
            break;
        case ORDER:
            s->border[i] = v;
            break;
        case IGNORE:
            break;
        }
    }
}

/* Second pass over one input: rows go to out[0], or to out[1] when chosen for the test fraction (n_test
 * of the file's rows, by selection sampling) or when the whole file is the test input. */
static mt_status write_pass(mt_h5w *w, csv_file *f, const columns *c, const label_set *labels, int renumber,
                            out_split *main_split, out_split *test, uint64_t n_test, uint64_t seed, mt_error *err)
{
    gzrewind(f->gz);
    f->lineno = 0;
    int got = read_line(f, err); /* the header, already checked */
    mt_rng rng = mt_rng_make(mt_key(mt_key(seed, 0x7e57c5f), f->rows));
    uint64_t row = 0, needed = n_test;
    while (got == 1 && (got = next_record(f, err)) == 1) {
        if (f->n_field != c->n || row == f->rows)
            return mt_fail(err, MT_ERR_INPUT, "%s:%llu: the file changed while it was imported", f->path,
                           (unsigned long long)f->lineno);
        out_split *s = main_split;
        if (needed > 0) {
            double u = (double)(mt_rng_u64(&rng) >> 11) * (1.0 / 9007199254740992.0);
            if (u * (double)(f->rows - row) < (double)needed) {
                s = test;
                needed--;
            }
        }
        put_row(f, c, labels, renumber, s);
        if (s->buffered == s->cap) {
            mt_status st = flush_split(w, s, c, err);
            if (st)
                return st;
        }
        row++;
    }
    if (got < 0)
        return err->code;
    if (row != f->rows)
        return mt_fail(err, MT_ERR_INPUT, "%s: the file changed while it was imported", f->path);
    return MT_OK;
}

/* ---- attributes and the whole import ----------------------------------------------------------------- */

static mt_status write_attributes(mt_h5w *w, const columns *c, const label_set *labels, int classes, const char *source,
                                  mt_error *err)
{
    const char *task = classes ? "classification" : "regression";
    char(*text)[24] = classes ? malloc(labels->n * sizeof *text) : NULL;
    const char **names = classes ? malloc(labels->n * sizeof *names) : NULL;
    if (classes && (!text || !names)) {
        free(text);
        free(names);
        return mt_fail(err, MT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; classes && i < labels->n; i++) {
        snprintf(text[i], sizeof text[i], "%lld", (long long)labels->v[i]);
        names[i] = text[i];
    }
    mt_status st = mt_h5w_dataset_attributes(w, names, classes ? (int)labels->n : 0, source, err);
    if (!st && (mt_h5w_strings(w->file, "features", c->feature_names, (int)c->n_features) < 0 ||
                mt_h5w_strings(w->file, "labels", c->label_names, (int)c->n_labels) < 0 ||
                mt_h5w_strings(w->file, "task", &task, -1) < 0))
        st = mt_h5w_error(w, "attributes", err);
    free(text);
    free(names);
    return st;
}

/* State of one import. */
typedef struct import {
    const mt_csv_import *opt;
    csv_file in[2];
    int n_in;
    columns cols;
    label_set labels;
    out_split out[2];
    int n_out;
    uint64_t n_test; /* rows of in[0] moved to the test split */
    uint64_t missing;
    int classes, renumber;
    mt_h5w h5;
} import;

static mt_status choose_task(import *im, mt_error *err)
{
    const mt_csv_import *opt = im->opt;
    label_set *L = &im->labels;
    im->classes = opt->task == MT_CSV_CLASSIFICATION ||
                  (opt->task == MT_CSV_AUTO && im->cols.n_labels == 1 && L->integral && !L->overflow);
    if (!im->classes)
        return MT_OK;
    if (L->n < 2)
        return mt_fail(err, MT_ERR_INPUT,
                       "%s: column '%s' (the label) has only one class (%.0f); classification "
                       "needs at least 2 (use --task regression for a constant target)",
                       im->in[0].path, im->cols.label_names[0], L->n ? L->v[0] : 0.0);
    im->renumber = L->v[0] != 0 || L->v[L->n - 1] != (double)(L->n - 1);
    return MT_OK;
}

/* Row counts of the splits: input rows (less the test fraction) and test rows. */
static mt_status plan_splits(import *im, mt_error *err)
{
    const mt_csv_import *opt = im->opt;
    uint64_t n = im->in[0].rows;
    im->out[0] = (out_split){.name = opt->split ? opt->split : "train", .rows = n};
    im->n_out = 1;
    if (opt->test_fraction > 0) {
        if (n < 2)
            return mt_fail(err, MT_ERR_INPUT, "%s: %llu row(s) cannot be split by --test-fraction", im->in[0].path,
                           (unsigned long long)n);
        double t = floor(opt->test_fraction * (double)n + 0.5);
        im->n_test = t < 1 ? 1 : t > (double)(n - 1) ? n - 1 : (uint64_t)t;
        im->out[0].rows = n - im->n_test;
    }
    if (opt->test_fraction > 0 || im->n_in == 2) {
        im->out[1] = (out_split){.name = opt->test_split ? opt->test_split : "test",
                                 .rows = im->n_in == 2 ? im->in[1].rows : im->n_test};
        im->n_out = 2;
    }
    if (im->n_out == 2 && !strcmp(im->out[0].name, im->out[1].name))
        return mt_fail(err, MT_ERR_INPUT, "import csv: the two splits are both named '%s'", im->out[0].name);
    for (int i = 0; i < im->n_out; i++)
        if (!im->out[i].name[0] || strchr(im->out[i].name, '/') || strlen(im->out[i].name) > 200)
            return mt_fail(err, MT_ERR_INPUT, "import csv: bad split name '%s'", im->out[i].name);
    return MT_OK;
}

static mt_status write_output(import *im, mt_error *err)
{
    const mt_csv_import *opt = im->opt;
    char source[4200];
    if (opt->source)
        snprintf(source, sizeof source, "%s", opt->source);
    else
        snprintf(source, sizeof source, "CSV file%s %s%s%s", im->n_in == 2 ? "s" : "", opt->input,
                 im->n_in == 2 ? ", " : "", im->n_in == 2 ? opt->test_input : "");
    mt_status st = mt_h5w_create(&im->h5, opt->out_path, 1, err);
    if (st)
        return st;
    for (int i = 0; !st && i < im->n_out; i++)
        st = create_split(&im->h5, &im->out[i], &im->cols, im->classes, opt->weights != NULL, opt->order != NULL, err);
    for (int i = 0; !st && i < im->n_in; i++)
        st = write_pass(&im->h5, &im->in[i], &im->cols, &im->labels, im->renumber, &im->out[i],
                        im->n_out == 2 ? &im->out[1] : NULL, i == 0 ? im->n_test : 0, opt->seed, err);
    for (int i = 0; !st && i < im->n_out; i++)
        if (im->out[i].buffered)
            st = flush_split(&im->h5, &im->out[i], &im->cols, err);
    for (int i = 0; i < im->n_out; i++)
        free_split(&im->out[i]);
    if (!st)
        st = write_attributes(&im->h5, &im->cols, &im->labels, im->classes, source, err);
    if (!st)
        st = mt_h5w_finish(&im->h5, err);
    if (st)
        mt_h5w_abort(&im->h5);
    return st;
}

static mt_status check_options(const mt_csv_import *opt, mt_error *err)
{
    if (!opt || !opt->input || !opt->out_path || !opt->label || !opt->label[0])
        return mt_fail(err, MT_ERR_INPUT, "import csv: an input file, a label column and an output are required");
    if (!(opt->test_fraction >= 0 && opt->test_fraction < 1))
        return mt_fail(err, MT_ERR_INPUT, "import csv: the test fraction must lie in [0, 1), got %g",
                       opt->test_fraction);
    if (opt->test_fraction > 0 && opt->test_input)
        return mt_fail(err, MT_ERR_INPUT, "import csv: a test file and a test fraction cannot both be given");
    if (opt->task != MT_CSV_AUTO && opt->task != MT_CSV_CLASSIFICATION && opt->task != MT_CSV_REGRESSION)
        return mt_fail(err, MT_ERR_INTERNAL, "import csv: bad task %d", (int)opt->task);
    return MT_OK;
}

mt_status mt_import_csv(const mt_csv_import *opt, mt_csv_result *res, mt_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mt_status st = check_options(opt, err);
    if (st)
        return st;
import im;
    memset(&im, 0, sizeof im);
    im.opt = opt;
    im.labels.integral = 1;
    im.h5.file = -1;
    for (int i = 0; i < 2; i++)
        im.out[i].g = im.out[i].x = im.out[i].y = im.out[i].w = im.out[i].order = -1;
    im.n_in = opt->test_input ? 2 : 1;
    st = open_csv(&im.in[0], opt->input, err);
    if (!st)
        st = read_header(&im.in[0], opt, &im.cols, err);
    if (!st && im.n_in == 2 && !(st = open_csv(&im.in[1], opt->test_input, err)))
        st = same_header(&im.in[1], &im.cols, err);
    for (int i = 0; !st && i < im.n_in; i++)
        st = check_pass(&im.in[i], &im.cols, opt, &im.labels, &im.missing, err);
    if (!st)
        st = choose_task(&im, err);
    if (!st)
        st = plan_splits(&im, err);
    if (!st)
        st = write_output(&im, err);
    if (!st && res) {
        *res = (mt_csv_result){.rows = {im.out[0].rows, im.n_out == 2 ? im.out[1].rows : 0},
                               .features = im.cols.n_features,
                               .missing_cells = im.missing,
                               .task = im.classes ? MT_CSV_CLASSIFICATION : MT_CSV_REGRESSION,
                               .n_classes = im.classes ? (int)im.labels.n : 0,
                               .renumbered = im.renumber};
    }
    for (int i = 0; i < 2; i++)
        close_csv(&im.in[i]);
    free_columns(&im.cols);
    free(im.labels.v);
    return st;
}
