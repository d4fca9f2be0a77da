// Differential attention with f32 K/V: the entry point, and decode (one query), which reads each K/V row
// whole and in order and splits the keys across threads, flash-decoding style (partial maxima, sums and
// outputs, then merged). Prefill is in attention_prefill.cpp, the quantized cache in attention_quant.cpp.
// Inner loops are compiled for AVX-512, AVX2 and a baseline and picked at run time (BF_SIMD_CLONES).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/attention_parts.h"
#include "kernels/compute.h"
#include "kernels/vec_math.h"

namespace bf {

using kernels::decode_parts;
using kernels::finish_pairs;
using kernels::prefill_attention;
using kernels::V16;
using Shape = kernels::AttnShape;

namespace {

// Decode (one query) keeps its scores key-major, s[j·H + h]: each key's scores are one contiguous run.
// (Head-major rows would be 128 KB apart at 32K keys, and every key would store into 40 of them.)

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

}  // namespace

namespace kernels {

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

int decode_parts(bool threaded, int64_t n_units) {
    return threaded ? int(std::clamp<int64_t>(n_units, 1, 4 * int64_t(num_threads()))) : 1;
}

}  // namespace kernels

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

}  // namespace bf
