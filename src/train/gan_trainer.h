/* Data-parallel GAN training: a generator (noise in, sample out) and a discriminator (sample in, one
 * logit out), each replicated on every rank with its own optimizer. Per global batch every rank takes its
 * slice of the real samples and generates as many fakes; one discriminator step (binary cross-entropy
 * with logits, real = 1, fake = 0) and one generator step (non-saturating loss -log D(G(z))), each
 * gradient summed over the ranks as for classifiers. Every epoch rank 0 writes a sample grid PNG. */
#ifndef MT_TRAIN_GAN_TRAINER_H
#define MT_TRAIN_GAN_TRAINER_H

#include <stdint.h>

#include "config/config.h"
#include "comm/comm.h"
#include "train/gan_score.h"

/* One row of a GAN's per-epoch history (metrics.jsonl and the checkpoint's /metrics), all doubles:
 * d_loss = mean over the epoch's real and fake samples of the discriminator's BCE (both halves summed:
 * log 4 = 1.386 when it cannot tell them apart), g_loss = mean -log D(G(z)), d_real / d_fake = mean
 * probability the discriminator gave real / generated samples. */
typedef struct mt_gan_row {
    double epoch, d_loss, g_loss, d_real, d_fake, seconds, samples_per_sec;
} mt_gan_row;

#define MT_GAN_ROW_FIELDS 7
extern const char *const mt_gan_row_names[MT_GAN_ROW_FIELDS];

typedef enum mt_gan_progress_kind {
    MT_GAN_PROGRESS_INFO,     /* message */
    MT_GAN_PROGRESS_STEP,     /* after a step: epoch, step, steps, d_loss, g_loss (running means), elapsed */
    MT_GAN_PROGRESS_EPOCH,    /* after an epoch: row, grid (the sample grid written) */
    MT_GAN_PROGRESS_WARNING   /* message */
} mt_gan_progress_kind;

typedef struct mt_gan_progress {
    mt_gan_progress_kind kind;
    int epoch, epochs;
    uint64_t step, steps;
    double d_loss, g_loss, elapsed;
    const mt_gan_row *row;
    const char *grid;
    const char *message;
} mt_gan_progress;

/* Called on rank 0 only. */
typedef void (*mt_gan_progress_fn)(const mt_gan_progress *p, void *user);

typedef struct mt_gan_train_options {
    int resume;                 /* continue from a checkpoint */
    const char *resume_path;    /* that checkpoint; NULL = newest good one in the output directory */
    mt_gan_progress_fn progress;
    void *user;
} mt_gan_train_options;

typedef struct mt_gan_result {
    int epochs_run;
    mt_gan_row last;
    int world_size;
    double train_seconds, samples_per_sec;
    int scored;                 /* gan.classifier was set: score holds the figures */
    mt_gan_score score;
} mt_gan_result;

/* Trains the GAN of cfg (cfg->gan.enabled) on the ranks of comm. Collective; every rank returns the same
 * status and message. Writes OUTPUT/metrics.jsonl, OUTPUT/samples_epochNNN.png, the checkpoints and,
 * with gan.classifier, OUTPUT/gan_score.json. */
mt_status mt_gan_train_run(const mt_config *cfg, mt_comm *comm, const mt_gan_train_options *opts, mt_gan_result *res,
                           mt_error *err);


/* The parameters and buffers of both networks in a GAN checkpoint, generator then discriminator, as one
 * malloc'd array (*n floats), for comparisons in tests. The networks are built from cfg. Rank-local. */
mt_status mt_gan_checkpoint_values(const char *path, const mt_config *cfg, float **values, size_t *n,
                                   mt_error *err);

#endif
