/* Thin wrappers over OpenBLAS (cblas) so that only this file includes cblas.h, and the FPU setting
 * that keeps the arithmetic fast. */
#include "core/blas.h"

#include <cblas.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

void mt_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc);
}

void mt_blas_set_threads(int n)
{
    openblas_set_num_threads(n);
}

void mt_flush_denormals(void)
{
#if defined(__SSE__)
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
#endif
}
