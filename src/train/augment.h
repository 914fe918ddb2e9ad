/* Data augmentation of training images (data.augment): random horizontal flip, shift (a random crop of
 * the zero-padded image), zoom, Gaussian blur and Gaussian noise. Every random choice for a sample is a
 * pure function of (seed, epoch, dataset row), so the transformed batch is the same for any number of
 * ranks and a resumed run reproduces it. Images are [H, W] or [C, H, W] per sample. */
#ifndef MT_TRAIN_AUGMENT_H
#define MT_TRAIN_AUGMENT_H

#include <stdint.h>

#include "config/options.h"

typedef struct mt_augment_opts {
    int horizontal_flip;
    int shift;
    double zoom;
    double blur;
    double noise;
} mt_augment_opts;

typedef struct mt_augment {
    int enabled;
    mt_augment_opts opts;
    int c, h, w;
    float *tmp; /* one sample (allocated once) */
} mt_augment;

extern const mt_option mt_augment_options[];

/* Reads data.augment (NULL or empty: disabled) for samples of the given shape (rank 2 or 3). */
mt_status mt_augment_init(mt_augment *a, const mt_node *node, const mt_ints *shape, mt_error *err);

/* Transforms n samples in place; rows[i] is the dataset row of sample i. No allocation. */
void mt_augment_apply(const mt_augment *a, float *x, const uint64_t *rows, int n, uint64_t seed, uint64_t epoch);

void mt_augment_free(mt_augment *a);

#endif
