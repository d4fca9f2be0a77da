// --ternary-scales gptq's algorithm (convert/gptq.h): the same codes and scales as tools/ptq/ternarize.py's
// gptq() on a small case, a lower output error than block-mse on held-out activations, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "convert/gptq.h"
#include "convert/ternarize.h"
#include "core/error.h"
#include "core/fp16.h"
#include "kernels/linalg.h"
#include "kernels/quant.h"

namespace bf {
namespace {

std::vector<float> dequantize(const std::vector<uint8_t>& q, int64_t rows, int64_t cols) {
    std::vector<float> y(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        dequantize_row_tq2_0(q.data() + size_t(r) * row_nbytes(DType::TQ2_0, cols), y.data() + r * cols, cols);
    return y;
}

// ||(W - Q) X^T||^2 / ||W X^T||^2 over the rows of x [tokens, cols]: the layer-output error.
double output_error(const std::vector<float>& w, const std::vector<float>& q, const std::vector<float>& x, int64_t rows,
                    int64_t cols) {
    const int64_t tokens = int64_t(x.size()) / cols;
    double num = 0, den = 0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < tokens; ++t) {
            double e = 0, y = 0;
            for (int64_t c = 0; c < cols; ++c) {
                e += (double(w[size_t(r * cols + c)]) - q[size_t(r * cols + c)]) * x[size_t(t * cols + c)];
                y += double(w[size_t(r * cols + c)]) * x[size_t(t * cols + c)];
            }
            num += e * e, den += y * y;
        }
    return num / den;
}

// Inputs with strongly correlated columns (a random mixing of independent normals), as real activations.
std::vector<float> correlated_inputs(int64_t tokens, int64_t cols, const std::vector<float>& mix, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> z(static_cast<size_t>(cols)), x(size_t(tokens * cols));
    for (int64_t t = 0; t < tokens; ++t) {
        for (auto& v : z) v = nd(rng);
        for (int64_t i = 0; i < cols; ++i) {
            double s = z[size_t(i)];
            for (int64_t k = 0; k < cols; ++k) s += mix[size_t(i * cols + k)] * z[size_t(k)];
            x[size_t(t * cols + i)] = float(s);
        }
    }
    return x;
}

TEST(Gptq, LowersHeldOutOutputErrorVersusBlockMse) {
    const int64_t rows = 48, cols = 512;
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> mix(size_t(cols * cols)), w(size_t(rows * cols));
    for (auto& v : mix) v = 0.3f * nd(rng) / std::sqrt(float(cols)) * 4.0f;
    for (auto& v : w) v = 0.02f * nd(rng);
    const auto calib = correlated_inputs(1500, cols, mix, 1), held = correlated_inputs(400, cols, mix, 2);
    std::vector<double> h(size_t(cols * cols), 0.0);
    gram_accumulate(h.data(), calib.data(), 1500, cols);

    std::vector<uint8_t> g(row_nbytes(DType::TQ2_0, cols) * rows), m(g.size());
    const double proxy = gptq_ternarize_tq2_0(w.data(), rows, cols, h.data(), g.data());
    quantize_rows_tq2_0(w.data(), rows, cols, TernaryScales::BlockMse, 0, m.data());
    const auto qg = dequantize(g, rows, cols), qm = dequantize(m, rows, cols);
    const double e_gptq = output_error(w, qg, held, rows, cols), e_mse = output_error(w, qm, held, rows, cols);
    EXPECT_LT(e_gptq, 0.8 * e_mse) << "gptq " << e_gptq << " block-mse " << e_mse;
    EXPECT_NEAR(proxy, output_error(w, qg, calib, rows, cols), 1e-6);  // the proxy is the calibration error
    for (int64_t r = 0; r < rows; ++r) {                               // one scale per row, ternary values
        float s = 0;
        for (int64_t c = 0; c < cols; ++c) {
            const float v = std::fabs(qg[size_t(r * cols + c)]);
            if (v == 0) continue;
            if (s == 0) s = v;
            ASSERT_EQ(v, s) << r;
        }
    }
}

// tests/data/gptq_case.txt: tools/ptq/make_gptq_case.py runs ternarize.py's gptq() on this W and X.
TEST(Gptq, ReproducesThePythonTool) {
    const int rows = 4, cols = 512, tokens = 600;
    std::vector<float> w(size_t(rows * cols)), x(size_t(tokens * cols));
    for (int r = 0; r < rows; ++r)
        for (int i = 0; i < cols; ++i) {
            const float v = float((i * 7919 + r * 104729) % 2001 - 1000) / 1024.0f;
            w[size_t(r * cols + i)] = (r == 2 && i >= 256) ? v * 4.0f : v;
        }
    auto a = [](int t, int i) { return (t * 131 + i * 71 + (t * i) % 17) % 201 - 100; };
    for (int t = 0; t < tokens; ++t)
        for (int i = 0; i < cols; ++i)
            x[size_t(t * cols + i)] = i == 5 ? 0.0f : float(a(t, i) + a(t, (i + 1) % cols)) / 64.0f;
    std::vector<double> h(size_t(cols * cols), 0.0);
    gram_accumulate(h.data(), x.data(), tokens, cols);
    std::vector<uint8_t> q(row_nbytes(DType::TQ2_0, cols) * rows);
    gptq_ternarize_tq2_0(w.data(), rows, cols, h.data(), q.data());
    const auto y = dequantize(q, rows, cols);

    std::ifstream f(std::string(BF_SOURCE_DIR) + "/tests/data/gptq_case.txt");
    ASSERT_TRUE(f.good());
    std::string line;
    int checked = 0, differ = 0;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        int r;
        std::string bits, codes;
        ss >> r >> bits >> codes;
        ASSERT_EQ(codes.size(), size_t(cols));
        const float s = f16_to_f32(uint16_t(std::stoul(bits, nullptr, 16)));
        for (int c = 0; c < cols; ++c) {
            const float want = codes[size_t(c)] == '+' ? s : codes[size_t(c)] == '-' ? -s : 0.0f;
            differ += y[size_t(r * cols + c)] != want;
        }
        ++checked;
    }
    EXPECT_EQ(checked, rows);
    EXPECT_EQ(differ, 0);
}

TEST(Gptq, RejectsBadInput) {
    const int64_t cols = 256;
    std::vector<float> w(size_t(2 * cols), 0.5f);
    std::vector<double> h(size_t(cols * cols), 0.0);
    for (int64_t i = 0; i < cols; ++i) h[size_t(i * cols + i)] = 1.0;
    std::vector<uint8_t> q(row_nbytes(DType::TQ2_0, cols) * 2);
    EXPECT_THROW(gptq_ternarize_tq2_0(w.data(), 1, 300, h.data(), q.data()), Error);
    auto bad_w = w;
    bad_w[7] = NAN;
    EXPECT_THROW(gptq_ternarize_tq2_0(bad_w.data(), 2, cols, h.data(), q.data()), Error);
    auto bad_h = h;
    bad_h[3] = INFINITY;
    EXPECT_THROW(gptq_ternarize_tq2_0(w.data(), 2, cols, bad_h.data(), q.data()), Error);
    // A matrix whose inputs were never active (H = 0) still gets finite ternary rows.
    std::vector<double> zero(size_t(cols * cols), 0.0);
    EXPECT_EQ(gptq_ternarize_tq2_0(w.data(), 2, cols, zero.data(), q.data()), 0.0);
    const auto y = dequantize(q, 2, cols);
    for (float v : y) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace bf
