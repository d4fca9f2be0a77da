// Baseline AArch64 NEON kernels (ARMv8.0: no dotprod/i8mm, so integer dots use widening multiplies).
// Register tiles of R rows × T tokens as on x86. Layouts: kernels/kernel_api.h; the int8 tiles are in
// neon_int8_tiles.h, shared with the dot-product target.
#include <arm_neon.h>

#include <cstring>

#include "kernels/arm_neon/neon_int8_tiles.h"
#include "kernels/arm_neon/neon_kq_tiles.h"
#include "kernels/kernel_api.h"
#include "kernels/tile_driver.h"

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
    static float load1(const uint16_t* p) {
        return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(p))), 0);
    }
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
        for (int i = 0; i < R; ++i) BF_UNROLL
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

// int8 × int8 over 16 lanes, pairwise-widened into 4 int32 lanes (ARMv8.0 has no SDOT).
struct WideningDot {
    static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
        const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        const int16x8_t hi = vmull_high_s8(a, b);
        return vpadalq_s16(vpadalq_s16(acc, lo), hi);
    }
};

void neon_q8_0(const MatArgs& a, int64_t r0, int64_t r1) { mat_q8_0<WideningDot, 2, 2>(a, r0, r1); }
void neon_ternary(const MatArgs& a, int64_t r0, int64_t r1) { mat_ternary_any<WideningDot, 2, 2>(a, r0, r1); }

void neon_q4_0(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<WideningDot, DType::Q4_0, 2, 2>(a, r0, r1); }
void neon_q4_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<WideningDot, DType::Q4_K, 2, 2>(a, r0, r1); }
void neon_q5_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<WideningDot, DType::Q5_K, 2, 2>(a, r0, r1); }
void neon_q6_k(const MatArgs& a, int64_t r0, int64_t r1) { mat_kq<WideningDot, DType::Q6_K, 2, 2>(a, r0, r1); }

const KernelTable kNeon = {"neon",  neon_f32,  neon_f16,  neon_bf16, neon_q8_0, neon_ternary,
                           nullptr, nullptr,   nullptr,   nullptr,   false,     false,
                           0,       neon_q4_0, neon_q4_k, neon_q5_k, neon_q6_k};

}  // namespace

// neon_dot_kernels.cpp (compiled with +dotprod)
void neon_dot_q8_0(const MatArgs& a, int64_t r0, int64_t r1);
void neon_dot_ternary(const MatArgs& a, int64_t r0, int64_t r1);
void neon_dot_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1);
void neon_dot_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1);
void neon_dot_q4_0(const MatArgs& a, int64_t r0, int64_t r1);
void neon_dot_q4_k(const MatArgs& a, int64_t r0, int64_t r1);
void neon_dot_q5_k(const MatArgs& a, int64_t r0, int64_t r1);
void neon_dot_q6_k(const MatArgs& a, int64_t r0, int64_t r1);

namespace {
const KernelTable kNeonDot = {
    "neon_dot", neon_f32,      neon_f16,           neon_bf16,          neon_dot_q8_0, neon_dot_ternary,
    nullptr,    nullptr,       neon_dot_kv_scores, neon_dot_kv_values, false,         false,
    0,          neon_dot_q4_0, neon_dot_q4_k,      neon_dot_q5_k,      neon_dot_q6_k};
}  // namespace

const KernelTable* neon_kernels() { return &kNeon; }
const KernelTable* neon_dot_kernels() { return &kNeonDot; }

}  // namespace bf
