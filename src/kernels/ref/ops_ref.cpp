// Scalar reference SSM kernels and row ops (the pre-vectorization code of kernels/ssm.cpp and ops.cpp):
// channel by channel, token by token, std::exp and std::log1p. Single-threaded; only tests call them.
#include "kernels/ref/ops_ref.h"

#include <cmath>
#include <vector>

namespace bf::ref {

namespace {
float silu(float v) { return v / (1.0f + std::exp(-v)); }
float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }
}  // namespace

void causal_conv1d_silu(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                        const float* w, const float* bias, float* conv_state, float* u) {
    const int64_t hist = k_size - 1;
    std::vector<float> window(static_cast<size_t>(k_size));  // previous inputs (oldest first), then the current one
    for (int64_t c = 0; c < n_ch; ++c) {
        float* st = conv_state + c * hist;
        const float* wc = w + c * k_size;
        for (int64_t j = 0; j < hist; ++j) window[size_t(j)] = st[j];
        for (int64_t t = 0; t < n_tokens; ++t) {
            window[size_t(hist)] = x[t * x_stride + c];
            float acc = bias ? bias[c] : 0.0f;
            for (int64_t k = 0; k < k_size; ++k) acc += wc[k] * window[size_t(k)];
            u[t * n_ch + c] = silu(acc);
            for (int64_t j = 0; j < hist; ++j) window[size_t(j)] = window[size_t(j + 1)];
        }
        for (int64_t j = 0; j < hist; ++j) st[j] = window[size_t(j)];
    }
}

void selective_scan(const ScanArgs& a) {
    const int64_t N = a.d_state;
    for (int64_t c = 0; c < a.d_inner; ++c) {
        float* h = a.state + c * N;
        const float* Ac = a.A + c * N;
        for (int64_t t = 0; t < a.n_tokens; ++t) {
            const float delta = softplus(a.dt[t * a.d_inner + c] + a.dt_bias[c]);
            const float uc = a.u[t * a.d_inner + c];
            const float* Bt = a.B + t * a.bc_stride;
            const float* Ct = a.C + t * a.bc_stride;
            float y = 0.0f;
            for (int64_t n = 0; n < N; ++n) {
                h[n] = std::exp(delta * Ac[n]) * h[n] + delta * Bt[n] * uc;
                y += Ct[n] * h[n];
            }
            a.y[t * a.d_inner + c] = y + a.D[c] * uc;
        }
    }
}

void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y) {
    for (int64_t t = 0; t < n_rows; ++t) {
        const float* xr = x + t * n;
        float* yr = y + t * n;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; ++i) sum += xr[i];
        const double mean = sum / double(n);
        for (int64_t i = 0; i < n; ++i) {
            const double d = xr[i] - mean;
            sq += d * d;
        }
        const float inv = float(1.0 / std::sqrt(sq / double(n) + eps));
        const float fm = float(mean);
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - fm) * inv * w[i] + b[i];
    }
}

void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out) {
    for (int64_t t = 0; t < n_rows; ++t)
        for (int64_t i = 0; i < n; ++i) out[t * n + i] = silu(gate[t * gate_stride + i]) * up[t * up_stride + i];
}

}  // namespace bf::ref
