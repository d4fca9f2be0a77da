#include "kernels/ssm.h"

#include <cmath>
#include <vector>

#include "kernels/ops.h"

namespace bf {

void causal_conv1d_silu(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                        const float* w, const float* bias, float* conv_state, float* u) {
    const int64_t hist = k_size - 1;
#pragma omp parallel for if (n_ch * n_tokens > 4096)
    for (int64_t c = 0; c < n_ch; ++c) {
        float* st = conv_state + c * hist;
        const float* wc = w + c * k_size;
        // window[0..hist) = previous inputs (oldest first), then the current one.
        float window[64];
        for (int64_t j = 0; j < hist; ++j) window[j] = st[j];
        for (int64_t t = 0; t < n_tokens; ++t) {
            window[hist] = x[t * x_stride + c];
            float acc = bias ? bias[c] : 0.0f;
            for (int64_t k = 0; k < k_size; ++k) acc += wc[k] * window[k];
            u[t * n_ch + c] = silu(acc);
            for (int64_t j = 0; j < hist; ++j) window[j] = window[j + 1];
        }
        for (int64_t j = 0; j < hist; ++j) st[j] = window[j];
    }
}

void selective_scan(const ScanArgs& a) {
    const int64_t N = a.d_state;
    // Small scans (tiny models, single tokens of small layers) are cheaper than waking a thread.
#pragma omp parallel for if (a.n_tokens * a.d_inner * N > (int64_t(1) << 15))
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

}  // namespace bf
