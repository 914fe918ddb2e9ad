/* Data-parallel GAN training, a kind of the training loop (mt_train_run with cfg->gan.enabled): a
 * generator (noise in, sample out) and a discriminator (sample in, one logit out), each replicated on
 * every rank with its own optimizer. Per global batch every rank takes its slice of the real samples and
 * generates as many fakes; one discriminator step (binary cross-entropy with logits, real = 1, fake = 0)
 * and one generator step (non-saturating loss -log D(G(z))), each gradient summed over the ranks as for
 * classifiers. Every epoch rank 0 writes a sample grid PNG. */
#ifndef MT_TRAIN_GAN_KIND_H
#define MT_TRAIN_GAN_KIND_H

#include <stddef.h>

#include "config/config.h"
#include "train/trainer.h"

/* The columns of a GAN's metrics row (mt_gan_row). */
#define MT_GAN_ROW_FIELDS 7
extern const char *const mt_gan_row_names[MT_GAN_ROW_FIELDS];

/* The parameters and buffers of both networks in a GAN checkpoint, generator then discriminator, as one
 * malloc'd array (*n floats), for comparisons in tests. The networks are built from cfg. Rank-local. */
mt_status mt_gan_checkpoint_values(const char *path, const mt_config *cfg, float **values, size_t *n, mt_error *err);

#endif
