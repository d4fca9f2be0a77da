// The AVX-512 (F/BW/VL/DQ/VNNI) kernel table and its activation quantizers; the matmul kernels live in
// avx512_float.cpp, avx512_q8_0.cpp, avx512_ternary.cpp, kq_avx512.cpp. Layouts: kernels/kernel_api.h.
// GCC 12 warns spuriously about the _mm512_undefined_* idiom inside its own headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/act_quant.h"
#include "kernels/kernel_api.h"

namespace bf {

namespace {

// ---- activation quantizers: the scalar reference's bytes, 16 lanes at a time ------------------------

// NaN -> 0, clamp to ±127 (as act_clamp127).
inline __m512 clamp127(__m512 v) {
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
    return _mm512_max_ps(_mm512_min_ps(v, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-127.0f));
}

// max(|x|) with NaN never winning (max_ps returns its second operand when the first is NaN).
inline float absmax(const float* x, int64_t n) {
    __m512 m = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), m);
    float amax = _mm512_reduce_max_ps(m);
    for (; i < n; ++i) {
        const float a = __builtin_fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

void avx512_quant_q8_0(const float* x, int64_t cols, int8_t* q, float* d) {
    for (int64_t b = 0; b < cols / 32; ++b) {
        const float* xb = x + b * 32;
        const __m512 id = _mm512_set1_ps(act_q8_scale(absmax(xb, 32), &d[b]));
        for (int h = 0; h < 2; ++h) {
            const __m512 v = clamp127(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * h), id));
            const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 frac = _mm512_sub_ps(v, t);
            __m512i i = _mm512_cvttps_epi32(t);
            i = _mm512_mask_add_epi32(i, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), i,
                                      _mm512_set1_epi32(1));
            i = _mm512_mask_sub_epi32(i, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), i,
                                      _mm512_set1_epi32(1));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16 * h), _mm512_cvtepi32_epi8(i));
        }
    }
}

void avx512_quant_ternary(const float* x, int64_t cols, int64_t kp, int8_t* q, float* inv_s, int32_t* bsum) {
    const __m512 s = _mm512_set1_ps(act_ternary_scale(absmax(x, cols), inv_s));
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        const __m512 v = clamp127(_mm512_mul_ps(_mm512_loadu_ps(x + c), s));
        const __m512i i = _mm512_cvtps_epi32(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c), _mm512_cvtepi32_epi8(i));
    }
    const float ss = _mm512_cvtss_f32(s);
    for (; c < cols; ++c) q[c] = act_round_even(x[c] * ss);
    std::memset(q + cols, 0, size_t(kp - cols));
    for (int64_t b = 0; b < kp / 256; ++b) {
        __m512i acc = _mm512_setzero_si512();
        for (int e = 0; e < 256; e += 16)
            acc = _mm512_add_epi32(
                acc, _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + b * 256 + e))));
        bsum[b] = _mm512_reduce_add_epi32(acc);
    }
}

}  // namespace

void avx512_f32(const MatArgs& a, int64_t r0, int64_t r1);  // avx512_float.cpp
void avx512_f16(const MatArgs& a, int64_t r0, int64_t r1);
void avx512_bf16(const MatArgs& a, int64_t r0, int64_t r1);
void avx512_q8_0(const MatArgs& a, int64_t r0, int64_t r1);           // avx512_q8_0.cpp
void avx512_ternary(const MatArgs& a, int64_t r0, int64_t r1);        // avx512_ternary.cpp
void avx512_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1);  // kv_attn_avx512.cpp
void avx512_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1);
void avx512_q4_0(const MatArgs& a, int64_t r0, int64_t r1);  // kq_avx512.cpp
void avx512_q4_k(const MatArgs& a, int64_t r0, int64_t r1);
void avx512_q5_k(const MatArgs& a, int64_t r0, int64_t r1);
void avx512_q6_k(const MatArgs& a, int64_t r0, int64_t r1);

namespace {
const KernelTable kAvx512 = {"avx512",
                             avx512_f32,
                             avx512_f16,
                             avx512_bf16,
                             avx512_q8_0,
                             avx512_ternary,
                             avx512_quant_q8_0,
                             avx512_quant_ternary,
                             avx512_kv_scores,
                             avx512_kv_values,
                             /*ternary_all_tokens=*/true,
                             /*q8_lanes=*/true,
                             /*q8_lanes_flip=*/0x80808080u,
                             avx512_q4_0,
                             avx512_q4_k,
                             avx512_q5_k,
                             avx512_q6_k,
                             /*kq_lanes=*/true};
}  // namespace

const KernelTable* avx512_kernels() { return &kAvx512; }

}  // namespace bf
