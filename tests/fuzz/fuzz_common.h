/* Helpers shared by the libFuzzer harnesses: the input as a temporary file (the loaders take paths),
 * checks that a rejection is one line of text, and that no HDF5 object stays open after a load. */
#ifndef MT_FUZZ_COMMON_H
#define MT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/error.h"

/* Path of this process's scratch file (in $TMPDIR, else /tmp), made once. */
static inline const char *scratch_path(const char *suffix)
{
    static char path[512];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/mt-fuzz-%ld%s", dir && dir[0] ? dir : "/tmp", (long)getpid(), suffix);
    }
    return path;
}

static inline void remove_scratch(void)
{
    unlink(scratch_path(""));
}

/* Writes the input to the scratch file; aborts when that fails (not a finding: the disk is full). */
static inline const char *write_scratch(const uint8_t *data, size_t size, const char *suffix)
{
    static int registered;
    const char *path = scratch_path(suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    if (!registered)
        atexit(remove_scratch), registered = 1;
    return path;
}

/* A rejected input must come with one line of text that says something. */
static inline void check_message(const mt_error *err, mt_status st)
{
    if (st == MT_OK)
        return;
    if (err->code != st || !err->msg[0] || strchr(err->msg, '\n')) {
        fprintf(stderr, "fuzz: bad error report (status %d, code %d): '%s'\n", (int)st, (int)err->code, err->msg);
        abort();
    }
}

/* Every HDF5 file, dataset, group, type, space and attribute opened by the loader must be closed again. */
static inline void check_no_open_objects(const char *what)
{
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open > 0) {
        fprintf(stderr, "fuzz: %s left %zd HDF5 objects open\n", what, open);
        abort();
    }
}

/* The small model the checkpoint harness loads into (and fuzz_seeds writes checkpoints of): two dense
 * layers around a batch norm (parameters and buffers), adam (two slots, step), 4 input features. */
#define FUZZ_MODEL_YAML                               \
    "model:\n"                                        \
    "  input: [4]\n"                                  \
    "  layers:\n"                                     \
    "    - dense: {units: 3, activation: relu}\n"     \
    "    - batch_norm\n"                              \
    "    - dense: {units: 2, activation: softmax}\n"  \
    "loss: categorical_crossentropy\n"                \
    "optimizer: {name: adam, learning_rate: 0.001}\n" \
    "data: {file: data.h5}\n"                         \
    "training: {epochs: 2, batch_size: 4}\n"

#endif
