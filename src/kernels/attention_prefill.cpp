// Prefill of the f32 differential attention (many queries): the visible keys are transposed once, then
// each V pair works on four queries at a time so every key row read serves four; O1 − λ·O2 is formed as
// one weighted sum of V. Inner loops are compiled per ISA and picked at run time (BF_SIMD_CLONES).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/attention_parts.h"
#include "kernels/compute.h"
#include "kernels/vec_math.h"

namespace bf::kernels {

namespace {

// e^(s − mx[h]) in place over [j0, j1) and the per-head sums.
BF_SIMD_CLONES void exp_rows(const AttnShape& sh, float* s, int64_t ld, int64_t j0, int64_t j1, const float* mx,
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

BF_SIMD_CLONES void row_max(const AttnShape& sh, const float* s, int64_t ld, int64_t j0, int64_t j1, float* mx) {
    for (int64_t h = 0; h < sh.n_head; ++h) {
        const float* row = s + h * ld;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = j0; j < j1; ++j) m = row[j] > m ? row[j] : m;
        mx[h] = m;
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
void prefill_pairs(const DiffAttnArgs& a, const AttnShape& sh, bool threaded, int64_t m0, int64_t m1, const float* ktp,
                   int64_t ldk, int64_t jl) {
    const int64_t D = a.head_dim, kQBlock = 32, kGroups = kQBlock / 4, kKeyChunk = 256;
    const int64_t n_qb = (a.n_q + kQBlock - 1) / kQBlock;
    const AttnShape pair_shape{2, D, 1, 0, 1.0f};
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

}  // namespace

constexpr int64_t kMaxTransposedKeys = 2048;  // 10 MB of transposed f32 keys at the real model's size

// Prefill (many queries): the visible keys are transposed (all K heads at once up to kMaxTransposedKeys
// keys; beyond that one V pair's two K heads per pass, 17 MB at 32K), then each query runs scores →
// softmax → combined weights → V sum, four queries at a time so every key row read serves four.
void prefill_attention(const DiffAttnArgs& a, const AttnShape& sh, bool threaded, KernelScratch& ws) {
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

}  // namespace bf::kernels
