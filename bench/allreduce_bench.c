/* MPI allreduce microbenchmark: latency and bandwidth of MPI_Allreduce (float sum, in place) for message
 * sizes from 4 bytes to 16 MiB on the ranks of the job. Each size is timed over enough repetitions to
 * take ~20 ms, several times; the median per-call time is printed with the bus bandwidth
 * 2 (p - 1) / p * bytes / time (the bytes each rank must move in a bandwidth-optimal allreduce).
 * The result is checked (every rank contributes its rank + 1) before timing.
 * Usage: mpirun -np P bench/allreduce_bench [MAX_BYTES]   (prints CSV: bytes,seconds,busbw_GBps) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t max_bytes = argc > 1 ? (size_t)atol(argv[1]) : (size_t)16 << 20;
    float *buf = malloc(max_bytes);
    if (!buf)
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0)
        printf("bytes,seconds,busbw_GBps\n");
    for (size_t bytes = 4; bytes <= max_bytes; bytes *= 4) {
        int n = (int)(bytes / sizeof(float));
        for (int i = 0; i < n; i++)
            buf[i] = (float)(rank + 1);
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        float want = (float)size * (size + 1) / 2;
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad |= buf[i] != want;
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
        if (bad) {
            if (rank == 0)
                fprintf(stderr, "allreduce_bench: wrong sum at %zu bytes\n", bytes);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        /* Repetitions for ~20 ms, agreed on by all ranks. */
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double one = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &one, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        int reps = one > 0 ? (int)fmin(10000, fmax(3, 0.02 / one)) : 1000;
        double times[7];
        for (int r = 0; r < 7; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
            for (int k = 0; k < reps; k++)
                MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            times[r] = (MPI_Wtime() - t0) / reps;
            MPI_Allreduce(MPI_IN_PLACE, &times[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        }
        qsort(times, 7, sizeof times[0], cmp);
        double t = times[3], bus = size > 1 ? 2.0 * (size - 1) / size * (double)bytes / t / 1e9 : 0;
        if (rank == 0)
            printf("%zu,%.3e,%.2f\n", bytes, t, bus);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
