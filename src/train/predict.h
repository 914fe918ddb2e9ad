/* Predictions of a trained model: a checkpoint loaded with its config and preprocessing (what eval,
 * predict and plot share), model outputs and decided classes for the rows of a split (each rank its
 * contiguous part, gathered on rank 0), for arbitrary input batches (plot grids), and the pre-activations
 * of a dense layer (what each hidden unit separates). */
#ifndef MT_TRAIN_PREDICT_H
#define MT_TRAIN_PREDICT_H

#include <stdint.h>

#include "train/confusion.h"
#include "train/session.h"

/* A checkpoint's model ready for inference. */
typedef struct mt_predictor {
    char *yaml; /* the config text stored in the checkpoint */
    mt_config cfg;
    mt_session s; /* MT_SESSION_EVAL: model, loss, preprocessing; s.test once a split is added */
    int have_cfg, have_session;
} mt_predictor;

/* What a model's outputs mean. */
typedef enum mt_output_kind {
    MT_OUTPUT_VALUES,        /* regression (or multi-label) outputs: no single class */
    MT_OUTPUT_PROBABILITIES, /* a classifier whose output layer is softmax (k > 1) or sigmoid (k = 1: p(class 1)) */
    MT_OUTPUT_SCORES         /* a classifier with other outputs (hinge margins, linear logits) */
} mt_output_kind;

/* Collective. Reads the config stored in checkpoint path, builds the model and loss, and loads the
 * parameters and the fitted preprocessing. Every rank returns the same status; on failure p is released
 * (mt_predictor_close is still safe). */
mt_status mt_predictor_open(mt_predictor *p, const char *path, mt_comm *comm, mt_error *err);

void mt_predictor_close(mt_predictor *p);

/* The kind of the model's outputs, decided by its loss and output activation. */
mt_output_kind mt_predict_output_kind(const mt_session *s);

/* Number of classes a classifier decides between: k for k > 1 outputs, 2 for one output; 0 for
 * MT_OUTPUT_VALUES. */
int mt_predict_class_count(const mt_session *s);

/* The class of each of n output rows [n, k]: the arg-max (first on ties) for k > 1, out > threshold for
 * one output (the loss' threshold: 0.5, or 0 for margins and tanh). No allocation. */
void mt_predict_decide(const mt_loss *loss, const float *out, int n, int32_t *cls);

/* The true class of n label rows: class indices as stored (k = 1: label > 0 is class 1, so -1/1 hinge
 * labels become 0/1), or the arg-max of float target rows [n, k] (one-hot targets). */
void mt_predict_true_class(const mt_loss *loss, const int32_t *y_class, const float *y_target, int n, int32_t *cls);

/* Runs the model on n samples in x [n, input_size] (raw features: the preprocessing is applied to a copy
 * batch by batch) and writes its outputs to out [n, output_size]. Single process; the model's buffers
 * grow to min(n, 1024) rows when smaller. */
mt_status mt_predict_batch(mt_session *s, const float *x, uint64_t n, float *out, mt_error *err);

/* The result of mt_predict_split on rank 0 (other ranks: all NULL). All arrays have n rows. */
typedef struct mt_predictions {
    uint64_t n;
    int k;              /* outputs per row */
    float *out;         /* [n, k] model outputs */
    int32_t *predicted; /* [n] decided class (classifiers), else NULL */
    uint64_t *rows;     /* [n] row of the split each prediction belongs to */
    int32_t *y_class;   /* [n] stored class labels (class-label splits), else NULL */
    float *y_target;    /* [n, target k] stored float targets, else NULL */
    int target_k;       /* values per row of y_target */
} mt_predictions;

/* Collective. Runs the model on the rows of the session's test view (mt_session_add_split), each rank its
 * contiguous part in forward passes of at most batch rows (0: the session's capacity; the buffers grow to
 * batch when larger), and gathers outputs, decided classes and labels in row order on rank 0. When conf is
 * not NULL (classifiers only) the confusion matrix of true against decided classes is summed over the
 * ranks into it on every rank (it must hold mt_predict_class_count classes). Every rank returns the same
 * status. p may be NULL to compute only the confusion matrix. */
mt_status mt_predict_split(mt_session *s, mt_comm *comm, int batch, mt_predictions *p, mt_confusion *conf,
                           mt_error *err);

void mt_predictions_free(mt_predictions *p);

/* Pre-activations z = W a + b of dense layer `layer` for the n samples of the latest forward pass (a is the
 * layer's input, model->acts[layer]), into z [n, units]. MT_ERR_INTERNAL when the layer is not dense or n
 * exceeds the last batch. */
mt_status mt_predict_dense_preact(const mt_model *m, int layer, int n, float *z, mt_error *err);

#endif
