// AVX-512 VNNI attention over the quantized K/V cache (layout: kernels/kv_cache.h). Scores: a 64-byte
// K row holds 4 dimensions of 16 tokens, so vpdpbusd with the query's 4 codes broadcast yields 16 token
// scores per instruction sequence with no horizontal sums. Values: a 64-byte V row holds 4 tokens of 16
// dimensions, met by the block's int8 weights of those 4 tokens. Results equal ref/kv_attn_ref.cpp's.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernel_api.h"

namespace bf {

namespace {

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

}  // namespace

namespace {

// Scores of the NH query heads sharing K head g, for block b (NH fixed: accumulators stay in registers).
// DT: head_dim when known at compile time (64, the real model: the row loop unrolls), 0 otherwise.
template <bool Q4, int NH, int DT>
inline void scores_block(const KvScoreArgs& a, int64_t b, int64_t g) {
    const KvView& kv = a.kv;
    const int64_t D = DT ? DT : kv.head_dim, half = D / 8;  // half: rows per nibble of a Q4_0 byte
    const uint8_t* base = kv.k + (b * kv.n_kv_head + g) * kv.head_bytes();
    int64_t heads[NH];  // h = 2p + (g & 1) for the pairs p of this K head's group
    __m512i acc[NH];
    BF_UNROLL
    for (int i = 0; i < NH; ++i) heads[i] = 2 * ((g / 2) * a.group + i) + (g & 1), acc[i] = _mm512_setzero_si512();
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    BF_UNROLL
    for (int64_t r = 0; r < half; ++r) {  // rows r and r + half (one stored row of Q4_0, two of Q8_0)
        __m512i k0, k1;
        if (Q4) {
            const __m512i v = _mm512_loadu_si512(base + r * 64);
            k0 = _mm512_and_si512(v, lo4);
            k1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
        } else {
            k0 = _mm512_loadu_si512(base + r * 64);
            k1 = _mm512_loadu_si512(base + (r + half) * 64);
        }
        BF_UNROLL
        for (int i = 0; i < NH; ++i) {
            int32_t q0, q1;
            std::memcpy(&q0, a.q + heads[i] * D + 4 * r, 4);
            std::memcpy(&q1, a.q + heads[i] * D + 4 * (r + half), 4);
            acc[i] = _mm512_dpbusd_epi32(acc[i], k0, _mm512_set1_epi32(q0));
            acc[i] = _mm512_dpbusd_epi32(acc[i], k1, _mm512_set1_epi32(q1));
        }
    }
    const __m512 ks = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.ks + (b * kv.n_kv_head + g) * kKvBlock)));
    BF_UNROLL
    for (int i = 0; i < NH; ++i) {
        const __m512i si = _mm512_sub_epi32(acc[i], _mm512_set1_epi32(kv.offset() * a.qsum[heads[i]]));
        const __m512 sc = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(si), _mm512_set1_ps(a.qscale[heads[i]])), ks);
        _mm512_storeu_ps(a.s + (b * a.n_head + heads[i]) * kKvBlock, sc);
    }
}

// Blocks [b0, b1), V head gv = 2m + half, for the NP pairs p = m·group + i that read it (D = 64): the V
// rows are loaded once per block for all NP pairs, outputs stay in registers over the blocks. The
// code-offset correction off·Σ wq·scale is accumulated per lane in corr[p][half] (one horizontal sum at
// the end instead of one per block).
template <bool Q4, int NP>
inline void values_span64(const KvValueArgs& a, int64_t b0, int64_t b1, int64_t m, int64_t half, float* corr) {
    const KvView& kv = a.kv;
    constexpr int64_t D = 64;
    const int64_t gv = 2 * m + half;
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 out[NP][4], cv[NP];
    BF_UNROLL
    for (int i = 0; i < NP; ++i) {
        cv[i] = _mm512_setzero_ps();
        BF_UNROLL
        for (int dc = 0; dc < 4; ++dc) out[i][dc] = _mm512_setzero_ps();
    }
    for (int64_t b = b0; b < b1; ++b) {
        const uint8_t* base = kv.v + (b * kv.n_kv_head + gv) * kv.head_bytes();
        const __m512 vs = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.vs + (b * kv.n_kv_head + gv) * kKvBlock)));
        __m512i wb[NP][4];  // each pair's int8 weights of tokens 4kq..4kq+3, broadcast
        __m512 scale[NP];
        BF_UNROLL
        for (int i = 0; i < NP; ++i) {
            const int64_t p = m * a.group + i;
            const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
            const __m512 wc = _mm512_fmsub_ps(_mm512_loadu_ps(e1), _mm512_set1_ps(a.c1[p]),
                                              _mm512_mul_ps(_mm512_loadu_ps(e1 + kKvBlock), _mm512_set1_ps(a.c2[p])));
            const __m512 w = _mm512_mul_ps(wc, vs);
            const float amax = _mm512_reduce_max_ps(_mm512_and_ps(w, abs_mask));
            const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            scale[i] = _mm512_set1_ps(amax / 127.0f);
            const __m512i wi = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(w, _mm512_set1_ps(inv)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            cv[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(wi), scale[i], cv[i]);
            const __m512i w8 = _mm512_castsi128_si512(_mm512_cvtepi32_epi8(wi));
            BF_UNROLL
            for (int kq = 0; kq < 4; ++kq) wb[i][kq] = _mm512_permutexvar_epi32(_mm512_set1_epi32(kq), w8);
        }
        BF_UNROLL
        for (int dc = 0; dc < 4; ++dc) {
            __m512i vr[4];
            BF_UNROLL
            for (int kq = 0; kq < 2; ++kq) {  // Q4_0: stored row kq·4 + dc holds tokens 4kq.. and 4(kq+2)..
            if (Q4) {
                const __m512i v = _mm512_loadu_si512(base + (kq * (D / 16) + dc) * 64);
                vr[kq] = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
                vr[kq + 2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F));
            } else {
                vr[kq] = _mm512_loadu_si512(base + (kq * (D / 16) + dc) * 64);
                vr[kq + 2] = _mm512_loadu_si512(base + ((kq + 2) * (D / 16) + dc) * 64);
            }
        }
            BF_UNROLL
            for (int i = 0; i < NP; ++i) {
                __m512i acc = _mm512_setzero_si512();
                BF_UNROLL
                for (int kq = 0; kq < 4; ++kq) acc = _mm512_dpbusd_epi32(acc, vr[kq], wb[i][kq]);
                out[i][dc] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale[i], out[i][dc]);
            }
        }
    }
    BF_UNROLL
    for (int i = 0; i < NP; ++i) {
        const int64_t p = m * a.group + i;
        float* c = corr + (p * 2 + half) * 16;
        _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), cv[i]));
        float* u = a.u + p * 2 * D + half * D;
        BF_UNROLL
        for (int dc = 0; dc < 4; ++dc) _mm512_storeu_ps(u + 16 * dc, _mm512_add_ps(_mm512_loadu_ps(u + 16 * dc), out[i][dc]));
    }
}

// Blocks outermost: the cache is block-major, so this reads it as one sequential stream.
template <bool Q4, int DT>
void scores_all(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
        for (int64_t g = 0; g < a.kv.n_kv_head; ++g) {
            if (a.group == 1) scores_block<Q4, 1, DT>(a, b, g);
            else if (a.group == 2) scores_block<Q4, 2, DT>(a, b, g);
            else scores_block<Q4, 4, DT>(a, b, g);
        }
    }
}

// Spans of 8 blocks: their K/V (~80 KB) and weights stay in L2 while every (V head, pair) passes over
// them, and the span order keeps the cache read as one sequential stream.
template <bool Q4>
void values_all(const KvValueArgs& a, int64_t b0, int64_t b1, float* corr) {
    constexpr int64_t kSpan = 8;
    for (int64_t s0 = b0; s0 < b1; s0 += kSpan) {
        const int64_t s1 = std::min(b1, s0 + kSpan);
        // The next span's weights come from L3 in an order the prefetchers do not follow: ask for them.
        const int64_t n1 = std::min(b1, s1 + kSpan);
        const char* e0 = reinterpret_cast<const char*>(a.e + s1 * 2 * a.n_pair * kKvBlock);
        const char* e1 = reinterpret_cast<const char*>(a.e + n1 * 2 * a.n_pair * kKvBlock);
        for (const char* pf = e0; pf < e1; pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
        const char* v0 = reinterpret_cast<const char*>(a.kv.vs + s1 * a.kv.n_kv_head * kKvBlock);
        const char* v1 = reinterpret_cast<const char*>(a.kv.vs + n1 * a.kv.n_kv_head * kKvBlock);
        for (const char* pf = v0; pf < v1; pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
        for (int64_t m = 0; m < a.n_pair / a.group; ++m)
            for (int64_t half = 0; half < 2; ++half) {
                if (a.group == 1) values_span64<Q4, 1>(a, s0, s1, m, half, corr);
                else values_span64<Q4, 2>(a, s0, s1, m, half, corr);
            }
    }
}

}  // namespace

void avx512_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.head_dim % 16 || !(a.group == 1 || a.group == 2 || a.group == 4)) return ref_kv_scores(a, b0, b1);
    const bool q4 = a.kv.type == KvType::Q4_0, d64 = a.kv.head_dim == 64;
    if (q4) d64 ? scores_all<true, 64>(a, b0, b1) : scores_all<true, 0>(a, b0, b1);
    else d64 ? scores_all<false, 64>(a, b0, b1) : scores_all<false, 0>(a, b0, b1);
}

void avx512_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.head_dim != 64 || !(a.group == 1 || a.group == 2)) return ref_kv_values(a, b0, b1);
    static thread_local std::vector<float> corr;
    corr.assign(size_t(a.n_pair * 2 * 16), 0.0f);
    if (a.kv.type == KvType::Q4_0) values_all<true>(a, b0, b1, corr.data());
    else values_all<false>(a, b0, b1, corr.data());
    for (int64_t p = 0; p < a.n_pair; ++p)
        for (int64_t half = 0; half < 2; ++half) {
            const __m512 c = _mm512_set1_ps(float(a.kv.offset()) * _mm512_reduce_add_ps(_mm512_loadu_ps(corr.data() + (p * 2 + half) * 16)));
            float* u = a.u + p * 2 * 64 + half * 64;
            for (int dc = 0; dc < 4; ++dc) _mm512_storeu_ps(u + 16 * dc, _mm512_sub_ps(_mm512_loadu_ps(u + 16 * dc), c));
        }
}

}  // namespace bf
