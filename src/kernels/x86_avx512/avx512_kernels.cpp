// AVX-512 (F/BW/VL/DQ/VNNI) kernels. Register tiles of R rows × T tokens; integer formats use vpdpbusd
// (u8 × s8, 4 products summed per int32 lane, no saturation). Layouts: kernels/kernel_api.h.
// GCC 12 warns spuriously about the _mm512_undefined_* idiom inside its own headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/tile_driver.h"
#include "kernels/q8_lanes.h"
#include "kernels/act_quant.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

using kernels::drive;

// Same tiles with the token loop outside: a few tokens' activations stay in L1 while the weights stream
// from L2/L3 (fewer bytes per multiply-add than re-reading activations for every row tile).
template <int R, int T, class Tile>
inline void drive_tokens_outer(int64_t r0, int64_t r1, int64_t n_tok, Tile&& tile) {
    int64_t t = 0;
    for (; t + T <= n_tok; t += T) {
        int64_t r = r0;
        for (; r + R <= r1; r += R) tile.template operator()<R, T>(r, t);
        for (; r < r1; ++r) tile.template operator()<1, T>(r, t);
    }
    for (; t < n_tok; ++t) {
        int64_t r = r0;
        for (; r + R <= r1; r += R) tile.template operator()<R, 1>(r, t);
        for (; r < r1; ++r) tile.template operator()<1, 1>(r, t);
    }
}

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

void avx512_f32(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF32>(a, r0, r1); }
void avx512_f16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadF16>(a, r0, r1); }
void avx512_bf16(const MatArgs& a, int64_t r0, int64_t r1) { mat_float<LoadBF16>(a, r0, r1); }

// ---- Q8_0 weights × Q8_0 activations ------------------------------------------------------------------
// Decode, one row at a time (a sequential weight stream): per 32-block (256-bit) vpdpbusd(|w|, x with w's
// sign) gives 8 int32 partial dots (|−128| reads as 128 unsigned, so a file's −128 stays exact). The block
// scales d_w·d_x are formed 8 blocks at a time in one vector (f16 -> f32 for d_w) and each block's lane is
// broadcast with vpermps, so no scalar work sits in the inner loop.
void q8_0_decode(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    for (int64_t r = r0; r < r1; ++r) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b0 = 0; b0 < nb; b0 += 8) {
            const int nblk = nb - b0 < 8 ? int(nb - b0) : 8;
            const __mmask8 m = __mmask8((1u << nblk) - 1);
            const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, a.w_scales_h + r * nb + b0)),
                                           _mm256_maskz_loadu_ps(m, a.xd + b0));
            for (int bb = 0; bb < nblk; ++bb) {
                const int64_t b = b0 + bb;
                const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * k + b * 32));
                const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * 32));
                const __m256i p =
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_permutexvar_ps(_mm256_set1_epi32(bb), d), acc);
            }
        }
        a.y[r] = hsum(acc);
    }
}

// A few tokens (a server's batched decode, short chunks): tiles of 4 rows × 4 tokens, two 32-blocks per
// 64-byte vpdpbusd. The activations enter as x ^ 0x80 = x + 128
// (unsigned) and each accumulator starts at −128·Σw of the row's lanes (one vpdpbusd per row, shared by
// the tile's tokens), so the integer dot is exact without the sign trick's per-(row, token) vpsignb. The
// block scales d_w·d_x come from 16-block tables, a lane half per block (vpermps with a pair index).
void q8_0_few_tokens(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    // Lane l of a block pair's vectors belongs to its first block for l < 8, to the second after.
    const __m512i half_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    auto tile = [&]<int R, int T>(int64_t r, int64_t t) {
        __m512 acc[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm512_setzero_ps();
        alignas(64) float dw[R][16], dx[T][16];  // the 16-block chunk's scales
        for (int64_t b0 = 0; b0 < nb; b0 += 16) {
            const int nblk = nb - b0 < 16 ? int(nb - b0) : 16;
            const __mmask16 m = __mmask16((1u << nblk) - 1);
            BF_UNROLL
            for (int i = 0; i < R; ++i)
                _mm512_store_ps(dw[i], _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a.w_scales_h + (r + i) * nb + b0)));
            BF_UNROLL
            for (int j = 0; j < T; ++j) _mm512_store_ps(dx[j], _mm512_maskz_loadu_ps(m, a.xd + (t + j) * nb + b0));
            for (int bb = 0; bb < nblk; bb += 2) {
                const int64_t off = (b0 + bb) * 32;
                const __mmask64 lm = bb + 1 < nblk ? ~__mmask64(0) : __mmask64(0xFFFFFFFFu);  // a lone last block
                const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(bb), half_idx);
                __m512i xv[T];
                __m512 dxp[T];
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    xv[j] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(lm, x + (t + j) * k + off), flip);
                    dxp[j] = _mm512_permutexvar_ps(idx, _mm512_load_ps(dx[j]));
                }
                BF_UNROLL
                for (int i = 0; i < R; ++i) {
                    const __m512i wv = _mm512_maskz_loadu_epi8(lm, w + (r + i) * k + off);
                    const __m512i neg =
                        _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wv));
                    const __m512 dwp = _mm512_permutexvar_ps(idx, _mm512_load_ps(dw[i]));
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) {
                        const __m512i p = _mm512_dpbusd_epi32(neg, xv[j], wv);
                        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dwp, dxp[j]), acc[i][j]);
                    }
                }
            }
        }
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r + i] = _mm512_reduce_add_ps(acc[i][j]);
    };
    // Tokens in groups of up to 4, each group as one tile width (drive's 1-token edges would redo the
    // weight-side work per token: a server's 2-3 sequence decode step would then stream no faster).
    for (int64_t t = 0; t < a.n_tok; t += 4) {
        kernels::with_width(std::min<int64_t>(4, a.n_tok - t), [&]<int T>() {
            int64_t r = r0;
            for (; r + 4 <= r1; r += 4) tile.template operator()<4, T>(r, t);
            for (; r < r1; ++r) tile.template operator()<1, T>(r, t);
        });
    }
}

// Prefill, tokens in lanes. matmul.cpp lays each chunk of (at most 64) tokens out chunk-major as x + 128
// (kernels/q8_lanes.h), so one 64-byte load is one 4-byte chunk of 16 tokens, and a weight chunk (4 bytes
// of one row) is broadcast by vpdpbusd: 8 of them give 16 tokens' block dots, lane by lane. The offset
// adds 128·Σw to every lane; Σw comes from the same broadcasts (one more vpdpbusd per chunk, against a
// vector of ones) and is taken off before the block's scale d_w·d_x is applied.
using kernels::kQ8Slots;
template <int R, int NV>
void q8_0_prefill_rows(const MatArgs& a, int64_t r) {
    const uint32_t* xs = a.xl;
    const float* ds = a.xdl;
    const auto* w = static_cast<const int8_t*>(a.w);
    const int64_t k = a.cols, nb = k / 32;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512 acc[R][NV];
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint32_t* xb = xs + b * 8 * kQ8Slots;
        BF_UNROLL
        for (int i = 0; i < R; ++i) {
            const int8_t* wb = w + (r + i) * k + b * 32;
            __m512i p[NV], sw = _mm512_setzero_si512();
            BF_UNROLL
            for (int v = 0; v < NV; ++v) p[v] = _mm512_setzero_si512();
            BF_UNROLL
            for (int c = 0; c < 8; ++c) {
                int32_t w4;
                std::memcpy(&w4, wb + 4 * c, 4);
                const __m512i wc = _mm512_set1_epi32(w4);
                sw = _mm512_dpbusd_epi32(sw, ones, wc);
                BF_UNROLL
                for (int v = 0; v < NV; ++v)
                    p[v] = _mm512_dpbusd_epi32(p[v], _mm512_loadu_si512(xb + c * kQ8Slots + 16 * v), wc);
            }
            const __m512i off = _mm512_slli_epi32(sw, 7);  // 128·Σw
            const __m512 dw = _mm512_set1_ps(_cvtsh_ss(a.w_scales_h[(r + i) * nb + b]));
            BF_UNROLL
            for (int v = 0; v < NV; ++v)
                acc[i][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(p[v], off)),
                                            _mm512_mul_ps(dw, _mm512_loadu_ps(ds + b * kQ8Slots + 16 * v)), acc[i][v]);
        }
    }
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) {
        alignas(64) float out[16];
        _mm512_store_ps(out, acc[i][v]);
        for (int64_t l = 0; l < 16 && 16 * v + l < a.n_tok; ++l) a.y[(16 * v + l) * a.y_stride + r + i] = out[l];
    }
}

void q8_0_prefill(const MatArgs& a, int64_t r0, int64_t r1) {
    kernels::with_width((a.n_tok + 15) / 16, [&]<int NV>() {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) q8_0_prefill_rows<4, NV>(a, r);
        for (; r < r1; ++r) q8_0_prefill_rows<1, NV>(a, r);
    });
}

// Decode streams the weights (bound by memory bandwidth already); prefill is bound by arithmetic. Below
// 8 tokens, most of a 16-token lane vector would be idle (kernel_bench: the 4×4 tiles are ~2× faster at
// 2-4 tokens, even at 8, and ~1.7× slower from 16).
void avx512_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.n_tok == 1) return q8_0_decode(a, r0, r1);
    if (a.n_tok < 8 || !a.xl) return q8_0_few_tokens(a, r0, r1);
    q8_0_prefill(a, r0, r1);
}

// ---- ternary (2-bit codes) × int8 activations ---------------------------------------------------------
// One 64-byte load holds a 256-block; (v >> 2l) & 3 are the codes of elements 64l..64l+63, which meet
// 64 consecutive activations in one vpdpbusd. Uniform scales: int32 sums over the whole row.
template <bool kUniform>
void mat_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t kp = a.kp, nb = kp / 256, row_bytes = kp / 4;
    const __m512i mask = _mm512_set1_epi8(3);
    constexpr int kR = 4, kT = kUniform ? 6 : 2;
    auto tile = [&]<int R, int T>(int64_t r, int64_t t) {
        __m512i acc[R][T];
        __m512 accf[R][T];
        BF_UNROLL
        for (int i = 0; i < R; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) acc[i][j] = _mm512_setzero_si512(), accf[i][j] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            __m512i v[R];
            BF_UNROLL
            for (int i = 0; i < R; ++i) v[i] = _mm512_loadu_si512(w + (r + i) * row_bytes + b * 64);
            BF_UNROLL
            for (int l = 0; l < 4; ++l) {
                __m512i c[R];
                BF_UNROLL
                for (int i = 0; i < R; ++i) c[i] = _mm512_and_si512(l ? _mm512_srli_epi16(v[i], 2 * l) : v[i], mask);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const __m512i xv = _mm512_loadu_si512(x + (t + j) * kp + b * 256 + 64 * l);
                    BF_UNROLL
                    for (int i = 0; i < R; ++i) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], c[i], xv);
                }
            }
            if (!kUniform) {
                BF_UNROLL
                for (int i = 0; i < R; ++i) {
                    const __m512 d = _mm512_set1_ps(a.w_scales[(r + i) * nb + b]);
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) {
                        accf[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][j]), d, accf[i][j]);
                        acc[i][j] = _mm512_setzero_si512();
                    }
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
                    int32_t total = _mm512_reduce_add_epi32(acc[i][j]);
                    for (int64_t b = 0; b < nb; ++b) total -= xs[b];
                    s = float(total) * a.w_scales[0];
                } else {
                    s = _mm512_reduce_add_ps(accf[i][j]);
                    for (int64_t b = 0; b < nb; ++b) s -= a.w_scales[(r + i) * nb + b] * float(xs[b]);
                }
                a.y[(t + j) * a.y_stride + r + i] = s * a.xd[t + j];
            }
        }
    };
    if (a.n_tok >= kT)
        drive_tokens_outer<kR, kT>(r0, r1, a.n_tok, tile);
    else
        drive<kR, kT>(r0, r1, a.n_tok, tile);
}

// Sums of the 16 int32 lanes of a, b, c, d as one 4-lane vector (fewer shuffles than 4 reductions).
inline __m128i reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
    auto half = [](__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); };
    const __m256i a2 = half(a), b2 = half(b), c2 = half(c), d2 = half(d);
    const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, b2), _mm256_unpackhi_epi32(a2, b2));
    const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c2, d2), _mm256_unpackhi_epi32(c2, d2));
    const __m256i abcd = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

// Prefill with uniform scales. On this core every 512-bit op competes with vpdpbusd for issue slots, so
// a group of 16 rows is unpacked once per K segment into one code byte per weight (a per-thread buffer in
// L2) and reused by every token of the call (matmul hands this kernel all tokens at once); tokens go in
// chunks of 64 whose activations stay in L2 while the group's four 4-row tiles pass over them.
constexpr int kPR = 4, kPT = 4;  // register tile: 16 accumulators; GCC spills badly beyond that
constexpr int kPG = 16;          // rows unpacked together
constexpr int64_t kSeg = 4096;   // K segment: 16 rows of unpacked codes = 64 KB
constexpr int64_t kTokChunk = 64;

// Adds rows r..r+3 × tokens t..t+T-1 over the K segment [k0, k0 + len) into part[t·kPG + i] (exact int32).
// The first K segment stores its sums (no zeroing of part needed), later ones add.
template <int T>
inline void prefill_tile(const MatArgs& a, const uint8_t* u, int64_t k0, int64_t len, int64_t t, int32_t* part) {
    const auto* x = static_cast<const int8_t*>(a.x) + k0;
    const int64_t kp = a.kp;
    __m512i acc[kPR][T];
    BF_UNROLL
    for (int i = 0; i < kPR; ++i) BF_UNROLL
    for (int j = 0; j < T; ++j) acc[i][j] = _mm512_setzero_si512();
    for (int64_t k = 0; k < len; k += 64) {
        __m512i c[kPR];
        BF_UNROLL
        for (int i = 0; i < kPR; ++i) c[i] = _mm512_load_si512(u + i * kSeg + k);
        BF_UNROLL
        for (int j = 0; j < T; ++j) {
            const __m512i xv = _mm512_loadu_si512(x + (t + j) * kp + k);
            BF_UNROLL
            for (int i = 0; i < kPR; ++i) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], c[i], xv);
        }
    }
    BF_UNROLL
    for (int j = 0; j < T; ++j) {
        __m128i* p = reinterpret_cast<__m128i*>(part + (t + j) * kPG);
        const __m128i sum = reduce4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
        _mm_storeu_si128(p, k0 == 0 ? sum : _mm_add_epi32(_mm_loadu_si128(p), sum));
    }
}

void prefill_ternary_uniform(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const int64_t kp = a.kp, nb = kp / 256, row_bytes = kp / 4, n_tok = a.n_tok;
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the matmul's loop; tests call us directly
    KernelScratch& ws = workspace(owner.worker());
    uint8_t* u = ws.bytes(KernelScratch::kTernaryTile, size_t(kPG * kSeg));  // 64-byte aligned
    auto* part = reinterpret_cast<int32_t*>(ws.bytes(KernelScratch::kTernaryPart, size_t(n_tok * kPG) * 4));
    auto* xtot = reinterpret_cast<int32_t*>(ws.bytes(KernelScratch::kTernaryTotals, size_t(n_tok) * 4));
    const __m512i mask = _mm512_set1_epi8(3);
    for (int64_t t = 0; t < n_tok; ++t) {
        int32_t s = 0;
        for (int64_t b = 0; b < nb; ++b) s += a.xsum[t * nb + b];
        xtot[size_t(t)] = s;
    }
    for (int64_t r = r0; r < r1; r += kPG) {
        const int nr = int(std::min<int64_t>(kPG, r1 - r));
        const int n_tiles = (nr + kPR - 1) / kPR;
        for (int64_t k0 = 0; k0 < kp; k0 += kSeg) {
            const int64_t len = std::min(kSeg, kp - k0);
            for (int i = 0; i < n_tiles * kPR; ++i) {
                uint8_t* ui = u + i * kSeg;
                if (i >= nr) {  // missing rows of the last tile: code 0, results discarded
                    std::memset(ui, 0, size_t(len));
                    continue;
                }
                const uint8_t* row = w + (r + i) * row_bytes + k0 / 4;
                for (int64_t b = 0; b < len / 256; ++b) {
                    const __m512i v = _mm512_loadu_si512(row + b * 64);
                    BF_UNROLL
                    for (int l = 0; l < 4; ++l)
                        _mm512_store_si512(ui + b * 256 + 64 * l, _mm512_and_si512(_mm512_srli_epi16(v, 2 * l), mask));
                }
            }
            for (int64_t tc = 0; tc < n_tok; tc += kTokChunk) {
                const int64_t te = std::min(n_tok, tc + kTokChunk);
                for (int tile = 0; tile < n_tiles; ++tile) {
                    const uint8_t* ut = u + tile * kPR * kSeg;
                    int32_t* pt = part + tile * kPR;
                    int64_t t = tc;
                    for (; t + kPT <= te; t += kPT) prefill_tile<kPT>(a, ut, k0, len, t, pt);
                    for (; t < te; ++t) prefill_tile<1>(a, ut, k0, len, t, pt);
                }
            }
        }
        // One 16-row store per token: y rows are a whole 40 KB apart at the real size, so writing each
        // output line once (not in four 4-row pieces) saves most of the cache misses of this loop.
        const __m512 sc = _mm512_set1_ps(a.w_scales[0]);
        const __mmask16 m = __mmask16((1u << nr) - 1);
        for (int64_t t = 0; t < n_tok; ++t) {
            const __m512i tot =
                _mm512_sub_epi32(_mm512_loadu_si512(&part[size_t(t * kPG)]), _mm512_set1_epi32(xtot[size_t(t)]));
            // (float(total) · scale) · (1/s), in the reference's order.
            const __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(tot), sc), _mm512_set1_ps(a.xd[t]));
            float* dst = a.y + t * a.y_stride + r;
            if (nr == kPG)
                _mm512_storeu_ps(dst, y);
            else
                _mm512_mask_storeu_ps(dst, m, y);
        }
    }
}

// Decode with uniform scales: stream 4 rows at a time. Instead of shifting, code l is isolated by the mask
// 3 << 2l, which multiplies it by 4^l (still <= 128, a valid u8); each l has its own accumulator, divided
// back exactly (arithmetic shift) at the end. Saves a shift per 64 weights on this issue-bound path.
template <int R>
inline void decode_tile(const MatArgs& a, int64_t r, int64_t t, int32_t xtot) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x) + t * a.kp;
    const int64_t kp = a.kp, row_bytes = kp / 4;
    __m512i acc[R][4];
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int l = 0; l < 4; ++l) acc[i][l] = _mm512_setzero_si512();
    for (int64_t b = 0; b < kp / 256; ++b) {
        __m512i v[R];
        BF_UNROLL
        for (int i = 0; i < R; ++i) v[i] = _mm512_loadu_si512(w + (r + i) * row_bytes + b * 64);
        BF_UNROLL
        for (int l = 0; l < 4; ++l) {
            const __m512i xv = _mm512_loadu_si512(x + b * 256 + 64 * l);
            const __m512i m = _mm512_set1_epi8(char(3 << (2 * l)));
            BF_UNROLL
            for (int i = 0; i < R; ++i) acc[i][l] = _mm512_dpbusd_epi32(acc[i][l], _mm512_and_si512(v[i], m), xv);
        }
    }
    BF_UNROLL
    for (int i = 0; i < R; ++i) {
        const __m512i sum =
            _mm512_add_epi32(_mm512_add_epi32(acc[i][0], _mm512_srai_epi32(acc[i][1], 2)),
                             _mm512_add_epi32(_mm512_srai_epi32(acc[i][2], 4), _mm512_srai_epi32(acc[i][3], 6)));
        const int32_t total = _mm512_reduce_add_epi32(sum) - xtot;
        a.y[t * a.y_stride + r + i] = float(total) * a.w_scales[0] * a.xd[t];
    }
}

constexpr int kDecodeRows = 1;  // one row at a time: a purely sequential stream suits the prefetchers best

void decode_ternary_uniform(const MatArgs& a, int64_t r0, int64_t r1) {
    const int64_t nb = a.kp / 256;
    for (int64_t t = 0; t < a.n_tok; ++t) {
        int32_t xtot = 0;
        for (int64_t b = 0; b < nb; ++b) xtot += a.xsum[t * nb + b];
        int64_t r = r0;
        for (; r + kDecodeRows <= r1; r += kDecodeRows) decode_tile<kDecodeRows>(a, r, t, xtot);
        for (; r < r1; ++r) decode_tile<1>(a, r, t, xtot);
    }
}

void avx512_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.uniform && a.n_tok >= 4)
        prefill_ternary_uniform(a, r0, r1);
    else if (a.uniform)
        decode_ternary_uniform(a, r0, r1);
    else
        mat_ternary<false>(a, r0, r1);
}

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
