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

#include <stddef.h>
#include <stdint.h>

/* C[m, n] = alpha * op(A) op(B) + beta * C, row-major; op(X) is X^T when tx is nonzero, so op(A) is
 * [m, k] and A is [m, k] (lda >= k) or, transposed, [k, m] (lda >= m); B alike with [k, n]. With
 * beta == 0, C is only written (it may hold NaN before). m, n or k may be 0. Same arguments as
 * mt_sgemm (core/blas.h). Each thread uses its own packing buffers (about 40 KB of thread-local
 * storage). The summation order over k differs from OpenBLAS', so results agree with it to rounding. */
void mt_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
             float beta, float *c, int ldc);

/* What the store step does besides alpha op(A) op(B) + beta C, applied to each tile of C right after it is
 * stored, while it is in the L1 cache (no pass of its own over C); a member left 0 or NULL does nothing:
 *   bias   n values: C[i, j] = (alpha op(A) op(B) + beta C)[i, j] + bias[j], added when the first k block
 *          is stored (so the same rounding as copying bias into C and calling mt_gemm with beta 1)
 *   relu   after the last k block, C[i, j] = C[i, j] > 0 ? C[i, j] : 0 (NaN gives 0)
 *   mask   [m, ldmask] floats: after the last k block (and relu), C[i, j] = mask[i ldmask + j] > 0 ?
 *          C[i, j] : 0 (the gradient through a relu whose output is mask)
 * The elementwise steps keep mt_gemm's reproducibility: each element still gets one sequence of
 * operations whatever m, n or its place in a tile. */
#ifndef MT_GEMM_EPILOGUE_DEFINED /* (tests include gemm.c and this header twice) */
#define MT_GEMM_EPILOGUE_DEFINED
typedef struct mt_gemm_epilogue {
    const float *bias;
    int relu;
    const float *mask;
    int ldmask;
} mt_gemm_epilogue;
#endif

/* mt_gemm with an epilogue (ep may be NULL: plain mt_gemm). */
void mt_gemm_ex(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                float beta, float *c, int ldc, const mt_gemm_epilogue *ep);
/* The exact sum of a product by chunks of k, for deterministic mode's gradients (dW = dY^T X):
 * acc[i * ldacc + j] += sum over the chunks of fixed(P[i, j]), where a chunk is `chunk` consecutive values
 * of k (the last one may be shorter), P = op(A)[:, chunk] op(B)[chunk, :] is computed in float bit for bit
 * as mt_gemm(ta, tb, m, n, kc, 1, ..., 0, ...) computes the product over those kc values alone, and fixed()
 * is mt_fixed_add's rule (core/fixed_point.h; out-of-range values are counted and returned). With `fresh`
 * acc is written, its old contents ignored (k == 0 zeroes it). Each chunk's tile goes from the registers
 * into acc: the accumulator is read and written about once per call, not once per chunk. c [m, n] (ldc)
 * is scratch, used only by the portable kernel and for chunks over 256. */
size_t mt_gemm_fixed(int ta, int tb, int m, int n, int k, int chunk, const float *a, int lda, const float *b, int ldb,
                     double scale, double limit, int fresh, int64_t *acc, int ldacc, float *c, int ldc);

/* Name of the kernel compiled in: "avx512" or "portable" (for benchmarks and reports). */
const char *mt_gemm_kernel_name(void);

#endif
