// Quantizer tests: Q8_0/TQ2_0/I2_S bit layouts decoded element by element with the doc's formulas (written
// again in test_util.h), round trips, and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using test::random_floats;

// clip(round-half-even(w/gamma), -1, 1), computed plainly.
int expected_ternary(float w, float gamma) {
    if (gamma == 0) return 0;
    const double v = std::nearbyint(double(w * (1.0f / gamma)));
    return int(std::max(-1.0, std::min(1.0, v)));
}

TEST(Quant, Q8_0LayoutAndRoundTrip) {
    const int64_t n = 256;
    auto x = random_floats(n, 1, 3.0f);
    x[5] = 0.0f;
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
    std::vector<uint8_t> q(size_t(n / 32) * 34);
    quantize_row_q8_0(x.data(), q.data(), n);
    for (int64_t b = 0; b < n / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[size_t(b * 32 + j)]));
        const uint16_t dh = uint16_t(q[size_t(b) * 34] | (q[size_t(b) * 34 + 1] << 8));
        EXPECT_EQ(dh, f32_to_f16(amax / 127.0f));
        for (int j = 0; j < 32; ++j) {
            const float d = amax / 127.0f;
            const int want = d == 0 ? 0 : int(std::roundf(x[size_t(b * 32 + j)] * (1.0f / d)));
            EXPECT_EQ(int(int8_t(q[size_t(b) * 34 + 2 + j])), want) << "block " << b << " elem " << j;
        }
    }
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row_q8_0(q.data(), y.data(), n);
    const auto want = test::decode_q8_0(q.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        EXPECT_FLOAT_EQ(y[size_t(i)], float(want[size_t(i)]));
        EXPECT_NEAR(y[size_t(i)], x[size_t(i)], 3.0f * 4.5f / 127.0f);  // half a step plus f16 rounding of d
    }
    EXPECT_THROW(quantize_row_q8_0(x.data(), q.data(), 33), Error);
}

TEST(Quant, SumAbs) {
    const std::vector<float> x = {1.5f, -2.0f, 0.25f, -0.0f};
    EXPECT_DOUBLE_EQ(sum_abs(x.data(), 4), 3.75);
    EXPECT_DOUBLE_EQ(sum_abs(x.data(), 0), 0.0);
}

TEST(Quant, Tq2_0LayoutAndRoundTrip) {
    const int64_t n = 512;
    auto w = random_floats(n, 2, 0.1f);
    const float gamma = float(sum_abs(w.data(), n) / double(n));
    w[3] = 0.5f * gamma;   // exact tie: rounds to even (0)
    w[4] = 1.5f * gamma;   // clips to +1
    w[5] = -7.0f * gamma;  // clips to -1
    std::vector<uint8_t> q(size_t(n / 256) * 66);
    quantize_row_tq2_0(w.data(), q.data(), n, gamma);
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = &q[size_t(b) * 66];
        EXPECT_EQ(uint16_t(blk[64] | (blk[65] << 8)), f32_to_f16(gamma));
        for (int e = 0; e < 256; ++e)
            ASSERT_EQ(test::tq2_code_at(blk, e) - 1, expected_ternary(w[size_t(b * 256 + e)], gamma)) << b << " " << e;
    }
    EXPECT_EQ(test::tq2_code_at(q.data(), 3), 1);
    EXPECT_EQ(test::tq2_code_at(q.data(), 4), 2);
    EXPECT_EQ(test::tq2_code_at(q.data(), 5), 0);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row_tq2_0(q.data(), y.data(), n);
    const auto want = test::decode_tq2_0(q.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(double(y[size_t(i)]), want[size_t(i)]);
    EXPECT_THROW(quantize_row_tq2_0(w.data(), q.data(), 300, gamma), Error);
    EXPECT_THROW(quantize_row_tq2_0(w.data(), q.data(), 256, -1.0f), Error);
    EXPECT_THROW(quantize_row_tq2_0(w.data(), q.data(), 256, NAN), Error);
    // gamma 0: all codes mean 0.
    quantize_row_tq2_0(w.data(), q.data(), 256, 0.0f);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(test::tq2_code_at(q.data(), e), 1);
}

TEST(Quant, I2sLayoutStreamingAndTail) {
    const int64_t rows = 6, cols = 192;  // 1152 elements = 9 groups, groups straddle rows
    const int64_t n = rows * cols;
    auto w = random_floats(size_t(n), 3, 0.2f);
    const float gamma = float(sum_abs(w.data(), n) / double(n));
    std::vector<uint8_t> t(size_t(n / 4 + 32), 0xAB);
    // Stream in two chunks of 4·128 and 5·128 elements, as a converter would.
    quantize_i2_s(w.data(), 512, 0, gamma, t.data());
    quantize_i2_s(w.data() + 512, n - 512, 512, gamma, t.data());
    write_i2_s_tail(t.data() + n / 4, gamma);
    for (int64_t i = 0; i < n; ++i) {
        const int code = test::i2s_code_at(t.data(), i);
        ASSERT_NE(code, 3);
        ASSERT_EQ(code - 1, expected_ternary(w[size_t(i)], gamma)) << "element " << i;
    }
    float s;
    std::memcpy(&s, &t[size_t(n / 4)], 4);
    EXPECT_EQ(s, gamma);
    for (int i = 4; i < 32; ++i) EXPECT_EQ(t[size_t(n / 4 + i)], 0);
    EXPECT_EQ(i2_s_scale(t.data(), n), gamma);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_i2_s(t.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(double(y[size_t(i)]), test::i2s_value(test::i2s_code_at(t.data(), i)) * double(gamma));
    // Byte-level spot check of the doc's example: byte = c0<<6 | c1<<4 | c2<<2 | c3 for gp, gp+32, gp+64, gp+96.
    const int c0 = expected_ternary(w[7], gamma) + 1, c1 = expected_ternary(w[39], gamma) + 1;
    const int c2 = expected_ternary(w[71], gamma) + 1, c3 = expected_ternary(w[103], gamma) + 1;
    EXPECT_EQ(t[7], uint8_t(c0 << 6 | c1 << 4 | c2 << 2 | c3));
    EXPECT_THROW(quantize_i2_s(w.data(), 100, 0, gamma, t.data()), Error);
    EXPECT_THROW(quantize_i2_s(w.data(), 128, 64, gamma, t.data()), Error);
}

TEST(Quant, I2sDecodesCode3AsZero) {
    std::vector<int> codes(128, 3);
    codes[0] = 0;
    codes[1] = 2;
    const auto bytes = test::encode_i2_s(codes, 2.0f);
    std::vector<float> y(128);
    dequantize_i2_s(bytes.data(), y.data(), 128);
    EXPECT_EQ(y[0], -2.0f);
    EXPECT_EQ(y[1], 2.0f);
    for (int i = 2; i < 128; ++i) EXPECT_EQ(y[size_t(i)], 0.0f);
}

}  // namespace
}  // namespace bf
