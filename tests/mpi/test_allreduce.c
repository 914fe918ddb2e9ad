/* The gradient allreduce (mt_comm_allreduce_sum_f32), run at np = 1, 2, 4: for small and large counts,
 * over repeated calls with growing and shrinking counts, every element must equal the exact sum (small
 * integers, so float sums are exact) and be bitwise the same on every rank. */
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "testlib.h"

int main(int argc, char **argv)
{
    mt_comm_init(&argc, &argv);
    mt_comm *c = NULL;
    mt_error err = {0};
    mt_comm_create_world(&c, &err);
    int rank = mt_comm_rank(c), size = mt_comm_size(c);
    const size_t sizes[] = {1, 7, 4095, 4096, 4097, 100003, 1 << 20, 5000, 1 << 20, 3, 262147};
    size_t max = 1 << 20;
    float *buf = malloc(max * sizeof *buf), *copy = malloc(max * sizeof *copy);
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        size_t n = sizes[t];
        for (size_t i = 0; i < n; i++)
            buf[i] = (float)((i * 7 + (size_t)rank * 13 + t) % 101);
        CHECK(mt_comm_allreduce_sum_f32(c, buf, n, &err) == MT_OK, "allreduce of %zu: %s", n, err.msg);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) {
            float want = 0;
            for (int r = 0; r < size; r++)
                want += (float)((i * 7 + (size_t)r * 13 + t) % 101);
            wrong += buf[i] != want;
        }
        CHECK(wrong == 0, "rank %d, n = %zu: %zu wrong sums", rank, n, wrong);
        memcpy(copy, buf, n * sizeof *buf);
        mt_comm_bcast(c, copy, n * sizeof *copy, 0, &err);
        CHECK(memcmp(copy, buf, n * sizeof *buf) == 0, "rank %d, n = %zu: differs from rank 0", rank, n);
    }
    free(buf), free(copy);
    double f = mt_test_failures;
    mt_comm_allreduce_sum_f64(c, &f, 1, &err);
    mt_test_failures = (int)f;
    mt_comm_destroy(c);
    mt_comm_finalize();
    return rank == 0 ? mt_test_finish("allreduce") : (mt_test_failures ? 1 : 0);
}
