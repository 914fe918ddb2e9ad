/* mkdataset: writes small synthetic dataset files for tests, valid ones and deliberately malformed ones.
 *
 *   mkdataset OUT.h5 KIND [N]        N = rows of /train (default 40; /test gets N / 4 + 1)
 *   mkdataset --flip FILE.h5 DATASET  flips one bit in the stored bytes of DATASET of an existing file (its
 *                                    first chunk when chunked), as a bad disk or transfer would: a
 *                                    checkpoint tensor then fails its Fletcher32 checksum
 *
 * Content of the valid kinds: x[i][j] = i + j / 8 (float32, exact), y[i] = i % 3, attribute classes =
 * ["zero", "one", "two"], source = "mkdataset KIND".
 *
 *   good                 /train and /test: x float32 [N, 4], y int32 [N]
 *   uint8                x uint8 [N, 2, 3] with x[i][j] = (7 i + j) % 256, y int32
 *   targets              y float32 [N, 2] (y[i] = {i, -i}) instead of class labels
 *   targets1d            y float32 [N] (y[i] = i / 2)
 *   chunked              like good, but x and y chunked (8 rows) and gzip-compressed: the HDF5 read path
 *   float64              x float64 and y int64, contiguous: read through HDF5 type conversion
 *   unwritten            x and y contiguous but never written (no storage; HDF5 would read zeros)
 *   unwritten_chunks     x float32 [2^40, 4] and y int32 [2^40], chunked (1024 rows), no chunk ever written
 *   half_written         x float32 [N, 4] chunked (8 rows) and compressed, only its first N / 2 rows written
 *                        (as an import that stopped part-way leaves it); y written
 *   label_out_of_range   like good, but /train/y row 17 is 12 (and row 30 is 99 when N > 30)
 *   negative_label       like good, but /train/y row 5 is -1
 *   wrong_rank           /train/x float32 [N] (rank 1)
 *   rank6                /train/x float32 [N, 1, 1, 1, 1, 2] (rank 6)
 *   rows_mismatch        /train/y has N - 1 rows
 *   zero_rows            /train/x [0, 4] and /train/y [0]
 *   bad_dtype            /train/x int64
 *   string_x             /train/x fixed-length strings
 *   y_rank2_int          /train/y int32 [N, 1]
 *   missing_split        only /test (asking for train lists the splits: test)
 *   missing_y            /train holds only x
 *   x_group              /train/x is a group, not a dataset
 *   huge_dims            /train/x chunked float32 [4, 2^21, 2^21]: 2^42 elements per sample, no storage
 *   huge_rows            /train/x chunked float32 [2^62, 16]: the total size overflows 64 bits, no storage
 *   overflow_dims        /train/x chunked float32 [4, 2^40, 2^40, 2^40]: the sample size overflows 64 bits
 *   many_rows            /train/x chunked float32 [2^41, 1] and y [2^41]: more rows than a split may hold
 *   huge_chunk           /train/x float32 [N, 4], extendible, in chunks of [2^27, 4] (2 GiB per chunk)
 *   nan_x                like good, but /train/x row 3 column 1 is NaN
 *   inf_x                like good, but /train/x row 6 column 0 is +Inf
 *   nan_inf_x            like good, but /train/x row 3 column 1 is NaN, and row 29 (when N > 29) has NaN in
 *                        column 2 and -Inf in column 3
 *   nan_targets          like targets, but /train/y row 4 is NaN
 *   scalar_x             /train/x is a scalar (rank 0)
 *   null_x               /train/x has a null dataspace (no elements)
 *   compound_x           /train/x has a compound type {float a; float b}
 *   string_y             /train/y fixed-length strings
 *   float16_x            /train/x a 16-bit IEEE float type (no native C type: converted by HDF5)
 *   dangling_x           /train/x is a soft link to a path that does not exist
 *   truncated            like good, then the file cut to half its size
 *   corrupt_header       like good, then 64 bytes of the object headers (after the superblock) overwritten
 *   empty_file           a file of 0 bytes
 *   not_hdf5             a text file, not HDF5
 *
 * Exit status: 0 written, 1 HDF5 failure, 2 usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#define N_DEFAULT 40

typedef struct spec {
    hid_t file;
    const char *kind;
    hsize_t n;
    int ok;
} spec;

static void usage(FILE *out)
{
    fprintf(out, "usage: mkdataset OUT.h5 KIND [N]\n"
                 "       mkdataset --flip FILE.h5 DATASET\n"
                 "kinds: good uint8 targets targets1d chunked float64 unwritten unwritten_chunks half_written\n"
                 "       label_out_of_range negative_label\n"
                 "       wrong_rank rank6 rows_mismatch zero_rows bad_dtype string_x y_rank2_int missing_split\n"
                 "       missing_y x_group huge_dims huge_rows overflow_dims many_rows huge_chunk nan_x inf_x\n"
                 "       nan_inf_x nan_targets scalar_x null_x compound_x string_y float16_x dangling_x truncated\n"
                 "       corrupt_header empty_file not_hdf5\n"
                 "See the first comment of tests/tools/mkdataset.c for what each holds.\n");
}

/* Creates dataset path (intermediate groups too) and writes data (native type mem) unless data is NULL.
 * chunk_rows > 0: chunked along rows (and gzip when compress). */
static void put(spec *s, const char *path, hid_t ftype, hid_t mem, int rank, const hsize_t *dims, const void *data,
                hsize_t chunk_rows, int compress)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk_rows > 0) {
        hsize_t chunk[H5S_MAX_RANK];
        for (int d = 0; d < rank; d++)
            chunk[d] = d == 0 ? chunk_rows : (dims[d] < 64 ? dims[d] : 64);
        H5Pset_chunk(dcpl, rank, chunk);
        if (compress)
            H5Pset_deflate(dcpl, 4);
    }
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(s->file, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0 || (data && H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        s->ok = 0;
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
}

static void put_strings_attr(spec *s, const char *name, const char *const *v, int n)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(s->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, type, v) < 0)
        s->ok = 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
}

/* x float32 [n, 4] and y int32 [n] with the documented content. */
static void put_split(spec *s, const char *split, hsize_t n, hsize_t chunk_rows)
{
    float *x = malloc((n ? n : 1) * 4 * sizeof *x);
    int *y = malloc((n ? n : 1) * sizeof *y);
    for (hsize_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (float)i + (float)j / 8.0f;
        y[i] = (int)(i % 3);
    }
    char path[64];
    hsize_t dx[2] = {n, 4};
    snprintf(path, sizeof path, "/%s/x", split);
    put(s, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, x, chunk_rows, chunk_rows > 0);
    snprintf(path, sizeof path, "/%s/y", split);
    put(s, path, H5T_STD_I32LE, H5T_NATIVE_INT, 1, &n, y, chunk_rows, chunk_rows > 0);
    free(x);
    free(y);
}

static void put_good(spec *s)
{
    put_split(s, "train", s->n, 0);
    put_split(s, "test", s->n / 4 + 1, 0);
}

/* Overwrites /train/y[row] (int32) with value. */
static void patch_label(spec *s, hsize_t row, int value)
{
    if (row >= s->n)
        return;
    hid_t d = H5Dopen2(s->file, "/train/y", H5P_DEFAULT);
    hid_t fspace = H5Dget_space(d);
    hsize_t one = 1;
    hid_t mspace = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &row, NULL, &one, NULL);
    if (H5Dwrite(d, H5T_NATIVE_INT, mspace, fspace, H5P_DEFAULT, &value) < 0)
        s->ok = 0;
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
}

static void put_labels(spec *s, const char *path, hsize_t n)
{
    int *y = malloc((n ? n : 1) * sizeof *y);
    for (hsize_t i = 0; i < n; i++)
        y[i] = (int)(i % 3);
    put(s, path, H5T_STD_I32LE, H5T_NATIVE_INT, 1, &n, y, 0, 0);
    free(y);
}

static void put_uint8(spec *s)
{
    hsize_t n = s->n, dims[3] = {n, 2, 3};
    unsigned char *x = malloc(n * 6);
    for (hsize_t i = 0; i < n * 6; i++)
        x[i] = (unsigned char)((7 * (i / 6) + i % 6) % 256);
    put(s, "/train/x", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 3, dims, x, 0, 0);
    put_labels(s, "/train/y", n);
    free(x);
}

static void put_targets(spec *s, int k)
{
    hsize_t n = s->n, dx[2] = {n, 4}, dy[2] = {n, (hsize_t)k};
    float *x = malloc(n * 4 * sizeof *x), *y = malloc(n * 2 * sizeof *y);
    for (hsize_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (float)i + (float)j / 8.0f;
        if (k == 2) {
            y[2 * i] = (float)i;
            y[2 * i + 1] = -(float)i;
        } else {
            y[i] = (float)i / 2.0f;
        }
    }
    put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, x, 0, 0);
    put(s, "/train/y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, k == 2 ? 2 : 1, dy, y, 0, 0);
    free(x);
    free(y);
}

static void put_float64(spec *s)
{
    hsize_t n = s->n, dx[2] = {n, 4};
    double *x = malloc(n * 4 * sizeof *x);
    long long *y = malloc(n * sizeof *y);
    for (hsize_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (double)i + j / 8.0;
        y[i] = (long long)(i % 3);
    }
    put(s, "/train/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dx, x, 0, 0);
    put(s, "/train/y", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, &n, y, 0, 0);
    free(x);
    free(y);
}

/* Kinds whose x is malformed in shape or type; y is fine. */
static void put_bad_x(spec *s)
{
    hsize_t n = s->n, d2[2] = {n, 4}, d6[6] = {n, 1, 1, 1, 1, 2};
    const char *k = s->kind;
    if (!strcmp(k, "wrong_rank")) {
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, NULL, 0, 0);
    } else if (!strcmp(k, "rank6")) {
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 6, d6, NULL, 0, 0);
    } else if (!strcmp(k, "bad_dtype")) {
        put(s, "/train/x", H5T_STD_I64LE, H5T_NATIVE_LLONG, 2, d2, NULL, 0, 0);
    } else {
        hid_t str = H5Tcopy(H5T_C_S1);
        H5Tset_size(str, 8);
        put(s, "/train/x", str, str, 2, d2, NULL, 0, 0);
        H5Tclose(str);
    }
    put_labels(s, "/train/y", n);
}

/* Kinds whose dimensions claim absurd sizes; chunked so that no storage is allocated. */
static void put_huge(spec *s)
{
    hsize_t big[3] = {4, (hsize_t)1 << 21, (hsize_t)1 << 21}, rows[2] = {(hsize_t)1 << 62, 16};
    int dims_kind = !strcmp(s->kind, "huge_dims");
    put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims_kind ? 3 : 2, dims_kind ? big : rows, NULL, 1, 0);
    put(s, "/train/y", H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims_kind ? big : rows, NULL, 1, 0);
}

/* Kinds whose y (or the split itself) is what is wrong. */
static void put_bad_layout(spec *s)
{
    hsize_t n = s->n, dx[2] = {n, 4}, dy2[2] = {n, 1}, fewer = n - 1;
    const char *k = s->kind;
    if (!strcmp(k, "missing_split")) {
        put_split(s, "test", n, 0);
        return;
    }
    if (!strcmp(k, "x_group")) {
        hid_t g = H5Gcreate2(s->file, "/train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t x = H5Gcreate2(g, "x", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(x);
        H5Gclose(g);
    } else {
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, NULL, 0, 0);
    }
    if (!strcmp(k, "rows_mismatch"))
        put_labels(s, "/train/y", fewer);
    else if (!strcmp(k, "y_rank2_int"))
        put(s, "/train/y", H5T_STD_I32LE, H5T_NATIVE_INT, 2, dy2, NULL, 0, 0);
    else if (strcmp(k, "missing_y"))
        put_labels(s, "/train/y", n);
}

/* Chunked kinds whose stored chunks do not cover the shape. */
static void put_partial(spec *s)
{
    if (!strcmp(s->kind, "unwritten_chunks")) {
        hsize_t rows = (hsize_t)1 << 40, dx[2] = {rows, 4};
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, NULL, 1024, 0);
        put(s, "/train/y", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &rows, NULL, 1024, 0);
        return;
    }
    hsize_t dx[2] = {s->n, 4}, half[2] = {s->n / 2, 4}, start[2] = {0, 0};
    put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, NULL, 8, 1);
    float *x = calloc(half[0] * 4 + 1, sizeof *x);
    hid_t d = H5Dopen2(s->file, "/train/x", H5P_DEFAULT), fspace = H5Dget_space(d);
    hid_t mspace = H5Screate_simple(2, half, NULL);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, half, NULL);
    if (!x || H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, x) < 0)
        s->ok = 0;
    free(x);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
    put_labels(s, "/train/y", s->n);
}

static void put_unwritten(spec *s)
{
    hsize_t dx[2] = {s->n, 4};
    put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx, NULL, 0, 0);
    put(s, "/train/y", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &s->n, NULL, 0, 0);
}

/* Overwrites x[row][col] of /train/x (float32 [n, 4]) with value. */
static void patch_x(spec *s, hsize_t row, hsize_t col, float value)
{
    if (row >= s->n)
        return;
    hid_t d = H5Dopen2(s->file, "/train/x", H5P_DEFAULT);
    hid_t fspace = H5Dget_space(d);
    hsize_t start[2] = {row, col}, one[2] = {1, 1};
    hid_t mspace = H5Screate_simple(2, one, NULL);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, one, NULL);
    if (H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, &value) < 0)
        s->ok = 0;
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
}

/* Kinds with absurd sizes beyond huge_dims / huge_rows: no storage is ever allocated. */
static void put_absurd(spec *s)
{
    const char *k = s->kind;
    if (!strcmp(k, "overflow_dims")) {
        hsize_t big = (hsize_t)1 << 40, dims[4] = {4, big, big, big};
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dims, NULL, 1, 0);
        put_labels(s, "/train/y", 4);
    } else if (!strcmp(k, "many_rows")) {
        hsize_t dims[2] = {(hsize_t)1 << 41, 1};
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, NULL, 1024, 0);
        put(s, "/train/y", H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims, NULL, 1024, 0);
    } else { /* huge_chunk: chunk rows may exceed the rows of an extendible dataset */
        hsize_t dims[2] = {s->n, 4}, maxdims[2] = {H5S_UNLIMITED, 4}, chunk[2] = {(hsize_t)1 << 27, 4};
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        H5Pset_chunk(dcpl, 2, chunk);
        hid_t space = H5Screate_simple(2, dims, maxdims);
        hid_t d = H5Dcreate2(s->file, "/train/x", H5T_IEEE_F32LE, space, lcpl, dcpl, H5P_DEFAULT);
        if (d < 0)
            s->ok = 0;
        else
            H5Dclose(d);
        H5Sclose(space);
        H5Pclose(lcpl);
        H5Pclose(dcpl);
        put_labels(s, "/train/y", s->n);
    }
}

/* Kinds whose x or y has a type or dataspace the reader cannot use. */
static void put_odd_type(spec *s)
{
    const char *k = s->kind;
    hsize_t n = s->n, d2[2] = {n, 4};
    if (!strcmp(k, "scalar_x") || !strcmp(k, "null_x")) {
        hid_t space = H5Screate(!strcmp(k, "scalar_x") ? H5S_SCALAR : H5S_NULL);
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        hid_t d = H5Dcreate2(s->file, "/train/x", H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0)
            s->ok = 0;
        else
            H5Dclose(d);
        H5Pclose(lcpl);
        H5Sclose(space);
    } else if (!strcmp(k, "compound_x")) {
        hid_t t = H5Tcreate(H5T_COMPOUND, 8);
        H5Tinsert(t, "a", 0, H5T_IEEE_F32LE);
        H5Tinsert(t, "b", 4, H5T_IEEE_F32LE);
        put(s, "/train/x", t, t, 2, d2, NULL, 0, 0);
        H5Tclose(t);
    } else if (!strcmp(k, "float16_x")) {
        hid_t t = H5Tcopy(H5T_IEEE_F32LE); /* IEEE half: sign 15, exponent 10..14 (bias 15), mantissa 0..9 */
        if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_precision(t, 16) < 0 || H5Tset_size(t, 2) < 0 ||
            H5Tset_ebias(t, 15) < 0)
            s->ok = 0;
        put(s, "/train/x", t, H5T_NATIVE_FLOAT, 2, d2, NULL, 0, 0);
        H5Tclose(t);
    } else if (!strcmp(k, "dangling_x")) {
        H5Gclose(H5Gcreate2(s->file, "/train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        if (H5Lcreate_soft("/nowhere/x", s->file, "/train/x", H5P_DEFAULT, H5P_DEFAULT) < 0)
            s->ok = 0;
    }
    if (!strcmp(k, "string_y")) {
        put(s, "/train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, NULL, 0, 0);
        hid_t str = H5Tcopy(H5T_C_S1);
        H5Tset_size(str, 4);
        put(s, "/train/y", str, str, 1, &n, NULL, 0, 0);
        H5Tclose(str);
    } else {
        put_labels(s, "/train/y", n);
    }
}

/* Damages a finished file: truncated keeps the first half, corrupt_header overwrites 64 bytes at 96
 * (the root group's object header follows the 96-byte version-0 superblock). */
static int damage(const char *path, const char *kind)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return 1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    int bad = 0;
    if (!strcmp(kind, "truncated")) {
        bad = ftruncate(fileno(f), size / 2) != 0;
    } else {
        unsigned char junk[64];
        for (int i = 0; i < 64; i++)
            junk[i] = (unsigned char)(0xA5 ^ (i * 37));
        bad = fseek(f, 96, SEEK_SET) != 0 || fwrite(junk, 1, sizeof junk, f) != sizeof junk;
    }
    return fclose(f) != 0 || bad;
}

static void put_kind(spec *s)
{
    const char *k = s->kind;
    if (!strcmp(k, "good") || !strcmp(k, "label_out_of_range") || !strcmp(k, "negative_label"))
        put_good(s);
    else if (!strcmp(k, "chunked")) {
        put_split(s, "train", s->n, 8);
        put_split(s, "test", s->n / 4 + 1, 8);
    } else if (!strcmp(k, "zero_rows"))
        put_split(s, "train", 0, 0);
    else if (!strcmp(k, "uint8"))
        put_uint8(s);
    else if (!strcmp(k, "targets") || !strcmp(k, "targets1d"))
        put_targets(s, !strcmp(k, "targets") ? 2 : 1);
    else if (!strcmp(k, "float64"))
        put_float64(s);
    else if (!strcmp(k, "unwritten"))
        put_unwritten(s);
    else if (!strcmp(k, "unwritten_chunks") || !strcmp(k, "half_written"))
        put_partial(s);
    else if (!strcmp(k, "huge_dims") || !strcmp(k, "huge_rows"))
        put_huge(s);
    else if (!strcmp(k, "overflow_dims") || !strcmp(k, "many_rows") || !strcmp(k, "huge_chunk"))
        put_absurd(s);
    else if (!strcmp(k, "nan_x") || !strcmp(k, "inf_x") || !strcmp(k, "nan_inf_x") || !strcmp(k, "truncated") ||
             !strcmp(k, "corrupt_header"))
        put_good(s);
    else if (!strcmp(k, "nan_targets"))
        put_targets(s, 1);
    else if (!strcmp(k, "scalar_x") || !strcmp(k, "null_x") || !strcmp(k, "compound_x") || !strcmp(k, "string_y") ||
             !strcmp(k, "float16_x") || !strcmp(k, "dangling_x"))
        put_odd_type(s);
    else if (!strcmp(k, "wrong_rank") || !strcmp(k, "rank6") || !strcmp(k, "bad_dtype") || !strcmp(k, "string_x"))
        put_bad_x(s);
    else
        put_bad_layout(s);
    if (!strcmp(k, "label_out_of_range")) {
        patch_label(s, 17, 12);
        patch_label(s, 30, 99);
    }
    if (!strcmp(k, "negative_label"))
        patch_label(s, 5, -1);
    if (!strcmp(k, "nan_x"))
        patch_x(s, 3, 1, NAN);
    if (!strcmp(k, "inf_x"))
        patch_x(s, 6, 0, INFINITY);
    if (!strcmp(k, "nan_inf_x")) {
        patch_x(s, 3, 1, NAN);
        patch_x(s, 29, 2, NAN);
        patch_x(s, 29, 3, -INFINITY);
    }
    if (!strcmp(k, "nan_targets")) {
        hid_t d = H5Dopen2(s->file, "/train/y", H5P_DEFAULT), fspace = H5Dget_space(d);
        hsize_t row = 4, one = 1;
        float nan = NAN;
        hid_t mspace = H5Screate_simple(1, &one, NULL);
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &row, NULL, &one, NULL);
        if (H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, &nan) < 0)
            s->ok = 0;
        H5Sclose(mspace);
        H5Sclose(fspace);
        H5Dclose(d);
    }
}

static int known_kind(const char *k)
{
    static const char *const kinds[] = {"good",           "uint8",
                                        "targets",        "targets1d",
                                        "chunked",        "float64",
                                        "unwritten",      "unwritten_chunks",
                                        "half_written",   "label_out_of_range",
                                        "negative_label", "wrong_rank",
                                        "rank6",          "rows_mismatch",
                                        "zero_rows",      "bad_dtype",
                                        "string_x",       "y_rank2_int",
                                        "missing_split",  "missing_y",
                                        "x_group",        "huge_dims",
                                        "huge_rows",      "overflow_dims",
                                        "many_rows",      "huge_chunk",
                                        "nan_x",          "inf_x",
                                        "nan_inf_x",      "nan_targets",
                                        "scalar_x",       "null_x",
                                        "compound_x",     "string_y",
                                        "float16_x",      "dangling_x",
                                        "truncated",      "corrupt_header",
                                        "empty_file",     "not_hdf5"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(k, kinds[i]))
            return 1;
    return 0;
}

static int write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "mkdataset: %s: cannot write\n", path);
        return 1;
    }
    return 0;
}

/* --flip: the file offset of the dataset's stored bytes (first chunk when chunked), then one bit of the
 * byte in the middle of them inverted in place. */
static int flip_bit(const char *path, const char *dataset)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dataset, H5P_DEFAULT) : -1;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (d >= 0) {
        hid_t dcpl = H5Dget_create_plist(d);
        if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
            hid_t space = H5Dget_space(d);
            hsize_t offset[H5S_MAX_RANK];
            unsigned mask;
            if (H5Dget_chunk_info(d, space, 0, offset, &mask, &addr, &size) < 0)
                addr = HADDR_UNDEF;
            H5Sclose(space);
        } else {
            addr = H5Dget_offset(d);
            size = H5Dget_storage_size(d);
        }
        H5Pclose(dcpl);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);
    if (addr == HADDR_UNDEF || size == 0) {
        fprintf(stderr, "mkdataset: %s: %s: no stored bytes to flip\n", path, dataset);
        return 1;
    }
    FILE *out = fopen(path, "r+b");
    long at = (long)(addr + size / 2);
    int c = out && fseek(out, at, SEEK_SET) == 0 ? fgetc(out) : EOF;
    int bad = c == EOF || fseek(out, at, SEEK_SET) != 0 || fputc(c ^ 0x10, out) == EOF;
    if (out && fclose(out) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "mkdataset: %s: cannot flip the byte at %ld\n", path, at);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--flip"))
        return flip_bit(argv[2], argv[3]);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3 || argc > 4 || !known_kind(argv[2]) || (argc == 4 && atoi(argv[3]) < 1)) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[2], "not_hdf5"))
        return write_text_file(argv[1], "this is not an HDF5 file\n");
    if (!strcmp(argv[2], "empty_file"))
        return write_text_file(argv[1], "");
    spec s = {-1, argv[2], argc == 4 ? (hsize_t)atoi(argv[3]) : N_DEFAULT, 1};
    s.file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (s.file < 0) {
        fprintf(stderr, "mkdataset: %s: cannot create\n", argv[1]);
        return 1;
    }
    put_kind(&s);
    static const char *const classes[] = {"zero", "one", "two"};
    char source[128];
    snprintf(source, sizeof source, "mkdataset %s", s.kind);
    const char *src = source;
    put_strings_attr(&s, "classes", classes, 3);
    put_strings_attr(&s, "source", &src, -1);
    if (H5Fclose(s.file) < 0 || !s.ok) {
        fprintf(stderr, "mkdataset: %s: writing kind %s failed\n", argv[1], s.kind);
        return 1;
    }
    if ((!strcmp(s.kind, "truncated") || !strcmp(s.kind, "corrupt_header")) && damage(argv[1], s.kind)) {
        fprintf(stderr, "mkdataset: %s: cannot damage the file\n", argv[1]);
        return 1;
    }
    return 0;
}
