/* The run directory: creation and write check, metrics.jsonl, scaling.json, and the checkpoint files
 * (checkpoint.h5 = latest, checkpoint_epochNNNN.h5 for the last `keep` epochs, checkpoint_stepNNNNNNNN.h5
 * for the last `keep` step checkpoints since the latest epoch one). Rank 0 only. */
#ifndef MT_TRAIN_RUN_DIR_H
#define MT_TRAIN_RUN_DIR_H

#include "train/checkpoint.h"
#include "train/trainer.h"

/* Creates dir (and parents) and checks that a file can be created in it (MT_ERR_INPUT otherwise); removes
 * the temporary files of checkpoint writes that were killed part-way. */
mt_status mt_run_dir_prepare(const char *dir, mt_error *err);

/* Rewrites metrics.jsonl from the history: n rows of c->n values (used at start and on resume, so rows
 * match the checkpoint). Each row is one JSON object: its first c->base columns always (null when NaN),
 * the others when measured. */
mt_status mt_run_dir_write_metrics(const char *dir, const mt_train_columns *c, const double *rows, size_t n,
                                   mt_error *err);

/* Appends one row to metrics.jsonl. */
mt_status mt_run_dir_append_metrics(const char *dir, const mt_train_columns *c, const double *row, mt_error *err);

/* Writes scaling.json from the result. */
mt_status mt_run_dir_write_scaling(const char *dir, const mt_train_result *res, uint64_t global_batch, mt_error *err);

/* Path of the checkpoint for an epoch: DIR/checkpoint_epochNNNN.h5. */
void mt_run_dir_checkpoint_path(const char *dir, int epoch, char *buf, size_t size);

/* After the epoch checkpoint is written: points DIR/checkpoint.h5 at it (atomically), removes epoch
 * checkpoints beyond the newest `keep` and every step checkpoint. */
mt_status mt_run_dir_publish_checkpoint(const char *dir, int epoch, int keep, mt_error *err);

/* Path of the checkpoint after optimizer step `step` of the run (checkpoint.every_steps or every_seconds):
 * DIR/checkpoint_stepNNNNNNNN.h5. */
void mt_run_dir_step_checkpoint_path(const char *dir, long long step, char *buf, size_t size);

/* After a step checkpoint is written: points DIR/checkpoint.h5 at it and keeps the newest `keep` step
 * checkpoints up to this step. */
mt_status mt_run_dir_publish_step_checkpoint(const char *dir, long long step, int keep, mt_error *err);

/* dir/checkpoint_interrupted.h5: the checkpoint a run stopped by a signal writes mid-epoch. */
void mt_run_dir_interrupted_path(const char *dir, char *buf, size_t size);
/* Points checkpoint.h5 at it. */
mt_status mt_run_dir_publish_interrupted(const char *dir, mt_error *err);

typedef char mt_run_dir_path[MT_PATH_MAX + 64];

/* The checkpoint files of dir, newest first, for --resume to try in turn: checkpoint.h5, then
 * checkpoint_interrupted.h5, then the step files by descending step, then the epoch files by descending
 * epoch; a file that is another name of
 * one already listed (checkpoint.h5 is a hard link) is listed once. Returns how many (at most max). */
int mt_run_dir_list_checkpoints(const char *dir, mt_run_dir_path *paths, int max);

#endif
