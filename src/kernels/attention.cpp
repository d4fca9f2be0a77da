// Differential attention, f32 K/V and the quantized shared cache. Decode (one query) reads each K/V row
// whole and in order and splits the keys across threads, flash-decoding style (partial maxima, sums and
// outputs, then merged). Prefill transposes the visible keys once and works per V pair on four queries
// at a time; O1 − λ·O2 is always formed as one weighted sum of V. Inner loops are compiled for AVX-512,
// AVX2 and a baseline and picked at run time (BF_SIMD_CLONES, kernels/vec_math.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/act_quant.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/vec_math.h"

namespace bf {

namespace {

struct Shape {
    int64_t n_head, hd, group, kv_stride;
    float scale;
};

// Decode (one query) keeps its scores key-major, s[j·H + h]: each key's scores are one contiguous run.
// (Head-major rows would be 128 KB apart at 32K keys, and every key would store into 40 of them.)

// A generic 16-float vector: zmm in the AVX-512 clone, pairs/quads of narrower registers elsewhere.
typedef float V16 __attribute__((vector_size(64)));

// r[i] = Σ of the 16 lanes of a[i], for 16 vectors at once (returned through r: a vector return
// value would change the ABI of the baseline build): four rounds of pairwise shuffles and adds
// (45 operations, against ~8 per vector reduced alone), ending with the sums in order.
BF_VEC_INLINE void hsum16(const V16* a, V16* r) {
    V16 b[8], c[4], d[2];
    for (int i = 0; i < 8; ++i)  // lanes 0-7: head i's partial sums, 8-15: head i + 8's
        b[i] = __builtin_shufflevector(a[i], a[i + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               __builtin_shufflevector(a[i], a[i + 8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; ++i)  // quads: heads i, i + 4, i + 8, i + 12
        c[i] = __builtin_shufflevector(b[i], b[i + 4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               __builtin_shufflevector(b[i], b[i + 4], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int i = 0; i < 2; ++i)  // pairs: heads i, i + 2, ..., i + 14
        d[i] = __builtin_shufflevector(c[i], c[i + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
               __builtin_shufflevector(c[i], c[i + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    *r = __builtin_shufflevector(d[0], d[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
         __builtin_shufflevector(d[0], d[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}

// Scores of every query head against keys [j0, j1) (K head of h: 2·(p/group) + (h & 1), with p = h/2 —
// the even/odd stripes of §4.5). Heads go 16 at a time into one hsum16 when head_dim is a multiple of 16.
BF_SIMD_CLONES void scores_keys(const Shape& sh, const float* q, const float* k, int64_t j0, int64_t j1, float* s) {
    const int64_t hd = sh.hd, H = sh.n_head;
    for (int64_t j = j0; j < j1; ++j) {
        const float* kr = k + j * sh.kv_stride;
        int64_t h0 = 0;
        for (; hd % 16 == 0 && h0 < H; h0 += 16) {
            V16 acc[16];
            for (int i = 0; i < 16; ++i) {
                acc[i] = V16{};
                const int64_t h = h0 + i;
                if (h >= H) continue;  // a short last group: zero sums, not stored
                const float* kh = kr + (2 * ((h / 2) / sh.group) + (h & 1)) * hd;
                const float* qh = q + h * hd;
                for (int64_t d = 0; d < hd; d += 16) {
                    V16 x, y;
                    __builtin_memcpy(&x, qh + d, 64);
                    __builtin_memcpy(&y, kh + d, 64);
                    acc[i] += x * y;
                }
            }
            V16 r;
            hsum16(acc, &r);
            r *= sh.scale;
            float tmp[16];
            __builtin_memcpy(tmp, &r, 64);
            for (int64_t i = 0; i < std::min<int64_t>(16, H - h0); ++i) s[j * H + h0 + i] = tmp[i];
        }
        for (int64_t h = h0; h < H; ++h) {  // head_dim not a multiple of 16 (small test models)
            const float* kh = kr + (2 * ((h / 2) / sh.group) + (h & 1)) * hd;
            const float* qh = q + h * hd;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < hd; ++i) acc += qh[i] * kh[i];
            s[j * H + h] = acc * sh.scale;
        }
    }
}

// Per-head maxima (into mx, which starts at −inf) of key-major scores over [j0, j1).
BF_SIMD_CLONES void max_keys(const float* s, int64_t H, int64_t j0, int64_t j1, float* mx) {
    for (int64_t j = j0; j < j1; ++j)
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) mx[h] = s[j * H + h] > mx[h] ? s[j * H + h] : mx[h];
}

// e^(s − mx[h]) in place over [j0, j1) of key-major scores, and the per-head sums (into sum, from 0).
BF_SIMD_CLONES void exp_keys(float* s, int64_t H, int64_t j0, int64_t j1, const float* mx, float* sum) {
    for (int64_t j = j0; j < j1; ++j)
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) {
            const float e = exp_softmax_vec(s[j * H + h] - mx[h]);
            s[j * H + h] = e;
            sum[h] += e;
        }
}

// u[p] += Σ_j (e_2p,j·c1[p] − e_2p+1,j·c2[p]) · [V1_j ; V2_j] over [j0, j1): O1 − λ·O2 of each pair as
// one weighted sum of its 2·hd value row (c1 = 1/S_2p, c2 = λ/S_2p+1).
BF_SIMD_CLONES void values_keys(const Shape& sh, const float* v, const float* e, int64_t j0, int64_t j1,
                                const float* c1, const float* c2, float* u) {
    const int64_t w2 = 2 * sh.hd, H = sh.n_head;
    for (int64_t j = j0; j < j1; ++j) {
        const float* vr = v + j * sh.kv_stride;
        for (int64_t p = 0; p < H / 2; ++p) {
            const float* vp = vr + 2 * (p / sh.group) * sh.hd;
            const float w = e[j * H + 2 * p] * c1[p] - e[j * H + 2 * p + 1] * c2[p];
            float* up = u + p * w2;
#pragma omp simd
            for (int64_t i = 0; i < w2; ++i) up[i] += w * vp[i];
        }
    }
}

// e^(s − mx[h]) in place over [j0, j1) and the per-head sums.
BF_SIMD_CLONES void exp_rows(const Shape& sh, float* s, int64_t ld, int64_t j0, int64_t j1, const float* mx,
                             float* sum) {
    for (int64_t h = 0; h < sh.n_head; ++h) {
        float* row = s + h * ld;
        const float m = mx[h];
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = j0; j < j1; ++j) {
            row[j] = exp_softmax_vec(row[j] - m);
            acc += row[j];
        }
        sum[h] = acc;
    }
}

BF_SIMD_CLONES void row_max(const Shape& sh, const float* s, int64_t ld, int64_t j0, int64_t j1, float* mx) {
    for (int64_t h = 0; h < sh.n_head; ++h) {
        const float* row = s + h * ld;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = j0; j < j1; ++j) m = row[j] > m ? row[j] : m;
        mx[h] = m;
    }
}

// RMSNorm over each pair's 2·D outputs U = O1 − λ·O2, × (1 − λ_init) and subln.
void finish_pairs(int64_t n_head, int64_t D, float lambda_init, const float* subln, const float* u, float* out) {
    const int64_t w2 = 2 * D;
    for (int64_t p = 0; p < n_head / 2; ++p) {
        const float* up = u + p * w2;
        float ss = 0.0f;
        for (int64_t e = 0; e < w2; ++e) ss += up[e] * up[e];
        const float r = 1.0f / std::sqrt(ss / float(w2) + 1e-5f) * (1.0f - lambda_init);
        for (int64_t e = 0; e < w2; ++e) out[p * w2 + e] = up[e] * r * subln[e];
    }
}

// Combined weights of pair p over [j0, j1): e1/S1 − λ·e2/S2 (so O1 − λ·O2 is one weighted sum of V).
BF_SIMD_CLONES void pair_weights(const float* s, int64_t ld, int64_t n_pair, int64_t j0, int64_t j1, const float* sum,
                                 float lambda, float* w, int64_t ldw) {
    for (int64_t p = 0; p < n_pair; ++p) {
        const float* e1 = s + (2 * p) * ld;
        const float* e2 = s + (2 * p + 1) * ld;
        const float i1 = 1.0f / sum[2 * p], i2 = lambda / sum[2 * p + 1];
        float* wp = w + p * ldw;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) wp[j] = e1[j] * i1 - e2[j] * i2;
    }
}

// Scores of four queries (same head, same key range) against n keys held transposed: key j0 + j,
// dimension d at kt[d·ldk + j0 + j] (rows padded by 64, so whole 32-key groups may be read). Each key
// row loaded once feeds 8 named accumulators (an array of them would live on the stack). Fewer than four
// queries repeat the last one.
BF_SIMD_CLONES void scores_transposed4(const float* const* q, const float* kt, int64_t ldk, int64_t j0, int64_t n,
                                       int64_t D, float scale, float* const* s) {
    for (int64_t j = 0; j < n; j += 32) {
        V16 a[4][2] = {};
        const float* base = kt + j0 + j;
        for (int64_t d = 0; d < D; ++d) {
            const float* kr = base + d * ldk;
            V16 k0, k1;
            __builtin_memcpy(&k0, kr, 64);
            __builtin_memcpy(&k1, kr + 16, 64);
            const float q0 = q[0][d], q1 = q[1][d], q2 = q[2][d], q3 = q[3][d];
            a[0][0] += q0 * k0, a[0][1] += q0 * k1;
            a[1][0] += q1 * k0, a[1][1] += q1 * k1;
            a[2][0] += q2 * k0, a[2][1] += q2 * k1;
            a[3][0] += q3 * k0, a[3][1] += q3 * k1;
        }
        const int64_t m = std::min<int64_t>(32, n - j);
        for (int qi = 0; qi < 4; ++qi) {
            const V16 r0 = a[qi][0] * scale, r1 = a[qi][1] * scale;
            if (m == 32) {
                __builtin_memcpy(s[qi] + j, &r0, 64);
                __builtin_memcpy(s[qi] + j + 16, &r1, 64);
                continue;
            }
            float tmp[32];
            __builtin_memcpy(tmp, &r0, 64);
            __builtin_memcpy(tmp + 16, &r1, 64);
            for (int64_t i = 0; i < m; ++i) s[qi][j + i] = tmp[i];
        }
    }
}

// u[qi] += Σ_j w[qi][j] · v[j·stride .. + width) for four queries (one pair's 2·D values per key);
// 32 outputs × 4 queries stay in registers across the keys.
BF_SIMD_CLONES void values_one_pair4(const float* v, int64_t stride, const float* const* w, int64_t n, int64_t width,
                                     float* const* u) {
    int64_t e0 = 0;
    for (; e0 + 32 <= width; e0 += 32) {
        V16 acc[4][2];
        for (int qi = 0; qi < 4; ++qi) {
            __builtin_memcpy(&acc[qi][0], u[qi] + e0, 64);
            __builtin_memcpy(&acc[qi][1], u[qi] + e0 + 16, 64);
        }
        for (int64_t j = 0; j < n; ++j) {
            const float* vr = v + j * stride + e0;
            V16 v0, v1;
            __builtin_memcpy(&v0, vr, 64);
            __builtin_memcpy(&v1, vr + 16, 64);
            const float w0 = w[0][j], w1 = w[1][j], w2 = w[2][j], w3 = w[3][j];
            acc[0][0] += w0 * v0, acc[0][1] += w0 * v1;
            acc[1][0] += w1 * v0, acc[1][1] += w1 * v1;
            acc[2][0] += w2 * v0, acc[2][1] += w2 * v1;
            acc[3][0] += w3 * v0, acc[3][1] += w3 * v1;
        }
        for (int qi = 0; qi < 4; ++qi) {
            __builtin_memcpy(u[qi] + e0, &acc[qi][0], 64);
            __builtin_memcpy(u[qi] + e0 + 16, &acc[qi][1], 64);
        }
    }
    for (int qi = 0; qi < 4; ++qi)  // widths that are not a multiple of 32 (small test models)
        for (int64_t j = 0; j < n; ++j)
            for (int64_t e = e0; e < width; ++e) u[qi][e] += w[qi][j] * v[j * stride + e];
}

// V pairs [m0, m1) of prefill_attention, their K heads transposed at kt (head 2·m0 first).
// Work units: (V pair m, block of 32 queries), in groups of four consecutive queries over the union of
// their key ranges (each query's weights are 0 outside its own range, so the shared sums are exact).
// Scores and values run key chunk by key chunk, all groups of the unit per chunk: a chunk of transposed
// keys or values (128 KB at the real size; larger chunks measured slower) then serves the unit's 32
// queries from L2, however deep the context.
void prefill_pairs(const DiffAttnArgs& a, const Shape& sh, bool threaded, int64_t m0, int64_t m1, const float* ktp,
                   int64_t ldk, int64_t jl) {
    const int64_t D = a.head_dim, kQBlock = 32, kGroups = kQBlock / 4, kKeyChunk = 256;
    const int64_t n_qb = (a.n_q + kQBlock - 1) / kQBlock;
    const Shape pair_shape{2, D, 1, 0, 1.0f};
    const int64_t n_units = (m1 - m0) * n_qb, nu = kGroups * 8 * D;
    parallel_for(n_units, threaded ? 1 : n_units, [&](int64_t unit0, int64_t unit1, int worker) {
        KernelScratch& ws = workspace(worker);
        float* const u = ws.get<float>(KernelScratch::kPrefillValues, size_t(nu));
        for (int64_t unit = unit0; unit < unit1; ++unit) {
            const int64_t m = m0 + unit / n_qb, t_begin = (unit % n_qb) * kQBlock;
            const int64_t t_end = std::min(a.n_q, t_begin + kQBlock), ng = (t_end - t_begin + 3) / 4;
            int64_t glo[kGroups] = {}, ghi[kGroups] = {}, base[kGroups + 1] = {};  // group key ranges, scratch offsets
            int nq[kGroups];
            for (int64_t gi = 0; gi < ng; ++gi) {
                const int64_t t0 = t_begin + 4 * gi;
                nq[gi] = int(std::min<int64_t>(4, t_end - t0));
                glo[gi] = a.key_lo[t0], ghi[gi] = a.key_hi[t0];
                for (int qi = 1; qi < nq[gi]; ++qi)
                    glo[gi] = std::min(glo[gi], a.key_lo[t0 + qi]), ghi[gi] = std::max(ghi[gi], a.key_hi[t0 + qi]);
                base[gi + 1] = base[gi] + (ghi[gi] - glo[gi]);
            }
            int64_t ulo = glo[0], uhi = ghi[0];
            for (int64_t gi = 1; gi < ng; ++gi) ulo = std::min(ulo, glo[gi]), uhi = std::max(uhi, ghi[gi]);
            // group gi: rows (query qi, head i) of its n keys at s + 8·base[gi]; 4 rows at w + 4·base[gi]
            float* const s = ws.get<float>(KernelScratch::kPrefillScores, size_t(8 * base[ng]));
            float* const w = ws.get<float>(KernelScratch::kPrefillWeights, size_t(4 * base[ng]));
            // fn(gi, lo, hi) for the keys [lo, hi) of group gi, chunk by chunk, all groups per chunk.
            auto by_chunks = [&](auto&& fn) {
                for (int64_t c0 = ulo; c0 < uhi; c0 += kKeyChunk)
                    for (int64_t gi = 0; gi < ng; ++gi) {
                        const int64_t lo = std::max(c0, glo[gi]), hi = std::min({uhi, c0 + kKeyChunk, ghi[gi]});
                        if (lo < hi) fn(gi, lo, hi);
                    }
            };
            for (int64_t p = m * sh.group; p < (m + 1) * sh.group; ++p) {
                by_chunks([&](int64_t gi, int64_t lo, int64_t hi) {
                    const int64_t n = ghi[gi] - glo[gi];
                    for (int64_t i = 0; i < 2; ++i) {  // heads 2p (K head 2m) and 2p + 1 (K head 2m + 1)
                        const int64_t h = 2 * p + i, g = 2 * m + i;
                        const float* qp[4];
                        float* sp[4];
                        for (int qi = 0; qi < 4; ++qi) {
                            qp[qi] = a.q + (t_begin + 4 * gi + std::min(qi, nq[gi] - 1)) * a.q_stride + h * D;
                            sp[qi] = s + 8 * base[gi] + (qi * 2 + i) * n + (lo - glo[gi]);
                        }
                        scores_transposed4(qp, ktp + (g - 2 * m0) * D * ldk, ldk, lo - jl, hi - lo, D, sh.scale, sp);
                    }
                });
                for (int64_t gi = 0; gi < ng; ++gi) {
                    const int64_t n = ghi[gi] - glo[gi];
                    for (int qi = 0; qi < 4; ++qi) {
                        float* wq = w + 4 * base[gi] + qi * n;
                        std::fill(wq, wq + n, 0.0f);  // missing queries of a short group add nothing
                        if (qi >= nq[gi]) continue;
                        const int64_t t = t_begin + 4 * gi + qi, lo = a.key_lo[t] - glo[gi], hi = a.key_hi[t] - glo[gi];
                        float mx[2], sum[2];
                        float* sq = s + 8 * base[gi] + qi * 2 * n;
                        row_max(pair_shape, sq, n, lo, hi, mx);
                        exp_rows(pair_shape, sq, n, lo, hi, mx, sum);
                        pair_weights(sq, n, 1, lo, hi, sum, a.lambda, wq, n);
                    }
                }
                std::fill(u, u + nu, 0.0f);
                by_chunks([&](int64_t gi, int64_t lo, int64_t hi) {
                    const int64_t n = ghi[gi] - glo[gi];
                    const float* wp[4];
                    float* up[4];
                    for (int qi = 0; qi < 4; ++qi) {
                        wp[qi] = w + 4 * base[gi] + qi * n + (lo - glo[gi]);
                        up[qi] = u + (gi * 4 + qi) * 2 * D;
                    }
                    values_one_pair4(a.v + lo * a.kv_stride + 2 * m * D, a.kv_stride, wp, hi - lo, 2 * D, up);
                });
                for (int64_t gi = 0; gi < ng; ++gi)
                    for (int qi = 0; qi < nq[gi]; ++qi)
                        finish_pairs(2, D, a.lambda_init, a.subln, u + (gi * 4 + qi) * 2 * D,
                                     a.out + (t_begin + 4 * gi + qi) * a.out_stride + p * 2 * D);
            }
        }
    });
}

constexpr int64_t kMaxTransposedKeys = 2048;  // 10 MB of transposed f32 keys at the real model's size

// Prefill (many queries): the visible keys are transposed (all K heads at once up to kMaxTransposedKeys
// keys; beyond that one V pair's two K heads per pass, 17 MB at 32K), then each query runs scores →
// softmax → combined weights → V sum, four queries at a time so every key row read serves four.
void prefill_attention(const DiffAttnArgs& a, const Shape& sh, bool threaded, KernelScratch& ws) {
    const int64_t H = a.n_head, D = a.head_dim, P = H / 2;
    int64_t jl = a.key_lo[0], jh = a.key_hi[0];
    for (int64_t t = 1; t < a.n_q; ++t) jl = std::min(jl, a.key_lo[t]), jh = std::max(jh, a.key_hi[t]);
    const int64_t nk = jh - jl, ldk = (nk + 64 + 15) / 16 * 16;
    const int64_t n_vpair = P / sh.group, pairs_per_pass = nk <= kMaxTransposedKeys ? n_vpair : 1;
    // The caller's buffer, read by every worker below.
    float* const ktp = ws.get<float>(KernelScratch::kKeysT, size_t(2 * pairs_per_pass * D * ldk));
    for (int64_t m0 = 0; m0 < n_vpair; m0 += pairs_per_pass) {
        const int64_t m1 = std::min(n_vpair, m0 + pairs_per_pass), n_heads = 2 * (m1 - m0);
        parallel_for(n_heads, threaded ? 1 : n_heads, [&](int64_t g0, int64_t g1, int) {
            for (int64_t g = 2 * m0 + g0; g < 2 * m0 + g1; ++g) {  // K heads 2m and 2m + 1 of this pass's V pairs m
                float* dst = ktp + (g - 2 * m0) * D * ldk;
                for (int64_t j = 0; j < nk; ++j) {
                    const float* src = a.k + (jl + j) * a.kv_stride + g * D;
                    for (int64_t d = 0; d < D; ++d) dst[d * ldk + j] = src[d];
                }
                for (int64_t d = 0; d < D; ++d) std::fill(dst + d * ldk + nk, dst + (d + 1) * ldk, 0.0f);
            }
        });
        prefill_pairs(a, sh, threaded, m0, m1, ktp, ldk, jl);
    }
}

// Parts one query's keys are split into: a few per thread, claimed one at a time, so a thread the OS
// pauses holds up only its current part; one part when threads would cost more than they save.
int decode_parts(bool threaded, int64_t n_units) {
    return threaded ? int(std::clamp<int64_t>(n_units, 1, 4 * int64_t(num_threads()))) : 1;
}

}  // namespace

void diff_attention(const DiffAttnArgs& a) {
    const Shape sh{a.n_head, a.head_dim, a.n_head / a.n_kv_head, a.kv_stride, 1.0f / std::sqrt(float(a.head_dim))};
    const int64_t H = a.n_head, w2 = 2 * a.head_dim;
    int64_t keys = 0;  // total work, to skip threading where waking a thread costs more than it saves
    for (int64_t t = 0; t < a.n_q; ++t) keys += a.key_hi[t] - a.key_lo[t];
    const bool threaded = keys * H * a.head_dim > (int64_t(1) << 16);
    ThreadPool::Owner owner(kernel_pool());  // the scratch below is ours until the output is written
    KernelScratch& ws = workspace(owner.worker());

    if (a.n_q > 1) return prefill_attention(a, sh, threaded, ws);
    // One query, keys split into parts: local maxima, then exponentials and sums against the global
    // maxima, then each part's share of O1 − λ·O2, merged at the end (three loops, joined in between).
    const int64_t lo = a.key_lo[0], n = a.key_hi[0] - lo, P = H / 2;
    const float* k = a.k + lo * a.kv_stride;
    const float* v = a.v + lo * a.kv_stride;
    float* const sp = ws.get<float>(KernelScratch::kDecodeScores, size_t(H * n));  // the caller's, shared by the parts
    const int np = decode_parts(threaded, n / 16);
    std::vector<float> mx(size_t(np * H), -INFINITY), sum(size_t(np * H), 0.0f), u(size_t(np * P * w2), 0.0f);
    std::vector<float> gmx(size_t(H), -INFINITY), c1(static_cast<size_t>(P)), c2(static_cast<size_t>(P));
    auto by_parts = [&](auto&& fn) {  // fn(part, first key, end key)
        parallel_for(np, 1, [&](int64_t p0, int64_t p1, int) {
            for (int64_t id = p0; id < p1; ++id) fn(id, n * id / np, n * (id + 1) / np);
        });
    };
    by_parts([&](int64_t id, int64_t j0, int64_t j1) {
        scores_keys(sh, a.q, k, j0, j1, sp);
        max_keys(sp, H, j0, j1, mx.data() + id * H);
    });
    for (int t = 0; t < np; ++t)
        for (int64_t h = 0; h < H; ++h) gmx[size_t(h)] = std::max(gmx[size_t(h)], mx[size_t(t * H + h)]);
    by_parts([&](int64_t id, int64_t j0, int64_t j1) { exp_keys(sp, H, j0, j1, gmx.data(), sum.data() + id * H); });
    for (int64_t p = 0; p < P; ++p) {
        float s1 = 0.0f, s2 = 0.0f;
        for (int t = 0; t < np; ++t) s1 += sum[size_t(t * H + 2 * p)], s2 += sum[size_t(t * H + 2 * p + 1)];
        c1[size_t(p)] = 1.0f / s1;
        c2[size_t(p)] = a.lambda / s2;
    }
    by_parts([&](int64_t id, int64_t j0, int64_t j1) {
        values_keys(sh, v, sp, j0, j1, c1.data(), c2.data(), u.data() + id * P * w2);
    });
    for (int t = 1; t < np; ++t)
        for (int64_t e = 0; e < P * w2; ++e) u[size_t(e)] += u[size_t(t * P * w2 + e)];
    finish_pairs(H, a.head_dim, a.lambda_init, a.subln, u.data(), a.out);
}

// ---- attention over the quantized shared cache ------------------------------------------------------

namespace {

// Per-head int8 codes of one query, with Σ codes and the scale (× 1/sqrt(D)).
void quantize_query(const float* q, int64_t H, int64_t D, int8_t* qc, int32_t* qsum, float* qscale) {
    const float rs = 1.0f / std::sqrt(float(D));
    for (int64_t h = 0; h < H; ++h) {
        const float* x = q + h * D;
        float amax = 0.0f;
        for (int64_t d = 0; d < D; ++d) amax = std::max(amax, std::fabs(x[d]));
        if (!std::isfinite(amax)) amax = 0.0f;
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int64_t d = 0; d < D; ++d) sum += qc[h * D + d] = act_round_even(x[d] * inv);
        qsum[h] = sum;
        qscale[h] = amax / 127.0f * rs;
    }
}

// Per-head maxima of block-major scores over blocks [b0, b1), tokens below hi only. Running maxima stay
// 16 lanes wide (mv: [H][16] scratch) and are reduced once per head at the end.
BF_SIMD_CLONES void block_max(const float* s, int64_t H, int64_t b0, int64_t b1, int64_t hi, float* mv, float* mx) {
    for (int64_t i = 0; i < H * kKvBlock; ++i) mv[i] = -INFINITY;
    for (int64_t b = b0; b < b1; ++b) {
        const int64_t valid = std::min<int64_t>(kKvBlock, hi - b * kKvBlock);
        const float* blk = s + b * H * kKvBlock;
        if (valid == kKvBlock) {
#pragma omp simd
            for (int64_t i = 0; i < H * kKvBlock; ++i) mv[i] = blk[i] > mv[i] ? blk[i] : mv[i];
        } else {
            for (int64_t i = 0; i < H * kKvBlock; ++i)
                if (i % kKvBlock < valid) mv[i] = std::max(mv[i], blk[i]);
        }
    }
    for (int64_t h = 0; h < H; ++h) {
        float m = -INFINITY;  // a tree reduction: a chain of 16 dependent maxima per head would dominate
#pragma omp simd reduction(max : m)
        for (int64_t t = 0; t < kKvBlock; ++t) m = mv[h * kKvBlock + t] > m ? mv[h * kKvBlock + t] : m;
        mx[h] = m;
    }
}

// e^(s − mx[h]) in place (0 for tokens at or past hi) and per-head sums over blocks [b0, b1); sums run
// 16 lanes wide in sv ([H][16] scratch).
BF_SIMD_CLONES void block_exp(float* s, int64_t H, int64_t b0, int64_t b1, int64_t hi, const float* mx, float* sv,
                              float* sum) {
    for (int64_t i = 0; i < H * kKvBlock; ++i) sv[i] = 0.0f;
    for (int64_t b = b0; b < b1; ++b) {
        const int64_t valid = std::min<int64_t>(kKvBlock, hi - b * kKvBlock);
        float* blk = s + b * H * kKvBlock;
        for (int64_t h = 0; h < H; ++h) {
            float* row = blk + h * kKvBlock;
            float* acc = sv + h * kKvBlock;
            const float m = mx[h];
            if (valid == kKvBlock) {  // the common case, kept free of the mask so it vectorizes
#pragma omp simd
                for (int64_t t = 0; t < kKvBlock; ++t) {
                    const float e = exp_softmax_vec(row[t] - m);
                    row[t] = e;
                    acc[t] += e;
                }
            } else {
                for (int64_t t = 0; t < kKvBlock; ++t) {
                    const float e = t < valid ? exp_softmax_vec(row[t] - m) : 0.0f;
                    row[t] = e;
                    acc[t] += e;
                }
            }
        }
    }
    for (int64_t h = 0; h < H; ++h) {
        float a = 0.0f;
#pragma omp simd reduction(+ : a)
        for (int64_t t = 0; t < kKvBlock; ++t) a += sv[h * kKvBlock + t];
        sum[h] = a;
    }
}

// Scores of blocks [b0, b1) (whole spans), and per span of kKvSpan blocks each head's maximum m and the
// exponentials against it (in place) and their sum S ([span][H]). A span's scores (80 KB at the real
// size) are still in L2 when its maxima and exponentials are taken.
void span_softmax(const KvScoreArgs& sa, KvScoresFn scores, int64_t b0, int64_t b1, int64_t hi, float* lanes, float* m,
                  float* S) {
    const int64_t H = sa.n_head;
    for (int64_t s0 = b0, s1; s0 < b1; s0 = s1) {
        s1 = span_end(s0, b1);
        const int64_t sp = s0 / kKvSpan;
        scores(sa, s0, s1);
        block_max(sa.s, H, s0, s1, hi, lanes, m + sp * H);
        block_exp(sa.s, H, s0, s1, hi, m + sp * H, lanes, S + sp * H);
    }
}

// One (maximum, sum) per head over spans [sp0, sp1): mt = max m, St = Σ e^(m − mt)·S. No spans: −inf, 0.
BF_SIMD_CLONES void merge_spans(const float* m, const float* S, int64_t H, int64_t sp0, int64_t sp1, float* mt,
                                float* St) {
    for (int64_t h = 0; h < H; ++h) mt[h] = -INFINITY, St[h] = 0.0f;
    for (int64_t sp = sp0; sp < sp1; ++sp)
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) mt[h] = m[sp * H + h] > mt[h] ? m[sp * H + h] : mt[h];
    for (int64_t sp = sp0; sp < sp1; ++sp)
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) St[h] += exp_vec(m[sp * H + h] - mt[h]) * S[sp * H + h];
}

// The values' coefficients of spans [sp0, sp1): e^(m_span − M)·f, f = 1/S (even heads) or λ/S (odd), so
// the combined weight e1·c1 − e2·c2 is softmax1 − λ·softmax2 (kernel_api.h).
BF_SIMD_CLONES void span_coefficients(const float* m, const float* M, const float* f, int64_t H, int64_t sp0,
                                      int64_t sp1, float* coef) {
    for (int64_t sp = sp0; sp < sp1; ++sp)
#pragma omp simd
        for (int64_t h = 0; h < H; ++h) coef[sp * H + h] = exp_vec(m[sp * H + h] - M[h]) * f[h];
}

// Scratch of one query: codes, block-major scores, per-span and per-part statistics. Kept in a worker's
// KernelScratch between calls: MB-sized buffers would page-fault on every call.
struct QueryScratch {
    std::vector<int8_t> qc;
    std::vector<int32_t> qsum;
    std::vector<float> qscale, s, m, S, coef, mt, St, M, f, u, lanes;
    void size(int64_t H, int64_t D, int64_t nb, int n_part) {
        const int64_t n_span = (nb + kKvSpan - 1) / kKvSpan;
        qc.resize(size_t(H * D));
        qsum.resize(size_t(H));
        qscale.resize(size_t(H));
        s.resize(size_t(nb * H * kKvBlock));
        m.resize(size_t(n_span * H));
        S.resize(size_t(n_span * H));
        coef.resize(size_t(n_span * H));
        mt.resize(size_t(n_part * H));
        St.resize(size_t(n_part * H));
        M.resize(size_t(n_part * H));
        f.resize(size_t(n_part * H));
        u.assign(size_t(n_part * H * D), 0.0f);  // n_part × [H/2 pairs][2D]
        lanes.resize(size_t(n_part * H * kKvBlock));
    }
};

// Global maximum M and the factors f (1/S, λ/S) from the parts' (mt, St).
void global_softmax_factors(const float* mt, const float* St, int n_part, int64_t H, float lambda, float* M, float* f) {
    for (int64_t h = 0; h < H; ++h) {
        float mx = -INFINITY, sum = 0.0f;
        for (int t = 0; t < n_part; ++t) mx = std::max(mx, mt[t * H + h]);
        for (int t = 0; t < n_part; ++t)
            if (St[t * H + h] > 0.0f) sum += std::exp(mt[t * H + h] - mx) * St[t * H + h];
        M[h] = mx;
        f[h] = (h & 1 ? lambda : 1.0f) / sum;
    }
}

// Part id of cnt of one query's attention (whole spans of the blocks below hi): scores, per-span softmax
// statistics and the part's (maximum, sum) — everything before the parts must meet.
void part_statistics(const DiffAttnQuantArgs& a, KvScoresFn scores, QueryScratch& q, int64_t hi, int id, int cnt) {
    const int64_t H = a.n_head, nb = (hi + kKvBlock - 1) / kKvBlock, n_span = (nb + kKvSpan - 1) / kKvSpan;
    const int64_t sp0 = n_span * id / cnt, sp1 = n_span * (id + 1) / cnt;
    const KvScoreArgs sa{a.kv, H, H / a.n_kv_head, q.qc.data(), q.qsum.data(), q.qscale.data(), q.s.data()};
    span_softmax(sa, scores, sp0 * kKvSpan, std::min(nb, sp1 * kKvSpan), hi, q.lanes.data() + id * H * kKvBlock,
                 q.m.data(), q.S.data());
    merge_spans(q.m.data(), q.S.data(), H, sp0, sp1, q.mt.data() + id * H, q.St.data() + id * H);
}

// The same part, once every part's statistics are in: the global factors, its spans' coefficients and
// its share of O1 − λ·O2 (into q.u's part id).
void part_values(const DiffAttnQuantArgs& a, KvValuesFn values, QueryScratch& q, int64_t hi, int id, int cnt) {
    const int64_t H = a.n_head, P = H / 2, nb = (hi + kKvBlock - 1) / kKvBlock, n_span = (nb + kKvSpan - 1) / kKvSpan;
    const int64_t sp0 = n_span * id / cnt, sp1 = n_span * (id + 1) / cnt;
    float* M = q.M.data() + id * H;
    float* f = q.f.data() + id * H;
    global_softmax_factors(q.mt.data(), q.St.data(), cnt, H, a.lambda, M, f);
    span_coefficients(q.m.data(), M, f, H, sp0, sp1, q.coef.data());
    values({a.kv, P, H / a.n_kv_head, q.s.data(), q.coef.data(), q.u.data() + id * P * 2 * a.head_dim}, sp0 * kKvSpan,
           std::min(nb, sp1 * kKvSpan));
}

}  // namespace

void diff_attention_quant(const DiffAttnQuantArgs& a) {
    const int64_t H = a.n_head, P = H / 2, D = a.head_dim, w2 = 2 * D;
    const KernelTable& kt = active_kernels();
    const KvScoresFn scores = kt.kv_scores ? kt.kv_scores : ref_kv_scores;
    const KvValuesFn values = kt.kv_values ? kt.kv_values : ref_kv_values;
    int64_t keys = 0;
    for (int64_t t = 0; t < a.n_q; ++t) keys += a.key_hi[t];
    const bool threaded = keys * H * D > (int64_t(1) << 16);
    ThreadPool::Owner owner(kernel_pool());  // the caller's query scratch is ours until the output is written
    const int64_t hi = a.key_hi[0], n_span = ((hi + kKvBlock - 1) / kKvBlock + kKvSpan - 1) / kKvSpan;

    if (a.n_q > 1 || decode_parts(threaded, n_span) == 1) {  // one query per chunk, in one part
        parallel_for(a.n_q, threaded ? 1 : a.n_q, [&](int64_t t0, int64_t t1, int worker) {
            QueryScratch& qs = workspace(worker).object<QueryScratch>(KernelScratch::kQuantQuery);
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t hi_t = a.key_hi[t];
                qs.size(H, D, (hi_t + kKvBlock - 1) / kKvBlock, 1);
                quantize_query(a.q + t * a.q_stride, H, D, qs.qc.data(), qs.qsum.data(), qs.qscale.data());
                part_statistics(a, scores, qs, hi_t, 0, 1);
                part_values(a, values, qs, hi_t, 0, 1);
                finish_pairs(H, D, a.lambda_init, a.subln, qs.u.data(), a.out + t * a.out_stride);
            }
        });
        return;
    }

    // One query, whole spans split into parts: every part's statistics, then (once all are in) each part
    // merges the parts' statistics itself and sums its spans' values.
    const int np = decode_parts(threaded, n_span);
    QueryScratch& qs = workspace(owner.worker()).object<QueryScratch>(KernelScratch::kQuantQuery);
    qs.size(H, D, (hi + kKvBlock - 1) / kKvBlock, np);
    quantize_query(a.q, H, D, qs.qc.data(), qs.qsum.data(), qs.qscale.data());
    parallel_for(np, 1, [&](int64_t p0, int64_t p1, int) {
        for (int64_t id = p0; id < p1; ++id) part_statistics(a, scores, qs, hi, int(id), np);
    });
    parallel_for(np, 1, [&](int64_t p0, int64_t p1, int) {
        for (int64_t id = p0; id < p1; ++id) part_values(a, values, qs, hi, int(id), np);
    });
    for (int t = 1; t < np; ++t)
        for (int64_t e = 0; e < P * w2; ++e) qs.u[size_t(e)] += qs.u[size_t(t * P * w2 + e)];
    finish_pairs(H, D, a.lambda_init, a.subln, qs.u.data(), a.out);
}

}  // namespace bf
