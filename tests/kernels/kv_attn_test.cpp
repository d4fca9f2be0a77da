// The quantized shared K/V cache: its layout read back by an independent decoder written from
// kv_cache.h's description, the SIMD block kernels against the scalar ones on awkward sizes, and the
// whole quantized attention against the f32 attention (bounds measured, with margin, stated below).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/attention.h"
#include "kernels/kernel_api.h"
#include "kernels/kv_cache.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace bf {
namespace {

// Dequantized value of K (is_v = false) or V of token j, kv head g, dimension d, from the documented layout.
double read_kv(const KvView& kv, bool is_v, int64_t j, int64_t g, int64_t d) {
    const int64_t D = kv.head_dim, b = j / 16, t = j % 16;
    const int64_t hb = kv.type == KvType::Q4_0 ? 8 * D : 16 * D;
    const uint8_t* base = (is_v ? kv.v : kv.k) + (b * kv.n_kv_head + g) * hb;
    const int64_t i = is_v ? ((t / 4) * D + d) * 4 + t % 4 : ((d / 4) * 16 + t) * 4 + d % 4;
    int code;
    if (kv.type == KvType::Q8_0)
        code = int(base[i]) - 128;
    else
        code = (i < 8 * D ? (base[i] & 15) : (base[i - 8 * D] >> 4)) - 8;
    const uint16_t sh = (is_v ? kv.vs : kv.ks)[(b * kv.n_kv_head + g) * 16 + t];
    return double(code) * double(f16_to_f32(sh));
}

TEST(KvCache, LayoutRoundTripsWithinHalfAStep) {
    for (KvType type : {KvType::Q8_0, KvType::Q4_0})
        for (int64_t D : {4, 8, 64}) {
            const int64_t G = 3, n = 37;
            QuantKvCache cache(type, G, D, n);
            const auto k = test::random_floats(size_t(n * G * D), 1);
            const auto v = test::random_floats(size_t(n * G * D), 2, 3.0f);
            for (int64_t j = 0; j < n; ++j) cache.append(k.data() + j * G * D, v.data() + j * G * D);
            const KvView kv = cache.view();
            ASSERT_EQ(kv.n_tok, n);
            const double qmax = type == KvType::Q8_0 ? 127 : 7;
            for (int64_t j = 0; j < n; ++j)
                for (int64_t g = 0; g < G; ++g) {
                    double ka = 0, va = 0;
                    for (int64_t d = 0; d < D; ++d) {
                        ka = std::max(ka, double(std::fabs(k[size_t((j * G + g) * D + d)])));
                        va = std::max(va, double(std::fabs(v[size_t((j * G + g) * D + d)])));
                    }
                    // half a step of the f16-rounded scale, plus the f16 rounding of the scale itself
                    for (int64_t d = 0; d < D; ++d) {
                        EXPECT_NEAR(read_kv(kv, false, j, g, d), k[size_t((j * G + g) * D + d)],
                                    ka / qmax * 0.502 + ka * 1e-3)
                            << kv_type_name(type) << " D=" << D << " j=" << j << " d=" << d;
                        EXPECT_NEAR(read_kv(kv, true, j, g, d), v[size_t((j * G + g) * D + d)],
                                    va / qmax * 0.502 + va * 1e-3);
                    }
                }
        }
}

TEST(KvCache, BytesPerTokenMatchesTheStore) {
    // Whole blocks (the store grows by 16 tokens): bytes held = tokens × bytes per token.
    for (KvType type : {KvType::Q8_0, KvType::Q4_0})
        for (int64_t G : {1, 3})
            for (int64_t D : {4, 12, 64}) {
                QuantKvCache cache(type, G, D, 48);
                const std::vector<float> row(size_t(G * D), 0.5f);
                for (int i = 0; i < 32; ++i) cache.append(row.data(), row.data());
                EXPECT_EQ(int64_t(cache.bytes()), 32 * kv_bytes_per_token(type, G, D)) << kv_type_name(type) << G << D;
            }
    EXPECT_EQ(kv_bytes_per_token(KvType::F32, 3, 12), 2 * 3 * 12 * 4);
}

TEST(KvCache, RejectsBadShapesAndNames) {
    EXPECT_THROW(QuantKvCache(KvType::Q8_0, 2, 6, 8), Error);
    EXPECT_THROW(QuantKvCache(KvType::F32, 2, 8, 8), Error);
    EXPECT_THROW(parse_kv_type("q5_1"), Error);
    EXPECT_EQ(parse_kv_type("q4_0"), KvType::Q4_0);
}

struct Case {
    KvType type;
    int64_t n_kv_head, head_dim, n_head, n_tok;
};

// Random cache + queries + weights for one case.
struct Data {
    QuantKvCache cache;
    std::vector<int8_t> q;
    std::vector<int32_t> qsum;
    std::vector<float> qscale, e, coef;  // e: block-major exponentials [nb][n_head][16]; coef [span][n_head]
    int64_t nb;
    // The combined weight of pair p and token j, as the kernels form it.
    double w(int64_t n_head, int64_t p, int64_t j) const {
        const size_t i1 = size_t(((j / 16) * n_head + 2 * p) * 16 + j % 16), i2 = i1 + 16;
        const size_t c = size_t((j / 16 / kKvSpan) * n_head + 2 * p);
        return double(e[i1]) * coef[c] - double(e[i2]) * coef[c + 1];
    }
};

// extreme: every K/V value 1 (the largest code), every query code 127, every exponential 1 and the odd
// heads' coefficients 0 (so every weight code is 127): the largest integer sums a kernel can meet, which
// catches int16 partial sums held too long.
Data make_data(const Case& c, uint32_t seed, bool extreme = false) {
    Data d{QuantKvCache(c.type, c.n_kv_head, c.head_dim, c.n_tok), {}, {}, {}, {}, {}, 0};
    const int64_t kvd = c.n_kv_head * c.head_dim;
    auto k = test::random_floats(size_t(c.n_tok * kvd), seed);
    auto v = test::random_floats(size_t(c.n_tok * kvd), seed + 1);
    if (extreme) std::fill(k.begin(), k.end(), 1.0f), std::fill(v.begin(), v.end(), 1.0f);
    for (int64_t j = 0; j < c.n_tok; ++j) d.cache.append(k.data() + j * kvd, v.data() + j * kvd);
    d.nb = (c.n_tok + 15) / 16;
    std::mt19937 rng(seed + 2);
    std::uniform_int_distribution<int> qd(-127, 127);
    d.q.resize(size_t(c.n_head * c.head_dim));
    for (auto& x : d.q) x = int8_t(qd(rng));
    d.qsum.assign(size_t(c.n_head), 0);
    for (int64_t h = 0; h < c.n_head; ++h)
        for (int64_t e = 0; e < c.head_dim; ++e) d.qsum[size_t(h)] += d.q[size_t(h * c.head_dim + e)];
    d.qscale = test::random_floats(size_t(c.n_head), seed + 3, 0.01f);
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    d.e.resize(size_t(d.nb * c.n_head * 16));
    for (size_t i = 0; i < d.e.size(); ++i)  // 0 past the valid tokens, as the driver makes them
        d.e[i] = int64_t(i / size_t(c.n_head * 16)) * 16 + int64_t(i % 16) < c.n_tok ? ud(rng) : 0.0f;
    d.coef = test::random_floats(size_t((d.nb + kKvSpan - 1) / kKvSpan * c.n_head), seed + 4, 0.05f);
    if (extreme) {
        std::fill(d.q.begin(), d.q.end(), int8_t(127));
        for (int64_t h = 0; h < c.n_head; ++h) d.qsum[size_t(h)] = 127 * int32_t(c.head_dim);
        for (float& x : d.e) x = x > 0.0f ? 1.0f : 0.0f;
        for (size_t i = 0; i < d.coef.size(); ++i) d.coef[i] = i % 2 ? 0.0f : 1.0f;
    }
    return d;
}

TEST(KvAttnKernels, SimdMatchesScalarOnAwkwardSizes) {
    std::vector<const char*> targets;
    for (const char* name : kSimdTargets)
        if (const KernelTable* t = kernel_table(name); t && t->kv_scores && t->kv_values) targets.push_back(name);
    if (targets.empty()) GTEST_SKIP() << "no SIMD cache kernels on this machine";
    const std::vector<Case> cases = {
        {KvType::Q8_0, 2, 16, 2, 1},
        {KvType::Q8_0, 2, 64, 4, 17},
        {KvType::Q4_0, 2, 64, 4, 33},
        {KvType::Q8_0, 20, 64, 40, 50},
        {KvType::Q4_0, 20, 64, 40, 16},
        {KvType::Q4_0, 4, 128, 12, 31},
        {KvType::Q8_0, 4, 32, 24, 5},
        {KvType::Q4_0, 2, 16, 2, 47},
        {KvType::Q8_0, 4, 64, 4, 40},
        {KvType::Q4_0, 4, 64, 4, 7},
        {KvType::Q8_0, 8, 64, 32, 80},
        {KvType::Q4_0, 2, 8, 4, 21},
        {KvType::Q8_0, 2, 24, 4, 19},
        {KvType::Q4_0, 2, 128, 4, 45},
        {KvType::Q4_0, 2, 24, 2, 45},
        {KvType::Q4_0, 2, 48, 8, 37},  // group 4; head_dim 48: Q4_0's high nibbles start inside a 4-row step
        {KvType::Q4_0, 4, 64, 8, 2 * kKvSpan * kKvBlock + 76},
    };  // the last: three coefficient spans, the third partial
    for (const char* target : targets)
        for (bool extreme : {false, true})
            for (const Case& c : cases) {
                SCOPED_TRACE(std::string(target) + (extreme ? ", extreme values" : ""));
                Data d = make_data(c, uint32_t(c.n_tok * 7 + c.head_dim), extreme);
                const int64_t group = c.n_head / c.n_kv_head, P = c.n_head / 2;
                KvScoreArgs sa{d.cache.view(), c.n_head, group, d.q.data(), d.qsum.data(), d.qscale.data(), nullptr};
                std::vector<float> s_ref(size_t(c.n_head * d.nb * 16)), s_simd(s_ref.size());
                std::vector<float> u_ref(size_t(P * 2 * c.head_dim), 0.5f), u_simd(u_ref);
                force_kernels(target);
                const KernelTable& t = active_kernels();
                // In two ranges, as the driver calls them (per span, per thread): the second starts off block 0
                // (and off a span boundary when there is only one span).
                const int64_t split = d.nb > kKvSpan ? kKvSpan : d.nb / 2;
                sa.s = s_simd.data();
                t.kv_scores(sa, 0, split);
                t.kv_scores(sa, split, d.nb);
                KvValueArgs va{d.cache.view(), P, group, d.e.data(), d.coef.data(), u_simd.data()};
                t.kv_values(va, 0, split);
                t.kv_values(va, split, d.nb);
                force_kernels("auto");
                sa.s = s_ref.data();
                ref_kv_scores(sa, 0, d.nb);
                va.u = u_ref.data();
                ref_kv_values(va, 0, d.nb);
                // Scores: integer sums are exact and the float steps are the same operations in the same order.
                // Values: the weights and their int8 codes are formed identically; AVX-512 sums the per-block
                // results and the code-offset correction in another order, and a compiler may fuse AVX2's
                // multiply-add, so float rounding of the accumulation differs (a wrong code shows at ~1e-2).
                for (size_t i = 0; i < s_ref.size(); ++i) ASSERT_EQ(s_simd[i], s_ref[i]) << "score " << i;
                double umax = 0;
                for (float x : u_ref) umax = std::max(umax, double(std::fabs(x)));
                for (size_t i = 0; i < u_ref.size(); ++i)
                    ASSERT_NEAR(u_simd[i], u_ref[i], 1e-5 * (1.0 + umax)) << "value " << i;
            }
}

// The scalar kernels against plain dequantized arithmetic (scores exactly as defined; values within the
// int8 quantization of the block weights).
TEST(KvAttnKernels, ScalarMatchesDequantizedMath) {
    for (KvType type : {KvType::Q8_0, KvType::Q4_0}) {
        const Case c{type, 2, 8, 8, kKvSpan * kKvBlock + 88};  // two coefficient spans
        Data d = make_data(c, 11);
        const KvView kv = d.cache.view();
        const int64_t group = c.n_head / c.n_kv_head, P = c.n_head / 2, D = c.head_dim;
        std::vector<float> s(size_t(c.n_head * d.nb * 16)), u(size_t(P * 2 * D), 0.0f);
        KvScoreArgs sa{kv, c.n_head, group, d.q.data(), d.qsum.data(), d.qscale.data(), s.data()};
        ref_kv_scores(sa, 0, d.nb);
        KvValueArgs va{kv, P, group, d.e.data(), d.coef.data(), u.data()};
        ref_kv_values(va, 0, d.nb);
        for (int64_t h = 0; h < c.n_head; ++h) {
            const int64_t g = 2 * ((h / 2) / group) + (h & 1);
            for (int64_t j = 0; j < c.n_tok; ++j) {
                double e = 0;
                for (int64_t x = 0; x < D; ++x) e += double(d.q[size_t(h * D + x)]) * read_kv(kv, false, j, g, x);
                e *= d.qscale[size_t(h)];
                EXPECT_NEAR(s[size_t(((j / 16) * c.n_head + h) * 16 + j % 16)], e, 1e-5 * (1 + std::fabs(e)));
            }
        }
        for (int64_t p = 0; p < P; ++p)
            for (int64_t half = 0; half < 2; ++half) {
                const int64_t gv = 2 * (p / group) + half;
                for (int64_t x = 0; x < D; ++x) {
                    double e = 0, mag = 0;
                    for (int64_t j = 0; j < c.n_tok; ++j) {
                        e += d.w(c.n_head, p, j) * read_kv(kv, true, j, gv, x);
                        mag += std::fabs(d.w(c.n_head, p, j) * read_kv(kv, true, j, gv, x));
                    }
                    // each weight is rounded to 1/254 of its block's largest |w·scale|
                    EXPECT_NEAR(u[size_t(p * 2 * D + half * D + x)], e, 0.02 * mag + 1e-6);
                }
            }
    }
}

// Quantized attention against the f32 attention on the same K/V, one query per position (causal).
double attention_error(KvType type, int64_t n, int threads, bool decode_only) {
    const int64_t H = 8, G = 4, D = 64, kvd = G * D;
    const auto q = test::random_floats(size_t(n * H * D), 21);
    const auto k = test::random_floats(size_t(n * kvd), 22);
    const auto v = test::random_floats(size_t(n * kvd), 23);
    const auto subln = test::random_floats(size_t(2 * D), 24);
    QuantKvCache cache(type, G, D, n);
    for (int64_t j = 0; j < n; ++j) cache.append(k.data() + j * kvd, v.data() + j * kvd);
    std::vector<int64_t> lo(size_t(n), 0), hi(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) hi[size_t(t)] = t + 1;
    const int64_t q0 = decode_only ? n - 1 : 0, nq = n - q0;
    std::vector<float> ref(size_t(nq * H * D)), got(ref.size());
    DiffAttnArgs fa;
    fa.n_head = H, fa.n_kv_head = G, fa.head_dim = D, fa.lambda = 0.3f, fa.lambda_init = 0.2f, fa.subln = subln.data();
    fa.q = q.data() + q0 * H * D, fa.n_q = nq, fa.q_stride = H * D, fa.k = k.data(), fa.v = v.data(),
    fa.kv_stride = kvd;
    fa.key_lo = lo.data() + q0, fa.key_hi = hi.data() + q0, fa.out = ref.data(), fa.out_stride = H * D;
    diff_attention(fa);
    DiffAttnQuantArgs qa;
    qa.n_head = H, qa.n_kv_head = G, qa.head_dim = D, qa.lambda = 0.3f, qa.lambda_init = 0.2f, qa.subln = subln.data();
    qa.q = fa.q, qa.n_q = nq, qa.q_stride = H * D, qa.kv = cache.view(), qa.key_hi = fa.key_hi, qa.out = got.data();
    qa.out_stride = H * D;
    set_num_threads(threads);
    diff_attention_quant(qa);
    set_num_threads(0);
    double err = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        err = std::max(err, double(std::fabs(got[i] - ref[i])));
        scale = std::max(scale, double(std::fabs(ref[i])));
    }
    return err / scale;
}

TEST(KvAttn, QuantizedAttentionIsCloseToF32) {
    // Measured on this data: q8_0 1.2-1.5e-2, q4_0 0.15-0.18 of the output scale (the outputs are RMS-normed, so
    // errors show relative to unit-size values). Bounds are about 2x that. Every kernel set available here
    // runs the whole driver (1000 keys: two coefficient spans, split across threads).
    for (const char* target : {"scalar", "avx2", "avx512", "neon_dot"})
        for (int threads : {1, 2}) {
            if (!kernels_available(target)) continue;
            SCOPED_TRACE(target);
            force_kernels(target);
            EXPECT_LT(attention_error(KvType::Q8_0, 70, threads, false), 0.03) << threads;
            EXPECT_LT(attention_error(KvType::Q4_0, 70, threads, false), 0.3) << threads;
            // one query over many keys: the block-split (flash-decoding) path when threads > 1
            EXPECT_LT(attention_error(KvType::Q8_0, 1000, threads, true), 0.03) << threads;
            EXPECT_LT(attention_error(KvType::Q4_0, 1000, threads, true), 0.3) << threads;
            force_kernels("auto");
        }
}

}  // namespace
}  // namespace bf
