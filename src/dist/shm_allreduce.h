/* Allreduce through shared memory for the ranks of one node: every rank copies its buffer into a shared
 * window, each rank sums one contiguous chunk over all ranks (in rank order, so every element is summed
 * once and every rank gets bitwise the same result), and every rank copies the summed chunks back.
 * Internal to src/dist/ (it includes mpi.h). */
#ifndef MT_DIST_SHM_ALLREDUCE_H
#define MT_DIST_SHM_ALLREDUCE_H

#include <stddef.h>

#include <mpi.h>

typedef struct mt_shm mt_shm;

/* Collective over comm. Returns NULL (and the caller keeps using MPI_Allreduce) when the ranks are not
 * all on one node, when there is one rank, or when shared memory cannot be set up. */
mt_shm *mt_shm_create(MPI_Comm comm);

/* Collective: in-place sum of n floats. Returns an MPI error code (MPI_SUCCESS on success). */
int mt_shm_allreduce_f32(mt_shm *s, float *buf, size_t n);

void mt_shm_destroy(mt_shm *s);

#endif
