// AVX-512 VNNI kernels of ternary weights (2-bit codes) × int8 activations: decode, prefill and per-block
// scales (vpdpbusd: the codes 0..2 unsigned, the activations signed).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/tile_driver.h"

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

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
        // Pins each accumulator to one register across iterations: without it GCC rotates them through
        // copies (two register moves per vpdpbusd), and the moves, not the multiply-adds, fill the issue slots.
        BF_UNROLL
        for (int i = 0; i < kPR; ++i) BF_UNROLL
        for (int j = 0; j < T; ++j) __asm__("" : "+v"(acc[i][j]));
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

// Decode with uniform scales: stream R rows at a time (kDecodeRows). Instead of shifting, code l is isolated
// by the mask 3 << 2l, which multiplies it by 4^l (still <= 128, a valid u8); each l has its own accumulator,
// divided back exactly (arithmetic shift) at the end. Saves a shift per 64 weights on this issue-bound path
// (why a software prefetch does not pay here either: docs/BENCHMARKS.md, session 9).
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

}  // namespace

void avx512_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.uniform && a.n_tok >= 4)
        prefill_ternary_uniform(a, r0, r1);
    else if (a.uniform)
        decode_ternary_uniform(a, r0, r1);
    else
        mat_ternary<false>(a, r0, r1);
}

}  // namespace bf
