/* The check of a stored variable-length string before HDF5 reads it (mt_h5_check_vlen_string, io/h5_check.c):
 * a text written the way checkpoints write /config passes with a limit at least its length and fails
 * below it; damage found by the checkpoint fuzzer is refused naming the numbers, also behind a 512-byte
 * user block: a length of 1701982216, a length shorter than the heap object (19 for 20 bytes: libhdf5
 * would copy 20 bytes into 19), a heap object whose size was changed, an object index that is not in the
 * heap, a free-space object of size 0. Offsets in the global heap are computed here from the file format
 * specification (section III.E), independently of the code under test. Other types, shapes and layouts
 * are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "io/h5_check.h"
#include "testlib.h"

static const char text[] = "model: {input: [4]}\n"; /* 20 bytes */

/* A vlen UTF-8 string type, as the checkpoint writer makes it. */
static hid_t vlen_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Writes /config (scalar vlen string, default layout) to path, with a user block of userblock bytes;
 * returns the file offset of its descriptor (H5Dget_offset), or 0 on failure. */
static haddr_t write_config(const char *path, hsize_t userblock)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (userblock)
        H5Pset_userblock(fcpl, userblock);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    hid_t t = vlen_string_type(), s = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "config", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *p = text;
    haddr_t at = 0;
    if (d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) >= 0)
        at = H5Dget_offset(d);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
    CHECK(at != 0 && at != HADDR_UNDEF, "%s: no offset for /config", path);
    return at == HADDR_UNDEF ? 0 : at;
}

/* Overwrites the width bytes at offset at of path with v, little-endian. */
static void patch(const char *path, long at, unsigned long long v, int width)
{
    unsigned char b[8];
    for (int i = 0; i < width; i++)
        b[i] = (unsigned char)(v >> 8 * i);
    FILE *f = fopen(path, "r+b");
    int ok = f && fseek(f, at, SEEK_SET) == 0 && fwrite(b, 1, (size_t)width, f) == (size_t)width;
    if (f)
        ok &= fclose(f) == 0;
    CHECK(ok, "cannot patch %s", path);
}

static void patch_length(const char *path, haddr_t at, unsigned long len)
{
    patch(path, (long)at, len, 4);
}

/* Offset of the (only) global heap collection of path, found by its signature "GCOL"; -1 if none. */
static long find_collection(const char *path)
{
    FILE *f = fopen(path, "rb");
    long at = -1, pos = 0;
    int c, matched = 0;
    while (f && (c = fgetc(f)) != EOF && at < 0) {
        matched = c == "GCOL"[matched] ? matched + 1 : c == 'G';
        pos++;
        if (matched == 4)
            at = pos - 4;
    }
    if (f)
        fclose(f);
    CHECK(at >= 0, "%s: no global heap collection", path);
    return at;
}

/* Opens path/config and runs the check with max_bytes; expect NULL: MT_OK, else MT_ERR_INPUT with expect
 * in a one-line message. With `read`, also reads the string and returns it (free with H5free_memory). */
static char *check_config(const char *path, size_t max_bytes, const char *expect, int read)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, "config", H5P_DEFAULT) : -1;
    char *got = NULL;
    if (!CHECK(d >= 0, "%s: cannot open /config", path)) {
        if (f >= 0)
            H5Fclose(f);
        return NULL;
    }
    mt_error err = {0};
    mt_status st = mt_h5_check_vlen_string(d, path, "config", max_bytes, &err);
    if (!expect)
        CHECK(st == MT_OK, "%s (limit %zu): refused: %s", path, max_bytes, err.msg);
    else
        CHECK(st == MT_ERR_INPUT && strstr(err.msg, expect) && strstr(err.msg, path) && !strchr(err.msg, '\n'),
              "%s (limit %zu): status %d, message '%s', expected '%s'", path, max_bytes, (int)st, err.msg, expect);
    if (read && st == MT_OK) {
        hid_t t = vlen_string_type();
        CHECK(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &got) >= 0 && got, "%s: H5Dread failed", path);
        H5Tclose(t);
    }
    H5Dclose(d);
    H5Fclose(f);
    return got;
}

static void test_lengths(hsize_t userblock)
{
    char name[64], want[128];
    snprintf(name, sizeof name, "config_ub%llu.h5", (unsigned long long)userblock);
    const char *path = mt_test_path(name);
    haddr_t at = write_config(path, userblock);
    if (!at)
        return;
    CHECK(at > userblock, "user block %llu: descriptor at %llu, inside the user block", (unsigned long long)userblock,
          (unsigned long long)at);
    char *got = check_config(path, 64, NULL, 1);
    CHECK(got && !strcmp(got, text), "user block %llu: read back '%s'", (unsigned long long)userblock,
          got ? got : "(null)");
    H5free_memory(got);
    check_config(path, 20, NULL, 0);
    check_config(path, 19, "recorded as 20 bytes long (at most 19)", 0);

    /* The damage the checkpoint fuzzer found: a length of 1701982216 for a 20-byte object. */
    patch_length(path, at, 1701982216ul);
    snprintf(want, sizeof want, "damaged: its text is recorded as 1701982216 bytes long (at most %d)", 64 << 20);
    check_config(path, (size_t)64 << 20, want, 0);
    patch_length(path, at, 0xfffffffful);
    check_config(path, (size_t)64 << 20, "recorded as 4294967295 bytes long", 0);

    /* Shorter than the heap object: libhdf5 would copy the object's 20 bytes into a buffer of 19. */
    patch_length(path, at, 19);
    check_config(path, 64, "recorded as 19 bytes long, but its heap object holds 20", 0);
    patch_length(path, at, 21);
    check_config(path, 64, "recorded as 21 bytes long, but its heap object holds 20", 0);
    patch_length(path, at, 20);
    check_config(path, 64, NULL, 0);

    /* The heap (8-byte lengths): header "GCOL" 1 000 size(8) = 16 bytes, then object 1: index(2) refs(2)
     * reserved(4) size(8) at +16, its 20 bytes of data padded to 24 at +32, then the free space at +56. */
    long gcol = find_collection(path);
    if (gcol < 0)
        return;
    patch(path, gcol + 24, 19, 8);
    check_config(path, 64, "recorded as 20 bytes long, but its heap object holds 19", 0);
    patch(path, gcol + 24, 20, 8);
    check_config(path, 64, NULL, 0);
    patch(path, gcol + 64, 0, 8); /* free space of size 0: libhdf5 would not step over it */
    check_config(path, 64, "not in the file's global heap", 0);
    write_config(path, userblock);
    patch(path, (long)at + 4 + 8, 7, 4); /* object index 7: not in the heap */
    check_config(path, 64, "not in the file's global heap", 0);
    patch(path, (long)at + 4 + 8, 1, 4);
    patch(path, gcol, 'X', 1); /* no collection at the address */
    check_config(path, 64, "not in the file's global heap", 0);
}

/* Writes /config with the given type, dataspace and creation properties (data written when data). */
static void write_other(const char *path, hid_t type, hid_t space, hid_t dcpl, const void *data)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t d = H5Dcreate2(f, "config", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0 && (!data || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0), "%s: cannot write", path);
    if (d >= 0)
        H5Dclose(d);
    H5Fclose(f);
}

static void test_refused(void)
{
    hid_t t = vlen_string_type(), scalar = H5Screate(H5S_SCALAR);
    hsize_t two = 2, one = 1;
    hid_t pair = H5Screate_simple(1, &two, NULL), single = H5Screate_simple(1, &one, NULL);
    const char *texts[2] = {text, text};
    long long number = 7;

    write_other(mt_test_path("int.h5"), H5T_NATIVE_LLONG, scalar, H5P_DEFAULT, &number);
    check_config(mt_test_path("int.h5"), 64, "not a single variable-length string", 0);
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, sizeof text);
    write_other(mt_test_path("fixed.h5"), fixed, scalar, H5P_DEFAULT, text);
    check_config(mt_test_path("fixed.h5"), 64, "not a single variable-length string", 0);
    H5Tclose(fixed);
    write_other(mt_test_path("pair.h5"), t, pair, H5P_DEFAULT, texts);
    check_config(mt_test_path("pair.h5"), 64, "not a single variable-length string", 0);

    /* A [1] array is one string too. */
    write_other(mt_test_path("one.h5"), t, single, H5P_DEFAULT, texts);
    check_config(mt_test_path("one.h5"), 64, NULL, 0);

    hid_t chunked = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(chunked, 1, &one);
    write_other(mt_test_path("chunked.h5"), t, single, chunked, texts);
    check_config(mt_test_path("chunked.h5"), 64, "not in contiguous storage", 0);
    H5Pclose(chunked);
    hid_t compact = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(compact, H5D_COMPACT);
    write_other(mt_test_path("compact.h5"), t, scalar, compact, texts);
    check_config(mt_test_path("compact.h5"), 64, "not in contiguous storage", 0);
    H5Pclose(compact);
    /* Never written: contiguous storage is allocated late, so there is none. */
    write_other(mt_test_path("unwritten.h5"), t, scalar, H5P_DEFAULT, NULL);
    check_config(mt_test_path("unwritten.h5"), 64, "not in contiguous storage", 0);

    H5Sclose(single);
    H5Sclose(pair);
    H5Sclose(scalar);
    H5Tclose(t);
}

int main(void)
{
    if (mt_test_tmpdir_create("test_h5_check") != 0)
        return 1;
    test_lengths(0);
    test_lengths(512);
    test_refused();
    mt_test_tmpdir_remove();
    return mt_test_finish("h5_check");
}
