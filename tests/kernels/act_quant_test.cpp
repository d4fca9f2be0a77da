// Activation quantizers: every SIMD target must write the scalar reference's bytes exactly, including
// rounding ties, NaN/inf, zeros and column counts that leave SIMD tails; the scalar one is checked against
// the rules written plainly here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernel_api.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace bf {
namespace {

std::vector<float> nasty_input(int64_t n, uint32_t seed) {
    auto x = test::random_floats(size_t(n), seed, 2.0f);
    // Exact ties after scaling: make the absmax 127 so that s = 1 (ternary) and d = 1 (Q8_0, per block).
    for (int64_t i = 0; i < n; i += 32) x[size_t(i)] = 127.0f;
    for (int64_t i = 1; i < n; i += 7) x[size_t(i)] = float(int(i % 9) - 4) + 0.5f;
    if (n > 40) {
        x[3] = 0.0f;
        x[4] = -0.0f;
    }
    return x;
}

void check_target(const KernelTable* kt, const char* name) {
    const KernelTable* ref = ref_kernels();
    ASSERT_TRUE(ref->quant_q8_0 && ref->quant_ternary);
    const QuantQ8Fn q8 = kt->quant_q8_0 ? kt->quant_q8_0 : ref->quant_q8_0;
    const QuantTernaryFn qt = kt->quant_ternary ? kt->quant_ternary : ref->quant_ternary;
    for (int64_t cols : {32, 64, 96, 160, 200, 256, 2560, 5120 + 17}) {
        SCOPED_TRACE(std::string(name) + " cols " + std::to_string(cols));
        for (int variant = 0; variant < 3; ++variant) {
            auto x = nasty_input(cols, uint32_t(cols + variant));
            if (variant == 1) x[size_t(cols / 2)] = std::numeric_limits<float>::quiet_NaN();
            if (variant == 2) x[size_t(cols - 1)] = std::numeric_limits<float>::infinity();
            const int64_t kp = (cols + 255) / 256 * 256, nb = kp / 256;
            std::vector<int8_t> qa(size_t(kp), 99), qb(size_t(kp), -99);
            std::vector<int32_t> sa(static_cast<size_t>(nb)), sb(static_cast<size_t>(nb));
            float ia = -1, ib = -2;
            ref->quant_ternary(x.data(), cols, kp, qa.data(), &ia, sa.data());
            qt(x.data(), cols, kp, qb.data(), &ib, sb.data());
            ASSERT_EQ(qa, qb);
            ASSERT_EQ(sa, sb);
            ASSERT_EQ(ia, ib);
            if (cols % 32 == 0) {
                std::vector<int8_t> a8(static_cast<size_t>(cols)), b8(static_cast<size_t>(cols), 1);
                std::vector<float> da(size_t(cols / 32)), db(size_t(cols / 32), -1);
                ref->quant_q8_0(x.data(), cols, a8.data(), da.data());
                q8(x.data(), cols, b8.data(), db.data());
                ASSERT_EQ(a8, b8);
                ASSERT_EQ(da, db);
            }
        }
    }
}

TEST(ActQuant, ScalarFollowsTheRules) {
    const int64_t cols = 96, kp = 256;
    auto x = nasty_input(cols, 1);
    std::vector<int8_t> q(kp);
    std::vector<int32_t> bs(1);
    float inv_s;
    ref_kernels()->quant_ternary(x.data(), cols, kp, q.data(), &inv_s, bs.data());
    float amax = 0;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    const float s = 127.0f / amax;
    EXPECT_EQ(inv_s, 1.0f / s);
    int32_t sum = 0;
    for (int64_t c = 0; c < kp; ++c) {
        const int want =
            c < cols ? int(std::max(-127.0, std::min(127.0, std::nearbyint(double(x[size_t(c)] * s))))) : 0;
        EXPECT_EQ(int(q[size_t(c)]), want) << c;
        sum += q[size_t(c)];
    }
    EXPECT_EQ(bs[0], sum);
    std::vector<int8_t> q8(cols);
    std::vector<float> d(cols / 32);
    ref_kernels()->quant_q8_0(x.data(), cols, q8.data(), d.data());
    for (int64_t b = 0; b < cols / 32; ++b) {
        float m = 0;
        for (int j = 0; j < 32; ++j) m = std::max(m, std::fabs(x[size_t(b * 32 + j)]));
        EXPECT_EQ(d[size_t(b)], f16_to_f32(f32_to_f16(m / 127.0f)));
        for (int j = 0; j < 32; ++j)
            EXPECT_EQ(int(q8[size_t(b * 32 + j)]), int(std::roundf(x[size_t(b * 32 + j)] * (1.0f / (m / 127.0f)))));
    }
}

TEST(ActQuant, TargetsMatchScalarBitForBit) {
    int checked = 0;
    for (const char* name : kSimdTargets) {
        const KernelTable* kt = kernel_table(name);
        if (!kt) {
            std::printf("[   INFO   ] kernel target %s not available here: skipped\n", name);
            continue;
        }
        check_target(kt, name);
        ++checked;
    }
    std::printf("[   INFO   ] %d SIMD target(s) checked\n", checked);
}

}  // namespace
}  // namespace bf
