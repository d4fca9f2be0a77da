// AVX-512 VNNI kernels of the 4-6-bit weights (Q4_0, Q4_K, Q5_K, Q6_K; layouts: kernels/kernel_api.h).
// Codes are unpacked with AND / shift into bytes (0..63, unsigned) that meet the int8 activations in
// vpdpbusd; the code offsets (−8, −32) and K-quant mins are applied per block from the activations' sums.
// Up to 7 tokens: one row at a time, each decoded weight vector serving 1-4 tokens. 8 or more: rows are
// unpacked once per call into signed int8 (+ per-block scales) and run against the tokens-in-lanes copy.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/dtype.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/kq_lanes_driver.h"
#include "kernels/q8_lanes.h"
#include "kernels/tile_driver.h"

#define BF_UNROLL _Pragma("GCC unroll 16")

namespace bf {

namespace {

// 64 codes of a pair of 32-blocks (32 bytes: low nibbles = the first block, high = the second).
inline __m512i pair_codes(const uint8_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1),
                            _mm512_set1_epi8(15));
}
// 32 codes of a lone Q4_0 block (16 bytes, file order), in the low half.
inline __m512i lone_codes(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m256i c = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                       _mm256_set1_epi8(15));
    return _mm512_zextsi256_si512(c);
}
// The fifth bits of sub-blocks 2g (low 32 bytes) and 2g+1 (high), from h = [qh, qh >> 1].
inline __m512i fifth_bits(__m512i h, int g) {
    return _mm512_and_si512(_mm512_slli_epi16(_mm512_srli_epi16(h, 2 * g), 4), _mm512_set1_epi8(16));
}
// Q6_K: the 64 codes of half h, part s (elements 128h + 64s …) from ql (64 bytes) and qh (32 bytes).
inline __m512i q6_codes(const uint8_t* ql, __m512i qh2, int s) {
    const __m512i v = _mm512_loadu_si512(ql);
    const __m512i lo = _mm512_and_si512(s ? _mm512_srli_epi16(v, 4) : v, _mm512_set1_epi8(15));
    // qh2 = [qh, qh]: elements 64s + l take bits 4s + 0..1 (l < 32) and 4s + 2..3 (l >= 32), moved to bits 4..5.
    const __m512i cnt = s ? _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0) : _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
    const __m512i cw = _mm512_or_si512(cnt, _mm512_slli_epi64(cnt, 16));
    const __m512i cw2 = _mm512_or_si512(cw, _mm512_slli_epi64(cw, 32));
    const __m512i hi = s ? _mm512_srlv_epi16(qh2, cw2) : _mm512_sllv_epi16(qh2, cw2);
    return _mm512_or_si512(lo, _mm512_and_si512(hi, _mm512_set1_epi8(0x30)));
}

// Sums of 32 codes, blocks b..b+7 of one token, as floats (from the sums of 16).
inline __m256 sums32(const int32_t* xs16) {
    const __m512i v = _mm512_loadu_si512(xs16);
    return _mm256_cvtepi32_ps(_mm512_cvtepi64_epi32(_mm512_add_epi64(v, _mm512_srli_epi64(v, 32))));
}

inline float hsum8(__m256 v) { return _mm512_reduce_add_ps(_mm512_zextps256_ps512(v)); }

// Lane l of a pair's dot belongs to block 2p for l < 8, 2p + 1 after: this index picks the pair's scales.
inline __m512i pair_index(int p) {
    return _mm512_add_epi32(_mm512_set1_epi32(2 * p), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
}

// ---- up to 4 tokens per pass, one row at a time -----------------------------------------------------

// Q4_0: y = Σ_b d·dx·(Σ q·x) − 8·Σ_b d·dx·Σx.
template <int T>
void q4_0_rows(const MatArgs& a, int64_t r0, int64_t r1, int64_t t) {
    const auto* x = static_cast<const int8_t*>(a.x) + t * a.cols;
    const int64_t k = a.cols, nb = k / 32;
    // dx·Σx of each block of the T tokens, once per call rather than per row.
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the matmul's loop; tests call us directly
    float* xm =
        reinterpret_cast<float*>(workspace(owner.worker()).bytes(KernelScratch::kKqRowSums, size_t(T * nb) * 4));
    for (int j = 0; j < T; ++j)
        for (int64_t b = 0; b < nb; ++b) {
            const int32_t* xs = a.xsum + (t + j) * (k / 16) + 2 * b;
            xm[j * nb + b] = a.xd[(t + j) * nb + b] * float(xs[0] + xs[1]);
        }
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* w = static_cast<const uint8_t*>(a.w) + r * (k / 2);
        __m512 acc[T], acc1[T];
        __m256 off[T];
        BF_UNROLL
        for (int j = 0; j < T; ++j) acc[j] = acc1[j] = _mm512_setzero_ps(), off[j] = _mm256_setzero_ps();
        for (int64_t b0 = 0; b0 < nb; b0 += 8) {
            const int nblk = nb - b0 < 8 ? int(nb - b0) : 8;
            const __mmask8 m = __mmask8((1u << nblk) - 1);
            const __m256 dw = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, a.w_scales_h + r * nb + b0));
            __m512 dd[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                const __m256 d = _mm256_mul_ps(dw, _mm256_maskz_loadu_ps(m, a.xd + (t + j) * nb + b0));
                off[j] = _mm256_fmadd_ps(dw, _mm256_maskz_loadu_ps(m, xm + j * nb + b0), off[j]);
                dd[j] = _mm512_castps256_ps512(d);
            }
            // Pair p into accumulator p % 2 (two chains hide the fma latency); only the row's last chunk
            // can be short or end in a lone block.
            auto pair = [&](int p, __m512* acc_p) {
                const int64_t b = b0 + 2 * p;
                const bool lone = b + 1 == nb;
                const __m512i wv = lone ? lone_codes(w + 16 * b) : pair_codes(w + 16 * b);
                const __mmask64 lm = lone ? __mmask64(0xFFFFFFFFu) : ~__mmask64(0);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv,
                                                            _mm512_maskz_loadu_epi8(lm, x + j * k + b * 32));
                    acc_p[j] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(pair_index(p), dd[j]), acc_p[j]);
                }
            };
            if (nblk == 8) {  // a lone block only ends an odd count, so never a whole chunk
                BF_UNROLL
                for (int p = 0; p < 4; ++p) {
                    const int64_t b = b0 + 2 * p;
                    const __m512i wv = pair_codes(w + 16 * b);
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) {
                        const __m512i dot =
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, _mm512_loadu_si512(x + j * k + b * 32));
                        __m512& ac = p % 2 ? acc1[j] : acc[j];
                        ac = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(pair_index(p), dd[j]), ac);
                    }
                }
            } else {
                for (int p = 0; 2 * p < nblk; ++p) pair(p, p % 2 ? acc1 : acc);
            }
        }
        BF_UNROLL
        for (int j = 0; j < T; ++j) acc[j] = _mm512_add_ps(acc[j], acc1[j]);
        BF_UNROLL
        for (int j = 0; j < T; ++j) a.y[(t + j) * a.y_stride + r] = _mm512_reduce_add_ps(acc[j]) - 8.0f * hsum8(off[j]);
    }
}

// Q4_K / Q5_K: per 256-block, Σ_s dx_s·(d·sc_s·Σ q·x − dmin·m_s·Σx).
template <bool kFifth, int T>
void q4_k_rows(const MatArgs& a, int64_t r0, int64_t r1, int64_t t) {
    const auto* x = static_cast<const int8_t*>(a.x) + t * a.cols;
    const int64_t k = a.cols, nb = k / 32, nsb = k / 256;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* w = static_cast<const uint8_t*>(a.w) + r * (k / 2);
        const KqScales* ms = static_cast<const KqScales*>(a.w_meta) + r * nsb;
        __m512 acc[T], acc1[T];  // even / odd pairs: two fma chains
        __m256 off[T];
        BF_UNROLL
        for (int j = 0; j < T; ++j) acc[j] = acc1[j] = _mm512_setzero_ps(), off[j] = _mm256_setzero_ps();
        for (int64_t sb = 0; sb < nsb; ++sb) {
            const KqScales& s = ms[sb];
            const __m128i scm = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&s));  // sc[8], m[8]
            const __m256 sc =
                _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(s.d)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scm)));
            const __m256 mn = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(s.dmin)),
                                            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8))));
            __m512 dd[T];
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                const __m256 dx = _mm256_loadu_ps(a.xd + (t + j) * nb + 8 * sb);
                off[j] = _mm256_fmadd_ps(_mm256_mul_ps(mn, dx), sums32(a.xsum + (t + j) * (k / 16) + 16 * sb), off[j]);
                dd[j] = _mm512_castps256_ps512(_mm256_mul_ps(sc, dx));
            }
            __m512i h;
            if (kFifth) {
                const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.w_hi + r * (k / 8) + 32 * sb));
                h = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 1), 1);
            }
            BF_UNROLL
            for (int p = 0; p < 4; ++p) {
                __m512i wv = pair_codes(w + 128 * sb + 32 * p);
                if (kFifth) wv = _mm512_or_si512(wv, fifth_bits(h, p));
                const __m512i idx = pair_index(p);
                BF_UNROLL
                for (int j = 0; j < T; ++j) {
                    const __m512i xv = _mm512_loadu_si512(x + j * k + 256 * sb + 64 * p);
                    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
                    __m512& ac = p % 2 ? acc1[j] : acc[j];
                    ac = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, dd[j]), ac);
                }
            }
        }
        BF_UNROLL
        for (int j = 0; j < T; ++j)
            a.y[(t + j) * a.y_stride + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j], acc1[j])) - hsum8(off[j]);
    }
}

// Q6_K: per 256-block, Σ_i d·sc_i·dx·(Σ q·x − 32·Σx) over its sixteen 16-sub-blocks i.
template <int T>
void q6_k_rows(const MatArgs& a, int64_t r0, int64_t r1, int64_t t) {
    const auto* x = static_cast<const int8_t*>(a.x) + t * a.cols;
    const int64_t k = a.cols, nb = k / 32, nsb = k / 256;
    const __m512i pair_of = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* ql = static_cast<const uint8_t*>(a.w) + r * (k / 2);
        const uint8_t* qh = a.w_hi + r * (k / 4);
        const Q6Scales* ms = static_cast<const Q6Scales*>(a.w_meta) + r * nsb;
        __m512 acc[T], acc1[T], off[T];  // acc / acc1: the two 64-element parts of each half (two chains)
        BF_UNROLL
        for (int j = 0; j < T; ++j) acc[j] = acc1[j] = _mm512_setzero_ps(), off[j] = _mm512_setzero_ps();
        for (int64_t sb = 0; sb < nsb; ++sb) {
            const __m512 sc = _mm512_mul_ps(
                _mm512_set1_ps(_cvtsh_ss(ms[sb].d)),
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ms[sb].sc)))));
            __m512 dd[T];  // d·sc_i·dx of sub-block i (dx of block i/2)
            BF_UNROLL
            for (int j = 0; j < T; ++j) {
                const __m512 dx = _mm512_permutexvar_ps(
                    pair_of, _mm512_castps256_ps512(_mm256_loadu_ps(a.xd + (t + j) * nb + 8 * sb)));
                dd[j] = _mm512_mul_ps(sc, dx);
                off[j] = _mm512_fmadd_ps(
                    dd[j], _mm512_cvtepi32_ps(_mm512_loadu_si512(a.xsum + (t + j) * (k / 16) + 16 * sb)), off[j]);
            }
            BF_UNROLL
            for (int hf = 0; hf < 2; ++hf) {
                const __m512i qh2 = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 64 * sb + 32 * hf)));
                BF_UNROLL
                for (int s = 0; s < 2; ++s) {
                    const __m512i wv = q6_codes(ql + 128 * sb + 64 * hf, qh2, s);
                    const int v = 2 * hf + s;  // 64-element vector v of the block: sub-blocks 4v..4v+3
                    const __m512i idx = _mm512_add_epi32(
                        _mm512_set1_epi32(4 * v),
                        _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2));
                    BF_UNROLL
                    for (int j = 0; j < T; ++j) {
                        const __m512i xv = _mm512_loadu_si512(x + j * k + 256 * sb + 64 * v);
                        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
                        __m512& ac = s ? acc1[j] : acc[j];
                        ac = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, dd[j]), ac);
                    }
                }
            }
        }
        BF_UNROLL
        for (int j = 0; j < T; ++j)
            a.y[(t + j) * a.y_stride + r] =
                _mm512_reduce_add_ps(_mm512_fnmadd_ps(_mm512_set1_ps(32.0f), off[j], _mm512_add_ps(acc[j], acc1[j])));
    }
}

// ---- 8 to 64 tokens in lanes ------------------------------------------------------------------------
// Each row of the range is unpacked once per call into signed int8 codes u (Q4_0: q − 8, Q6_K: q − 32,
// Q4_K/Q5_K: q) with, per scale group g (a 32-block; Q6_K: 16), the scale f[g], the lanes offset
// 128·Σu (the activations are x + 128) and the K-quant min dmin·m. Then, as the Q8_0 prefill
// (avx512_kernels.cpp), a broadcast 4 weight bytes meet 16 tokens per vpdpbusd.
struct Unpacked {
    int8_t* u;
    float* f;
    int32_t* corr;
    float* mn;
};

// Sums of each 16-byte group of 64 unsigned codes (sad), as 4 int32.
inline void sums16(__m512i v, int32_t* out) {
    alignas(64) uint64_t s[8];
    _mm512_store_si512(s, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    for (int i = 0; i < 4; ++i) out[i] = int32_t(s[2 * i] + s[2 * i + 1]);
}

// Unpacks row r into `o` (group = 32 or 16 elements); returns the groups per row.
void unpack_row(DType type, const MatArgs& a, int64_t r, const Unpacked& o) {
    const int64_t k = a.cols, nb = k / 32;
    const uint8_t* w = static_cast<const uint8_t*>(a.w) + r * (k / 2);
    int32_t s16[4];
    auto put = [&](int64_t e, __m512i codes, int bias, int n) {  // n codes (64 or 32) at element e
        const __m512i sv = _mm512_sub_epi8(codes, _mm512_set1_epi8(char(bias)));
        _mm512_mask_storeu_epi8(o.u + e, n == 64 ? ~__mmask64(0) : __mmask64(0xFFFFFFFFu), sv);
        sums16(codes, s16);
        for (int i = 0; i < n / 16; ++i) {
            const int64_t g16 = e / 16 + i;
            const int32_t sum = s16[i] - 16 * bias;
            if (type == DType::Q6_K)
                o.corr[g16] = 128 * sum;
            else if (i % 2 == 0)
                o.corr[g16 / 2] = 128 * sum;
            else
                o.corr[g16 / 2] += 128 * sum;
        }
    };
    if (type == DType::Q4_0) {
        for (int64_t b = 0; b < nb; b += 2) {
            const bool lone = b + 1 == nb;
            put(32 * b, lone ? lone_codes(w + 16 * b) : pair_codes(w + 16 * b), 8, lone ? 32 : 64);
        }
        for (int64_t b = 0; b < nb; ++b) o.f[b] = _cvtsh_ss(a.w_scales_h[r * nb + b]);
        return;
    }
    const int64_t nsb = k / 256;
    for (int64_t sb = 0; sb < nsb; ++sb) {
        if (type == DType::Q6_K) {
            const Q6Scales& s = static_cast<const Q6Scales*>(a.w_meta)[r * nsb + sb];
            const float d = _cvtsh_ss(s.d);
            for (int i = 0; i < 16; ++i) o.f[16 * sb + i] = d * float(s.sc[i]);
            for (int hf = 0; hf < 2; ++hf) {
                const __m512i qh2 = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.w_hi + r * (k / 4) + 64 * sb + 32 * hf)));
                for (int s2 = 0; s2 < 2; ++s2)
                    put(256 * sb + 128 * hf + 64 * s2, q6_codes(w + 128 * sb + 64 * hf, qh2, s2), 32, 64);
            }
            continue;
        }
        const KqScales& s = static_cast<const KqScales*>(a.w_meta)[r * nsb + sb];
        const float d = _cvtsh_ss(s.d), dmin = _cvtsh_ss(s.dmin);
        for (int i = 0; i < 8; ++i) o.f[8 * sb + i] = d * float(s.sc[i]), o.mn[8 * sb + i] = dmin * float(s.m[i]);
        __m512i h = _mm512_setzero_si512();
        if (type == DType::Q5_K) {
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.w_hi + r * (k / 8) + 32 * sb));
            h = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 1), 1);
        }
        for (int p = 0; p < 4; ++p) {
            __m512i wv = pair_codes(w + 128 * sb + 32 * p);
            if (type == DType::Q5_K) wv = _mm512_or_si512(wv, fifth_bits(h, p));
            put(256 * sb + 64 * p, wv, 0, 64);
        }
    }
}

using kernels::kQ8Slots;

// Rows r..r+R-1 (unpacked at o[i]) × NV vectors of 16 token slots. kHalves: one scale per 16 (Q6_K);
// kMin: subtract the K-quant min term. Each activation vector is loaded once per block for all R rows;
// the integer sums start at −128·Σu (the +128 of the lanes copy), so the block's epilogue is cvt, mul, fma.
// Blocks [b0, b1) only: the float sums of row i, token slots 16v.. live in part[kQ8Slots·i + 16v ..]
// between K segments (after the last, the driver writes them to y).
template <int R, int NV, bool kHalves, bool kMin>
void lanes_rows(const MatArgs& a, int64_t r, const Unpacked* o, int64_t b0, int64_t b1, float* part) {
    constexpr int H = kHalves ? 2 : 1;
    __m512 acc[R][NV];
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v)
        acc[i][v] = b0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(part + kQ8Slots * i + 16 * v);
    for (int64_t b = b0; b < b1; ++b) {
        const uint32_t* xb = a.xl + b * 8 * kQ8Slots;
        __m512i p[H][R][NV];
        BF_UNROLL
        for (int h = 0; h < H; ++h) BF_UNROLL
        for (int i = 0; i < R; ++i) {
            const __m512i c0 = _mm512_set1_epi32(-o[i].corr[H * b + h]);
            BF_UNROLL
            for (int v = 0; v < NV; ++v) p[h][i][v] = c0;
        }
        BF_UNROLL
        for (int c = 0; c < 8; ++c) {
            const int h = kHalves ? c / 4 : 0;
            __m512i xv[NV];
            BF_UNROLL
            for (int v = 0; v < NV; ++v) xv[v] = _mm512_loadu_si512(xb + c * kQ8Slots + 16 * v);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                int32_t w4;
                std::memcpy(&w4, o[i].u + b * 32 + 4 * c, 4);
                const __m512i wc = _mm512_set1_epi32(w4);
                BF_UNROLL
                for (int v = 0; v < NV; ++v) p[h][i][v] = _mm512_dpbusd_epi32(p[h][i][v], xv[v], wc);
            }
        }
        BF_UNROLL
        for (int v = 0; v < NV; ++v) {
            const __m512 dx = _mm512_loadu_ps(a.xdl + b * kQ8Slots + 16 * v);
            __m512 xm;
            if (kMin) xm = _mm512_loadu_ps(a.xml + b * kQ8Slots + 16 * v);
            BF_UNROLL
            for (int i = 0; i < R; ++i) {
                BF_UNROLL
                for (int h = 0; h < H; ++h)
                    acc[i][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[h][i][v]),
                                                _mm512_mul_ps(_mm512_set1_ps(o[i].f[H * b + h]), dx), acc[i][v]);
                if (kMin) acc[i][v] = _mm512_fnmadd_ps(_mm512_set1_ps(o[i].mn[b]), xm, acc[i][v]);
            }
        }
    }
    BF_UNROLL
    for (int i = 0; i < R; ++i) BF_UNROLL
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(part + kQ8Slots * i + 16 * v, acc[i][v]);
}

// Calls rows<T>(t) for tokens [t0, n_tok) in groups of up to 4 (each group one tile width).
template <class F>
void by_token_groups(int64_t t0, int64_t n_tok, F&& rows) {
    for (int64_t t = t0; t < n_tok; t += 4)
        kernels::with_width(std::min<int64_t>(4, n_tok - t), [&]<int T>() { rows.template operator()<T>(t); });
}

// Prefill: matmul.cpp hands over every token at once (a.lane_chunk tokens per lanes copy), so a group of
// rows is unpacked once (about 192 KB of codes, which stay in this thread's L2) and reused by every
// chunk, whose activations are then read once per group; a short last chunk (< 8 tokens, no lanes copy)
// takes the row passes. Register tiles: 3 rows (2 with Q6_K's two scales). Each chunk goes in K segments
// of kSegBlocks blocks (16 KB of activations, which stay in L1 while every tile of the group passes over
// them; the whole chunk, 160-640 KB at the model's widths, would come from L2 once per tile), the tiles'
// sums waiting in the driver's `part` between segments.
constexpr int64_t kGroupBytes = 192 * 1024, kMaxGroup = 96, kSegBlocks = 8;

template <bool kHalves, bool kMin, class Rows>
void lanes_prefill(DType type, const MatArgs& a, int64_t r0, int64_t r1, Rows&& rows) {
    constexpr int R = kHalves ? 2 : 3;
    const int64_t k = a.cols, ng = k / (kHalves ? 16 : 32);
    const int64_t group = std::clamp<int64_t>(kGroupBytes / k / 6 * 6, 6, kMaxGroup);  // whole 2- and 3-row tiles
    ThreadPool::Owner owner(kernel_pool());  // a no-op inside the matmul's loop; tests call us directly
    KernelScratch& ws = workspace(owner.worker());
    const kernels::KqGroupBuffers g = kernels::kq_group_buffers(ws, group, k, ng);
    Unpacked o[kMaxGroup];
    for (int64_t i = 0; i < group; ++i)
        o[i] = {reinterpret_cast<int8_t*>(g.codes) + i * k, g.f + i * ng, g.corr + i * ng, g.mn + i * ng};
    kernels::kq_lanes_groups(
        ws, a, r0, r1, group, [&](int64_t r, int64_t i) { unpack_row(type, a, r, o[i]); }, rows,
        [&](const MatArgs& c, int64_t rg, int64_t re, float* part) {
            const int64_t nb = k / 32;
            kernels::with_width((c.n_tok + 15) / 16, [&]<int NV>() {
                for (int64_t b0 = 0; b0 < nb; b0 += kSegBlocks) {
                    const int64_t b1 = std::min(nb, b0 + kSegBlocks);
                    int64_t r = rg;
                    for (; r + R <= re; r += R)
                        lanes_rows<R, NV, kHalves, kMin>(c, r, o + (r - rg), b0, b1, part + (r - rg) * kQ8Slots);
                    for (; r < re; ++r)
                        lanes_rows<1, NV, kHalves, kMin>(c, r, o + (r - rg), b0, b1, part + (r - rg) * kQ8Slots);
                }
            });
        });
}

// The row passes over rows [ra, rb) for tokens t0.. (of all a.n_tok), by kind.
template <class RowsT>
auto row_passes(const MatArgs& a, RowsT&& rows_t) {
    return [&a, rows_t](int64_t ra, int64_t rb, int64_t t0) {
        by_token_groups(t0, a.n_tok, [&]<int T>(int64_t t) { rows_t.template operator()<T>(ra, rb, t); });
    };
}

}  // namespace

void avx512_q4_0(const MatArgs& a, int64_t r0, int64_t r1) {
    auto rows = row_passes(a, [&a]<int T>(int64_t ra, int64_t rb, int64_t t) { q4_0_rows<T>(a, ra, rb, t); });
    if (a.xl && a.n_tok >= 8) return lanes_prefill<false, false>(DType::Q4_0, a, r0, r1, rows);
    rows(r0, r1, 0);
}
void avx512_q4_k(const MatArgs& a, int64_t r0, int64_t r1) {
    auto rows = row_passes(a, [&a]<int T>(int64_t ra, int64_t rb, int64_t t) { q4_k_rows<false, T>(a, ra, rb, t); });
    if (a.xl && a.n_tok >= 8) return lanes_prefill<false, true>(DType::Q4_K, a, r0, r1, rows);
    rows(r0, r1, 0);
}
void avx512_q5_k(const MatArgs& a, int64_t r0, int64_t r1) {
    auto rows = row_passes(a, [&a]<int T>(int64_t ra, int64_t rb, int64_t t) { q4_k_rows<true, T>(a, ra, rb, t); });
    if (a.xl && a.n_tok >= 8) return lanes_prefill<false, true>(DType::Q5_K, a, r0, r1, rows);
    rows(r0, r1, 0);
}
void avx512_q6_k(const MatArgs& a, int64_t r0, int64_t r1) {
    auto rows = row_passes(a, [&a]<int T>(int64_t ra, int64_t rb, int64_t t) { q6_k_rows<T>(a, ra, rb, t); });
    if (a.xl && a.n_tok >= 8) return lanes_prefill<true, false>(DType::Q6_K, a, r0, r1, rows);
    rows(r0, r1, 0);
}

}  // namespace bf
