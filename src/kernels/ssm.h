// Mamba-1 kernels (architecture.md §4.3): the depthwise causal conv with its rolling state, and the
// selective scan with its recurrent state. Both run over a chunk of tokens and leave the state ready
// for the next chunk, so chunked prefill and token-by-token decode give the same result.
#pragma once
#include <cstdint>

namespace bf {

// u[t, c] = SiLU(b[c] + Σ_k w[c, k] · x_{t−(K−1)+k}[c]) for t < n_tokens, where inputs before the chunk
// come from conv_state [n_ch, K−1] (oldest first) and x rows have stride x_stride. Updates conv_state
// to the last K−1 inputs. bias may be null.
void causal_conv1d_silu(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                        const float* w, const float* bias, float* conv_state, float* u);

struct ScanArgs {
    int64_t n_tokens = 0, d_inner = 0, d_state = 0;
    const float* u = nullptr;        // [n_tokens, d_inner] conv output
    const float* dt = nullptr;       // [n_tokens, d_inner] W_dt·δ_raw, before the bias
    const float* dt_bias = nullptr;  // [d_inner]
    const float* A = nullptr;        // [d_inner, d_state] = −exp(A_log)
    const float* B = nullptr;        // row t at B + t·bc_stride, d_state values
    const float* C = nullptr;        // row t at C + t·bc_stride
    int64_t bc_stride = 0;
    const float* D = nullptr;  // [d_inner]
    float* state = nullptr;    // [d_inner, d_state], updated in place
    float* y = nullptr;        // [n_tokens, d_inner] readout incl. the D skip
};
// h = exp(Δ·A)·h + Δ·B·u;  y = C·h + D·u, with Δ = softplus(dt + dt_bias) (steps 4–7).
void selective_scan(const ScanArgs& a);

}  // namespace bf
