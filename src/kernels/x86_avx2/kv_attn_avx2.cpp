// AVX2 attention over the quantized K/V cache (layout: kernels/kv_cache.h), for x86 CPUs without
// AVX-512 VNNI. Without vpdpbusd, 4-byte dot products are vpmaddubsw + vpmaddwd; vpmaddubsw adds two
// u8·s8 products into an int16 and would saturate on int8 codes (2·255·127), so codes are made signed
// (q = u − offset) and multiplied as |x| · (q with x's sign), which stays within 2·127·127. The integer
// sums are then exactly the scalar reference's; scores equal it bit for bit, values up to float rounding.
// (Stored codes are never 0 — u ∈ [1, 255] — except in blocks past the valid tokens, whose scales are 0;
// for u = 0, q = −128 would not survive the sign trick.)
#include <immintrin.h>

#include <cfloat>
#include <cstring>

#include "core/fp16.h"
#include "kernels/kernel_api.h"

namespace bf {

namespace {

// Codes u of one 32-byte piece as signed values q = u − offset.
inline __m256i signed_codes(__m256i u, bool q4) {
    return q4 ? _mm256_sub_epi8(u, _mm256_set1_epi8(8)) : _mm256_xor_si256(u, _mm256_set1_epi8(char(0x80)));
}

// acc[lane] += Σ_e x[e] · q[4·lane + e] for the 4 signed bytes x (x4) and 32 signed codes q.
inline __m256i dot4(__m256i acc, __m256i q, int32_t x4) {
    const __m256i xb = _mm256_set1_epi32(x4);
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(xb), _mm256_sign_epi8(q, xb));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// The 32 signed codes at logical bytes [i, i + 32) of one head block (Q4_0: logical byte i is the low
// nibble of stored byte i for i < 8·D, the high nibble of stored byte i − 8·D after).
inline __m256i codes_at(const KvView& kv, const uint8_t* base, int64_t i) {
    const bool q4 = kv.type == KvType::Q4_0;
    if (!q4) return signed_codes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + i)), false);
    const int64_t half = 8 * kv.head_dim;
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + (i < half ? i : i - half)));
    const __m256i nib = i < half ? v : _mm256_srli_epi16(v, 4);
    return signed_codes(_mm256_and_si256(nib, _mm256_set1_epi8(0x0F)), true);
}

inline __m256 load8_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

void avx2_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    if (D % 8) return ref_kv_scores(a, b0, b1);
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t h = 0; h < a.n_head; ++h) {
            const int64_t g = 2 * ((h / 2) / a.group) + (h & 1);
            const uint8_t* kb = kv.k + (b * kv.n_kv_head + g) * hb;
            __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();  // tokens 0-7, 8-15
            for (int64_t dq = 0; dq < D / 4; ++dq) {  // logical row dq: 4 dimensions of 16 tokens
                int32_t x4;
                std::memcpy(&x4, a.q + h * D + 4 * dq, 4);
                acc0 = dot4(acc0, codes_at(kv, kb, dq * 64), x4);
                acc1 = dot4(acc1, codes_at(kv, kb, dq * 64 + 32), x4);
            }
            const uint16_t* ks = kv.ks + (b * kv.n_kv_head + g) * kKvBlock;
            const __m256 qs = _mm256_set1_ps(a.qscale[h]);
            float* s = a.s + (b * a.n_head + h) * kKvBlock;
            _mm256_storeu_ps(s, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc0), qs), load8_f16(ks)));
            _mm256_storeu_ps(s + 8, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc1), qs), load8_f16(ks + 8)));
        }
}

void avx2_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    if (D % 8) return ref_kv_values(a, b0, b1);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t p = 0; p < a.n_pair; ++p) {
            const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
            const float* c = a.coef + (b / kKvSpan) * 2 * a.n_pair + 2 * p;
            const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]);
            const __m256 wc0 = _mm256_fmsub_ps(_mm256_loadu_ps(e1), c0, _mm256_mul_ps(_mm256_loadu_ps(e1 + kKvBlock), c1));
            const __m256 wc1 = _mm256_fmsub_ps(_mm256_loadu_ps(e1 + 8), c0, _mm256_mul_ps(_mm256_loadu_ps(e1 + kKvBlock + 8), c1));
            for (int64_t half = 0; half < 2; ++half) {
                const int64_t gv = 2 * (p / a.group) + half;
                const uint16_t* vs = kv.vs + (b * kv.n_kv_head + gv) * kKvBlock;
                const __m256 w0 = _mm256_mul_ps(wc0, load8_f16(vs)), w1 = _mm256_mul_ps(wc1, load8_f16(vs + 8));
                __m256 m = _mm256_max_ps(_mm256_and_ps(w0, abs_mask), _mm256_and_ps(w1, abs_mask));
                __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
                m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
                m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
                const float amax = _mm_cvtss_f32(m4);
                if (!(amax >= FLT_MIN)) continue;  // 0, or so small that 127/amax would be inf
                const __m256 inv = _mm256_set1_ps(127.0f / amax);
                // cvtps rounds to nearest even (the default MXCSR mode), as act_round_even does.
                alignas(32) int32_t q32[kKvBlock];
                _mm256_store_si256(reinterpret_cast<__m256i*>(q32), _mm256_cvtps_epi32(_mm256_mul_ps(w0, inv)));
                _mm256_store_si256(reinterpret_cast<__m256i*>(q32 + 8), _mm256_cvtps_epi32(_mm256_mul_ps(w1, inv)));
                int8_t wq[kKvBlock];
                for (int64_t t = 0; t < kKvBlock; ++t) wq[t] = int8_t(q32[t]);
                int32_t w4[4];  // the weights of tokens 4kq..4kq+3
                std::memcpy(w4, wq, sizeof(wq));
                const __m256 scale = _mm256_set1_ps(amax / 127.0f);
                const uint8_t* vb = kv.v + (b * kv.n_kv_head + gv) * hb;
                float* u = a.u + p * 2 * D + half * D;
                for (int64_t dc = 0; dc < D / 8; ++dc) {  // 8 dimensions: logical bytes [kq][8dc..8dc+8][4]
                    __m256i acc = _mm256_setzero_si256();
                    for (int64_t kq = 0; kq < 4; ++kq) acc = dot4(acc, codes_at(kv, vb, (kq * D + 8 * dc) * 4), w4[kq]);
                    _mm256_storeu_ps(u + 8 * dc, _mm256_add_ps(_mm256_loadu_ps(u + 8 * dc), _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale)));
                }
            }
        }
}

}  // namespace bf
