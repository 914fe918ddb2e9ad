/* Which checkpoint a --resume continues from: the file the user named, or the newest intact checkpoint
 * of the run directory (falling back past damaged files), read into the trainer by its own callback and
 * checked against training.epochs. Shared by the classifier and the GAN trainer. Rank 0 only. */
#ifndef MT_TRAIN_RESUME_H
#define MT_TRAIN_RESUME_H

#include "train/checkpoint.h"

typedef struct mt_resume_source {
    const char *output;          /* the run directory */
    const char *path;            /* --resume FILE, or NULL: the newest intact checkpoint of output */
    int epochs;                  /* training.epochs */
    const mt_train_state *state; /* where read() leaves the run state */
    /* Reads one checkpoint into the trainer (a checkpoint of another model is an error). */
    mt_status (*read)(void *user, const char *path, mt_error *err);
    /* A progress line: warning != 0 for a fall-back past a damaged file, 0 for information. */
    void (*notice)(void *user, int warning, const char *text);
    void *user;
} mt_resume_source;

/* Reads the checkpoint to continue from and says which (*found = 1). A run directory without any
 * checkpoint: *found = 0, MT_OK (the run starts from scratch, and says so). Only damaged files, a named
 * file that cannot be read, or a run that already trained more than training.epochs: an error. */
mt_status mt_resume_read(const mt_resume_source *src, int *found, mt_error *err);

#endif
