/* The score of a GAN's samples: a classifier of the data (a checkpoint of mpitrain's own) gives each
 * sample a class distribution p(y|x); the Inception-Score-style figure is
 *
 *     exp(E_x[KL(p(y|x) || p(y))]),   p(y) = E_x[p(y|x)],
 *
 * from 1 (every sample gets the same distribution) up to the number of classes (each sample certain of
 * its class, the classes equally often). Computed from plain sums over the samples (so the ranks' sums
 * add up): E[KL] = H(p(y)) - E[H(p(y|x))]. The class histogram (argmax of p(y|x)) shows mode collapse. */
#ifndef MT_TRAIN_GAN_SCORE_H
#define MT_TRAIN_GAN_SCORE_H

#include <stdint.h>

#include "config/config.h"
#include "comm/comm.h"
#include "train/session.h"

#define MT_GAN_SCORE_MAX_CLASSES 256

/* Sums over samples; all plain sums (one allreduce of the whole struct as doubles). */
typedef struct mt_gan_score_sums {
    double n;                              /* samples */
    double neg_entropy;                    /* sum over samples of sum_y p(y|x) log p(y|x) */
    double p[MT_GAN_SCORE_MAX_CLASSES];    /* sum over samples of p(y|x) */
    double hist[MT_GAN_SCORE_MAX_CLASSES]; /* samples whose most likely class is y (first on ties) */
} mt_gan_score_sums;

/* Adds n class distributions probs[n, classes] (rows summing to 1; 0 log 0 counts as 0). */
void mt_gan_score_add(mt_gan_score_sums *s, const float *probs, int n, int classes);

/* exp(H(p(y)) - E[H(p(y|x))]) of the sums; NaN when there are no samples. */
double mt_gan_score_value(const mt_gan_score_sums *s, int classes);

/* What the score reports (gan_score.json). */
typedef struct mt_gan_score {
    int classes;
    double generated, real, ratio; /* the figure of each, generated / real */
    double n_generated, n_real;
    double hist[MT_GAN_SCORE_MAX_CLASSES];    /* of the generated samples */
    char names[MT_GAN_SCORE_MAX_CLASSES][64]; /* class names from the dataset file ("" when none) */
    char classifier[MT_PATH_MAX];
    char real_file[MT_PATH_MAX], real_split[MT_NAME_MAX];
} mt_gan_score;

/* A classifier checkpoint loaded with its own config and preprocessing. */
typedef struct mt_gan_classifier {
    char *yaml;
    mt_config cfg;
    mt_session s;
    int have_cfg, have_session;
    int classes;
    int softmax; /* its output is already a probability distribution */
} mt_gan_classifier;

/* Loads the classifier in checkpoint path (its config as mpitrain eval reads it) for samples of
 * sample_size values; collective, errors agreed. MT_ERR_INPUT when its input size differs or it has more
 * than MT_GAN_SCORE_MAX_CLASSES outputs. Close with mt_gan_classifier_close even after an error. */
mt_status mt_gan_classifier_open(mt_gan_classifier *c, const char *path, size_t sample_size, mt_comm *comm,
                                 mt_error *err);

/* Rows per call of mt_gan_classifier_add. */
int mt_gan_classifier_capacity(const mt_gan_classifier *c);

/* Classifies x[n, sample_size] given in the data's range before preprocessing (uint8 images: [0, 1]): the
 * classifier's preprocessing is applied, then its forward pass in inference mode; adds into s. n at most
 * the capacity. Rank-local; the forward pass's failure, if any. */
mt_status mt_gan_classifier_add(mt_gan_classifier *c, const float *x, int n, mt_gan_score_sums *s, mt_error *err);

/* The real images: every row of the classifier's test split (else its validation split), shared by the
 * ranks; sums over all ranks in *s. Collective. Names the file and split in out. */
mt_status mt_gan_classifier_real(mt_gan_classifier *c, mt_comm *comm, mt_gan_score_sums *s, mt_gan_score *out,
                                 mt_error *err);

void mt_gan_classifier_close(mt_gan_classifier *c);

/* Checks, before a GAN run trains, what its score reads at the end (nothing when gan.classifier is empty):
 * that gan.classifier is a complete classifier checkpoint whose model takes the samples of the GAN's
 * data (its training split opened for their size), and that the split of real images it names opens and
 * fits that model. Collective, errors agreed; the message starts "CONFIG:LINE: gan.classifier: " (or
 * "--set: gan.classifier: ") and names the file. */
mt_status mt_gan_score_check(const mt_config *cfg, mt_comm *comm, mt_error *err);

/* Writes the score as JSON to path (atomically), one member a line. */
mt_status mt_gan_score_write_json(const char *path, const mt_gan_score *s, mt_error *err);

#endif
