// Dense symmetric linear algebra in double for calibrated quantization (GPTQ): the Gram matrix of
// activation rows and the upper Cholesky factor of an inverse. Row-major n x n matrices throughout.
#pragma once
#include <cstdint>

namespace bf {

// h[n x n] += x^T x for x [rows, n] (f32 rows, double sums); both triangles are written. Split over
// the output rows on the kernel pool.
void gram_accumulate(double* h, const float* x, int64_t rows, int64_t n);

// In place: a (symmetric positive definite) becomes U, upper triangular with a positive diagonal and
// U^T U = a^-1 (what torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(a)), upper=True)
// gives); the strict lower triangle is zeroed. Returns false, leaving `a` undefined, when a Cholesky
// factorization meets a non-positive pivot (a is not numerically positive definite).
bool upper_cholesky_of_inverse(double* a, int64_t n);

namespace ref {
// Plain loops, one product at a time: the oracles of the two above.
void gram_accumulate(double* h, const float* x, int64_t rows, int64_t n);
bool upper_cholesky_of_inverse(double* a, int64_t n);
}  // namespace ref

}  // namespace bf
