// Differential attention over the quantized shared cache (kernels/kv_cache.h): int8 queries, integer
// scores by the dispatch table's block kernels, softmax per span of blocks in f32, and one query's
// spans split across threads in parts whose statistics are merged before the values are summed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/act_quant.h"
#include "kernels/attention.h"
#include "kernels/attention_parts.h"
#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/vec_math.h"

namespace bf {

using kernels::decode_parts;
using kernels::finish_pairs;

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
