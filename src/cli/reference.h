/* The reference documentation (docs/reference.md, `mpitrain reference`): every config key, layer, activation,
 * loss, metric, optimizer, learning-rate schedule and initializer with its options, defaults, ranges, choices
 * and aliases, and every exit status with an example message, written as Markdown from the same tables the
 * program checks configs with (and the one-line doc tables kept next to the name tables in src/nn). */
#ifndef MT_CLI_REFERENCE_H
#define MT_CLI_REFERENCE_H

#include <stddef.h>
#include <stdio.h>
#include "config/options.h"

/* Writes the whole reference to f. MT_ERR_INTERNAL when a name has no doc line (a table was extended without
 * documenting the addition); MT_ERR_IO when writing fails. */
mt_status mt_reference_write(FILE *f, mt_error *err);

#endif
