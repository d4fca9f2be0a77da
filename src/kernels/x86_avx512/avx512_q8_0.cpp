// AVX-512 VNNI kernels of Q8_0 weights × Q8_0 activations: decode, a few tokens, and prefill with tokens
// in lanes (vpdpbusd: u8 × s8, 4 products summed per int32 lane, no saturation).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernel_api.h"
#include "kernels/q8_lanes.h"
#include "kernels/tile_driver.h"

// Register tiles only stay in registers if these small fixed loops are fully unrolled (-O2 does not).
#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

// Prefetch distance of the decode weight stream (and 1/16 of it in the scale stream): more lines in flight
// than the hardware prefetchers keep, which stop at each 4 KiB boundary (docs/BENCHMARKS.md, session 9).
constexpr int64_t kPrefetchAhead = 2048;

// Decode, one row at a time (a sequential weight stream), two 32-blocks per 512-bit vector:
// vpdpbusd(x + 128, w) − vpdpbusd(128, w) is the exact integer dot of each 4-byte chunk (the activations
// are flipped to unsigned once per call, not once per row). The block scales d_w·d_x are formed 16 blocks
// at a time in one vector and each pair's lanes are spread with vpermps. Four accumulators, because one
// fused multiply-add chain per row made this kernel latency-bound (~5 cycles per block, below the memory
// stream; docs/BENCHMARKS.md, session 10).
void q8_0_decode(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const int64_t k = a.cols, nb = k / 32;
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    // x + 128 as unsigned bytes, for the whole row of activations (k <= a few 10^4: on the stack in pieces
    // would not pay; a thread-local buffer grows once).
    thread_local std::vector<uint8_t> xu_buf;
    if (xu_buf.size() < size_t(k)) xu_buf.resize(size_t(k));
    uint8_t* xu = xu_buf.data();
    const auto* x = static_cast<const int8_t*>(a.x);
    for (int64_t i = 0; i < k; i += 64) {
        const __mmask64 m = k - i >= 64 ? ~__mmask64(0) : (__mmask64(1) << (k - i)) - 1;
        _mm512_mask_storeu_epi8(xu + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), flip));
    }
    // Lane l of a block pair's vectors belongs to its first block for l < 8, to the second after.
    const __m512i half_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t r = r0; r < r1; ++r) {
        const int8_t* wr = w + r * k;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t b0 = 0; b0 < nb; b0 += 16) {
            const int nblk = nb - b0 < 16 ? int(nb - b0) : 16;
            {  // 16 blocks = 8 lines of quants; a 64-byte line of scales every 32 blocks
                const char* pw = reinterpret_cast<const char*>(wr + b0 * 32 + kPrefetchAhead);
                BF_UNROLL
                for (int l = 0; l < 8; ++l) _mm_prefetch(pw + 64 * l, _MM_HINT_T0);
                if (((r * nb + b0) & 31) == 0)
                    _mm_prefetch(reinterpret_cast<const char*>(a.w_scales_h + r * nb + b0) + kPrefetchAhead / 16,
                                 _MM_HINT_T0);
            }
            const __mmask16 m = __mmask16((1u << nblk) - 1);
            const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a.w_scales_h + r * nb + b0)),
                                           _mm512_maskz_loadu_ps(m, a.xd + b0));
            if (nblk == 16) {
                BF_UNROLL
                for (int pr = 0; pr < 8; ++pr) {
                    const int64_t off = (b0 + 2 * pr) * 32;
                    const __m512i wv = _mm512_loadu_si512(wr + off);
                    const __m512i p =
                        _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(xu + off), wv),
                                         _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wv));
                    const __m512 dp = _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_set1_epi32(2 * pr), half_idx), d);
                    acc[pr & 3] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dp, acc[pr & 3]);
                }
                continue;
            }
            for (int bb = 0; bb < nblk; bb += 2) {  // the row's last group: a lone last block is masked
                const int64_t off = (b0 + bb) * 32;
                const __mmask64 lm = bb + 1 < nblk ? ~__mmask64(0) : __mmask64(0xFFFFFFFFu);
                const __m512i wv = _mm512_maskz_loadu_epi8(lm, wr + off);
                const __m512i p = _mm512_sub_epi32(
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_maskz_loadu_epi8(lm, xu + off), wv),
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wv));
                const __m512 dp = _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_set1_epi32(bb), half_idx), d);
                acc[(bb / 2) & 3] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dp, acc[(bb / 2) & 3]);
            }
        }
        a.y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
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
// vector of ones) and is taken off before the block's scale d_w·d_x is applied. Row r + i's sums for
// token slots 16v.. go to part[i·kQ8Slots + 16v ..].
using kernels::kQ8Slots;
template <int R, int NV>
void q8_0_prefill_rows(const MatArgs& a, int64_t r, float* part) {
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
    for (int v = 0; v < NV; ++v) _mm512_store_ps(part + i * kQ8Slots + 16 * v, acc[i][v]);
}

// Rows in groups of kQ8Group whose sums wait in `part` and go to y a token at a time (kernels::lanes_to_y).
constexpr int64_t kQ8Group = 16;

void q8_0_prefill(const MatArgs& a, int64_t r0, int64_t r1) {
    alignas(64) float part[kQ8Group * kQ8Slots];
    kernels::with_width((a.n_tok + 15) / 16, [&]<int NV>() {
        for (int64_t rg = r0; rg < r1; rg += kQ8Group) {
            const int64_t re = std::min(r1, rg + kQ8Group);
            int64_t r = rg;
            for (; r + 4 <= re; r += 4) q8_0_prefill_rows<4, NV>(a, r, part + (r - rg) * kQ8Slots);
            for (; r < re; ++r) q8_0_prefill_rows<1, NV>(a, r, part + (r - rg) * kQ8Slots);
            kernels::lanes_to_y(part, re - rg, a.n_tok, a.y + rg, a.y_stride);
        }
    });
}

}  // namespace

// Decode streams the weights (bound by memory bandwidth already); prefill is bound by arithmetic. Below
// 8 tokens, most of a 16-token lane vector would be idle (kernel_bench: the 4×4 tiles are ~2× faster at
// 2-4 tokens, even at 8, and ~1.7× slower from 16).
void avx512_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    if (a.n_tok == 1) return q8_0_decode(a, r0, r1);
    if (a.n_tok < 8 || !a.xl) return q8_0_few_tokens(a, r0, r1);
    q8_0_prefill(a, r0, r1);
}

}  // namespace bf
