// AArch64 NEON kernels for CPUs with the dot-product extension (ARMv8.2 FEAT_DotProd: Cortex-A55/A76
// and later, Neoverse N1/V1, Apple M1 and later): SDOT multiplies 4 int8 pairs and adds them into each
// int32 lane, one instruction where the baseline (neon_kernels.cpp) needs four widening steps. This file
// is compiled with +dotprod and only runs when dispatch.cpp finds the feature. Layouts: kernel_api.h and
// kv_cache.h; the float formats reuse the baseline kernels.
#include <arm_neon.h>

#include <algorithm>

#include "kernels/arm_neon/neon_int8_tiles.h"
#include "kernels/arm_neon/neon_kq_tiles.h"
#include "kernels/kernel_api.h"
#include "kernels/kv_weights.h"
#include "kernels/tile_driver.h"

namespace bf {

namespace {

struct SdotDot {
    static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
};

// 16 signed codes of a cache row: Q8_0's unsigned codes u = q + 128 flipped back to q (so no offset
// correction is needed), Q4_0's low or high nibbles as they are (0..15; the caller removes 8·Σ).
inline int8x16_t q8_codes(const uint8_t* p) { return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p), vdupq_n_u8(0x80))); }
inline int8x16_t lo_nibbles(uint8x16_t v) { return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))); }
inline int8x16_t hi_nibbles(uint8x16_t v) { return vreinterpretq_s8_u8(vshrq_n_u8(v, 4)); }

// SDOT of 16 codes with the 4 query codes in lane L of qv (L fixed: the lane is an immediate).
template <int L>
inline int32x4_t dot_lane(int32x4_t acc, int8x16_t k, int8x16_t qv) {
    return vdotq_laneq_s32(acc, k, qv, L);
}

// The 16 token scores of the NH query heads sharing one K head block (D % 16 == 0): each K vector is
// loaded and unpacked once for all of them, and 4·NH accumulators keep SDOT's latency hidden. Logical
// row dq (dims 4dq..4dq+3 of the 16 tokens, 64 bytes) is 4 vectors of 4 tokens; query dims 4dq.. are
// lane dq % 4 of query vector dq / 4.
template <bool Q4, int NH>
void scores_heads(const KvView& kv, const uint8_t* kb, const int8_t* const q[NH], int32x4_t acc[NH][4]) {
    const int64_t D = kv.head_dim, rows = D / 4, half = D / 8;
    BF_UNROLL
    for (int h = 0; h < NH; ++h) BF_UNROLL
    for (int i = 0; i < 4; ++i) acc[h][i] = vdupq_n_s32(0);
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        int8x16_t qv[NH];
        BF_UNROLL
        for (int h = 0; h < NH; ++h) qv[h] = vld1q_s8(q[h] + 4 * r0);
        auto row = [&]<int L>() {
            const int64_t dq = r0 + L;
            BF_UNROLL
            for (int i = 0; i < 4; ++i) {
                int8x16_t k;
                if (!Q4)
                    k = q8_codes(kb + dq * 64 + 16 * i);
                else if (dq < half)
                    k = lo_nibbles(vld1q_u8(kb + dq * 64 + 16 * i));
                else
                    k = hi_nibbles(vld1q_u8(kb + (dq - half) * 64 + 16 * i));
                BF_UNROLL
                for (int h = 0; h < NH; ++h) acc[h][i] = dot_lane<L>(acc[h][i], k, qv[h]);
            }
        };
        row.template operator()<0>();
        row.template operator()<1>();
        row.template operator()<2>();
        row.template operator()<3>();
    }
}

// Scores of block b for the NH query heads h = 2·((g/2)·group + i) + (g & 1) that read K head g.
template <bool Q4, int NH>
void scores_block(const KvScoreArgs& a, int64_t b, int64_t g) {
    const KvView& kv = a.kv;
    int64_t heads[NH];
    const int8_t* q[NH];
    BF_UNROLL
    for (int i = 0; i < NH; ++i) heads[i] = 2 * ((g / 2) * a.group + i) + (g & 1), q[i] = a.q + heads[i] * kv.head_dim;
    int32x4_t acc[NH][4];
    scores_heads<Q4, NH>(kv, kv.k + (b * kv.n_kv_head + g) * kv.head_bytes(), q, acc);
    const uint16_t* ks = kv.ks + (b * kv.n_kv_head + g) * kKvBlock;
    BF_UNROLL
    for (int i = 0; i < NH; ++i) {
        const int64_t h = heads[i];
        const int32x4_t off = vdupq_n_s32(Q4 ? kv.offset() * a.qsum[h] : 0);
        float* s = a.s + (b * a.n_head + h) * kKvBlock;
        for (int t = 0; t < 4; ++t) {
            const float32x4_t sc = vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(acc[i][t], off)), a.qscale[h]);
            vst1q_f32(s + 4 * t, vmulq_f32(sc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(ks + 4 * t)))));
        }
    }
}

template <bool Q4>
void scores_all(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t g = 0; g < a.kv.n_kv_head; ++g) {
            if (a.group == 1)
                scores_block<Q4, 1>(a, b, g);
            else if (a.group == 2)
                scores_block<Q4, 2>(a, b, g);
            else
                scores_block<Q4, 4>(a, b, g);
        }
}

}  // namespace

// SDOT leaves registers free for 4-row tiles (the baseline's widening steps need 2).
void neon_dot_q8_0(const MatArgs& a, int64_t r0, int64_t r1) { mat_q8_0<SdotDot, 4, 2>(a, r0, r1); }
void neon_dot_q4_0(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<SdotDot, DType::Q4_0, 4, 2>(a, r0, r1); }
void neon_dot_q4_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<SdotDot, DType::Q4_K, 4, 2>(a, r0, r1); }
void neon_dot_q5_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<SdotDot, DType::Q5_K, 4, 2>(a, r0, r1); }
void neon_dot_q6_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<SdotDot, DType::Q6_K, 4, 2>(a, r0, r1); }
void neon_dot_ternary(const MatArgs& a, int64_t r0, int64_t r1) { mat_ternary_any<SdotDot, 4, 2>(a, r0, r1); }

// Same float steps in the same order as ref_kv_scores, so the scores are equal bit for bit.
void neon_dot_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.head_dim % 16 || !(a.group == 1 || a.group == 2 || a.group == 4)) return ref_kv_scores(a, b0, b1);
    if (a.kv.type == KvType::Q4_0)
        scores_all<true>(a, b0, b1);
    else
        scores_all<false>(a, b0, b1);
}

namespace {

// Block b of V head gv = 2·(p0/group) + half for the NP pairs p0.. that read it: each pair's int8 block
// weights (kv_weights.h, as the reference forms them), then 4 dimensions at a time the V codes are loaded
// once and met by every pair's weights, those of tokens 4kq.. in lane kq. A pair whose weights are all
// 0 gets weights 0 and scale 0 (it adds nothing, as the reference skips it).
template <bool Q4, int NP>
void values_block(const KvValueArgs& a, int64_t b, int64_t p0, int64_t half) {
    const KvView& kv = a.kv;
    const int64_t D = kv.head_dim;
    const uint8_t* vb = kv.v + (b * kv.n_kv_head + 2 * (p0 / a.group) + half) * kv.head_bytes();
    int8x16_t wv[NP];
    int32x4_t off[NP];
    float scale[NP];
    float* u[NP];
    bool any = false;
    for (int i = 0; i < NP; ++i) {
        KvBlockWeights bw;
        const bool used = kv_block_weights(a, b, p0 + i, half, bw);
        any = any || used;
        wv[i] = used ? vld1q_s8(bw.wq) : vdupq_n_s8(0);
        off[i] = vdupq_n_s32(used && Q4 ? kv.offset() * bw.wsum : 0);
        scale[i] = used ? bw.scale : 0.0f;
        u[i] = a.u + (p0 + i) * 2 * D + half * D;
    }
    if (!any) return;
    for (int64_t d = 0; d < D; d += 4) {  // logical bytes (kq·D + d)·4 .. +16: dims d..d+3, tokens 4kq..
        int8x16_t c[4];
        if (Q4) {  // logical rows kq and kq + 2 are the low and high nibbles of stored row kq
            const uint8x16_t r0 = vld1q_u8(vb + d * 4), r1 = vld1q_u8(vb + (D + d) * 4);
            c[0] = lo_nibbles(r0), c[1] = lo_nibbles(r1), c[2] = hi_nibbles(r0), c[3] = hi_nibbles(r1);
        } else {
            BF_UNROLL
            for (int kq = 0; kq < 4; ++kq) c[kq] = q8_codes(vb + (kq * D + d) * 4);
        }
        BF_UNROLL
        for (int i = 0; i < NP; ++i) {
            int32x4_t acc = dot_lane<0>(vdupq_n_s32(0), c[0], wv[i]);
            acc = dot_lane<1>(acc, c[1], wv[i]);
            acc = dot_lane<2>(acc, c[2], wv[i]);
            acc = dot_lane<3>(acc, c[3], wv[i]);
            const float32x4_t y = vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(acc, off[i])), scale[i]);
            vst1q_f32(u[i] + d, vaddq_f32(vld1q_f32(u[i] + d), y));
        }
    }
}

template <bool Q4>
void values_all(const KvValueArgs& a, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t p0 = 0; p0 < a.n_pair; p0 += a.group)  // the pairs of one V head pair
            for (int64_t half = 0; half < 2; ++half)
                for (int64_t c = p0, end = std::min(a.n_pair, p0 + a.group); c < end; c += 4)
                    kernels::with_width(std::min<int64_t>(4, end - c),
                                        [&]<int NP>() { values_block<Q4, NP>(a, b, c, half); });
}

}  // namespace

void neon_dot_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1) {
    if (a.kv.type == KvType::Q4_0)
        values_all<true>(a, b0, b1);
    else
        values_all<false>(a, b0, b1);
}

}  // namespace bf
