// Q8_0 and ternary matrix kernels for AArch64, written once over the int8 dot step: Dot::dot(acc, a, b)
// adds the products of 16 int8 pairs into 4 int32 lanes (each lane: 4 neighbouring pairs). The baseline
// file instantiates them with widening multiplies, the dot-product file with SDOT. Layouts: kernel_api.h.
#pragma once
#include <arm_neon.h>

#include "kernels/kernel_api.h"
#include "kernels/tile_driver.h"

#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {
namespace {  // internal linkage: each including file is compiled with its own ISA flags

inline float f16_lane0(const uint16_t* p) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(p))), 0);
}

template <class Dot, int RT, int TT>
void mat_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    kernels::drive<RT, TT>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        float32x4_t acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = vdupq_n_f32(0.0f);
        for (int64_t b = 0; b < nb; ++b) {
            int8x16_t x0[T], x1[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                x0[j] = vld1q_s8(x + (t + j) * k + b * 32);
                x1[j] = vld1q_s8(x + (t + j) * k + b * 32 + 16);
            }
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const int8x16_t w0 = vld1q_s8(w + (r + i) * k + b * 32), w1 = vld1q_s8(w + (r + i) * k + b * 32 + 16);
                const float dw = f16_lane0(a.w_scales_h + (r + i) * nb + b);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const int32x4_t p = Dot::dot(Dot::dot(vdupq_n_s32(0), w0, x0[j]), w1, x1[j]);
                    acc[i][j] = vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(p), dw * a.xd[(t + j) * nb + b]);
                }
            }
        }
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = vaddvq_f32(acc[i][j]);
    });
}

// Ternary: for each 16-byte quarter q of a 256-block's 64 bytes, (v >> 2l) & 3 are the codes (0..2) of
// elements 64l + 16q .. 64l + 16q + 15; the block sums of x remove the code offset afterwards.
template <class Dot, bool kUniform, int RT, int TT>
void mat_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t kp = a.kp, nb = kp / 256, row_bytes = kp / 4;
    const uint8x16_t mask = vdupq_n_u8(3);
    kernels::drive<RT, TT>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        int32x4_t acc[R][T];
        float32x4_t accf[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = vdupq_n_s32(0), accf[i][j] = vdupq_n_f32(0.0f);
        for (int64_t b = 0; b < nb; ++b) {
            for (int q = 0; q < 4; ++q) {
                uint8x16_t v[R];
                BF_UNROLL
                for (int i = 0; i < R; ++i) v[i] = vld1q_u8(w + (r + i) * row_bytes + b * 64 + q * 16);
                BF_UNROLL
                for (int l = 0; l < 4; ++l) {
                    int8x16_t xv[T];
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) xv[j] = vld1q_s8(x + (t + j) * kp + b * 256 + 64 * l + 16 * q);
                    BF_UNROLL
                    for (int i = 0; i < R; ++i) {
                        const int8x16_t c =
                            vreinterpretq_s8_u8(vandq_u8(vshlq_u8(v[i], vdupq_n_s8(int8_t(-2 * l))), mask));
                        BF_UNROLL
                        for (int j = 0; j < T; ++j) acc[i][j] = Dot::dot(acc[i][j], c, xv[j]);
                    }
                }
            }
            if (!kUniform) {
                for (int i = 0; i < R; ++i)
                    for (int j = 0; j < T; ++j) {
                        accf[i][j] = vfmaq_n_f32(accf[i][j], vcvtq_f32_s32(acc[i][j]), a.w_scales[(r + i) * nb + b]);
                        acc[i][j] = vdupq_n_s32(0);
                    }
            }
        }
        for (int j = 0; j < T; ++j) {
            const int32_t* xs = a.xsum + (t + j) * nb;
            for (int i = 0; i < R; ++i) {
                float s;
                if (kUniform) {
                    int32_t total = vaddvq_s32(acc[i][j]);
                    for (int64_t b = 0; b < nb; ++b) total -= xs[b];
                    s = float(total) * a.w_scales[0];
                } else {
                    s = vaddvq_f32(accf[i][j]);
                    for (int64_t b = 0; b < nb; ++b) s -= a.w_scales[(r + i) * nb + b] * float(xs[b]);
                }
                a.y[(t + j) * a.y_stride + r + i] = s * a.xd[t + j];
            }
        }
    });
}

template <class Dot, int RT, int TT>
void mat_ternary_any(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.uniform)
        mat_ternary<Dot, true, RT, TT>(a, r0, r1);
    else
        mat_ternary<Dot, false, RT, TT>(a, r0, r1);
}

}  // namespace
}  // namespace bf
