// Baseline AArch64 NEON kernels (ARMv8.0: no dotprod/i8mm, so integer dots use widening multiplies).
// Register tiles of R rows × T tokens as on x86. Layouts: kernels/kernel_api.h.
#include <arm_neon.h>

#include <cstring>

#include "kernels/tile_driver.h"
#include "kernels/kernel_api.h"

#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

using kernels::drive;

struct LoadF32 {
    using T = float;
    static float32x4_t load4(const float* p) { return vld1q_f32(p); }
    static float load1(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static float32x4_t load4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
    static float load1(const uint16_t* p) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(p))), 0); }
};
struct LoadBF16 {
    using T = uint16_t;
    static float32x4_t load4(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
    static float load1(const uint16_t* p) {
        const uint32_t u = uint32_t(*p) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
};

template <class L>
void mat_float(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const typename L::T*>(a.w);
    const auto* x = static_cast<const float*>(a.x);
    const int64_t k = a.cols, k4 = k / 4 * 4;
    drive<4, 4>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        float32x4_t acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i)
            BF_UNROLL
            for (int j = 0; j < T; ++j) acc[i][j] = vdupq_n_f32(0.0f);
        for (int64_t c = 0; c < k4; c += 4) {
            float32x4_t xv[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) xv[j] = vld1q_f32(x + (t + j) * k + c);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const float32x4_t wv = L::load4(w + (r + i) * k + c);
                BF_UNROLL
                for (int j = 0; j < T; ++j) acc[i][j] = vfmaq_f32(acc[i][j], wv, xv[j]);
            }
        }
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < T; ++j) {
                float s = vaddvq_f32(acc[i][j]);
                for (int64_t c = k4; c < k; ++c) s += L::load1(w + (r + i) * k + c) * x[(t + j) * k + c];
                a.y[(t + j) * a.y_stride + r + i] = s;
            }
    });
}

void neon_f32(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF32>(a, r0, r1); }
void neon_f16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF16>(a, r0, r1); }
void neon_bf16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadBF16>(a, r0, r1); }

// int8 × int8 over 16 lanes, pairwise-widened into 4 int32 lanes.
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

void neon_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    drive<2, 2>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        float32x4_t acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i)
            BF_UNROLL
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
                const float dw = vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(a.w_scales_h + (r + i) * nb + b))), 0);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const int32x4_t p = dot16(dot16(vdupq_n_s32(0), w0, x0[j]), w1, x1[j]);
                    acc[i][j] = vfmaq_n_f32(acc[i][j], vcvtq_f32_s32(p), dw * a.xd[(t + j) * nb + b]);
                }
            }
        }
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = vaddvq_f32(acc[i][j]);
    });
}

// Ternary: for each 16-byte quarter q of a 256-block's 64 bytes, (v >> 2l) & 3 are the codes of elements
// 64l + 16q .. 64l + 16q + 15.
template <bool kUniform>
void mat_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t kp = a.kp, nb = kp / 256, row_bytes = kp / 4;
    const uint8x16_t mask = vdupq_n_u8(3);
    drive<2, 2>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        int32x4_t acc[R][T];
        float32x4_t accf[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i)
            BF_UNROLL
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
                        const int8x16_t c = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(v[i], vdupq_n_s8(int8_t(-2 * l))), mask));
                        BF_UNROLL
                        for (int j = 0; j < T; ++j) acc[i][j] = dot16(acc[i][j], c, xv[j]);
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

void neon_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.uniform) mat_ternary<true>(a, r0, r1);
    else mat_ternary<false>(a, r0, r1);
}

const KernelTable kNeon = {"neon", neon_f32, neon_f16, neon_bf16, neon_q8_0, neon_ternary};

}  // namespace

const KernelTable* neon_kernels() { return &kNeon; }

}  // namespace bf
