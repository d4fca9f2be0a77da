// AVX-512 VNNI attention over the quantized K/V cache (layout: kernels/kv_cache.h). Scores: a 64-byte
// K row holds 4 dimensions of 16 tokens, so vpdpbusd with the query's 4 codes broadcast yields 16 token
// scores per instruction sequence with no horizontal sums. Values: a 64-byte V row holds 4 tokens of 16
// dimensions, met by the block's int8 weights of those 4 tokens. Scores equal ref/kv_attn_ref.cpp's bit
// for bit; values up to float rounding (the code-offset correction is summed separately).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <vector>

#include "kernels/compute.h"
#include "kernels/kernel_api.h"

namespace bf {

namespace {

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

// Logical 64-byte rows r and r + half of a head block (half = D/8 rows): Q8_0 stores them as they are,
// Q4_0 as the low and high nibbles of stored row r.
template <bool Q4>
inline void row_pair(const uint8_t* base, int64_t r, int64_t half, __m512i& lo, __m512i& hi) {
    if (Q4) {
        const __m512i v = _mm512_loadu_si512(base + r * 64), m = _mm512_set1_epi8(0x0F);
        lo = _mm512_and_si512(v, m);
        hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    } else {
        lo = _mm512_loadu_si512(base + r * 64);
        hi = _mm512_loadu_si512(base + (r + half) * 64);
    }
}

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
    BF_UNROLL
    for (int64_t r = 0; r < half; ++r) {  // rows r and r + half (one stored row of Q4_0, two of Q8_0)
        __m512i k0, k1;
        row_pair<Q4>(base, r, half, k0, k1);
        BF_UNROLL
        for (int i = 0; i < NH; ++i) {
            int32_t q0, q1;
            std::memcpy(&q0, a.q + heads[i] * D + 4 * r, 4);
            std::memcpy(&q1, a.q + heads[i] * D + 4 * (r + half), 4);
            acc[i] = _mm512_dpbusd_epi32(acc[i], k0, _mm512_set1_epi32(q0));
            acc[i] = _mm512_dpbusd_epi32(acc[i], k1, _mm512_set1_epi32(q1));
        }
    }
    const __m512 ks = _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.ks + (b * kv.n_kv_head + g) * kKvBlock)));
    BF_UNROLL
    for (int i = 0; i < NH; ++i) {
        const __m512i si = _mm512_sub_epi32(acc[i], _mm512_set1_epi32(kv.offset() * a.qsum[heads[i]]));
        const __m512 sc = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(si), _mm512_set1_ps(a.qscale[heads[i]])), ks);
        _mm512_storeu_ps(a.s + (b * a.n_head + heads[i]) * kKvBlock, sc);
    }
}

// The int8 weights of blocks [s0, s1) (one coefficient span) for every pair and half:
// wq[((b − s0)·n_pair + p)·2 + half] holds 16 codes (4 tokens per dword), ws the matching scales, and
// corr[p][half] accumulates Σ wq·scale per lane for the code-offset correction. A pass of its own, so the
// long dependency chain of each absmax (reduce, divide, convert) overlaps across pairs instead of
// stalling the value loop, and both halves share the loads and the combined weight.
void quantize_span_weights(const KvValueArgs& a, int64_t s0, int64_t s1, int32_t* wq, float* ws, float* corr) {
    const KvView& kv = a.kv;
    const float* coef = a.coef + (s0 / kKvSpan) * 2 * a.n_pair;
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (int64_t b = s0; b < s1; ++b)
        for (int64_t p = 0; p < a.n_pair; ++p) {
            const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
            const __m512 wc =
                _mm512_fmsub_ps(_mm512_loadu_ps(e1), _mm512_set1_ps(coef[2 * p]),
                                _mm512_mul_ps(_mm512_loadu_ps(e1 + kKvBlock), _mm512_set1_ps(coef[2 * p + 1])));
            for (int64_t half = 0; half < 2; ++half) {
                const int64_t gv = 2 * (p / a.group) + half, i = ((b - s0) * a.n_pair + p) * 2 + half;
                const __m512 vs = _mm512_cvtph_ps(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv.vs + (b * kv.n_kv_head + gv) * kKvBlock)));
                const __m512 w = _mm512_mul_ps(wc, vs);
                const float amax = _mm512_reduce_max_ps(_mm512_and_ps(w, abs_mask));
                const float inv = amax >= FLT_MIN ? 127.0f / amax : 0.0f;  // (127/denormal: inf)
                ws[i] = amax / 127.0f;
                // cvtps rounds to nearest even (the default MXCSR mode), as act_round_even does.
                const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(w, _mm512_set1_ps(inv)));
                float* c = corr + (p * 2 + half) * 16;
                _mm512_storeu_ps(c, _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(ws[i]), _mm512_loadu_ps(c)));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(wq + 4 * i), _mm512_cvtepi32_epi8(q));
            }
        }
}

// Blocks [g0, g1) of the span starting at s0 (a group of at most kValueGroup), V head gv = 2m + half,
// for the NP pairs p = m·group + i that read it (D = 64): each block's V rows are loaded once for all NP
// pairs, and the pairs' outputs stay in registers across the group's blocks (a.u is read and written
// once per group, not per block). Weights and scales come from quantize_span_weights.
constexpr int64_t kValueGroup = 4;
template <bool Q4, int NP>
inline void values_group64(const KvValueArgs& a, int64_t s0, int64_t g0, int64_t g1, int64_t m, int64_t half,
                           const int32_t* wq, const float* ws) {
    constexpr int64_t D = 64;
    const int64_t n_pair = a.n_pair, p0 = m * a.group, bb = a.kv.block_bytes();
    const uint8_t* base = a.kv.v + (g0 * a.kv.n_kv_head + 2 * m + half) * a.kv.head_bytes();
    __m512 out[NP][4];
    BF_UNROLL
    for (int i = 0; i < NP; ++i) BF_UNROLL
    for (int dc = 0; dc < 4; ++dc) out[i][dc] = _mm512_setzero_ps();
    for (int64_t b = g0; b < g1; ++b, base += bb) {
        const int64_t w0 = ((b - s0) * n_pair + p0) * 2 + half;  // pair i at w0 + 2i
        BF_UNROLL
        for (int dc = 0; dc < 4; ++dc) {
            __m512i vr[4];
            BF_UNROLL
            for (int kq = 0; kq < 2; ++kq)  // row kq·4 + dc: tokens 4kq..; row (kq + 2)·4 + dc: tokens 4(kq+2)..
                row_pair<Q4>(base, kq * (D / 16) + dc, D / 8, vr[kq], vr[kq + 2]);
            BF_UNROLL
            for (int i = 0; i < NP; ++i) {
                const int32_t* wi = wq + 4 * (w0 + 2 * i);
                __m512i acc = _mm512_setzero_si512();
                BF_UNROLL
                for (int kq = 0; kq < 4; ++kq) acc = _mm512_dpbusd_epi32(acc, vr[kq], _mm512_set1_epi32(wi[kq]));
                out[i][dc] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(ws[w0 + 2 * i]), out[i][dc]);
            }
        }
    }
    BF_UNROLL
    for (int i = 0; i < NP; ++i) {
        float* u = a.u + (p0 + i) * 2 * D + half * D;
        BF_UNROLL
        for (int dc = 0; dc < 4; ++dc)
            _mm512_storeu_ps(u + 16 * dc, _mm512_add_ps(_mm512_loadu_ps(u + 16 * dc), out[i][dc]));
    }
}

// Blocks outermost: the cache is block-major, so this reads it as one sequential stream.
template <bool Q4, int DT>
void scores_all(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
        for (int64_t g = 0; g < a.kv.n_kv_head; ++g) {
            if (a.group == 1)
                scores_block<Q4, 1, DT>(a, b, g);
            else if (a.group == 2)
                scores_block<Q4, 2, DT>(a, b, g);
            else
                scores_block<Q4, 4, DT>(a, b, g);
        }
    }
}

// Spans of kKvSpan blocks (one set of coefficients each): the span's weights are quantized first, then
// its V is read block by block, every (V head, pair) of a block in turn: one sequential stream.
template <bool Q4>
void values_all(const KvValueArgs& a, int64_t b0, int64_t b1, float* corr, KernelScratch& space) {
    auto* wq =
        reinterpret_cast<int32_t*>(space.bytes(KernelScratch::kKvWeights, size_t(kKvSpan * a.n_pair * 2 * 4) * 4));
    auto* ws = reinterpret_cast<float*>(space.bytes(KernelScratch::kKvScales, size_t(kKvSpan * a.n_pair * 2) * 4));
    for (int64_t s0 = b0, s1; s0 < b1; s0 = s1) {
        s1 = span_end(s0, b1);
        // The next span's weights come from L3 in an order the prefetchers do not follow: ask for them.
        const int64_t n1 = std::min(b1, s1 + kKvSpan);
        const char* e0 = reinterpret_cast<const char*>(a.e + s1 * 2 * a.n_pair * kKvBlock);
        const char* e1 = reinterpret_cast<const char*>(a.e + n1 * 2 * a.n_pair * kKvBlock);
        for (const char* pf = e0; pf < e1; pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
        const char* v0 = reinterpret_cast<const char*>(a.kv.vs + s1 * a.kv.n_kv_head * kKvBlock);
        const char* v1 = reinterpret_cast<const char*>(a.kv.vs + n1 * a.kv.n_kv_head * kKvBlock);
        for (const char* pf = v0; pf < v1; pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
        quantize_span_weights(a, s0, s1, wq, ws, corr);
        for (int64_t g0 = s0; g0 < s1; g0 += kValueGroup) {  // a few blocks at a time: nearly one stream
            const int64_t g1 = std::min(s1, g0 + kValueGroup);
            for (int64_t m = 0; m < a.n_pair / a.group; ++m)
                for (int64_t half = 0; half < 2; ++half) {
                    if (a.group == 1)
                        values_group64<Q4, 1>(a, s0, g0, g1, m, half, wq, ws);
                    else
                        values_group64<Q4, 2>(a, s0, g0, g1, m, half, wq, ws);
                }
        }
    }
}

}  // namespace

void avx512_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.head_dim % 16 || !(a.group == 1 || a.group == 2 || a.group == 4)) return ref_kv_scores(a, b0, b1);
    const bool q4 = a.kv.type == KvType::Q4_0, d64 = a.kv.head_dim == 64;
    if (q4)
        d64 ? scores_all<true, 64>(a, b0, b1) : scores_all<true, 0>(a, b0, b1);
    else
        d64 ? scores_all<false, 64>(a, b0, b1) : scores_all<false, 0>(a, b0, b1);
}

void avx512_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.head_dim != 64 || !(a.group == 1 || a.group == 2)) return ref_kv_values(a, b0, b1);
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the attention's loop; tests call us directly
    KernelScratch& space = workspace(owner.worker());
    const size_t n_corr = size_t(a.n_pair * 2 * 16);
    auto* corr = reinterpret_cast<float*>(space.bytes(KernelScratch::kKvCorr, n_corr * 4));
    std::fill(corr, corr + n_corr, 0.0f);
    if (a.kv.type == KvType::Q4_0)
        values_all<true>(a, b0, b1, corr, space);
    else
        values_all<false>(a, b0, b1, corr, space);
    for (int64_t p = 0; p < a.n_pair; ++p)
        for (int64_t half = 0; half < 2; ++half) {
            const __m512 c = _mm512_set1_ps(float(a.kv.offset()) *
                                            _mm512_reduce_add_ps(_mm512_loadu_ps(corr + (p * 2 + half) * 16)));
            float* u = a.u + p * 2 * 64 + half * 64;
            for (int dc = 0; dc < 4; ++dc)
                _mm512_storeu_ps(u + 16 * dc, _mm512_sub_ps(_mm512_loadu_ps(u + 16 * dc), c));
        }
}

}  // namespace bf
