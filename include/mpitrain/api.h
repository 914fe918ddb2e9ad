/* mpitrain's public C API for embedding the trainer in another MPI program: a trainer built from a YAML
 * config (text or file, with --set style overrides), trained data-parallel on the config's HDF5 dataset or
 * on arrays in memory, evaluated, used for prediction, saved to and loaded from checkpoints.
 *
 * MPI: the caller initializes MPI (MPI_Init or MPI_Init_thread) and finalizes it after destroying its
 * trainers. Calls into the library come from one thread at a time (from the main thread under
 * MPI_THREAD_FUNNELED or lower). A trainer runs on the ranks of the communicator it is given, which may
 * be any intra-communicator of the program (a sub-communicator of a larger code works; the trainer
 * duplicates it, so its messages never mix with the caller's). This header does not include mpi.h: the communicator is passed as its Fortran handle, an
 * integer, from MPI_Comm_c2f; the macro MT_COMM(c) does the conversion where mpi.h is included:
 *
 *     mt_trainer_from_yaml(yaml, NULL, 0, MT_COMM(MPI_COMM_WORLD), &t, &err);
 *
 * Collective functions must be called by every rank of the trainer's communicator, in the same order;
 * they return the same status and message on every rank (a failure on one rank is reported by all of
 * them, prefixed "rank R: "). Local functions involve this rank only.
 *
 * Errors: every fallible function returns an mt_status (MT_OK = 0) and, unless err is NULL, fills *err
 * with the status and a one-line message naming the file, config key or line, row or rank. err is
 * cleared on success. After MT_ERR_MPI or MT_ERR_STALL (a collective that waited past
 * training.stall_timeout) the ranks are no longer in step: end the job (MPI_Abort).
 *
 * Ownership: pointers passed in are borrowed for the duration of the call only (the trainer copies what it
 * keeps); a trainer is owned by the caller and released with mt_trainer_destroy; strings returned by the
 * trainer are owned by it and valid until it is destroyed (the config text until it is trained again). */
#ifndef MPITRAIN_API_H
#define MPITRAIN_API_H

#include <stddef.h>
#include <stdint.h>

#include <mpitrain/mpitrain.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Fortran handle of an MPI communicator (MPI_Fint, an int in Open MPI and MPICH). */
typedef int mt_comm_f;

/* MT_COMM(comm): the handle of an MPI_Comm, for code that includes mpi.h. */
#define MT_COMM(comm) ((mt_comm_f)MPI_Comm_c2f(comm))

/* A model with its config, communicator and fitted preprocessing. Opaque. */
typedef struct mt_trainer mt_trainer;

/* Rows of samples in memory, as one rank passes them.
 *
 * Distribution: every rank passes ITS OWN rows (any number, 0 included; counts may differ between ranks).
 * The data set is the concatenation of the ranks' rows in rank order, so training on it gives the same
 * result as training on an HDF5 file holding the rows in that order, whatever the split among ranks.
 *
 * x holds n samples of the model's input shape (model.input) as float32, row-major and contiguous: sample
 * i is x[i * mt_trainer_input_size(t) ...]. Features are raw: the config's data.scaling and data.missing
 * are fitted on the training rows and applied everywhere (NaN features follow data.missing).
 * Labels: exactly one of y_class (int32 class indices, [n]: 0..k-1 for k outputs, 0/1 for one output,
 * -1/1 allowed with hinge) and y_target (float32 targets, [n, mt_trainer_output_size(t)]: regression
 * values or one-hot rows). The same kind on every rank. Predict ignores labels.
 * weights: optional float32 [n] per-row sample weights (finite, >= 0, not all 0); NULL = all 1. When one
 * rank passes weights, all must (NULL on a rank with n = 0 is fine). */
typedef struct mt_arrays {
    uint64_t n;             /* rows this rank passes */
    const float *x;         /* [n, input shape...] */
    const int32_t *y_class; /* [n] class indices, or NULL */
    const float *y_target;  /* [n, outputs] float targets, or NULL */
    const float *weights;   /* [n] sample weights, or NULL */
} mt_arrays;

/* What a training call reports: the same values on every rank, but for the times, which are this
 * rank's. NaN where not measured. */
typedef struct mt_train_report {
    int epochs_run;                  /* epochs this call ran */
    double loss, accuracy;           /* training loss and accuracy of the last epoch */
    double val_loss, val_accuracy;   /* validation split or fraction, last epoch */
    double test_loss, test_accuracy; /* the config's data.test split (file training only) */
    double train_seconds;            /* wall-clock seconds in training steps (this rank) */
    double samples_per_sec;          /* samples of all ranks per second of this rank's training time */
    int ranks;                       /* ranks that trained */
} mt_train_report;

/* Loss and metrics of a data set; the same values on every rank. NaN where not meaningful: accuracy for
 * regression losses; binary_accuracy, mae and rmse unless the config's metrics list asks for them. */
typedef struct mt_eval_report {
    uint64_t rows; /* rows evaluated over all ranks (after data.missing: drop) */
    double loss, accuracy, binary_accuracy, mae, rmse;
} mt_eval_report;

/* Events passed to a progress callback. */
typedef enum mt_event_kind {
    MT_EVENT_INFO,    /* message: resuming, restoring best weights, early stopping */
    MT_EVENT_WARNING, /* message: something the user should know (skipped steps, dead units...) */
    MT_EVENT_EPOCH    /* epoch finished: epoch, epochs and the metrics */
} mt_event_kind;

typedef struct mt_event {
    mt_event_kind kind;
    const char *message;                           /* INFO, WARNING; NULL for EPOCH. Borrowed for the call. */
    int epoch, epochs;                             /* EPOCH: 1-based epoch and the total */
    double loss, accuracy, val_loss, val_accuracy; /* EPOCH: NaN where not measured */
    double seconds;                                /* EPOCH: wall-clock seconds of the epoch */
} mt_event;

/* Called on rank 0 of the trainer's communicator only, from inside mt_trainer_train*; it must not call
 * into the trainer. */
typedef void (*mt_event_fn)(const mt_event *ev, void *user);

/* Flags of mt_trainer_train and mt_trainer_train_arrays. */
#define MT_TRAIN_RESUME \
    1u /* continue from the newest intact checkpoint in the output directory
                                 (from scratch, with an INFO event, when there is none) */

/* ---- creating and destroying ---- */

/* Collective. Builds a trainer from YAML config text (the format of mpitrain's config files) with
 * overrides[0 .. n_overrides) applied in order, each "key=value" as mpitrain train --set takes them (e.g.
 * "training.epochs=5", "output=runs/a"; NULL when n_overrides is 0). data.file may be left out when the
 * trainer only trains on arrays. Messages name the config as "<yaml>"; the output directory defaults to
 * runs/run. The model's parameters are initialized from training.seed (the same on every rank), so
 * mt_trainer_predict works before training. *out is set on success (NULL otherwise) and owned by the
 * caller. The config must describe a model (model, loss, optimizer): a gan: config is MT_ERR_CONFIG. */
mt_status mt_trainer_from_yaml(const char *yaml, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                               mt_trainer **out, mt_error *err);

/* Collective. The same from a config file, read by every rank (the path must be readable on all of
 * them); messages name the file and line; the output directory defaults to runs/<file stem>. A missing
 * file is MT_ERR_INPUT. */
mt_status mt_trainer_from_file(const char *path, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                               mt_trainer **out, mt_error *err);

/* Collective. A trainer from a checkpoint (written by mt_trainer_save or by a training run): the config
 * stored in it, the overrides applied, its parameters and fitted preprocessing loaded. Rank 0 reads the
 * file (only rank 0 needs to see it) and sends the rest to the others. */
mt_status mt_trainer_from_checkpoint(const char *path, const char *const *overrides, size_t n_overrides, mt_comm_f comm,
                                     mt_trainer **out, mt_error *err);

/* Collective (frees the duplicated communicator). Releases everything the trainer owns; NULL is a no-op.
 * Call it before MPI_Finalize. */
void mt_trainer_destroy(mt_trainer *t);

/* Local. Sets the progress callback (NULL: none) and its user pointer, used by later training calls. */
void mt_trainer_set_progress(mt_trainer *t, mt_event_fn fn, void *user);

/* ---- training ---- */

/* Collective. Trains the model on the config's data (data.file: train split, validation split or
 * fraction, test split), every rank reading its share of each global batch from the file, which all
 * ranks must be able to read. The run directory (the config's output) gets what mpitrain train writes
 * there: metrics.jsonl, scaling.json, checkpoint files; rank 0 writes them. Without MT_TRAIN_RESUME in
 * flags, training starts from the parameters initialized by training.seed, not from the trainer's current
 * ones. Afterwards the trainer holds the final model (the last epoch's, or the best one when early
 * stopping restores it) and its fitted preprocessing. report may be NULL. A run stopped by
 * mt_request_stop returns MT_INTERRUPTED after writing a checkpoint; the trainer then holds that model. */
mt_status mt_trainer_train(mt_trainer *t, unsigned flags, mt_train_report *report, mt_error *err);

/* Collective. The same on arrays in memory: train and, optionally, validation rows (NULL: the config's
 * data.validation_fraction, if any, is taken from the training rows), each rank passing its own rows (see
 * mt_arrays). This version writes the rows to <output>/arrays.h5 (splits "train" and "validation"; every
 * rank writes its rows in turn, so the output directory must be on a file system all ranks share) and
 * trains on that file with the config's data.file, data.train, data.validation and data.test replaced;
 * the file stays, so that the run can be resumed or repeated with mpitrain train. An empty data set,
 * shapes or labels that do not fit the model are MT_ERR_INPUT. */
mt_status mt_trainer_train_arrays(mt_trainer *t, const mt_arrays *train, const mt_arrays *validation, unsigned flags,
                                  mt_train_report *report, mt_error *err);

/* Async-signal-safe, process-wide: asks a running training call to stop at the end of the current step
 * (every rank learns of it there); it writes <output>/checkpoint_interrupted.h5 and returns
 * MT_INTERRUPTED, and the trainer holds the model of that checkpoint. signo names the signal in the
 * message (0: "a stop request"). The request stays in force for the rest of the process: a later
 * training call stops after its first step. Meant for ending a job (SIGTERM before a time limit), then
 * continuing in a new process with MT_TRAIN_RESUME. */
void mt_request_stop(int signo);

/* ---- evaluation and prediction ---- */

/* Collective. Loss and metrics of the trainer's model on rows in memory, each rank passing its own rows;
 * the sums are combined over the ranks. Labels are required. report must not be NULL. */
mt_status mt_trainer_evaluate_arrays(mt_trainer *t, const mt_arrays *data, mt_eval_report *report, mt_error *err);

/* Collective. The same on split `split` of HDF5 dataset `file`, each rank reading a contiguous part of it.
 * file NULL: the config's data.file; split NULL: the config's data.test, else data.validation, else
 * "test". */
mt_status mt_trainer_evaluate_file(mt_trainer *t, const char *file, const char *split, mt_eval_report *report,
                                   mt_error *err);

/* Local (no communication; ranks may predict different rows or none). Runs the model on n samples x
 * [n, input shape...] (raw features; the fitted preprocessing is applied to a copy) and writes its outputs
 * to out [n, mt_trainer_output_size(t)], caller-allocated: for classifiers the output layer's values
 * (softmax probabilities, sigmoid p(class 1), or scores). NaN features follow data.missing (under error
 * and drop their outputs are NaN). Not thread-safe: the trainer's buffers are used. */
mt_status mt_trainer_predict(mt_trainer *t, const float *x, uint64_t n, float *out, mt_error *err);

/* ---- checkpoints ---- */

/* Collective; rank 0 writes path (atomically: a temporary file renamed into place). The checkpoint holds
 * the parameters, the fitted preprocessing and the effective config (YAML), in mpitrain's checkpoint
 * format: mpitrain eval, mt_trainer_load and mt_trainer_from_checkpoint read it. It has no optimizer
 * state: to continue a training run, resume from the run directory's checkpoints (MT_TRAIN_RESUME). */
mt_status mt_trainer_save(mt_trainer *t, const char *path, mt_error *err);

/* Collective. Loads the parameters and fitted preprocessing of checkpoint path (written by
 * mt_trainer_save or a training run) into the trainer, whose model must have the same layers and shapes
 * (MT_ERR_INPUT naming the first tensor that differs otherwise; the trainer is then unchanged). Rank 0
 * reads the file and sends the values to the others. */
mt_status mt_trainer_load(mt_trainer *t, const char *path, mt_error *err);

/* ---- inspection (local) ---- */

/* Floats per sample of x (the product of model.input). */
size_t mt_trainer_input_size(const mt_trainer *t);
/* Outputs per sample (the width of predictions and of y_target). */
size_t mt_trainer_output_size(const mt_trainer *t);
/* Trainable parameters of the model. */
size_t mt_trainer_param_count(const mt_trainer *t);
/* The run directory (the config's output). Owned by the trainer. */
const char *mt_trainer_output_dir(const mt_trainer *t);
/* The effective config as YAML text (after overrides; after an array run, with data.file naming the
 * arrays' file): what mt_trainer_save stores. Owned by the trainer; valid until the next training call. */
const char *mt_trainer_config_yaml(const mt_trainer *t);
/* Rank of this process in, and size of, the trainer's communicator. */
int mt_trainer_rank(const mt_trainer *t);
int mt_trainer_size(const mt_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
