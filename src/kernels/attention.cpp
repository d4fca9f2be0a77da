// Differential attention. Work is split by (query, KV pair): the query pairs that share a KV pair (GQA)
// are scored together, so each key and value row is read once per KV pair, not once per query head.
// The inner loops are compiled for AVX-512, AVX2 and a baseline and picked at run time (target_clones).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bf {

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define BF_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BF_SIMD_CLONES
#endif

namespace {

// s[p][j] = scale · q[p] · k_j for np query heads against n keys of width hd (stride ks).
BF_SIMD_CLONES void scores(const float* const* q, int64_t np, const float* k, int64_t ks, int64_t n, int64_t hd,
                           float scale, float* const* s) {
    for (int64_t j = 0; j < n; ++j) {
        const float* kr = k + j * ks;
        for (int64_t p = 0; p < np; ++p) {
            const float* qp = q[p];
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < hd; ++i) acc += qp[i] * kr[i];
            s[p][j] = acc * scale;
        }
    }
}

// o[p] += Σ_j w[p][j] · v_j (rows of width w2, stride vs), for np weight vectors.
BF_SIMD_CLONES void weighted_sum(const float* const* w, int64_t np, const float* v, int64_t vs, int64_t n, int64_t w2,
                                 float* const* o) {
    for (int64_t j = 0; j < n; ++j) {
        const float* vr = v + j * vs;
        for (int64_t p = 0; p < np; ++p) {
            const float wj = w[p][j];
            float* op = o[p];
#pragma omp simd
            for (int64_t i = 0; i < w2; ++i) op[i] += wj * vr[i];
        }
    }
}

// In place: s = exp(s − max) / Σ exp(s − max).
void softmax(float* s, int64_t n) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

}  // namespace

void diff_attention(const DiffAttnArgs& a) {
    const int64_t hd = a.head_dim, n_kv_pair = a.n_kv_head / 2;
    const int64_t group = a.n_head / a.n_kv_head;  // query pairs per KV pair, inside each stripe
    const float scale = 1.0f / std::sqrt(float(hd));
    int64_t keys = 0;  // total work, to skip threading where waking a thread costs more than it saves
    for (int64_t t = 0; t < a.n_q; ++t) keys += a.key_hi[t] - a.key_lo[t];
#pragma omp parallel if (keys * a.n_head * hd > (int64_t(1) << 16))
    {
        std::vector<float> buf;  // scores: 2·group rows of n; outputs: 2·group rows of 2·hd
        std::vector<const float*> qs(size_t(2 * group));
        std::vector<float*> sr(size_t(2 * group)), orow(size_t(2 * group));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t t = 0; t < a.n_q; ++t) {
            for (int64_t g = 0; g < n_kv_pair; ++g) {
                const int64_t lo = a.key_lo[t], n = a.key_hi[t] - lo;
                buf.assign(size_t(2 * group * (n + 2 * hd)), 0.0f);
                for (int64_t k = 0; k < 2 * group; ++k) {
                    sr[size_t(k)] = buf.data() + k * n;
                    orow[size_t(k)] = buf.data() + 2 * group * n + k * 2 * hd;
                }
                // Query pairs p = g·group … : stripe 1 uses head 2p against K head 2g, stripe 2 head 2p+1
                // against K head 2g+1 (§4.5).
                for (int64_t i = 0; i < group; ++i) {
                    const float* q1 = a.q + t * a.q_stride + 2 * (g * group + i) * hd;
                    qs[size_t(i)] = q1;
                    qs[size_t(group + i)] = q1 + hd;
                }
                const float* k1 = a.k + lo * a.kv_stride + 2 * g * hd;
                scores(qs.data(), group, k1, a.kv_stride, n, hd, scale, sr.data());
                scores(qs.data() + group, group, k1 + hd, a.kv_stride, n, hd, scale, sr.data() + group);
                for (int64_t k = 0; k < 2 * group; ++k) softmax(sr[size_t(k)], n);
                // Both value stripes (heads 2g, 2g+1) are one contiguous 2·hd row.
                weighted_sum(sr.data(), 2 * group, a.v + lo * a.kv_stride + 2 * g * hd, a.kv_stride, n, 2 * hd,
                             orow.data());
                for (int64_t i = 0; i < group; ++i) {
                    float* o1 = orow[size_t(i)];
                    const float* o2 = orow[size_t(group + i)];
                    float ss = 0.0f;
                    for (int64_t e = 0; e < 2 * hd; ++e) {
                        o1[e] -= a.lambda * o2[e];
                        ss += o1[e] * o1[e];
                    }
                    const float r = 1.0f / std::sqrt(ss / float(2 * hd) + 1e-5f) * (1.0f - a.lambda_init);
                    float* out = a.out + t * a.out_stride + 2 * (g * group + i) * hd;  // heads 2p, 2p+1
                    for (int64_t e = 0; e < 2 * hd; ++e) out[e] = o1[e] * r * a.subln[e];
                }
            }
        }
    }
}

}  // namespace bf
