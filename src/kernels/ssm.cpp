// Mamba-1 kernels: the causal conv and the selective scan, vectorized across channels (every channel is
// an independent recurrence, so SIMD lanes = channels, tokens in order) and compiled per SIMD target.
// Threads split channel blocks; the scalar originals live in kernels/ref/ops_ref.cpp as the test oracle.
#include "kernels/ssm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/compute.h"
#include "kernels/vec_math.h"

namespace bf {

namespace {

constexpr int64_t kConvBlock = 64;  // channels per conv block: K·64 weights and inputs fit in L1
constexpr int64_t kMaxConv = 64;    // ModelConfig caps d_conv at 64
constexpr int64_t kLanes = 16;      // channels per scan block: one zmm, two ymm
// Below this many tokens the per-channel scan (lanes = states, one horizontal sum per token) wins: the
// blocked scan's transposes of state and A would cost more than the tokens they serve.
constexpr int64_t kMinBlockedTokens = 3;
constexpr int64_t kPrefetchTokens = 4;  // how far ahead the blocked scan prefetches its rows

// Channels [c0, c0 + bw) of causal_conv1d_silu, all tokens.
BF_SIMD_CLONES void conv_block(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                               const float* w, const float* bias, float* conv_state, float* u, int64_t c0, int64_t bw) {
    const int64_t hist = k_size - 1;
    // Weights and the previous inputs transposed to [k][channel], so that lanes read contiguous channels.
    float wt[kMaxConv * kConvBlock], st[kMaxConv * kConvBlock], acc[kConvBlock];
    for (int64_t j = 0; j < bw; ++j)
        for (int64_t k = 0; k < k_size; ++k) wt[k * kConvBlock + j] = w[(c0 + j) * k_size + k];
    for (int64_t j = 0; j < bw; ++j)
        for (int64_t i = 0; i < hist; ++i) st[i * kConvBlock + j] = conv_state[(c0 + j) * hist + i];
    // Input row p of the block: x for p >= 0, the saved history for p in [−hist, 0).
    auto row = [&](int64_t p) -> const float* { return p >= 0 ? x + p * x_stride + c0 : st + (hist + p) * kConvBlock; };
    for (int64_t t = 0; t < n_tokens; ++t) {
        if (t + kPrefetchTokens < n_tokens)  // strided rows, as in scan_block
            for (int64_t j = 0; j < bw; j += 16) {
                __builtin_prefetch(x + (t + kPrefetchTokens) * x_stride + c0 + j);
                __builtin_prefetch(u + (t + kPrefetchTokens) * n_ch + c0 + j, 1);
            }
#pragma omp simd
        for (int64_t j = 0; j < bw; ++j) acc[j] = bias ? bias[c0 + j] : 0.0f;
        for (int64_t k = 0; k < k_size; ++k) {  // same summation order as the scalar reference
            const float* src = row(t - hist + k);
            const float* wk = wt + k * kConvBlock;
#pragma omp simd
            for (int64_t j = 0; j < bw; ++j) acc[j] += wk[j] * src[j];
        }
        float* ut = u + t * n_ch + c0;
#pragma omp simd
        for (int64_t j = 0; j < bw; ++j) ut[j] = silu_vec(acc[j]);
    }
    for (int64_t i = 0; i < hist; ++i) {  // the last hist inputs become the history
        const float* src = row(n_tokens - hist + i);
        for (int64_t j = 0; j < bw; ++j) conv_state[(c0 + j) * hist + i] = src[j];
    }
}

// Channels [c0, c0 + w), w <= kLanes, lanes over the states: for a token or two, where transposing would
// not pay. The Δ of the w channels are computed together first, so softplus is vectorized here too.
BF_SIMD_CLONES void scan_channels(const ScanArgs& a, int64_t c0, int64_t w) {
    const int64_t N = a.d_state, di = a.d_inner;
    alignas(64) float delta[kLanes];
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        const float* dtr = a.dt + t * di + c0;
        const float* ur = a.u + t * di + c0;
        const float* bias = a.dt_bias + c0;
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) delta[j] = softplus_vec(dtr[j] + bias[j]);
        const float* Bt = a.B + t * a.bc_stride;
        const float* Ct = a.C + t * a.bc_stride;
        for (int64_t j = 0; j < w; ++j) {
            float* h = a.state + (c0 + j) * N;
            const float* Ac = a.A + (c0 + j) * N;
            const float dj = delta[j], uc = ur[j], du = dj * uc;
            float y = 0.0f;
#pragma omp simd reduction(+ : y)
            for (int64_t n = 0; n < N; ++n) {
                const float hn = exp_vec(dj * Ac[n]) * h[n] + du * Bt[n];
                h[n] = hn;
                y += Ct[n] * hn;
            }
            a.y[t * di + c0 + j] = y + a.D[c0 + j] * uc;
        }
    }
}

// Loads lanes [0, w) from p and zeroes the rest (padding lanes then stay exactly 0 through the scan).
inline void load_lanes(float* dst, const float* p, int64_t w) {
    if (w == kLanes) {
        std::memcpy(dst, p, kLanes * sizeof(float));
    } else {
        for (int64_t j = 0; j < kLanes; ++j) dst[j] = j < w ? p[j] : 0.0f;
    }
}

// Channels [c0, c0 + w), w <= kLanes, lanes over the channels: state and A are transposed to
// [state][lane] in hs/at (d_state·kLanes each) for the whole chunk, so exp(Δ·A) is one vector op per
// state and each lane accumulates its own y; nothing is summed across lanes.
BF_SIMD_CLONES void scan_block(const ScanArgs& a, int64_t c0, int64_t w, float* hs, float* at) {
    const int64_t N = a.d_state, di = a.d_inner;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < kLanes; ++j) {
            hs[n * kLanes + j] = j < w ? a.state[(c0 + j) * N + n] : 0.0f;
            at[n * kLanes + j] = j < w ? a.A[(c0 + j) * N + n] : 0.0f;
        }
    alignas(64) float bias[kLanes], dl[kLanes], ul[kLanes], du[kLanes], yl[kLanes], dd[kLanes];
    load_lanes(bias, a.dt_bias + c0, w);
    load_lanes(dd, a.D + c0, w);
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        // Rows are d_inner apart, each line is used once: the hardware prefetcher does not follow this
        // stride across pages, and the out-of-order window is shorter than one token's work, so each
        // token would wait a full memory latency for its Δ and u without these.
        if (t + kPrefetchTokens < a.n_tokens) {
            __builtin_prefetch(a.dt + (t + kPrefetchTokens) * di + c0);
            __builtin_prefetch(a.u + (t + kPrefetchTokens) * di + c0);
            __builtin_prefetch(a.y + (t + kPrefetchTokens) * di + c0, 1);
        }
        load_lanes(dl, a.dt + t * di + c0, w);
        load_lanes(ul, a.u + t * di + c0, w);
#pragma omp simd
        for (int64_t j = 0; j < kLanes; ++j) {
            dl[j] = softplus_vec(dl[j] + bias[j]);
            du[j] = dl[j] * ul[j];
            yl[j] = 0.0f;
        }
        const float* Bt = a.B + t * a.bc_stride;
        const float* Ct = a.C + t * a.bc_stride;
        for (int64_t n = 0; n < N; ++n) {
            const float bn = Bt[n], cn = Ct[n];
            float* h = hs + n * kLanes;
            const float* an = at + n * kLanes;
#pragma omp simd
            for (int64_t j = 0; j < kLanes; ++j) {
                const float hn = exp_vec(dl[j] * an[j]) * h[j] + du[j] * bn;
                h[j] = hn;
                yl[j] += cn * hn;
            }
        }
        float* yt = a.y + t * di + c0;
        for (int64_t j = 0; j < w; ++j) yt[j] = yl[j] + dd[j] * ul[j];
    }
    for (int64_t j = 0; j < w; ++j)
        for (int64_t n = 0; n < N; ++n) a.state[(c0 + j) * N + n] = hs[n * kLanes + j];
}

}  // namespace

void causal_conv1d_silu(const float* x, int64_t x_stride, int64_t n_tokens, int64_t n_ch, int64_t k_size,
                        const float* w, const float* bias, float* conv_state, float* u) {
    BF_CHECK(k_size >= 1 && k_size <= kMaxConv);
    const int64_t n_blocks = (n_ch + kConvBlock - 1) / kConvBlock;
    parallel_for(n_blocks, chunk_grain(n_blocks, n_ch * n_tokens > 4096), [&](int64_t b0, int64_t b1, int) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t c0 = b * kConvBlock;
            conv_block(x, x_stride, n_tokens, n_ch, k_size, w, bias, conv_state, u, c0,
                       std::min(kConvBlock, n_ch - c0));
        }
    });
}

void selective_scan(const ScanArgs& a) {
    const int64_t N = a.d_state;
    const int64_t n_blocks = (a.d_inner + kLanes - 1) / kLanes;
    // Small scans (tiny models, single tokens of small layers) are cheaper than waking a thread.
    const int64_t grain = chunk_grain(n_blocks, a.n_tokens * a.d_inner * N > (int64_t(1) << 15));
    if (a.n_tokens < kMinBlockedTokens) {
        parallel_for(n_blocks, grain, [&](int64_t b0, int64_t b1, int) {
            for (int64_t b = b0; b < b1; ++b) scan_channels(a, b * kLanes, std::min(kLanes, a.d_inner - b * kLanes));
        });
        return;
    }
    parallel_for(n_blocks, grain, [&](int64_t b0, int64_t b1, int worker) {
        // d_state <= 1024 (ModelConfig): <= 128 KiB of states and decays per worker
        float* scratch = workspace(worker).get<float>(KernelScratch::kScanState, size_t(2 * N * kLanes));
        for (int64_t b = b0; b < b1; ++b)
            scan_block(a, b * kLanes, std::min(kLanes, a.d_inner - b * kLanes), scratch, scratch + N * kLanes);
    });
}

}  // namespace bf
