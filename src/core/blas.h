/* The BLAS calls the library uses, row-major, so that cblas.h is included in one place only. */
#ifndef MT_CORE_BLAS_H
#define MT_CORE_BLAS_H

/* C[m, n] = alpha * op(A) op(B) + beta * C, row-major; op is transpose when ta / tb is nonzero. */
void mt_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc);

/* Sets the number of BLAS threads (1 per rank by default, unless OPENBLAS_NUM_THREADS is set). */
void mt_blas_set_threads(int n);

/* Flushes denormal floats to zero in this thread (FTZ and DAZ on x86): tiny optimizer moments would
 * otherwise slow every step by an order of magnitude. No effect elsewhere. */
void mt_flush_denormals(void);

#endif
