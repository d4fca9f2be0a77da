// Differential attention. Keys and values are read row by row, each whole row once per query (all
// heads of a row are contiguous), which keeps the memory access sequential at long contexts. One query
// (decode) splits its keys across threads, flash-decoding style (partial max, sums and outputs, then
// merged); many queries (prefill) are spread over threads one query at a time.
// The inner loops are compiled for AVX-512, AVX2 and a baseline and picked at run time (target_clones).
#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace bf {

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define BF_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BF_SIMD_CLONES
#endif

namespace {

// e^x for x <= 0 (softmax after subtracting the max), vectorizable: x = n·ln2 + r, |r| <= ln2/2,
// e^r by its Taylor series to r^6 (relative error < 2e-7), 2^n through the exponent bits.
inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = __builtin_nearbyintf(x * 1.44269504f);
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = (int32_t(n) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, 4);
    return p * scale;
}

struct Shape {
    int64_t n_head, hd, group, kv_stride;
    float scale;
};

// Scores of every query head against keys [j0, j1): s[h·ld + j] for head h (K head of h: 2·(p/group)
// + (h & 1), with p = h/2 — the even/odd stripes of §4.5).
BF_SIMD_CLONES void scores_rows(const Shape& sh, const float* q, const float* k, int64_t j0, int64_t j1, float* s,
                                int64_t ld) {
    const int64_t hd = sh.hd;
    for (int64_t j = j0; j < j1; ++j) {
        const float* kr = k + j * sh.kv_stride;
        for (int64_t h = 0; h < sh.n_head; ++h) {
            const float* kh = kr + (2 * ((h / 2) / sh.group) + (h & 1)) * hd;
            const float* qh = q + h * hd;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < hd; ++i) acc += qh[i] * kh[i];
            s[h * ld + j] = acc * sh.scale;
        }
    }
}

// e^(s − mx[h]) in place over [j0, j1) and the per-head sums.
BF_SIMD_CLONES void exp_rows(const Shape& sh, float* s, int64_t ld, int64_t j0, int64_t j1, const float* mx, float* sum) {
    for (int64_t h = 0; h < sh.n_head; ++h) {
        float* row = s + h * ld;
        const float m = mx[h];
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = j0; j < j1; ++j) {
            row[j] = exp_nonpositive(row[j] - m);
            acc += row[j];
        }
        sum[h] = acc;
    }
}

// o[h] += Σ_j w[h][j] · [V1_j ; V2_j] (the 2·hd value row of head h's KV pair) over [j0, j1).
BF_SIMD_CLONES void values_rows(const Shape& sh, const float* v, const float* s, int64_t ld, int64_t j0, int64_t j1,
                                float* o) {
    const int64_t w2 = 2 * sh.hd;
    for (int64_t j = j0; j < j1; ++j) {
        const float* vr = v + j * sh.kv_stride;
        for (int64_t h = 0; h < sh.n_head; ++h) {
            const float* vh = vr + 2 * ((h / 2) / sh.group) * sh.hd;
            const float wj = s[h * ld + j];
            float* oh = o + h * w2;
#pragma omp simd
            for (int64_t i = 0; i < w2; ++i) oh[i] += wj * vh[i];
        }
    }
}

void row_max(const Shape& sh, const float* s, int64_t ld, int64_t j0, int64_t j1, float* mx) {
    for (int64_t h = 0; h < sh.n_head; ++h) {
        float m = -INFINITY;
        for (int64_t j = j0; j < j1; ++j) m = std::max(m, s[h * ld + j]);
        mx[h] = m;
    }
}

// U = O1 − λ·O2 per pair, RMSNorm over 2·hd, × (1 − λ_init), weight subln; heads 2p, 2p+1 of out.
void finish(const DiffAttnArgs& a, const float* o, float* out) {
    const int64_t hd = a.head_dim, w2 = 2 * hd;
    for (int64_t p = 0; p < a.n_head / 2; ++p) {
        const float* o1 = o + (2 * p) * w2;
        const float* o2 = o + (2 * p + 1) * w2;
        float u[1024];
        float ss = 0.0f;
        for (int64_t e = 0; e < w2; ++e) {
            u[e] = o1[e] - a.lambda * o2[e];
            ss += u[e] * u[e];
        }
        const float r = 1.0f / std::sqrt(ss / float(w2) + 1e-5f) * (1.0f - a.lambda_init);
        for (int64_t e = 0; e < w2; ++e) out[p * w2 + e] = u[e] * r * a.subln[e];
    }
}

}  // namespace

void diff_attention(const DiffAttnArgs& a) {
    const Shape sh{a.n_head, a.head_dim, a.n_head / a.n_kv_head, a.kv_stride, 1.0f / std::sqrt(float(a.head_dim))};
    const int64_t H = a.n_head, w2 = 2 * a.head_dim;
    int64_t keys = 0;  // total work, to skip threading where waking a thread costs more than it saves
    for (int64_t t = 0; t < a.n_q; ++t) keys += a.key_hi[t] - a.key_lo[t];
    const bool threaded = keys * H * a.head_dim > (int64_t(1) << 16) && !omp_in_parallel();

    if (a.n_q > 1 || !threaded) {  // one query per thread, each over its visible keys in order
#pragma omp parallel if (threaded)
        {
            std::vector<float> s, o(static_cast<size_t>(H * w2)), mx(static_cast<size_t>(H)), sum(static_cast<size_t>(H));
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < a.n_q; ++t) {
                const int64_t lo = a.key_lo[t], n = a.key_hi[t] - lo;
                s.resize(size_t(H * n));
                const float* k = a.k + lo * a.kv_stride;
                const float* v = a.v + lo * a.kv_stride;
                scores_rows(sh, a.q + t * a.q_stride, k, 0, n, s.data(), n);
                row_max(sh, s.data(), n, 0, n, mx.data());
                exp_rows(sh, s.data(), n, 0, n, mx.data(), sum.data());
                for (int64_t h = 0; h < H; ++h) {
                    const float inv = 1.0f / sum[size_t(h)];
                    for (int64_t j = 0; j < n; ++j) s[size_t(h * n + j)] *= inv;
                }
                std::fill(o.begin(), o.end(), 0.0f);
                values_rows(sh, v, s.data(), n, 0, n, o.data());
                finish(a, o.data(), a.out + t * a.out_stride);
            }
        }
        return;
    }

    // One query, keys split across threads: partial maxima, sums and outputs merged at the end.
    const int64_t lo = a.key_lo[0], n = a.key_hi[0] - lo;
    const float* k = a.k + lo * a.kv_stride;
    const float* v = a.v + lo * a.kv_stride;
    std::vector<float> s(size_t(H * n));
    const int nt = omp_get_max_threads();
    std::vector<float> mx(size_t(nt * H)), sum(size_t(nt * H)), o(size_t(nt * H * w2), 0.0f);
#pragma omp parallel num_threads(nt)
    {
        const int id = omp_get_thread_num(), cnt = omp_get_num_threads();
        const int64_t j0 = n * id / cnt, j1 = n * (id + 1) / cnt;
        float* my_mx = mx.data() + id * H;
        scores_rows(sh, a.q, k, j0, j1, s.data(), n);
        row_max(sh, s.data(), n, j0, j1, my_mx);
#pragma omp barrier
        std::vector<float> gmx(size_t(H), -INFINITY);  // the global maximum per head
        for (int t = 0; t < cnt; ++t)
            for (int64_t h = 0; h < H; ++h) gmx[size_t(h)] = std::max(gmx[size_t(h)], mx[size_t(t * H + h)]);
        exp_rows(sh, s.data(), n, j0, j1, gmx.data(), sum.data() + id * H);
        values_rows(sh, v, s.data(), n, j0, j1, o.data() + id * H * w2);
    }
    for (int t = 1; t < nt; ++t) {
        for (int64_t h = 0; h < H; ++h) sum[size_t(h)] += sum[size_t(t * H + h)];
        for (int64_t e = 0; e < H * w2; ++e) o[size_t(e)] += o[size_t(t * H * w2 + e)];
    }
    for (int64_t h = 0; h < H; ++h) {
        const float inv = 1.0f / sum[size_t(h)];
        for (int64_t e = 0; e < w2; ++e) o[size_t(h * w2 + e)] *= inv;
    }
    finish(a, o.data(), a.out);
}

}  // namespace bf
