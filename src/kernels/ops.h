// Element-wise and per-row operations of the model (norms, activations). Plain loops over the row,
// vectorized with the branch-free math of kernels/vec_math.h (compiled per SIMD target).
#pragma once
#include <cmath>  // kept: includers rely on it
#include <cstdint>

#include "kernels/vec_math.h"

namespace bf {

// Scalar entry points to the vectorizable forms (a few ulp from std::; usable inside omp simd loops).
inline float silu(float v) { return silu_vec(v); }
// log(1 + e^v), as the CUDA kernels do: identity above 20 (§4.3 step 4).
inline float softplus(float v) { return softplus_vec(v); }

// y[t] = (x[t] − mean) / sqrt(var + eps) ⊙ w + b over rows of n (biased variance), for n_rows rows.
// Float lanes with a corrected two-pass mean/variance (error ~1e-7 relative, like double accumulation).
void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y);
// out[t, i] = SiLU(gate[t, i]) · up[t, i]; gate and up rows have the given strides, out is contiguous.
void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out);
// y[t, i] += x[t, i] (+ bias[i] if bias), rows of n with the given strides; rows of y and x must not overlap.
void add_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* bias, int64_t n_rows,
              int64_t n);
// x[t, i] += bias[i].
void add_bias(float* x, int64_t x_stride, const float* bias, int64_t n_rows, int64_t n);

}  // namespace bf
