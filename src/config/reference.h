/* The reference documentation (docs/reference.md, `mpitrain reference`): every config key, layer, activation,
 * loss, metric, optimizer, learning-rate schedule and initializer with its options, defaults, ranges, choices
 * and aliases, and every exit status with an example message, written as Markdown from the same tables the
 * program checks configs with. Also declares the one-line doc tables kept next to those name tables that have
 * no doc of their own. */
#ifndef MT_CONFIG_REFERENCE_H
#define MT_CONFIG_REFERENCE_H

#include <stddef.h>
#include <stdio.h>
#include "config/options.h"

/* Writes the whole reference to f. MT_ERR_INTERNAL when a name has no doc line (a table was extended without
 * documenting the addition); MT_ERR_IO when writing fails. */
mt_status mt_reference_write(FILE *f, mt_error *err);

/* One doc line per name, indexed by the kind enums as the name tables are. Each module checks at compile time
 * that it has as many doc lines as names; the generator fails on an empty one. */
extern const char *const mt_activation_docs[];  /* activation.c, MT_ACT_COUNT entries */
extern const char *const mt_loss_docs[];        /* loss.c, MT_LOSS_COUNT entries */
extern const char *const mt_metric_docs[];      /* loss.c, MT_METRIC_COUNT entries */

/* A doc line for a canonical name. */
typedef struct mt_name_doc {
    const char *name;
    const char *doc;
} mt_name_doc;

/* init.c: one entry per mt_initializer_names entry, in its order (the generator checks the names). */
extern const mt_name_doc mt_initializer_docs[];

/* The keys of the loss map of loss kind (an mt_loss_kind): name, and huber's delta. NULL for no such kind. */
const mt_option *mt_loss_options(int kind);

/* How many numbers initializer `name` (canonical) takes in parentheses, 0 for none; their defaults into
 * dflt[0..n). */
int mt_init_arguments(const char *name, double dflt[2]);

#endif
