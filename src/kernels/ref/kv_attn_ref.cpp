// Scalar reference of attention over the quantized K/V cache (kernels/kv_cache.h, kernel_api.h): the
// oracle the SIMD versions are tested against, and the path for head sizes they do not cover.
#include <cfloat>
#include <cmath>

#include "core/fp16.h"
#include "kernels/act_quant.h"
#include "kernels/kernel_api.h"

namespace bf {

namespace {

// Unsigned code of logical byte i of a head block.
int code_at(const KvView& kv, const uint8_t* base, int64_t i) {
    if (kv.type != KvType::Q4_0) return base[i];
    const int64_t half = 8 * kv.head_dim;
    return i < half ? (base[i] & 0x0F) : (base[i - half] >> 4);
}

}  // namespace

void ref_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t h = 0; h < a.n_head; ++h) {
            const int64_t g = 2 * ((h / 2) / a.group) + (h & 1);
            const uint8_t* kb = kv.k + (b * kv.n_kv_head + g) * hb;
            const int8_t* q = a.q + h * D;
            for (int64_t t = 0; t < kKvBlock; ++t) {
                int32_t acc = 0;
                for (int64_t d = 0; d < D; ++d) acc += q[d] * code_at(kv, kb, ((d / 4) * kKvBlock + t) * 4 + d % 4);
                const float ks = f16_to_f32(kv.ks[(b * kv.n_kv_head + g) * kKvBlock + t]);
                a.s[(b * a.n_head + h) * kKvBlock + t] = float(acc - kv.offset() * a.qsum[h]) * a.qscale[h] * ks;
            }
        }
}

void ref_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t p = 0; p < a.n_pair; ++p)
            for (int64_t half = 0; half < 2; ++half) {
                const int64_t gv = 2 * (p / a.group) + half;
                const uint8_t* vb = kv.v + (b * kv.n_kv_head + gv) * hb;
                float w[kKvBlock];
                float amax = 0.0f;
                const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
                const float* e2 = e1 + kKvBlock;
                const float* c = a.coef + (b / kKvSpan) * 2 * a.n_pair + 2 * p;
                for (int64_t t = 0; t < kKvBlock; ++t) {
                    const float wc = std::fmaf(e1[t], c[0], -(e2[t] * c[1]));
                    w[t] = wc * f16_to_f32(kv.vs[(b * kv.n_kv_head + gv) * kKvBlock + t]);
                    amax = std::fmax(amax, std::fabs(w[t]));
                }
                if (!(amax >= FLT_MIN)) continue;  // 0, or so small that 127/amax would be inf
                const float inv = 127.0f / amax, scale = amax / 127.0f;
                int8_t wq[kKvBlock];
                int32_t wsum = 0;
                for (int64_t t = 0; t < kKvBlock; ++t) wsum += wq[t] = act_round_even(w[t] * inv);
                float* u = a.u + p * 2 * D + half * D;
                for (int64_t d = 0; d < D; ++d) {
                    int32_t acc = 0;
                    for (int64_t t = 0; t < kKvBlock; ++t) acc += wq[t] * code_at(kv, vb, ((t / 4) * D + d) * 4 + t % 4);
                    u[d] += float(acc - kv.offset() * wsum) * scale;
                }
            }
}

}  // namespace bf
