// AVX-512 kernels of float weights (f32, f16, bf16) × f32 activations: register tiles of 4 rows × 4 tokens.
// GCC 12 warns spuriously about the _mm512_undefined_* idiom inside its own headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/kernel_api.h"
#include "kernels/tile_driver.h"

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

using kernels::drive;

// ---- f32 / f16 / bf16 weights, f32 activations (16 lanes; the column tail uses masked loads) -------

struct LoadF32 {
    using T = float;
    static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
    static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};
struct LoadF16 {
    using T = uint16_t;
    static __m512 load(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
    static __m512 load(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m512 load(const uint16_t* p, __mmask16 m) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
    }
    static __m512 load(const uint16_t* p) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    }
};

template <class L>
void mat_float(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const typename L::T*>(a.w);
    const auto* x = static_cast<const float*>(a.x);
    const int64_t k = a.cols, k16 = k / 16 * 16;
    const __mmask16 tail = __mmask16((1u << (k - k16)) - 1);
    drive<4, 4>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        __m512 acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm512_setzero_ps();
        for (int64_t c = 0; c < k16; c += 16) {
            __m512 xv[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) xv[j] = _mm512_loadu_ps(x + (t + j) * k + c);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const __m512 wv = L::load(w + (r + i) * k + c);
                BF_UNROLL
                for (int j = 0; j < T; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        if (tail) {
            __m512 xv[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) xv[j] = _mm512_maskz_loadu_ps(tail, x + (t + j) * k + k16);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const __m512 wv = L::load(w + (r + i) * k + k16, tail);
                BF_UNROLL
                for (int j = 0; j < T; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = _mm512_reduce_add_ps(acc[i][j]);
    });
}

}  // namespace

void avx512_f32(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF32>(a, r0, r1); }
void avx512_f16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF16>(a, r0, r1); }
void avx512_bf16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadBF16>(a, r0, r1); }

}  // namespace bf
