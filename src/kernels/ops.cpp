// Row operations of the model: LayerNorm, SiLU gating, residual adds. The row kernels are compiled for
// AVX-512 / AVX2 / baseline (BF_SIMD_CLONES) with omp simd loops; threads split rows of large batches.
#include "kernels/ops.h"

#include <cmath>

#include "kernels/compute.h"

namespace bf {

namespace {

// Corrected two-pass: a float mean m0 from lane sums, then Σd and Σd² of d = x − m0. The correction
// Σd/n repairs m0's rounding, and var = (Σd² − (Σd)²/n)/n loses nothing since Σd is tiny; this keeps
// float accumulation as accurate as the old double loops even when |mean| ≫ σ.
BF_SIMD_CLONES void layer_norm_rows(const float* x, const float* w, const float* b, float eps, int64_t r0, int64_t r1,
                                    int64_t n, float* y) {
    for (int64_t t = r0; t < r1; ++t) {
        const float* xr = x + t * n;
        float* yr = y + t * n;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < n; ++i) sum += xr[i];
        const float m0 = sum / float(n);
        float sd = 0.0f, sq = 0.0f;
#pragma omp simd reduction(+ : sd, sq)
        for (int64_t i = 0; i < n; ++i) {
            const float d = xr[i] - m0;
            sd += d;
            sq += d * d;
        }
        const float mean = m0 + sd / float(n);
        float var = (sq - sd * sd / float(n)) / float(n);
        var = var > 0.0f ? var : 0.0f;
        const float inv = 1.0f / std::sqrt(var + eps);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
    }
}

BF_SIMD_CLONES void silu_mul_rows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                                  int64_t r0, int64_t r1, int64_t n, float* out) {
    for (int64_t t = r0; t < r1; ++t) {
        const float* g = gate + t * gate_stride;
        const float* u = up + t * up_stride;
        float* o = out + t * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] = silu_vec(g[i]) * u[i];
    }
}

// Rows per chunk: split large batches only; small ones cost less than waking a thread.
int64_t row_grain(int64_t n_rows, int64_t n) { return chunk_grain(n_rows, n_rows > 1 && n_rows * n > 65536); }

}  // namespace

void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y) {
    parallel_for(n_rows, row_grain(n_rows, n),
                 [&](int64_t r0, int64_t r1, int) { layer_norm_rows(x, w, b, eps, r0, r1, n, y); });
}

void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out) {
    parallel_for(n_rows, row_grain(n_rows, n),
                 [&](int64_t r0, int64_t r1, int) { silu_mul_rows(gate, gate_stride, up, up_stride, r0, r1, n, out); });
}

// Plain loops are not vectorized at -O2 (y and x may alias, and the cheap cost model allows no run-time
// check); omp simd asserts the rows do not overlap, which every caller guarantees.
BF_SIMD_CLONES void add_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* bias,
                             int64_t n_rows, int64_t n) {
    for (int64_t t = 0; t < n_rows; ++t) {
        float* yr = y + t * y_stride;
        const float* xr = x + t * x_stride;
        if (bias) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] += xr[i] + bias[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yr[i] += xr[i];
        }
    }
}

BF_SIMD_CLONES void add_bias(float* x, int64_t x_stride, const float* bias, int64_t n_rows, int64_t n) {
    for (int64_t t = 0; t < n_rows; ++t) {
        float* xr = x + t * x_stride;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) xr[i] += bias[i];
    }
}

}  // namespace bf
