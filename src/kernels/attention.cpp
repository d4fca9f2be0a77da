#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bf {

namespace {

inline float dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

// Softmax-weighted sum of the 2·head_dim value rows starting at v_off of each key, for scores s.
void weighted_values(const DiffAttnArgs& a, std::vector<float>& s, int64_t lo, int64_t hi, int64_t v_off,
                     float* o) {
    const int64_t n = hi - lo, w = 2 * a.head_dim;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[size_t(j)]);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
    const float inv = 1.0f / sum;
    std::fill(o, o + w, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
        const float p = s[size_t(j)] * inv;
        const float* vr = a.v + (lo + j) * a.kv_stride + v_off;
        for (int64_t i = 0; i < w; ++i) o[i] += p * vr[i];
    }
}

}  // namespace

void diff_attention(const DiffAttnArgs& a) {
    const int64_t hd = a.head_dim, n_pair = a.n_head / 2;
    const int64_t group = a.n_head / a.n_kv_head;  // query pairs per KV pair, inside each stripe
    const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel
    {
        std::vector<float> s1, s2;
        std::vector<float> o1(size_t(2 * hd)), o2(size_t(2 * hd));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t t = 0; t < a.n_q; ++t) {
            for (int64_t p = 0; p < n_pair; ++p) {
                const int64_t lo = a.key_lo[t], hi = a.key_hi[t], n = hi - lo;
                const int64_t g = p / group;  // KV pair index: K1 = head 2g, K2 = head 2g+1
                const float* q1 = a.q + t * a.q_stride + (2 * p) * hd;
                const float* q2 = q1 + hd;
                s1.resize(size_t(n));
                s2.resize(size_t(n));
                for (int64_t j = 0; j < n; ++j) {
                    const float* kr = a.k + (lo + j) * a.kv_stride + (2 * g) * hd;
                    s1[size_t(j)] = scale * dot(q1, kr, hd);
                    s2[size_t(j)] = scale * dot(q2, kr + hd, hd);
                }
                // Values of both stripes (heads 2g, 2g+1) are contiguous: one 2·head_dim row.
                weighted_values(a, s1, lo, hi, 2 * g * hd, o1.data());
                weighted_values(a, s2, lo, hi, 2 * g * hd, o2.data());
                float ss = 0.0f;
                for (int64_t i = 0; i < 2 * hd; ++i) {
                    o1[size_t(i)] -= a.lambda * o2[size_t(i)];
                    ss += o1[size_t(i)] * o1[size_t(i)];
                }
                const float r = 1.0f / std::sqrt(ss / float(2 * hd) + 1e-5f) * (1.0f - a.lambda_init);
                float* out = a.out + t * a.out_stride + 2 * p * hd;  // heads 2p, 2p+1
                for (int64_t i = 0; i < 2 * hd; ++i) out[i] = o1[size_t(i)] * r * a.subln[i];
            }
        }
    }
}

}  // namespace bf
