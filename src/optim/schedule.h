/* Learning-rate schedules (config key lr_schedule): constant, step decay, exponential decay and cosine
 * annealing, each with optional linear warmup and the linear scaling rule for large global batches.
 * The rate is a pure function of the number of optimizer steps taken, so a resumed run follows the
 * same rates as an uninterrupted one. */
#ifndef MT_OPTIM_SCHEDULE_H
#define MT_OPTIM_SCHEDULE_H

#include <stdint.h>
#include "config/options.h"

/* The order is that of mt_schedule_names. */
typedef enum mt_schedule_kind {
    MT_SCHEDULE_CONSTANT,
    MT_SCHEDULE_STEP,
    MT_SCHEDULE_EXPONENTIAL,
    MT_SCHEDULE_COSINE,
    MT_SCHEDULE_COUNT
} mt_schedule_kind;

typedef struct mt_schedule_opts {
    char name[MT_NAME_MAX]; /* canonical schedule name */
    int step_size;          /* step: epochs between decays */
    double gamma;           /* step: factor per decay; exponential: factor per epoch */
    double min_lr;          /* cosine: the rate the annealing ends at */
    double warmup_epochs;   /* all: linear warmup length in epochs (may be fractional; 0 = none) */
    int reference_batch;    /* all: > 0 applies the linear scaling rule (0 = off) */
} mt_schedule_opts;

typedef struct mt_schedule {
    mt_schedule_kind kind;
    mt_schedule_opts opts;
    double base_lr; /* the optimizer's learning_rate after the linear scaling rule */
    uint64_t steps_per_epoch;
    uint64_t total_steps; /* steps_per_epoch * total_epochs */
    uint64_t warmup_steps;
} mt_schedule;

/* Config names, NULL-terminated, "canonical|alias" entries indexed by mt_schedule_kind. */
extern const char *const mt_schedule_names[];
/* One line per schedule for the reference documentation, indexed by mt_schedule_kind. */
extern const char *const mt_schedule_docs[];

/* Reads the lr_schedule node (NULL or an empty scalar: constant; a name; or a map {name: ..., options}).
 * base_lr is the optimizer's learning_rate; global_batch the samples per optimizer step (over all ranks);
 * steps_per_epoch the optimizer steps per epoch (1 for full-batch gd); total_epochs the run's length.
 * Errors: MT_ERR_CONFIG "origin:line: lr_schedule.key: ..."; MT_ERR_INTERNAL for impossible arguments. */
mt_status mt_schedule_create(const mt_node *node, double base_lr, int global_batch, uint64_t steps_per_epoch,
                             int total_epochs, mt_schedule *s, mt_error *err);

/* Whether the lr_schedule node's rates depend on the run's length (cosine annealing ends at the last
 * epoch): a run resumed with another training.epochs then follows other rates than an uninterrupted one.
 * 0 for a wrong node (mt_schedule_create reports it). */
int mt_schedule_spans_run(const mt_node *node);

/* The learning rate for the optimizer step that follows `step` steps taken (0-based). Pure. */
double mt_schedule_lr(const mt_schedule *s, uint64_t step);

/* Option table of one schedule, for the reference documentation. */
const mt_option *mt_schedule_options(mt_schedule_kind kind);

#endif
