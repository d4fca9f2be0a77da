// f32 differential attention: its three paths (many queries over transposed keys, all K heads at once
// or, beyond the transposition limit, one V pair's at a time; one query with keys split across threads)
// against a double-precision evaluation of architecture.md §4.5 written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace bf {
namespace {

struct Problem {
    int64_t H = 8, G = 4, D = 16, n_keys = 0;
    std::vector<float> q, k, v, subln;
};

Problem make(int64_t n_keys, int64_t n_q) {
    Problem p;
    p.n_keys = n_keys;
    p.q = test::random_floats(size_t(n_q * p.H * p.D), 31);
    p.k = test::random_floats(size_t(n_keys * p.G * p.D), 32);
    p.v = test::random_floats(size_t(n_keys * p.G * p.D), 33);
    p.subln = test::random_floats(size_t(2 * p.D), 34);
    return p;
}

// Query t (its row of q) over keys [lo, hi), in double.
std::vector<double> expected(const Problem& p, int64_t t, int64_t lo, int64_t hi, double lambda, double lambda_init) {
    const int64_t H = p.H, D = p.D, group = H / p.G, kvd = p.G * D;
    std::vector<double> o(size_t(H * 2 * D), 0.0);
    for (int64_t h = 0; h < H; ++h) {
        const int64_t kh = 2 * ((h / 2) / group) + (h & 1), vh = 2 * ((h / 2) / group);
        std::vector<double> s;
        double mx = -1e300;
        for (int64_t j = lo; j < hi; ++j) {
            double d = 0;
            for (int64_t e = 0; e < D; ++e)
                d += double(p.q[size_t((t * H + h) * D + e)]) * p.k[size_t(j * kvd + kh * D + e)];
            s.push_back(d / std::sqrt(double(D)));
            mx = std::max(mx, s.back());
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        for (int64_t j = lo; j < hi; ++j)
            for (int64_t e = 0; e < 2 * D; ++e)
                o[size_t(h * 2 * D + e)] += s[size_t(j - lo)] / sum * p.v[size_t(j * kvd + vh * D + e)];
    }
    std::vector<double> out(size_t(H * D));
    for (int64_t pr = 0; pr < H / 2; ++pr) {
        std::vector<double> u(size_t(2 * D));
        double ss = 0;
        for (int64_t e = 0; e < 2 * D; ++e) {
            u[size_t(e)] = o[size_t(2 * pr * 2 * D + e)] - lambda * o[size_t((2 * pr + 1) * 2 * D + e)];
            ss += u[size_t(e)] * u[size_t(e)];
        }
        const double r = 1.0 / std::sqrt(ss / double(2 * D) + 1e-5) * (1.0 - lambda_init);
        for (int64_t e = 0; e < 2 * D; ++e) out[size_t(pr * 2 * D + e)] = u[size_t(e)] * r * p.subln[size_t(e)];
    }
    return out;
}

// Runs n_q queries (rows of p.q) where query t sees keys [lo[t], hi[t]) and returns max |diff|.
double run(const Problem& p, const std::vector<int64_t>& lo, const std::vector<int64_t>& hi, int threads) {
    const int64_t n_q = int64_t(lo.size());
    std::vector<float> out(size_t(n_q * p.H * p.D));
    DiffAttnArgs a;
    a.n_head = p.H, a.n_kv_head = p.G, a.head_dim = p.D, a.lambda = 0.4f, a.lambda_init = 0.3f;
    a.subln = p.subln.data(), a.q = p.q.data(), a.n_q = n_q, a.q_stride = p.H * p.D;
    a.k = p.k.data(), a.v = p.v.data(), a.kv_stride = p.G * p.D, a.key_lo = lo.data(), a.key_hi = hi.data();
    a.out = out.data(), a.out_stride = p.H * p.D;
    set_num_threads(threads);
    diff_attention(a);
    set_num_threads(0);
    double err = 0;
    for (int64_t t = 0; t < n_q; ++t) {
        const auto want = expected(p, t, lo[size_t(t)], hi[size_t(t)], 0.4, 0.3);
        for (size_t i = 0; i < want.size(); ++i)
            err = std::max(err, std::fabs(out[size_t(t) * want.size() + i] - want[i]));
    }
    return err;
}

TEST(DiffAttention, EveryPathMatchesDoublePrecision) {
    // Outputs are RMS-normed (unit scale); f32 sums over up to 3000 keys stay within 1e-4 of double.
    for (int threads : {1, 2}) {
        // sliding-window prefill: few keys, transposed path
        const Problem a = make(40, 9);
        std::vector<int64_t> lo, hi;
        for (int64_t t = 0; t < 9; ++t) lo.push_back(std::max<int64_t>(0, 31 + t - 7)), hi.push_back(32 + t);
        EXPECT_LT(run(a, lo, hi, threads), 1e-4) << threads;
        // deep global prefill: more keys than the transposition limit, one V pair per pass
        const Problem b = make(3000, 3);
        EXPECT_LT(run(b, {0, 0, 0}, {2998, 2999, 3000}, threads), 1e-4) << threads;
        // 40 queries (two blocks of 32, groups of 4 with their own ranges) whose ranges start and end
        // inside the 256-key chunks at different places
        const Problem c = make(2600, 40);
        std::vector<int64_t> clo, chi;
        for (int64_t t = 0; t < 40; ++t) clo.push_back(t * 37), chi.push_back(2560 + t);
        EXPECT_LT(run(c, clo, chi, threads), 1e-4) << threads;
        // one query over many keys: split across threads
        EXPECT_LT(run(b, {0}, {3000}, threads), 1e-4) << threads;
    }
}

}  // namespace
}  // namespace bf
