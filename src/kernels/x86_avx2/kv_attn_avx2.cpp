// AVX2 attention over the quantized K/V cache (layout: kernels/kv_cache.h), for x86 CPUs without
// AVX-512 VNNI. Without vpdpbusd, 4-byte dot products are vpmaddubsw + vpmaddwd; vpmaddubsw adds two
// u8·s8 products into an int16 and would saturate on int8 codes (2·255·127), so codes are made signed
// (q = u − offset) and multiplied as |x| · (q with x's sign), which stays within 2·127·127. The integer
// sums are then exactly the scalar reference's; scores equal it bit for bit, values up to float rounding.
// (Stored codes are never 0 — u ∈ [1, 255] — except in blocks past the valid tokens, whose scales are 0;
// for u = 0, q = −128 would not survive the sign trick.) Q4_0 needs no trick: its unsigned codes u ≤ 15
// go straight into vpmaddubsw (2·15·127 fits an int16 eight times over, so int16 sums run over several
// rows before widening) and the offset is removed afterwards, as the AVX-512 kernels do.
#include <immintrin.h>

#include <cfloat>
#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/kv_weights.h"

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

// The unsigned Q4_0 codes of the 32 stored bytes at p: low nibbles (lo) and high nibbles (hi).
inline void nibbles(const uint8_t* p, __m256i& lo, __m256i& hi) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i low = _mm256_set1_epi8(0x0F);  // made here: a namespace-scope vector would run AVX2 code at startup
    lo = _mm256_and_si256(v, low);
    hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
}

inline int32_t load4(const int8_t* p) {
    int32_t x;
    std::memcpy(&x, p, 4);
    return x;
}

// Q4_0 scores of the NH query heads that read K head g, block b. Stored row r holds logical rows r (low
// nibbles) and r + D/8 (high); each 32-byte half of a row is 8 tokens × 4 dimensions.
template <int NH>
void q4_scores_block(const KvScoreArgs& a, int64_t b, int64_t g) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, half = D / 8;
    const uint8_t* kb = kv.k + (b * kv.n_kv_head + g) * kv.head_bytes();
    const __m256i ones = _mm256_set1_epi16(1);
    int64_t heads[NH];
    __m256i acc[NH][2], a16[NH][2];  // [tokens 0-7, 8-15]: int32 sums, int16 partial sums
    for (int i = 0; i < NH; ++i) {
        heads[i] = 2 * ((g / 2) * a.group + i) + (g & 1);
        acc[i][0] = acc[i][1] = a16[i][0] = a16[i][1] = _mm256_setzero_si256();
    }
    for (int64_t r = 0; r < half; ++r) {
        __m256i lo[2], hi[2];
        nibbles(kb + r * 64, lo[0], hi[0]);
        nibbles(kb + r * 64 + 32, lo[1], hi[1]);
        for (int i = 0; i < NH; ++i) {
            const int8_t* q = a.q + heads[i] * D;
            const __m256i xl = _mm256_set1_epi32(load4(q + 4 * r)), xh = _mm256_set1_epi32(load4(q + 4 * (r + half)));
            for (int j = 0; j < 2; ++j)
                a16[i][j] = _mm256_add_epi16(
                    a16[i][j], _mm256_add_epi16(_mm256_maddubs_epi16(lo[j], xl), _mm256_maddubs_epi16(hi[j], xh)));
        }
        if (r % 4 == 3 || r + 1 == half)  // at most 8 vpmaddubsw pair sums (each ≤ 2·15·127 = 3810) per int16 lane
            for (int i = 0; i < NH; ++i)
                for (int j = 0; j < 2; ++j) {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(a16[i][j], ones));
                    a16[i][j] = _mm256_setzero_si256();
                }
    }
    const uint16_t* ks = kv.ks + (b * kv.n_kv_head + g) * kKvBlock;
    for (int i = 0; i < NH; ++i) {
        const __m256i off = _mm256_set1_epi32(kv.offset() * a.qsum[heads[i]]);
        const __m256 qs = _mm256_set1_ps(a.qscale[heads[i]]);
        float* s = a.s + (b * a.n_head + heads[i]) * kKvBlock;
        for (int j = 0; j < 2; ++j)
            _mm256_storeu_ps(s + 8 * j,
                             _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], off)), qs),
                                           load8_f16(ks + 8 * j)));
    }
}

}  // namespace

void avx2_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    if (D % 8) return ref_kv_scores(a, b0, b1);
    if (kv.type == KvType::Q4_0 && (a.group == 1 || a.group == 2)) {
        for (int64_t b = b0; b < b1; ++b)
            for (int64_t g = 0; g < kv.n_kv_head; ++g)
                a.group == 1 ? q4_scores_block<1>(a, b, g) : q4_scores_block<2>(a, b, g);
        return;
    }
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t h = 0; h < a.n_head; ++h) {
            const int64_t g = 2 * ((h / 2) / a.group) + (h & 1);
            const uint8_t* kb = kv.k + (b * kv.n_kv_head + g) * hb;
            __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();  // tokens 0-7, 8-15
            for (int64_t dq = 0; dq < D / 4; ++dq) {  // logical row dq: 4 dimensions of 16 tokens
                const int32_t x4 = load4(a.q + h * D + 4 * dq);
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

namespace {

// kv_block_weights (kv_weights.h) vectorized: the same codes, scale and Σ; false (and used = false) when
// the weights are all (nearly) 0.
bool quantize_block_weights(const KvValueArgs& a, int64_t b, int64_t p, int64_t half, KvBlockWeights& out) {
    out.used = false;
    const KvView& kv = a.kv;
    const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
    const float* c = a.coef + (b / kKvSpan) * 2 * a.n_pair + 2 * p;
    const __m256 c0 = _mm256_set1_ps(c[0]), c1 = _mm256_set1_ps(c[1]);
    const uint16_t* vs = kv.vs + (b * kv.n_kv_head + 2 * (p / a.group) + half) * kKvBlock;
    const __m256 w0 = _mm256_mul_ps(
        _mm256_fmsub_ps(_mm256_loadu_ps(e1), c0, _mm256_mul_ps(_mm256_loadu_ps(e1 + kKvBlock), c1)), load8_f16(vs));
    const __m256 w1 = _mm256_mul_ps(
        _mm256_fmsub_ps(_mm256_loadu_ps(e1 + 8), c0, _mm256_mul_ps(_mm256_loadu_ps(e1 + kKvBlock + 8), c1)),
        load8_f16(vs + 8));
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m = _mm256_max_ps(_mm256_and_ps(w0, abs_mask), _mm256_and_ps(w1, abs_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (!(amax >= FLT_MIN)) return false;  // 0, or so small that 127/amax would be inf
    const __m256 inv = _mm256_set1_ps(127.0f / amax);
    // cvtps rounds to nearest even (the default MXCSR mode), as act_round_even does.
    const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(w0, inv)), q1 = _mm256_cvtps_epi32(_mm256_mul_ps(w1, inv));
    const __m256i q16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);  // 16 int16 in token order
    const __m128i q8 = _mm_packs_epi16(_mm256_castsi256_si128(q16), _mm256_extracti128_si256(q16, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.wq), q8);
    const __m256i s32 = _mm256_add_epi32(q0, q1);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    out.wsum = _mm_cvtsi128_si32(s4);
    out.scale = amax / 127.0f;
    return out.used = true;
}

// Q4_0 values (group 1 or 2): per block, every (pair, half)'s weights first, then each V head's codes
// are unpacked once for the NP pairs that read it; unsigned codes go straight into vpmaddubsw (4 rows of
// |·| ≤ 3810 per int16 lane) and the offset is removed with Σ codes.
template <int NP>
void q4_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    const __m256i ones = _mm256_set1_epi16(1);
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the attention's loop; tests call us directly
    auto* bw = reinterpret_cast<KvBlockWeights*>(
        workspace(owner.worker()).bytes(KernelScratch::kKvWeights, size_t(a.n_pair * 2) * sizeof(KvBlockWeights)));
    for (int64_t b = b0; b < b1; ++b) {
        for (int64_t p = 0; p < a.n_pair; ++p)
            for (int64_t half = 0; half < 2; ++half) quantize_block_weights(a, b, p, half, bw[p * 2 + half]);
        for (int64_t m = 0; m < a.n_pair / NP; ++m)
            for (int64_t half = 0; half < 2; ++half) {
                const uint8_t* vb = kv.v + (b * kv.n_kv_head + 2 * m + half) * hb;
                for (int64_t dc = 0; dc < D / 8; ++dc) {
                    __m256i c[4];  // logical bytes [kq][8dc..][4]: kq 0, 1 low nibbles, kq 2, 3 high
                    nibbles(vb + 32 * dc, c[0], c[2]);
                    nibbles(vb + 4 * D + 32 * dc, c[1], c[3]);
                    for (int i = 0; i < NP; ++i) {
                        const int64_t p = m * NP + i;
                        const KvBlockWeights& w = bw[p * 2 + half];
                        if (!w.used) continue;
                        __m256i a16 = _mm256_setzero_si256();
                        for (int kq = 0; kq < 4; ++kq)
                            a16 = _mm256_add_epi16(
                                a16, _mm256_maddubs_epi16(c[kq], _mm256_set1_epi32(load4(w.wq + 4 * kq))));
                        const __m256 d = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(a16, ones)),
                                                       _mm256_set1_ps(float(kv.offset() * w.wsum)));
                        float* u = a.u + p * 2 * D + half * D + 8 * dc;
                        _mm256_storeu_ps(u, _mm256_fmadd_ps(d, _mm256_set1_ps(w.scale), _mm256_loadu_ps(u)));
                    }
                }
            }
    }
}

}  // namespace

void avx2_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim, hb = kv.head_bytes();
    if (D % 8) return ref_kv_values(a, b0, b1);
    if (kv.type == KvType::Q4_0 && (a.group == 1 || a.group == 2))
        return a.group == 1 ? q4_values<1>(a, b0, b1) : q4_values<2>(a, b0, b1);
    // Signed codes (the sign trick) for Q8_0, and for Q4_0 with other groups.
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t p = 0; p < a.n_pair; ++p)
            for (int64_t half = 0; half < 2; ++half) {
                KvBlockWeights w;
                if (!quantize_block_weights(a, b, p, half, w)) continue;
                const __m256 scale = _mm256_set1_ps(w.scale);
                const uint8_t* vb = kv.v + (b * kv.n_kv_head + 2 * (p / a.group) + half) * hb;
                float* u = a.u + p * 2 * D + half * D;
                for (int64_t dc = 0; dc < D / 8; ++dc) {  // 8 dimensions: logical bytes [kq][8dc..8dc+8][4]
                    __m256i acc = _mm256_setzero_si256();
                    for (int64_t kq = 0; kq < 4; ++kq)
                        acc = dot4(acc, codes_at(kv, vb, (kq * D + 8 * dc) * 4), load4(w.wq + 4 * kq));
                    _mm256_storeu_ps(u + 8 * dc, _mm256_add_ps(_mm256_loadu_ps(u + 8 * dc),
                                                               _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale)));
                }
            }
}

}  // namespace bf
