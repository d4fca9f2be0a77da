// The GPTQ linear algebra (kernels/linalg.h) against its plain references on awkward sizes, and the
// defining property U^T U A = I of the inverse's upper Cholesky factor.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/linalg.h"
#include "test_util.h"

namespace bf {
namespace {

// A well-conditioned symmetric positive definite n x n matrix: X^T X / rows + I from random X.
std::vector<double> spd(int64_t n, uint32_t seed) {
    const int64_t rows = 2 * n + 3;
    const auto x = test::random_floats(size_t(rows * n), seed);
    std::vector<double> a(size_t(n * n), 0.0);
    ref::gram_accumulate(a.data(), x.data(), rows, n);
    for (int64_t i = 0; i < n * n; ++i) a[size_t(i)] /= double(rows);
    for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] += 1.0;
    return a;
}

TEST(Linalg, GramMatchesReferenceAndAccumulates) {
    for (int64_t n : {1, 3, 17, 70, 129}) {
        for (int64_t rows : {1, 7, 65, 130}) {
            const auto x = test::random_floats(size_t(rows * n), uint32_t(n * 1000 + rows));
            const auto x2 = test::random_floats(size_t(rows * n), uint32_t(n * 1000 + rows + 1));
            std::vector<double> got(size_t(n * n), 0.0), want(size_t(n * n), 0.0);
            gram_accumulate(got.data(), x.data(), rows, n);  // two calls: the second adds to the first
            gram_accumulate(got.data(), x2.data(), rows, n);
            ref::gram_accumulate(want.data(), x.data(), rows, n);
            ref::gram_accumulate(want.data(), x2.data(), rows, n);
            for (int64_t i = 0; i < n * n; ++i)
                ASSERT_NEAR(got[size_t(i)], want[size_t(i)], 1e-9 * (1 + std::fabs(want[size_t(i)])))
                    << "n " << n << " rows " << rows << " at " << i;
        }
    }
}

TEST(Linalg, UpperCholeskyOfInverseMatchesReferenceAndInverts) {
    for (int64_t n : {1, 2, 5, 33, 100}) {
        const auto a = spd(n, uint32_t(n));
        std::vector<double> u = a, r = a;
        ASSERT_TRUE(upper_cholesky_of_inverse(u.data(), n));
        ASSERT_TRUE(ref::upper_cholesky_of_inverse(r.data(), n));
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                ASSERT_NEAR(u[size_t(i * n + j)], r[size_t(i * n + j)], 1e-10) << n << " " << i << " " << j;
                if (j < i) {
                    ASSERT_EQ(u[size_t(i * n + j)], 0.0);
                }
            }
        for (int64_t i = 0; i < n; ++i) EXPECT_GT(u[size_t(i * n + i)], 0.0);
        // (U^T U) A = I
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double v = 0;
                for (int64_t k = 0; k < n; ++k) {
                    double inv_ik = 0;
                    for (int64_t m = 0; m <= std::min(i, k); ++m) inv_ik += u[size_t(m * n + i)] * u[size_t(m * n + k)];
                    v += inv_ik * a[size_t(k * n + j)];
                }
                ASSERT_NEAR(v, i == j ? 1.0 : 0.0, 1e-9) << n << " " << i << " " << j;
            }
    }
}

TEST(Linalg, RefusesMatricesThatAreNotPositiveDefinite) {
    for (int64_t n : {1, 4, 40}) {
        auto a = spd(n, 9);
        a[size_t((n - 1) * n + (n - 1))] = -1.0;  // a negative pivot at the end
        auto b = a;
        EXPECT_FALSE(upper_cholesky_of_inverse(a.data(), n));
        EXPECT_FALSE(ref::upper_cholesky_of_inverse(b.data(), n));
        std::vector<double> zero(size_t(n * n), 0.0);
        EXPECT_FALSE(upper_cholesky_of_inverse(zero.data(), n));
        std::vector<double> nan(size_t(n * n), NAN);
        EXPECT_FALSE(upper_cholesky_of_inverse(nan.data(), n));
    }
}

}  // namespace
}  // namespace bf
