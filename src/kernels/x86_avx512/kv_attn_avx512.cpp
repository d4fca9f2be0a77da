// AVX-512 VNNI attention over the quantized K/V cache (layout: kernels/kv_cache.h). Scores: a 64-byte
// K row holds 4 dimensions of 16 tokens, so vpdpbusd with the query's 4 codes broadcast yields 16 token
// scores per instruction sequence with no horizontal sums. Values: a 64-byte V row holds 4 tokens of 16
// dimensions, met by the block's int8 weights of those 4 tokens. Results equal ref/kv_attn_ref.cpp's.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_api.h"

namespace bf {

namespace {

// Logical 64-byte row r of a head block: Q8_0 as stored; Q4_0 row r < 8·D/64 is the low nibbles of stored
// row r, row r + 8·D/64 its high nibbles.
struct Rows {
    const uint8_t* base;
    int64_t half_rows;  // rows held in the low nibbles (Q4_0), 0 for Q8_0
    __m512i row(int64_t r) const {
        const __m512i m = _mm512_set1_epi8(0x0F);
        if (!half_rows) return _mm512_loadu_si512(base + r * 64);
        if (r < half_rows) return _mm512_and_si512(_mm512_loadu_si512(base + r * 64), m);
        return _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(base + (r - half_rows) * 64), 4), m);
    }
};

constexpr int kMaxHeadsPerK = 8;

}  // namespace

void avx512_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes(), nq = D / 4;
    const int64_t half_rows = kv.type == KvType::Q4_0 ? nq / 2 : 0;
    const int64_t heads_per_k = a.group;
    if (D % 16 || heads_per_k > kMaxHeadsPerK) return ref_kv_scores(a, b0, b1);
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t g = 0; g < kv.n_kv_head; ++g) {
            const Rows rows{kv.k + (b * kv.n_kv_head + g) * hb, half_rows};
            int64_t heads[kMaxHeadsPerK];  // h = 2p + (g & 1) for the group of pairs p that share K head g
            for (int64_t i = 0; i < heads_per_k; ++i) heads[i] = 2 * ((g / 2) * a.group + i) + (g & 1);
            __m512i acc[kMaxHeadsPerK];
            for (int64_t i = 0; i < heads_per_k; ++i) acc[i] = _mm512_setzero_si512();
            for (int64_t r = 0; r < nq; ++r) {
                const __m512i kr = rows.row(r);
                for (int64_t i = 0; i < heads_per_k; ++i) {
                    int32_t q4;
                    std::memcpy(&q4, a.q + heads[i] * D + 4 * r, 4);
                    acc[i] = _mm512_dpbusd_epi32(acc[i], kr, _mm512_set1_epi32(q4));
                }
            }
            const __m512 ks = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.ks + (b * kv.n_kv_head + g) * kKvBlock)));
            for (int64_t i = 0; i < heads_per_k; ++i) {
                const int64_t h = heads[i];
                const __m512i si = _mm512_sub_epi32(acc[i], _mm512_set1_epi32(kv.offset() * a.qsum[h]));
                const __m512 s = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(si), _mm512_set1_ps(a.qscale[h])), ks);
                _mm512_storeu_ps(a.s + h * a.ld + b * kKvBlock, s);
            }
        }
}

void avx512_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    const int64_t half_rows = kv.type == KvType::Q4_0 ? D / 8 : 0;  // 4·D/64 rows per kq pair
    if (D % 16) return ref_kv_values(a, b0, b1);
    const __m512 sign_off = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t p = 0; p < a.n_pair; ++p)
            for (int64_t half = 0; half < 2; ++half) {
                const int64_t gv = 2 * (p / a.group) + half;
                const Rows rows{kv.v + (b * kv.n_kv_head + gv) * hb, half_rows};
                const __m512 vs = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.vs + (b * kv.n_kv_head + gv) * kKvBlock)));
                const __m512 w = _mm512_mul_ps(_mm512_loadu_ps(a.w + p * a.ld + b * kKvBlock), vs);
                const float amax = _mm512_reduce_max_ps(_mm512_and_ps(w, sign_off));
                if (!(amax > 0.0f)) continue;
                const float inv = 127.0f / amax, scale = amax / 127.0f;
                const __m512 wr = _mm512_roundscale_ps(_mm512_mul_ps(w, _mm512_set1_ps(inv)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                const __m512i wi = _mm512_cvtps_epi32(wr);
                const int32_t wsum = _mm512_reduce_add_epi32(wi);
                alignas(16) int32_t w4[4];  // the int8 weights of tokens 4kq..4kq+3 as one int32 each
                _mm_store_si128(reinterpret_cast<__m128i*>(w4), _mm512_cvtepi32_epi8(wi));
                const __m512i corr = _mm512_set1_epi32(kv.offset() * wsum);
                float* u = a.u + p * 2 * D + half * D;
                for (int64_t dc = 0; dc < D / 16; ++dc) {
                    __m512i acc = _mm512_setzero_si512();
                    for (int kq = 0; kq < 4; ++kq)
                        acc = _mm512_dpbusd_epi32(acc, rows.row((kq * D) / 16 + dc), _mm512_set1_epi32(w4[kq]));
                    const __m512 add = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr)), _mm512_set1_ps(scale));
                    _mm512_storeu_ps(u + 16 * dc, _mm512_add_ps(_mm512_loadu_ps(u + 16 * dc), add));
                }
            }
}

}  // namespace bf
