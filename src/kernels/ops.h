// Element-wise and per-row operations of the model (norms, activations). Plain loops the compiler
// vectorizes; they are a small share of a decode step next to the matrix products.
#pragma once
#include <cmath>
#include <cstdint>

namespace bf {

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }
// log(1 + e^v), as the CUDA kernels do: identity above 20 (§4.3 step 4).
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

// y[t] = (x[t] − mean) / sqrt(var + eps) ⊙ w + b over rows of n (biased variance), for n_rows rows.
void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y);
// out[t, i] = SiLU(gate[t, i]) · up[t, i]; gate and up rows have the given strides, out is contiguous.
void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out);
// y[t, i] += x[t, i] (+ bias[i] if bias), rows of n with the given strides.
void add_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* bias, int64_t n_rows,
              int64_t n);
// x[t, i] += bias[i].
void add_bias(float* x, int64_t x_stride, const float* bias, int64_t n_rows, int64_t n);

}  // namespace bf
