// AVX2 kernels of the 4-6-bit weights (Q4_0, Q4_K, Q5_K, Q6_K; layouts: kernels/kernel_api.h). Codes are
// unpacked with AND / shift into unsigned bytes, which vpmaddubsw takes as is (pairs <= 2·63·127, no
// saturation) against the int8 activations; vpmaddwd with ones widens to int32. Code offsets and K-quant
// mins come off per block from the activations' sums. Up to 7 tokens: one row at a time over groups of
// 8 blocks, each decoded block serving 1-4 tokens. From 8 tokens: rows unpacked once per call, then
// tokens in lanes (8 per vector) as the Q8_0 prefill (avx2_kernels.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/kq_lanes_driver.h"
#include "kernels/q8_lanes.h"
#include "kernels/tile_driver.h"
#include "kernels/x86_avx2/avx2_sums.h"

#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i nib_lo(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(15)); }
inline __m256i nib_hi(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15)); }
// Bits s..s+1 (n = 2) or bit s (n = 1) of each byte of v, moved to bit 4.
inline __m256i bits_at4(__m256i v, int s, int n) {
    const __m256i sh = s >= 4 ? _mm256_srli_epi16(v, s - 4) : _mm256_slli_epi16(v, 4 - s);
    return _mm256_and_si256(sh, _mm256_set1_epi8(char(n == 2 ? 0x30 : 0x10)));
}

// Unsigned codes of the 32-blocks of 256-element group g of row r (Q4_0: 32·(8g..8g+7), possibly fewer).
// Returns the number of blocks (8 unless the row's last Q4_0 group).
int group_codes(DType type, const MatArgs& a, int64_t r, int64_t g, __m256i c[8]) {
    const int64_t k = a.cols;
    const uint8_t* w = static_cast<const uint8_t*>(a.w) + r * (k / 2) + 128 * g;
    if (type == DType::Q6_K) {
        const uint8_t* qh = a.w_hi + r * (k / 4) + 64 * g;
        BF_UNROLL
        for (int hf = 0; hf < 2; ++hf) {
            const __m256i l0 = load32(w + 64 * hf), l1 = load32(w + 64 * hf + 32), h = load32(qh + 32 * hf);
            c[4 * hf + 0] = _mm256_or_si256(nib_lo(l0), bits_at4(h, 0, 2));
            c[4 * hf + 1] = _mm256_or_si256(nib_lo(l1), bits_at4(h, 2, 2));
            c[4 * hf + 2] = _mm256_or_si256(nib_hi(l0), bits_at4(h, 4, 2));
            c[4 * hf + 3] = _mm256_or_si256(nib_hi(l1), bits_at4(h, 6, 2));
        }
        return 8;
    }
    const int nblk = type == DType::Q4_0 ? int(std::min<int64_t>(8, k / 32 - 8 * g)) : 8;
    for (int p = 0; 2 * p < nblk; ++p) {
        if (2 * p + 1 == nblk && type == DType::Q4_0 && (k / 32) % 2) {  // the lone last block
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 32 * p));
            c[2 * p] = nib_lo(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1));
            break;
        }
        const __m256i v = load32(w + 32 * p);
        c[2 * p] = nib_lo(v), c[2 * p + 1] = nib_hi(v);
    }
    if (type == DType::Q5_K) {
        const __m256i qh = load32(a.w_hi + r * (k / 8) + 32 * g);
        BF_UNROLL
        for (int s = 0; s < 8; ++s) c[s] = _mm256_or_si256(c[s], bits_at4(qh, s, 1));
    }
    return nblk;
}

// Per-block weight scales (sc: per 32-block; Q6_K: sc lanes 0-7 = 16-sub-blocks 0-7, sc2 = 8-15) and
// offset coefficients (coef: per 32-block, the code offset or min: Q4_0 8·d, K-quant dmin·m; Q6_K:
// 32·d·sc per 16 in coef / coef2) of group g of row r. m masks the blocks that exist.
void group_scales(DType type, const MatArgs& a, int64_t r, int64_t g, int nblk, __m256* sc, __m256* sc2, __m256* coef,
                  __m256* coef2) {
    const int64_t k = a.cols;
    if (type == DType::Q4_0) {
        alignas(16) uint16_t h[8] = {};
        std::memcpy(h, a.w_scales_h + r * (k / 32) + 8 * g, size_t(nblk) * 2);
        *sc = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
        *coef = _mm256_mul_ps(*sc, _mm256_set1_ps(8.0f));
    } else if (type == DType::Q6_K) {
        const Q6Scales& s = static_cast<const Q6Scales*>(a.w_meta)[r * (k / 256) + g];
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(s.d));
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.sc));
        *sc = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)));
        *sc2 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))));
        *coef = _mm256_mul_ps(*sc, _mm256_set1_ps(32.0f));
        *coef2 = _mm256_mul_ps(*sc2, _mm256_set1_ps(32.0f));
    } else {
        const KqScales& s = static_cast<const KqScales*>(a.w_meta)[r * (k / 256) + g];
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&s));
        *sc = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(s.d)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)));
        *coef = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(s.dmin)),
                              _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8))));
    }
}

inline __m256i dot32(__m256i codes, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x), _mm256_set1_epi16(1));
}

// Sums of 32 (from the sums of 16) of 8 blocks, as floats; fewer blocks: the rest 0.
inline __m256 sums32(const int32_t* xs16, int nblk) {
    alignas(32) int32_t s[8] = {};
    for (int b = 0; b < nblk; ++b) s[b] = xs16[2 * b] + xs16[2 * b + 1];
    return _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(s)));
}

// Rows [r0, r1) × tokens t..t+T-1.
template <int T>
void kq_rows(DType type, const MatArgs& a, int64_t r0, int64_t r1, int64_t t) {
    const int64_t k = a.cols, nb = k / 32, ngroups = (nb + 7) / 8;
    const bool q6 = type == DType::Q6_K;
    const __m256i lo4 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    for (int64_t r = r0; r < r1; ++r) {
        __m256 acc[T], off[T];
        BF_UNROLL
        for (int j = 0; j < T; ++j) acc[j] = _mm256_setzero_ps(), off[j] = _mm256_setzero_ps();
        for (int64_t g = 0; g < ngroups; ++g) {
            __m256i c[8];
            const int nblk = group_codes(type, a, r, g, c);
            __m256 sc, sc2 = _mm256_setzero_ps(), coef, coef2 = _mm256_setzero_ps();
            group_scales(type, a, r, g, nblk, &sc, &sc2, &coef, &coef2);
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                alignas(32) float dx[8] = {};
                std::memcpy(dx, a.xd + (t + j) * nb + 8 * g, size_t(nblk) * 4);
                const __m256 dxv = _mm256_load_ps(dx);
                const int8_t* x = static_cast<const int8_t*>(a.x) + (t + j) * k + 256 * g;
                const int32_t* xs = a.xsum + (t + j) * (k / 16) + 16 * g;
                __m256 dd, dd2 = _mm256_setzero_ps();
                if (q6) {  // per 16: dx of sub-block i is dx[i/2]
                    const __m256 dlo = _mm256_permutevar8x32_ps(dxv, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
                    const __m256 dhi = _mm256_permutevar8x32_ps(dxv, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7));
                    dd = _mm256_mul_ps(sc, dlo), dd2 = _mm256_mul_ps(sc2, dhi);
                    const __m256 s0 = _mm256_cvtepi32_ps(load32(xs)), s1 = _mm256_cvtepi32_ps(load32(xs + 8));
                    off[j] = _mm256_fmadd_ps(_mm256_mul_ps(coef, dlo), s0,
                                             _mm256_fmadd_ps(_mm256_mul_ps(coef2, dhi), s1, off[j]));
                } else {
                    dd = _mm256_mul_ps(sc, dxv);
                    off[j] = _mm256_fmadd_ps(_mm256_mul_ps(coef, dxv), sums32(xs, nblk), off[j]);
                }
                for (int b = 0; b < nblk; ++b) {
                    const __m256i xb = load32(x + 32 * b);
                    __m256 s;
                    if (q6)
                        s = _mm256_permutevar8x32_ps(b < 4 ? dd : dd2,
                                                     _mm256_add_epi32(lo4, _mm256_set1_epi32(2 * (b % 4))));
                    else
                        s = _mm256_permutevar8x32_ps(dd, _mm256_set1_epi32(b));
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32(c[b], xb)), s, acc[j]);
                }
            }
        }
        BF_UNROLL
        for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r] = hsum(acc[j]) - hsum(off[j]);
    }
}

// ---- 8 tokens or more, in lanes ----------------------------------------------------------------------
// Each row is unpacked once per call into bytes (unsigned codes; Q6_K: q − 32, signed, met with the sign
// trick of the Q8_0 lanes) with per-group scales f (per 32; Q6_K per 16) and offset coefficients mn
// (per 32: Q4_0 8·d, K-quants dmin·m), taken off with the lanes' d·Σx (xml).
struct Unpacked {
    uint8_t* u;
    float* f;
    float* mn;
};

void unpack_row(DType type, const MatArgs& a, int64_t r, const Unpacked& o) {
    const int64_t k = a.cols, nb = k / 32;
    for (int64_t g = 0; g < (nb + 7) / 8; ++g) {
        __m256i c[8];
        const int nblk = group_codes(type, a, r, g, c);
        __m256 sc, sc2 = _mm256_setzero_ps(), coef, coef2 = _mm256_setzero_ps();
        group_scales(type, a, r, g, nblk, &sc, &sc2, &coef, &coef2);
        for (int b = 0; b < nblk; ++b) {
            const __m256i v = type == DType::Q6_K ? _mm256_sub_epi8(c[b], _mm256_set1_epi8(32)) : c[b];
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.u + 256 * g + 32 * b), v);
        }
        alignas(32) float f8[16], m8[8];
        _mm256_store_ps(f8, sc);
        _mm256_store_ps(m8, coef);
        if (type == DType::Q6_K) {
            _mm256_store_ps(f8 + 8, sc2);
            std::memcpy(o.f + 16 * g, f8, 64);
        } else {
            std::memcpy(o.f + 8 * g, f8, size_t(nblk) * 4);
            std::memcpy(o.mn + 8 * g, m8, size_t(nblk) * 4);
        }
    }
}

using kernels::kQ8Slots;

// Rows r..r+R-1 × NV vectors of 8 token slots starting at slot 8·v0 (16 ymm registers: the activation
// chunks are reloaded per row, as in the Q8_0 lanes), into part[kQ8Slots·i + slot].
template <int R, int NV, bool kQ6>
void lanes_rows(const MatArgs& a, int64_t r, const Unpacked* o, int64_t v0, float* part) {
    const int64_t nb = a.cols / 32;
    constexpr int H = kQ6 ? 2 : 1;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R][NV];
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint32_t* xb = a.xl + b * 8 * kQ8Slots + 8 * v0;
        BF_UNROLL
        for (int i = 0; i < R; ++i) {
            __m256i p[H][NV];
            BF_UNROLL
            for (int h = 0; h < H; ++h) BF_UNROLL
            for (int v = 0; v < NV; ++v) p[h][v] = _mm256_setzero_si256();
            BF_UNROLL
            for (int c = 0; c < 8; ++c) {
                const int h = kQ6 ? c / 4 : 0;
                int32_t w4;
                std::memcpy(&w4, o[i].u + b * 32 + 4 * c, 4);
                const __m256i wc = _mm256_set1_epi32(w4);
                const __m256i aw = kQ6 ? _mm256_sign_epi8(wc, wc) : wc;
                BF_UNROLL
                for (int v = 0; v < NV; ++v) {
                    const __m256i xv = load32(xb + c * kQ8Slots + 8 * v);
                    p[h][v] = _mm256_add_epi32(
                        p[h][v],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(aw, kQ6 ? _mm256_sign_epi8(xv, wc) : xv), ones));
                }
            }
            BF_UNROLL
            for (int v = 0; v < NV; ++v) {
                const __m256 dx = _mm256_loadu_ps(a.xdl + b * kQ8Slots + 8 * (v0 + v));
                BF_UNROLL
                for (int h = 0; h < H; ++h)
                    acc[i][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[h][v]),
                                                _mm256_mul_ps(_mm256_set1_ps(o[i].f[H * b + h]), dx), acc[i][v]);
                if (!kQ6)
                    acc[i][v] = _mm256_fnmadd_ps(_mm256_set1_ps(o[i].mn[b]),
                                                 _mm256_loadu_ps(a.xml + b * kQ8Slots + 8 * (v0 + v)), acc[i][v]);
            }
        }
    }
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(part + kQ8Slots * i + 8 * (v0 + v), acc[i][v]);
}

// Tokens [t0, n_tok) of rows [ra, rb) by the row passes, in groups of up to 4.
void row_passes(DType type, const MatArgs& a, int64_t ra, int64_t rb, int64_t t0) {
    for (int64_t t = t0; t < a.n_tok; t += 4)
        kernels::with_width(std::min<int64_t>(4, a.n_tok - t), [&]<int T>() { kq_rows<T>(type, a, ra, rb, t); });
}

// Every token in one call (a.lane_chunk per lanes copy): groups of rows (~128 KB of codes) are unpacked
// once and reused by every chunk; a short last chunk (< 8 tokens) takes the row passes.
template <bool kQ6>
void lanes_prefill(DType type, const MatArgs& a, int64_t r0, int64_t r1) {
    const int64_t k = a.cols, ng = k / (kQ6 ? 16 : 32);
    constexpr int64_t kMaxGroup = 64;
    const int64_t group = std::clamp<int64_t>(128 * 1024 / k / 2 * 2, 2, kMaxGroup);
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the matmul's loop; tests call us directly
    KernelScratch& ws = workspace(owner.worker());
    const kernels::KqGroupBuffers g = kernels::kq_group_buffers(ws, group, k, ng);
    Unpacked o[kMaxGroup];
    for (int64_t i = 0; i < group; ++i) o[i] = {g.codes + i * k, g.f + i * ng, g.mn + i * ng};
    kernels::kq_lanes_groups(
        ws, a, r0, r1, group, [&](int64_t r, int64_t i) { unpack_row(type, a, r, o[i]); },
        [&](int64_t ra, int64_t rb, int64_t t0) { row_passes(type, a, ra, rb, t0); },
        [&](const MatArgs& c, int64_t rg, int64_t re, float* part) {
            const int64_t nv = (c.n_tok + 7) / 8;
            for (int64_t v0 = 0; v0 < nv; v0 += 4)  // up to 4 token vectors
                kernels::with_width(std::min<int64_t>(4, nv - v0), [&]<int NV>() {
                    constexpr int R = kQ6 ? 1 : 2;  // Q6_K's two sums per token vector need the registers
                    int64_t r = rg;
                    for (; r + R <= re; r += R)
                        lanes_rows<R, NV, kQ6>(c, r, o + (r - rg), v0, part + (r - rg) * kQ8Slots);
                    for (; r < re; ++r) lanes_rows<1, NV, kQ6>(c, r, o + (r - rg), v0, part + (r - rg) * kQ8Slots);
                });
        });
}

void kq_matmul(DType type, const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.xl && a.n_tok >= 8) {
        if (type == DType::Q6_K)
            lanes_prefill<true>(type, a, r0, r1);
        else
            lanes_prefill<false>(type, a, r0, r1);
        return;
    }
    row_passes(type, a, r0, r1, 0);
}

}  // namespace

void avx2_q4_0(const MatArgs& a, int64_t r0, int64_t r1) { kq_matmul(DType::Q4_0, a, r0, r1); }
void avx2_q4_k(const MatArgs& a, int64_t r0, int64_t r1) { kq_matmul(DType::Q4_K, a, r0, r1); }
void avx2_q5_k(const MatArgs& a, int64_t r0, int64_t r1) { kq_matmul(DType::Q5_K, a, r0, r1); }
void avx2_q6_k(const MatArgs& a, int64_t r0, int64_t r1) { kq_matmul(DType::Q6_K, a, r0, r1); }

}  // namespace bf
