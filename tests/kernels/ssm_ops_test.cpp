// Tests of the vectorized math (kernels/vec_math.h) against double-precision std:: math, and of the
// vectorized SSM kernels and row ops against the scalar references in kernels/ref/ops_ref.cpp (and a
// double-precision LayerNorm written here), on awkward sizes and with chunked calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ref/ops_ref.h"
#include "kernels/ssm.h"
#include "kernels/vec_math.h"
#include "test_util.h"

namespace bf {
namespace {

using test::random_floats;

// Error of `got` in units of the float spacing at the exact value `want` (denormal spacing below FLT_MIN).
double ulps(float got, double want) {
    const double a = std::fabs(want);
    const double spacing =
        a < double(std::numeric_limits<float>::min()) ? std::ldexp(1.0, -149) : std::ldexp(1.0, std::ilogb(a) - 23);
    return std::fabs(double(got) - want) / spacing;
}

// Every input of a sweep of [lo, hi] (n points) plus the neighbours of a few special points.
std::vector<float> sweep(float lo, float hi, int n) {
    std::vector<float> v;
    for (int i = 0; i <= n; ++i) v.push_back(lo + (hi - lo) * float(i) / float(n));
    return v;
}

TEST(VecMath, ExpWithin3UlpOverTheWholeRange) {
    std::vector<float> xs = sweep(-104.0f, 88.7f, 2000000);
    for (float s : {-1e-3f, -1e-7f, -1e-30f, 0.0f, 1e-30f, 1e-7f, 1e-3f, 0.34657f, -0.34657f, 88.72f, -87.33f})
        xs.push_back(s);
    double worst = 0;
    float worst_x = 0;
    for (float x : xs) {
        const double want = std::exp(double(x));
        const double e = ulps(exp_vec(x), want);
        if (e > worst) worst = e, worst_x = x;
    }
    // 3 ulp: Taylor truncation < 1e-8, the rest is float rounding in the polynomial and the two scalings
    // (measured worst 1.2 ulp); std::expf itself is within 1 ulp.
    EXPECT_LE(worst, 3.0) << "at x = " << worst_x;
}

TEST(VecMath, ExpClampsOverflowUnderflowAndKeepsNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(exp_vec(88.8f), inf);
    EXPECT_EQ(exp_vec(89.0f), inf);
    EXPECT_EQ(exp_vec(1000.0f), inf);
    EXPECT_EQ(exp_vec(inf), inf);
    EXPECT_EQ(exp_vec(-105.0f), 0.0f);
    EXPECT_EQ(exp_vec(-1000.0f), 0.0f);
    EXPECT_EQ(exp_vec(-inf), 0.0f);
    EXPECT_TRUE(std::isnan(exp_vec(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_EQ(exp_vec(0.0f), 1.0f);
    // Largest finite results and the denormal range behave like std::exp (a denormal spacing or two).
    EXPECT_TRUE(std::isfinite(exp_vec(88.72f)));
    EXPECT_LE(ulps(exp_vec(88.72f), std::exp(double(88.72f))), 3.0);
    for (float x : {-87.5f, -90.0f, -95.0f, -100.0f, -103.0f})
        EXPECT_LE(std::fabs(double(exp_vec(x)) - std::exp(double(x))), 2.0 * std::ldexp(1.0, -149)) << x;
}

TEST(VecMath, Log1pWithin4Ulp) {
    std::vector<float> ts = sweep(-0.999f, 4.0f, 500000);
    for (float e = -40; e <= 38; e += 0.01f) {  // magnitudes from 1e-12 to 1e38, both signs where valid
        const float m = std::pow(10.0f, e);
        ts.push_back(m);
        if (m < 1.0f) ts.push_back(-m);
    }
    for (float s : {0.0f, -0.0f, -0.5f, 1e-8f, 5.96e-8f, -5.96e-8f, 0.41421f, 1.0f, -0.9999999f}) ts.push_back(s);
    double worst = 0;
    float worst_t = 0;
    for (float t : ts) {
        const double want = std::log1p(double(t));
        const double e = ulps(log1p_vec(t), want);
        if (e > worst) worst = e, worst_t = t;
    }
    // Measured worst 2.4 ulp (the series, the division for s and the final sum each round once).
    EXPECT_LE(worst, 4.0) << "at t = " << worst_t;
}

TEST(VecMath, Log1pSpecialValues) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(log1p_vec(-1.0f), -inf);
    EXPECT_TRUE(std::isnan(log1p_vec(-1.5f)));
    EXPECT_TRUE(std::isnan(log1p_vec(-inf)));
    EXPECT_EQ(log1p_vec(inf), inf);
    EXPECT_TRUE(std::isnan(log1p_vec(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_EQ(log1p_vec(0.0f), 0.0f);
    EXPECT_EQ(log1p_vec(1e-30f), 1e-30f);
}

TEST(VecMath, SoftplusAndSiluMatchDouble) {
    double worst_sp = 0, worst_silu = 0;
    for (float v : sweep(-120.0f, 120.0f, 400000)) {
        const double sp = v > 20.0f ? double(v) : std::log1p(std::exp(double(v)));
        // The identity branch must be taken exactly above 20 (the reference does so).
        if (v > 20.0f) {
            EXPECT_EQ(softplus_vec(v), v);
        }
        worst_sp = std::max(worst_sp, ulps(softplus_vec(v), sp));
        const double si = double(v) / (1.0 + std::exp(-double(v)));
        // Below FLT_MIN (v < −80) e^v is itself a denormal with few bits: only ask for an error below FLT_MIN.
        if (std::fabs(si) >= double(std::numeric_limits<float>::min()))
            worst_silu = std::max(worst_silu, ulps(silu_vec(v), si));
        else
            EXPECT_LE(std::fabs(silu_vec(v) - si), double(std::numeric_limits<float>::min())) << v;
    }
    // ~1e-6 relative asked for softplus; these compose exp (≤3 ulp) with log1p or a division, and at
    // v ≈ 0 the addend max(v, 0) and log1p(e^−|v|) do not cancel, so the bound stays a few ulp
    // (measured worst: softplus 3.7 ulp, SiLU 4.2 ulp).
    EXPECT_LE(worst_sp, 6.0);
    EXPECT_LE(worst_silu, 6.0);
}

// max |got − want| ≤ rel · max(1, max |want|), reporting the first offender.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double scale = 1.0;
    for (float w : want) scale = std::max(scale, double(std::fabs(w)));
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << what << " [" << i << "]";
        ASSERT_LE(std::fabs(double(got[i]) - double(want[i])), rel * scale)
            << what << " [" << i << "]: " << got[i] << " vs " << want[i];
    }
}

struct ScanData {
    int64_t T, di, N, stride;
    std::vector<float> u, dt, dt_bias, A, bc, D, state;
};

ScanData make_scan(int64_t T, int64_t di, int64_t N, uint32_t seed) {
    ScanData s{T, di, N, 2 * N + 3, {}, {}, {}, {}, {}, {}, {}};
    s.u = random_floats(size_t(T * di), seed);
    s.dt = random_floats(size_t(T * di), seed + 1, 2.0f);
    // Awkward Δ: dt far above 20 (identity branch, Δ·A ≪ −105 so exp underflows to 0) and far below
    // (Δ ≈ e^−30, exp(Δ·A) ≈ 1), next to ordinary values.
    std::mt19937 rng(seed + 2);
    for (auto& v : s.dt) {
        const uint32_t r = rng() % 8;
        if (r == 0) v = 30.0f + v;
        if (r == 1) v = -30.0f + v;
        if (r == 2) v = 19.9f + 0.2f * float(rng() % 2);  // both sides of the softplus switch
    }
    s.dt_bias = random_floats(size_t(di), seed + 3, 0.5f);
    s.A.resize(size_t(di * N));
    for (size_t i = 0; i < s.A.size(); ++i) s.A[i] = -std::exp(float(i % 7) * 0.5f - 1.0f) * (i % 5 == 0 ? 8.0f : 1.0f);
    s.bc = random_floats(size_t(T * s.stride), seed + 4);
    s.D = random_floats(size_t(di), seed + 5);
    s.state = random_floats(size_t(di * N), seed + 6);
    return s;
}

// Runs tokens [t0, t1) of s through `scan`, on `state`, writing y rows [t0, t1).
template <typename Scan>
void run_scan(Scan scan, const ScanData& s, int64_t t0, int64_t t1, std::vector<float>& state, std::vector<float>& y) {
    ScanArgs a;
    a.n_tokens = t1 - t0;
    a.d_inner = s.di;
    a.d_state = s.N;
    a.u = s.u.data() + t0 * s.di;
    a.dt = s.dt.data() + t0 * s.di;
    a.dt_bias = s.dt_bias.data();
    a.A = s.A.data();
    a.B = s.bc.data() + t0 * s.stride + 3;
    a.C = s.bc.data() + t0 * s.stride + 3 + s.N;
    a.bc_stride = s.stride;
    a.D = s.D.data();
    a.state = state.data();
    a.y = y.data() + t0 * s.di;
    scan(a);
}

// Tolerance 2e-5 of the largest magnitude: per step the fast scan differs from the reference by a few
// ulp (exp_vec ≤ 3 ulp vs std::exp, softplus ≤ 6 ulp, (Δu)·B instead of (ΔB)·u, FMA contraction),
// and since every decay factor is ≤ 1 these add up at most linearly over the 17 tokens:
// 17 · ~10 ulp · 6e-8 ≈ 1e-5.
constexpr double kScanTol = 2e-5;

// The scan in double, plus for every output the magnitude of what it is made of: |h| bounds M with
// M_t = e^{ΔA}·M_{t−1} + |ΔB·u| (M_0 = |h_0|) and |y| bounds Σ|C|·M + |D·u|. A float scan's rounding
// error is a small multiple of ε times these, whatever the cancellation, so they scale the tolerance.
struct ScanDouble {
    std::vector<double> y, y_mag, state, state_mag;
};
ScanDouble scan_double(const ScanData& s) {
    ScanDouble r;
    r.y.resize(size_t(s.T * s.di));
    r.y_mag.resize(r.y.size());
    r.state.assign(s.state.begin(), s.state.end());
    r.state_mag.resize(r.state.size());
    for (size_t i = 0; i < r.state.size(); ++i) r.state_mag[i] = std::fabs(r.state[i]);
    for (int64_t t = 0; t < s.T; ++t)
        for (int64_t c = 0; c < s.di; ++c) {
            const double v = double(s.dt[size_t(t * s.di + c)]) + double(s.dt_bias[size_t(c)]);
            const double delta = v > 20.0 ? v : std::log1p(std::exp(v));
            const double u = s.u[size_t(t * s.di + c)];
            double y = 0, mag = 0;
            for (int64_t n = 0; n < s.N; ++n) {
                const size_t k = size_t(c * s.N + n);
                const double B = s.bc[size_t(t * s.stride + 3 + n)], C = s.bc[size_t(t * s.stride + 3 + s.N + n)];
                const double a = std::exp(delta * double(s.A[k]));
                r.state[k] = a * r.state[k] + delta * B * u;
                r.state_mag[k] = a * r.state_mag[k] + std::fabs(delta * B * u);
                y += C * r.state[k];
                mag += std::fabs(C) * r.state_mag[k];
            }
            const double du = double(s.D[size_t(c)]) * u;
            r.y[size_t(t * s.di + c)] = y + du;
            r.y_mag[size_t(t * s.di + c)] = mag + std::fabs(du);
        }
    return r;
}

// max over elements of |got − want| / magnitude.
double worst_scaled(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& mag) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / std::max(mag[i], 1e-30));
    return worst;
}

// Against the double scan, per element, in units of ε = 2^-23 · magnitude: the readout sums N products
// in float (up to N·ε of Σ|C·h| in the worst case, and the lanes do add them in order), on top of a
// few ε from the state update (exp_vec ≤ 3 ulp, softplus ≤ 6 ulp of Δ, which enters e^{ΔA} as
// |ΔA|·e^{ΔA}·ε ≤ ε/e). Tolerance (N + 16)·ε; measured worst 1.4e-6 = 12ε at N = 16, against 3.8e-6.
// A 1e-4 error in any one term of any one channel still fails it.
double scan_mag_tol(int64_t N) { return double(N + 16) * 1.1920929e-7; }

TEST(SelectiveScan, MatchesDoublePrecisionElementwise) {
    for (int64_t di : {1, 7, 33, 5120})
        for (int64_t N : {1, 5, 16})
            for (int64_t T : {1, 2, 3, 17}) {
                if (di == 5120 && N != 16) continue;
                const ScanData s = make_scan(T, di, N, uint32_t(di * 31 + N * 3 + T));
                std::vector<float> st = s.state, y(size_t(T * di));
                run_scan(selective_scan, s, 0, T, st, y);
                const ScanDouble want = scan_double(s);
                const std::string what =
                    "di=" + std::to_string(di) + " N=" + std::to_string(N) + " T=" + std::to_string(T);
                EXPECT_LE(worst_scaled(y, want.y, want.y_mag), scan_mag_tol(N)) << what << " y";
                EXPECT_LE(worst_scaled(st, want.state, want.state_mag), scan_mag_tol(N)) << what << " state";
            }
}

TEST(SelectiveScan, MatchesReferenceOnAwkwardSizes) {
    for (int64_t di : {1, 7, 33, 5120})
        for (int64_t N : {1, 5, 16})
            for (int64_t T : {1, 3, 17}) {
                if (di == 5120 && N != 16) continue;  // the real model's shape; the odd ones are covered small
                const ScanData s = make_scan(T, di, N, uint32_t(di * 131 + N * 7 + T));
                std::vector<float> st_ref = s.state, st_fast = s.state;
                std::vector<float> y_ref(size_t(T * di)), y_fast(size_t(T * di));
                run_scan(ref::selective_scan, s, 0, T, st_ref, y_ref);
                run_scan(selective_scan, s, 0, T, st_fast, y_fast);
                const std::string what =
                    "di=" + std::to_string(di) + " N=" + std::to_string(N) + " T=" + std::to_string(T);
                expect_close(y_fast, y_ref, kScanTol, what + " y");
                expect_close(st_fast, st_ref, kScanTol, what + " state");
            }
}

TEST(SelectiveScan, ChunkedCallsEqualOneCall) {
    for (int64_t di : {7, 33, 5120}) {
        const int64_t T = 17, N = di == 5120 ? 16 : 5;
        const ScanData s = make_scan(T, di, N, uint32_t(di + 99));
        std::vector<float> st_ref = s.state, st_fast = s.state;
        std::vector<float> y_ref(size_t(T * di)), y_fast(size_t(T * di));
        run_scan(ref::selective_scan, s, 0, T, st_ref, y_ref);
        // Chunks that take both code paths (fewer and more than 4 tokens), then token-by-token decode.
        const int64_t cuts[] = {0, 2, 3, 9, 14, 15, 16, 17};
        for (size_t i = 0; i + 1 < std::size(cuts); ++i)
            run_scan(selective_scan, s, cuts[i], cuts[i + 1], st_fast, y_fast);
        expect_close(y_fast, y_ref, kScanTol, "chunked y di=" + std::to_string(di));
        expect_close(st_fast, st_ref, kScanTol, "chunked state di=" + std::to_string(di));
    }
}

// Tolerance 1e-5 of the largest magnitude: the K products are summed in the reference's order, so the
// difference is FMA contraction (≤ K ulp of Σ|w·x|) plus silu_vec's few ulp.
constexpr double kConvTol = 1e-5;

TEST(CausalConv, MatchesReferenceWholeAndChunked) {
    for (int64_t C : {1, 7, 33, 130, 5120})
        for (int64_t K : {1, 2, 4})
            for (int64_t T : {1, 3, 17})
                for (bool with_bias : {true, false}) {
                    const int64_t xs = 2 * C + 5;
                    const auto seed = uint32_t(C * 17 + K * 5 + T + (with_bias ? 1000 : 0));
                    const auto x = random_floats(size_t(T * xs), seed);
                    const auto w = random_floats(size_t(C * K), seed + 1, 0.5f);
                    const auto b = random_floats(size_t(C), seed + 2);
                    const auto st0 = random_floats(size_t(C * (K - 1)), seed + 3);
                    const float* bias = with_bias ? b.data() : nullptr;
                    std::vector<float> st_ref = st0, st_fast = st0, st_chunk = st0;
                    std::vector<float> u_ref(size_t(T * C)), u_fast(size_t(T * C)), u_chunk(size_t(T * C));
                    ref::causal_conv1d_silu(x.data(), xs, T, C, K, w.data(), bias, st_ref.data(), u_ref.data());
                    causal_conv1d_silu(x.data(), xs, T, C, K, w.data(), bias, st_fast.data(), u_fast.data());
                    // Chunks of 1 and 2 tokens (shorter than the K−1 history), then the rest.
                    for (int64_t t0 = 0, step = 1; t0 < T; t0 += step, step = (step == 1 ? 2 : T)) {
                        const int64_t n = std::min(step, T - t0);
                        causal_conv1d_silu(x.data() + t0 * xs, xs, n, C, K, w.data(), bias, st_chunk.data(),
                                           u_chunk.data() + t0 * C);
                    }
                    const std::string what = "C=" + std::to_string(C) + " K=" + std::to_string(K) +
                                             " T=" + std::to_string(T) + (with_bias ? " bias" : "");
                    expect_close(u_fast, u_ref, kConvTol, what + " u");
                    expect_close(u_chunk, u_ref, kConvTol, what + " u chunked");
                    // The new history is copied inputs: exact.
                    EXPECT_EQ(st_fast, st_ref) << what;
                    EXPECT_EQ(st_chunk, st_ref) << what;
                }
}

TEST(LayerNorm, MatchesDoublePrecisionEvenWithALargeMean) {
    for (int64_t n : {1, 7, 33, 3072, 5120})
        for (float offset : {0.0f, 100.0f, 3000.0f}) {
            const int64_t rows = 3;
            auto x = random_floats(size_t(rows * n), uint32_t(n + 7));
            for (size_t i = 0; i < x.size(); ++i) x[i] += offset * (i % 2 == 0 ? 1.0f : 0.999f);
            const auto w = random_floats(size_t(n), uint32_t(n + 8));
            const auto b = random_floats(size_t(n), uint32_t(n + 9));
            const float eps = 1e-5f;
            std::vector<float> y(size_t(rows * n)), want(size_t(rows * n));
            layer_norm(x.data(), w.data(), b.data(), eps, rows, n, y.data());
            for (int64_t t = 0; t < rows; ++t) {  // the formula in double, as the model tests' NumPy oracle
                double sum = 0, sq = 0;
                for (int64_t i = 0; i < n; ++i) sum += x[size_t(t * n + i)];
                const double mean = sum / double(n);
                for (int64_t i = 0; i < n; ++i) sq += std::pow(x[size_t(t * n + i)] - mean, 2);
                const double inv = 1.0 / std::sqrt(sq / double(n) + eps);
                for (int64_t i = 0; i < n; ++i)
                    want[size_t(t * n + i)] = float((x[size_t(t * n + i)] - mean) * inv * w[size_t(i)] + b[size_t(i)]);
            }
            // The normalized values are O(1)·|w| + |b| (≤ ~5 here). Float rounding of x − mean is
            // ~ulp(offset)/σ: 2e-4 at offset 3000 (σ ≈ 1.5), where the old double code was no better
            // (it rounded the mean to float before subtracting); 2e-5 otherwise.
            const double tol = offset > 1000.0f ? 2e-4 : 2e-5;
            expect_close(y, want, tol, "n=" + std::to_string(n) + " offset=" + std::to_string(offset));
            if (offset <= 100.0f) {
                std::vector<float> y_ref(y.size());
                ref::layer_norm(x.data(), w.data(), b.data(), eps, rows, n, y_ref.data());
                expect_close(y, y_ref, 2e-5, "vs ref n=" + std::to_string(n));
            }
        }
}

TEST(SiluMul, MatchesReferenceWithStrides) {
    for (int64_t n : {1, 7, 33, 5120})
        for (int64_t rows : {1, 3, 17}) {
            const int64_t gs = 2 * n + 1, us = n + 3;
            auto g = random_floats(size_t(rows * gs), uint32_t(n + rows), 8.0f);
            g[0] = 100.0f;  // e^−x underflow and overflow sides of the sigmoid
            if (g.size() > 1) g[1] = -100.0f;
            const auto u = random_floats(size_t(rows * us), uint32_t(n + rows + 1));
            std::vector<float> out(size_t(rows * n)), want(size_t(rows * n));
            silu_mul(g.data(), gs, u.data(), us, rows, n, out.data());
            ref::silu_mul(g.data(), gs, u.data(), us, rows, n, want.data());
            // Element-wise: silu_vec is within 6 ulp of exact, std's form within ~2: 1e-6 relative.
            for (size_t i = 0; i < out.size(); ++i)
                ASSERT_LE(std::fabs(out[i] - want[i]), 1e-6 * std::fabs(want[i]) + 1e-37) << "n=" << n << " i=" << i;
        }
}

TEST(RowAdds, MatchPlainLoopsExactly) {
    for (int64_t n : {1, 7, 33, 3072})
        for (int64_t rows : {1, 3}) {
            const int64_t ys = n + 5, xs = 2 * n + 1;
            const auto x = random_floats(size_t(rows * xs), uint32_t(n + 1));
            const auto b = random_floats(size_t(n), uint32_t(n + 2));
            const auto y0 = random_floats(size_t(rows * ys), uint32_t(n + 3));
            for (bool with_bias : {true, false}) {
                std::vector<float> y = y0, want = y0;
                add_rows(y.data(), ys, x.data(), xs, with_bias ? b.data() : nullptr, rows, n);
                for (int64_t t = 0; t < rows; ++t)
                    for (int64_t i = 0; i < n; ++i)
                        want[size_t(t * ys + i)] += x[size_t(t * xs + i)] + (with_bias ? b[size_t(i)] : 0.0f);
                EXPECT_EQ(y, want) << "add_rows n=" << n;  // the same two float additions: bit-exact
            }
            std::vector<float> y = y0, want = y0;
            add_bias(y.data(), ys, b.data(), rows, n);
            for (int64_t t = 0; t < rows; ++t)
                for (int64_t i = 0; i < n; ++i) want[size_t(t * ys + i)] += b[size_t(i)];
            EXPECT_EQ(y, want) << "add_bias n=" << n;  // padding past n untouched, also checked here
        }
}

}  // namespace
}  // namespace bf
