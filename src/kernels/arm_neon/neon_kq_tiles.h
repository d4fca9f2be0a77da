// Q4_0 / Q4_K / Q5_K / Q6_K matrix kernels for AArch64, written once over the int8 dot step Dot (as
// neon_int8_tiles.h): each 32-block's codes become two int8x16 vectors (elements 0-15 and 16-31), Q4_0
// and Q6_K already shifted to signed (q − 8, q − 32), K-quant codes as they are (0..31) with the min
// term dmin·m·d_x·Σx taken off per block. Q6_K's two 16-scales apply to the two vectors' dots separately.
// Layouts: kernel_api.h.
#pragma once
#include <arm_neon.h>

#include "core/dtype.h"
#include "kernels/kernel_api.h"
#include "kernels/tile_driver.h"

#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {
namespace {  // internal linkage: each including file is compiled with its own ISA flags

inline float f16_at(const uint16_t* p) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(p))), 0);
}

struct KqBlock {
    int8x16_t w0, w1;  // codes of elements 0-15, 16-31
    float f0, f1;      // weight scale of each half (equal but for Q6_K)
    float mn;          // K-quant min dmin·m (0 otherwise)
};

template <DType kType>
inline KqBlock kq_block(const MatArgs& a, int64_t r, int64_t b) {
    const int64_t k = a.cols, nb = k / 32;
    const uint8_t* w = static_cast<const uint8_t*>(a.w) + r * (k / 2);
    const uint8x16_t m4 = vdupq_n_u8(15);
    KqBlock o;
    if (kType == DType::Q6_K) {
        const Q6Scales& s = static_cast<const Q6Scales*>(a.w_meta)[r * (k / 256) + b / 8];
        const int64_t bb = b % 8, h = bb / 4;
        const uint8_t* ql = w + 128 * (b / 8) + 64 * h + 32 * (bb % 2);
        const uint8_t* qh = a.w_hi + r * (k / 4) + 64 * (b / 8) + 32 * h;
        const int sh_lo = 4 * int((bb % 4) / 2), sh_hi = 2 * int(bb % 4);
        uint8x16_t lo0 = vld1q_u8(ql), lo1 = vld1q_u8(ql + 16);
        lo0 = vandq_u8(vshlq_u8(lo0, vdupq_n_s8(int8_t(-sh_lo))), m4),
        lo1 = vandq_u8(vshlq_u8(lo1, vdupq_n_s8(int8_t(-sh_lo))), m4);
        const uint8x16_t h0 = vandq_u8(vshlq_u8(vld1q_u8(qh), vdupq_n_s8(int8_t(-sh_hi))), vdupq_n_u8(3));
        const uint8x16_t h1 = vandq_u8(vshlq_u8(vld1q_u8(qh + 16), vdupq_n_s8(int8_t(-sh_hi))), vdupq_n_u8(3));
        o.w0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo0, vshlq_n_u8(h0, 4))), vdupq_n_s8(32));
        o.w1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo1, vshlq_n_u8(h1, 4))), vdupq_n_s8(32));
        const float d = f16_at(&s.d);
        o.f0 = d * float(s.sc[2 * bb]), o.f1 = d * float(s.sc[2 * bb + 1]), o.mn = 0.0f;
        return o;
    }
    uint8x16_t c0, c1;
    if (kType == DType::Q4_0 && nb % 2 && b == nb - 1) {  // the lone last block: file order
        const uint8x16_t v = vld1q_u8(w + 16 * b);
        c0 = vandq_u8(v, m4), c1 = vshrq_n_u8(v, 4);
    } else {
        const uint8_t* p = w + 32 * (b / 2);
        const uint8x16_t v0 = vld1q_u8(p), v1 = vld1q_u8(p + 16);
        if (b % 2)
            c0 = vshrq_n_u8(v0, 4), c1 = vshrq_n_u8(v1, 4);
        else
            c0 = vandq_u8(v0, m4), c1 = vandq_u8(v1, m4);
    }
    if (kType == DType::Q4_0) {
        o.w0 = vsubq_s8(vreinterpretq_s8_u8(c0), vdupq_n_s8(8)),
        o.w1 = vsubq_s8(vreinterpretq_s8_u8(c1), vdupq_n_s8(8));
        o.f0 = o.f1 = f16_at(a.w_scales_h + r * nb + b), o.mn = 0.0f;
        return o;
    }
    if (kType == DType::Q5_K) {
        const uint8_t* qh = a.w_hi + r * (k / 8) + 32 * (b / 8);
        const int8x16_t sh = vdupq_n_s8(int8_t(-(b % 8)));
        const uint8x16_t one = vdupq_n_u8(1);
        c0 = vorrq_u8(c0, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh), sh), one), 4));
        c1 = vorrq_u8(c1, vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh + 16), sh), one), 4));
    }
    const KqScales& s = static_cast<const KqScales*>(a.w_meta)[r * (k / 256) + b / 8];
    o.w0 = vreinterpretq_s8_u8(c0), o.w1 = vreinterpretq_s8_u8(c1);
    o.f0 = o.f1 = f16_at(&s.d) * float(s.sc[b % 8]);
    o.mn = f16_at(&s.dmin) * float(s.m[b % 8]);
    return o;
}

template <class Dot, DType kType, int RT, int TT>
void mat_kq(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    constexpr bool kMin = kType == DType::Q4_K || kType == DType::Q5_K;
    kernels::drive<RT, TT>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        float32x4_t acc[R][T];
        float mins[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = vdupq_n_f32(0.0f), mins[i][j] = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
            int8x16_t x0[T], x1[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                x0[j] = vld1q_s8(x + (t + j) * k + b * 32);
                x1[j] = vld1q_s8(x + (t + j) * k + b * 32 + 16);
            }
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const KqBlock w = kq_block<kType>(a, r + i, b);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const float dx = a.xd[(t + j) * nb + b];
                    if (kType == DType::Q6_K) {
                        acc[i][j] =
                            vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(Dot::dot(vdupq_n_s32(0), w.w0, x0[j])), w.f0 * dx);
                        acc[i][j] =
                            vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(Dot::dot(vdupq_n_s32(0), w.w1, x1[j])), w.f1 * dx);
                    } else {
                        const int32x4_t p = Dot::dot(Dot::dot(vdupq_n_s32(0), w.w0, x0[j]), w.w1, x1[j]);
                        acc[i][j] = vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(p), w.f0 * dx);
                    }
                    if (kMin) {
                        const int32_t* xs = a.xsum + (t + j) * (k / 16) + 2 * b;
                        mins[i][j] += w.mn * dx * float(xs[0] + xs[1]);
                    }
                }
            }
        }
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = vaddvq_f32(acc[i][j]) - mins[i][j];
    });
}

}  // namespace
}  // namespace bf
