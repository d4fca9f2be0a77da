// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c). Each computes register tiles of
// R rows × T tokens so a weight vector loaded once serves T tokens. Layouts: kernels/kernel_api.h.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/tile_driver.h"
#include "kernels/x86_avx2/avx2_sums.h"
#include "kernels/q8_lanes.h"
#include "kernels/act_quant.h"
#include "kernels/kernel_api.h"

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

// Runs tile<R, T>(r, t) over rows [r0, r1) × tokens [0, n_tok), with 1-row / 1-token remainders.
using kernels::drive;

// ---- f32 / f16 / bf16 weights, f32 activations -------------------------------------------------------

struct LoadF32 {
    using T = float;
    static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
    static float load1(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float load1(const uint16_t* p) { return _cvtsh_ss(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    static float load1(const uint16_t* p) {
        const uint32_t u = uint32_t(*p) << 16;
        float f;
        __builtin_memcpy(&f, &u, 4);
        return f;
    }
};

template <class L>
void mat_float(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const typename L::T*>(a.w);
    const auto* x = static_cast<const float*>(a.x);
    const int64_t k = a.cols, k8 = k / 8 * 8;
    drive<4, 2>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        __m256 acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm256_setzero_ps();
        for (int64_t c = 0; c < k8; c += 8) {
            __m256 xv[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) xv[j] = _mm256_loadu_ps(x + (t + j) * k + c);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const __m256 wv = L::load8(w + (r + i) * k + c);
                BF_UNROLL
                for (int j = 0; j < T; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
            }
        }
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) {
            float s = hsum(acc[i][j]);
            for (int64_t c = k8; c < k; ++c) s += L::load1(w + (r + i) * k + c) * x[(t + j) * k + c];
            a.y[(t + j) * a.y_stride + r + i] = s;
        }
    });
}

void avx2_f32(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF32>(a, r0, r1); }
void avx2_f16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF16>(a, r0, r1); }
void avx2_bf16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadBF16>(a, r0, r1); }

// ---- Q8_0 weights × Q8_0 activations ------------------------------------------------------------------
// Per 32-block: maddubs(|w|, x with w's sign) gives pairwise int16 sums (within 2·128·127 for activation
// codes |x| <= 127, so a file's w = −128 stays exact), madd with ones widens to int32; the block's d_w·d_x then scales
// it into an f32 accumulator.
void q8_0_tiles(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    drive<4, 2>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        __m256 acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            __m256i xv[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j)
                xv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + (t + j) * k + b * 32));
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (r + i) * k + b * 32));
                const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w|; −128 reads as 128 unsigned, so it stays exact
                const float dw = _cvtsh_ss(a.w_scales_h[(r + i) * nb + b]);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[j], wv)), ones);
                    const __m256 d = _mm256_set1_ps(dw * a.xd[(t + j) * nb + b]);
                    acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc[i][j]);
                }
            }
        }
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = hsum(acc[i][j]);
    });
}

// Prefill with tokens in lanes, 8 per vector (layout: kernels/q8_lanes.h, raw signed codes): each weight
// chunk is broadcast and met by 8 tokens' chunks at once, |w| × (x with w's sign) in vpmaddubsw (pairs
// stay within 2·128·127, no saturation) widened by vpmaddwd; the block scale is applied per 8 tokens.
// Against the tiles above this saves the per-(row, token) scale product and horizontal sums. Row r + i's
// sums for token slots 8(v0 + v).. go to part[i·kQ8Slots + 8(v0 + v) ..].
template <int R, int NV>
void q8_0_lanes_rows(const MatArgs& a, int64_t r, int64_t v0, float* part) {
    const uint32_t* xs = a.xl;
    const float* ds = a.xdl;
    const auto* w = static_cast<const int8_t*>(a.w);
    const int64_t k = a.cols, nb = k / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R][NV];
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint32_t* xb = xs + b * 8 * kernels::kQ8Slots + 8 * v0;
        BF_UNROLL
        for (int i = 0; i < R; ++i) {
            const int8_t* wb = w + (r + i) * k + b * 32;
            __m256i p[NV];
            BF_UNROLL
            for (int v = 0; v < NV; ++v) p[v] = _mm256_setzero_si256();
            BF_UNROLL
            for (int c = 0; c < 8; ++c) {
                int32_t w4;
                std::memcpy(&w4, wb + 4 * c, 4);
                const __m256i wc = _mm256_set1_epi32(w4), aw = _mm256_sign_epi8(wc, wc);
                BF_UNROLL
                for (int v = 0; v < NV; ++v) {
                    const __m256i xv =
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + c * kernels::kQ8Slots + 8 * v));
                    p[v] = _mm256_add_epi32(
                        p[v], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wc)), ones));
                }
            }
            const __m256 dw = _mm256_set1_ps(_cvtsh_ss(a.w_scales_h[(r + i) * nb + b]));
            BF_UNROLL
            for (int v = 0; v < NV; ++v)
                acc[i][v] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(p[v]),
                    _mm256_mul_ps(dw, _mm256_loadu_ps(ds + b * kernels::kQ8Slots + 8 * (v0 + v))), acc[i][v]);
        }
    }
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) _mm256_store_ps(part + i * kernels::kQ8Slots + 8 * (v0 + v), acc[i][v]);
}

// Rows in groups of kQ8Group whose sums wait in `part` and go to y a token at a time (kernels::lanes_to_y).
constexpr int64_t kQ8Group = 16;

void q8_0_lanes(const MatArgs& a, int64_t r0, int64_t r1) {
    const int64_t nv = (a.n_tok + 7) / 8;
    alignas(32) float part[kQ8Group * kernels::kQ8Slots];
    for (int64_t rg = r0; rg < r1; rg += kQ8Group) {
        const int64_t re = std::min(r1, rg + kQ8Group);
        for (int64_t v0 = 0; v0 < nv; v0 += 4)  // up to 4 token vectors: 8 accumulators + 4 sums of 16 registers
            kernels::with_width(std::min<int64_t>(4, nv - v0), [&]<int NV>() {
                int64_t r = rg;
                for (; r + 2 <= re; r += 2) q8_0_lanes_rows<2, NV>(a, r, v0, part + (r - rg) * kernels::kQ8Slots);
                for (; r < re; ++r) q8_0_lanes_rows<1, NV>(a, r, v0, part + (r - rg) * kernels::kQ8Slots);
            });
        kernels::lanes_to_y(part, re - rg, a.n_tok, a.y + rg, a.y_stride);
    }
}

// Decode and a few tokens: the tiles; from 8 tokens the lanes.
void avx2_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.n_tok < 8 || !a.xl) return q8_0_tiles(a, r0, r1);
    q8_0_lanes(a, r0, r1);
}

// ---- ternary (2-bit codes) × int8 activations ---------------------------------------------------------
// Per 256-block and shift l: codes (v >> 2l) & 3 of 32 bytes are 32 consecutive elements; maddubs(code, x)
// sums pairs in int16 (<= 2·3·127), madd with ones widens to int32. The code-1 offset is removed with the
// activation block sums at the end.
template <bool kUniform>
void mat_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t kp = a.kp, nb = kp / 256, row_bytes = kp / 4;
    const __m256i ones = _mm256_set1_epi16(1), mask = _mm256_set1_epi8(3);
    drive<kUniform ? 4 : 2, 2>(r0, r1, a.n_tok, [&]<int R, int T>(int64_t r, int64_t t) {
        __m256i acc[R][T];
        __m256 accf[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm256_setzero_si256(), accf[i][j] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            __m256i v[R][2];
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                const uint8_t* p = w + (r + i) * row_bytes + b * 64;
                v[i][0] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
                v[i][1] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
            }
            BF_UNROLL
            for (int l = 0; l < 4; ++l) {
                __m256i x0[T], x1[T];
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const int8_t* xp = x + (t + j) * kp + b * 256 + 64 * l;
                    x0[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp));
                    x1[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + 32));
                }
                BF_UNROLL
                for (int i = 0; i < R; ++i) {
                    const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v[i][0], 2 * l), mask);
                    const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v[i][1], 2 * l), mask);
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) {
                        const __m256i p =
                            _mm256_add_epi16(_mm256_maddubs_epi16(c0, x0[j]), _mm256_maddubs_epi16(c1, x1[j]));
                        acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p, ones));
                    }
                }
            }
            if (!kUniform) {
                BF_UNROLL
                for (int i = 0; i < R; ++i) BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const __m256 d = _mm256_set1_ps(a.w_scales[(r + i) * nb + b]);
                    accf[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][j]), d, accf[i][j]);
                    acc[i][j] = _mm256_setzero_si256();
                }
            }
        }
        BF_UNROLL
        for (int j = 0; j < T; ++j) {
            const int32_t* xs = a.xsum + (t + j) * nb;
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                float s;
                if (kUniform) {
                    int32_t total = hsum_i32(acc[i][j]);
                    for (int64_t b = 0; b < nb; ++b) total -= xs[b];
                    s = float(total) * a.w_scales[0];
                } else {
                    s = hsum(accf[i][j]);
                    for (int64_t b = 0; b < nb; ++b) s -= a.w_scales[(r + i) * nb + b] * float(xs[b]);
                }
                a.y[(t + j) * a.y_stride + r + i] = s * a.xd[t + j];
            }
        }
    });
}

void avx2_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.uniform)
        mat_ternary<true>(a, r0, r1);
    else
        mat_ternary<false>(a, r0, r1);
}

// ---- activation quantizers: the scalar reference's bytes, 8 lanes at a time -------------------------

// NaN -> 0, clamp to ±127 (as act_clamp127).
inline __m256 clamp127(__m256 v) {
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    return _mm256_max_ps(_mm256_min_ps(v, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
}

// max(|x|) with NaN never winning (max_ps returns its second operand when the first is NaN).
inline float absmax(const float* x, int64_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), m);
    if (i < n) {  // the last n % 8 values by a masked load (lanes past n read nothing and give 0)
        const __m256i lanes =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        m = _mm256_max_ps(_mm256_and_ps(_mm256_maskload_ps(x + i, lanes), abs_mask), m);
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// Packs 4 × 8 int32 (all within ±127) into 32 int8 in order.
inline void store_i8x32(int8_t* q, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                        _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

inline __m256i round_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_sub_ps(v, t);
    __m256i i = _mm256_cvttps_epi32(t);
    i = _mm256_sub_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ)));  // -(-1)
    return _mm256_add_epi32(i, _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(-0.5f), _CMP_LE_OQ)));
}

void avx2_quant_q8_0(const float* x, int64_t cols, int8_t* q, float* d) {
    for (int64_t b = 0; b < cols / 32; ++b) {
        const float* xb = x + b * 32;
        const __m256 id = _mm256_set1_ps(act_q8_scale(absmax(xb, 32), &d[b]));
        __m256i i[4];
        for (int h = 0; h < 4; ++h) i[h] = round_away(clamp127(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * h), id)));
        store_i8x32(q + b * 32, i[0], i[1], i[2], i[3]);
    }
}

void avx2_quant_ternary(const float* x, int64_t cols, int64_t kp, int8_t* q, float* inv_s, int32_t* bsum) {
    const float ss = act_ternary_scale(absmax(x, cols), inv_s);
    const __m256 s = _mm256_set1_ps(ss);
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        __m256i i[4];
        for (int h = 0; h < 4; ++h) {
            const __m256 v = clamp127(_mm256_mul_ps(_mm256_loadu_ps(x + c + 8 * h), s));
            i[h] = _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        }
        store_i8x32(q + c, i[0], i[1], i[2], i[3]);
    }
    for (; c < cols; ++c) q[c] = act_round_even(x[c] * ss);
    std::memset(q + cols, 0, size_t(kp - cols));
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < kp / 256; ++b) {
        __m256i acc = _mm256_setzero_si256();
        for (int e = 0; e < 256; e += 32) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 256 + e));
            // sign-extend bytes to int16 pairs, then pairwise int32 sums
            const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
            const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(lo, hi), ones));
        }
        bsum[b] = hsum_i32(acc);
    }
}

}  // namespace

void avx2_kv_scores(const KvScoreArgs& a, int64_t b0, int64_t b1);  // kv_attn_avx2.cpp
void avx2_kv_values(const KvValueArgs& a, int64_t b0, int64_t b1);
void avx2_q4_0(const MatArgs& a, int64_t r0, int64_t r1);  // kq_avx2.cpp
void avx2_q4_k(const MatArgs& a, int64_t r0, int64_t r1);
void avx2_q5_k(const MatArgs& a, int64_t r0, int64_t r1);
void avx2_q6_k(const MatArgs& a, int64_t r0, int64_t r1);

namespace {
const KernelTable kAvx2 = {"avx2",
                           avx2_f32,
                           avx2_f16,
                           avx2_bf16,
                           avx2_q8_0,
                           avx2_ternary,
                           avx2_quant_q8_0,
                           avx2_quant_ternary,
                           avx2_kv_scores,
                           avx2_kv_values,
                           /*ternary_all_tokens=*/false,
                           /*q8_lanes=*/true,
                           /*q8_lanes_flip=*/0,
                           avx2_q4_0,
                           avx2_q4_k,
                           avx2_q5_k,
                           avx2_q6_k,
                           /*kq_lanes=*/true};
}  // namespace

const KernelTable* avx2_kernels() { return &kAvx2; }

}  // namespace bf
