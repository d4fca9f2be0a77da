// --ternary-scales rules: the MSE scale against brute force, per-block scales on awkward shapes, exact
// reproduction of tools/ptq/ternarize.py on a small matrix, and the input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "convert/ternarize.h"
#include "core/error.h"
#include "core/fp16.h"
#include "kernels/quant.h"

namespace bf {
namespace {

std::vector<float> normal_floats(size_t n, unsigned seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// sum (w - s t)^2 with the best t for this s (each element independently).
double err_at(const std::vector<float>& w, double s) {
    double e = 0;
    for (float x : w) {
        double best = 1e300;
        for (int t = -1; t <= 1; ++t) best = std::min(best, (x - s * t) * (x - s * t));
        e += best;
    }
    return e;
}

// min over every t in {-1,0,1}^n (and its least-squares s >= 0) of sum (w - s t)^2.
double brute_force_min(const std::vector<float>& w) {
    const size_t n = w.size();
    size_t total = 1;
    for (size_t i = 0; i < n; ++i) total *= 3;
    double w2 = 0;
    for (float x : w) w2 += double(x) * x;
    double best = w2;
    for (size_t code = 0; code < total; ++code) {
        double wt = 0, tt = 0;
        size_t c = code;
        for (size_t i = 0; i < n; ++i, c /= 3) {
            const int t = int(c % 3) - 1;
            wt += double(w[i]) * t;
            tt += t * t;
        }
        if (tt > 0 && wt > 0) best = std::min(best, w2 - wt * wt / tt);
    }
    return best;
}

TEST(Ternarize, MseScaleIsTheBruteForceOptimum) {
    for (size_t n : {1u, 2u, 5u, 9u}) {
        for (unsigned seed = 1; seed <= 20; ++seed) {
            auto w = normal_floats(n, seed * 31 + unsigned(n));
            if (seed % 5 == 0) w[0] *= 10.0f;  // an outlier
            const float s = mse_ternary_scale(w.data(), int64_t(n));
            const double want = brute_force_min(w);
            EXPECT_NEAR(err_at(w, s), want, 1e-5 * (1 + want)) << "n " << n << " seed " << seed;
        }
    }
}

TEST(Ternarize, BlockAndRowScalesOnAwkwardShapes) {
    const int64_t cols = 768;  // three blocks of different magnitude
    auto row = normal_floats(size_t(cols), 7);
    for (int64_t i = 256; i < 512; ++i) row[size_t(i)] *= 20.0f;
    for (int64_t i = 512; i < 768; ++i) row[size_t(i)] *= 0.01f;
    std::vector<float> s(3);
    ternary_block_scales(row.data(), cols, TernaryScales::Block, s.data());
    for (int b = 0; b < 3; ++b) {
        double sum = 0;
        for (int i = 0; i < 256; ++i) sum += std::fabs(double(row[size_t(b * 256 + i)]));
        EXPECT_FLOAT_EQ(s[size_t(b)], float(sum / 256)) << b;
    }
    EXPECT_GT(s[1], 100 * s[2]);
    ternary_block_scales(row.data(), cols, TernaryScales::RowMse, s.data());
    EXPECT_EQ(s[0], mse_ternary_scale(row.data(), cols));
    EXPECT_EQ(s[0], s[1]);
    EXPECT_EQ(s[1], s[2]);
    ternary_block_scales(row.data(), cols, TernaryScales::BlockMse, s.data());
    EXPECT_EQ(s[2], mse_ternary_scale(row.data() + 512, 256));
    // An all-zero block gets the floor scale and all-zero codes.
    std::vector<float> zeros(256, 0.0f);
    EXPECT_EQ(mse_ternary_scale(zeros.data(), 256), 1e-8f);
    EXPECT_EQ(absmean_scale(zeros.data(), 256), 1e-8f);
    EXPECT_THROW(ternary_block_scales(row.data(), 300, TernaryScales::Block, s.data()), Error);
    EXPECT_THROW(ternary_block_scales(row.data(), 0, TernaryScales::Block, s.data()), Error);
}

// Tensor mode writes what quantize_row_tq2_0 always wrote (existing files do not change).
TEST(Ternarize, TensorModeIsTheOldWriter) {
    const int64_t rows = 3, cols = 512;
    auto w = normal_floats(size_t(rows * cols), 11);
    const float g = absmean_scale(w.data(), rows * cols);
    const size_t rb = row_nbytes(DType::TQ2_0, cols);
    std::vector<uint8_t> a(rb * rows), b(rb * rows);
    quantize_rows_tq2_0(w.data(), rows, cols, TernaryScales::Tensor, g, a.data());
    for (int64_t r = 0; r < rows; ++r) quantize_row_tq2_0(w.data() + r * cols, b.data() + rb * size_t(r), cols, g);
    EXPECT_EQ(a, b);
}

// tests/data/ternarize_case.txt holds what tools/ptq/ternarize.py computes for this matrix.
float case_weight(int r, int i) {
    float v = float((i * 7919 + r * 104729) % 2001 - 1000) / 1024.0f;
    if (r == 1 && i >= 256) v *= 8.0f;
    if (r == 2 && i < 256) v = 0.0f;
    return v;
}

TEST(Ternarize, ReproducesThePythonRules) {
    const int rows = 3, cols = 512;
    std::vector<float> w(size_t(rows * cols));
    for (int r = 0; r < rows; ++r)
        for (int i = 0; i < cols; ++i) w[size_t(r * cols + i)] = case_weight(r, i);
    std::ifstream f(std::string(BF_SOURCE_DIR) + "/tests/data/ternarize_case.txt");
    ASSERT_TRUE(f.good());
    std::string line;
    int checked = 0;
    std::vector<uint8_t> q(row_nbytes(DType::TQ2_0, cols) * rows);
    std::vector<float> y(size_t(rows * cols));
    std::string last_rule;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        std::string rule, codes;
        int r, b;
        unsigned bits;
        ss >> rule >> r >> b >> std::hex >> bits >> codes;
        ASSERT_EQ(codes.size(), 256u) << line.substr(0, 40);
        if (rule != last_rule) {
            const TernaryScales m = ternary_scales_from_name(rule);
            quantize_rows_tq2_0(w.data(), rows, cols, m, absmean_scale(w.data(), rows * cols), q.data());
            for (int rr = 0; rr < rows; ++rr)
                dequantize_row_tq2_0(q.data() + row_nbytes(DType::TQ2_0, cols) * size_t(rr), y.data() + rr * cols,
                                     cols);
            last_rule = rule;
        }
        const float d = f16_to_f32(uint16_t(bits));
        for (int i = 0; i < 256; ++i) {
            const int t = codes[size_t(i)] == '+' ? 1 : codes[size_t(i)] == '-' ? -1 : 0;
            ASSERT_EQ(y[size_t(r * cols + b * 256 + i)], d * float(t))
                << rule << " row " << r << " block " << b << " elem " << i;
        }
        ++checked;
    }
    EXPECT_EQ(checked, 5 * rows * (cols / 256));
}

TEST(Ternarize, InputChecks) {
    std::vector<float> w(256, 0.5f);
    w[17] = NAN;
    EXPECT_THROW(mse_ternary_scale(w.data(), 256), Error);
    EXPECT_THROW(absmean_scale(w.data(), 256), Error);
    w[17] = INFINITY;
    EXPECT_THROW(mse_ternary_scale(w.data(), 256), Error);
    EXPECT_THROW(ternary_scales_from_name("blocks"), Error);
    for (TernaryScales m : {TernaryScales::Tensor, TernaryScales::Row, TernaryScales::Block, TernaryScales::RowMse,
                            TernaryScales::BlockMse})
        EXPECT_EQ(ternary_scales_from_name(ternary_scales_name(m)), m);
    EXPECT_NO_THROW(check_ternary_scales(DType::TQ2_0, TernaryScales::BlockMse));
    EXPECT_NO_THROW(check_ternary_scales(DType::I2_S, TernaryScales::Tensor));
    EXPECT_THROW(check_ternary_scales(DType::I2_S, TernaryScales::Row), Error);
    EXPECT_THROW(check_ternary_scales(DType::Q8_0, TernaryScales::Block), Error);
    std::vector<uint8_t> q(66 * 2);
    std::vector<float> ok(300, 1.0f);
    EXPECT_THROW(quantize_rows_tq2_0(ok.data(), 1, 300, TernaryScales::BlockMse, 1.0f, q.data()), Error);
}

}  // namespace
}  // namespace bf
