/* Single-precision matrix product of our own (mt_gemm), tuned for the small and medium shapes of the
 * layers (M or N = 10 .. 1024, K = 10 .. 1024): a register-blocked AVX-512 FMA kernel over panels
 * packed into the L1 cache, with a plain C kernel when the compiler does not target AVX-512. It runs on
 * the calling thread and allocates nothing.
 *
 * Reproducible: each element C[i, j] is computed by the same sequence of operations whatever m, n, the
 * transposes' storage or the element's place in a tile: multiply-adds (fused with AVX-512) over k in
 * increasing order, in k blocks that depend on k only, each block's sum added into C in turn. So a
 * product over a slice of the rows of op(A) (one rank's share of a batch) gives bit for bit the rows of
 * the whole product, and repeated calls give the same bits. */
#ifndef MT_CORE_GEMM_H
#define MT_CORE_GEMM_H

/* C[m, n] = alpha * op(A) op(B) + beta * C, row-major; op(X) is X^T when tx is nonzero, so op(A) is
 * [m, k] and A is [m, k] (lda >= k) or, transposed, [k, m] (lda >= m); B alike with [k, n]. With
 * beta == 0, C is only written (it may hold NaN before). m, n or k may be 0. Same arguments as
 * mt_sgemm (core/blas.h). Each thread uses its own packing buffers (about 40 KB of thread-local
 * storage). The summation order over k differs from OpenBLAS', so results agree with it to rounding. */
void mt_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
             float beta, float *c, int ldc);

/* Name of the kernel compiled in: "avx512" or "portable" (for benchmarks and reports). */
const char *mt_gemm_kernel_name(void);

#endif
