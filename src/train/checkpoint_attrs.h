/* The JSON self-description of a model that its checkpoint carries as attributes (docs/formats.md): a
 * layer's options after defaults, under the config's key names, and the list of every layer with its
 * index, type, options and input and output shapes. */
#ifndef MT_TRAIN_CHECKPOINT_ATTRS_H
#define MT_TRAIN_CHECKPOINT_ATTRS_H

#include "nn/model.h"

/* {"filters": 4, "kernel_size": [3], ...}: every option of the layer's type, in the type's table order;
 * an option given as free YAML as the text or list written, null when not given. malloc'd; NULL when
 * out of memory. */
char *mt_checkpoint_options_json(const mt_layer *l);

/* [{"index": 0, "type": "conv2d", "options": {...}, "input_shape": [28, 28], "output_shape": [32, 28, 28]},
 * ...]: every layer of the model in order (those without parameters too), one a line. malloc'd; NULL when
 * out of memory. */
char *mt_checkpoint_layers_json(const mt_model *m);

#endif
