// Scalar reference of attention over the quantized K/V cache (kernels/kv_cache.h, kernel_api.h): the
// oracle the SIMD versions are tested against, and the path for head sizes they do not cover.
#include "core/fp16.h"
#include "kernels/kernel_api.h"
#include "kernels/kv_weights.h"

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
                KvBlockWeights bw;
                if (!kv_block_weights(a, b, p, half, bw)) continue;
                float* u = a.u + p * 2 * D + half * D;
                for (int64_t d = 0; d < D; ++d) {
                    int32_t acc = 0;
                    for (int64_t t = 0; t < kKvBlock; ++t)
                        acc += bw.wq[t] * code_at(kv, vb, ((t / 4) * D + d) * 4 + t % 4);
                    u[d] += float(acc - kv.offset() * bw.wsum) * bw.scale;
                }
            }
}

}  // namespace bf
