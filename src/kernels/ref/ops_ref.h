// Scalar reference versions of the SSM kernels and row ops (kernels/ssm.h, kernels/ops.h): plain loops
// with std::exp / std::log1p, one output at a time, kept as the oracle the vectorized versions are tested
// against. Same signatures and layouts as the fast versions.
#pragma once
#include <cstdint>

#include "kernels/ssm.h"

namespace bf::ref {

void causal_conv1d_silu(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                        const float* w, const float* bias, float* conv_state, float* u);
void selective_scan(const ScanArgs& a);
// Mean and variance in double.
void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y);
void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out);

}  // namespace bf::ref
