// Q4_K's searched scales against plain min/max Q4_K on real-ish weights (the f32 twin's 256-wide
// matrices): the search must lower both the plain and the x-weighted RMS error. Prints the numbers that
// docs/formats.md quotes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "convert/convert.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using namespace convert_test;

float f16_round(float v) { return f16_to_f32(f32_to_f16(v)); }

// Q4_K without any search, decoded: per sub-block of 32, min m = −min(0, min x) and scale (max + m)/15; the
// eight scales and mins as 6-bit multiples of max/63 (f16); codes rounded against the stored values.
void plain_q4_k(const float* x, float* y) {
    float sc[8], mn[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; ++j) {
        float lo = 0, hi = x[32 * j];
        for (int i = 0; i < 32; ++i) lo = std::min(lo, x[32 * j + i]), hi = std::max(hi, x[32 * j + i]);
        sc[j] = (hi - lo) / 15, mn[j] = -lo;
        smax = std::max(smax, sc[j]), mmax = std::max(mmax, mn[j]);
    }
    const float d = f16_round(smax / 63), dmin = f16_round(mmax / 63);
    for (int j = 0; j < 8; ++j) {
        const float s = d == 0 ? 0 : d * std::nearbyint(sc[j] / (smax / 63));
        const float m = dmin == 0 ? 0 : dmin * std::nearbyint(mn[j] / (mmax / 63));
        for (int i = 0; i < 32; ++i) {
            const float q = s == 0 ? 0 : std::clamp(std::nearbyint((x[32 * j + i] + m) / s), 0.0f, 15.0f);
            y[32 * j + i] = s * q - m;
        }
    }
}

TEST(TwinError, SearchedQ4KBeatsPlainMinMax) {
    const std::string f32_path = temp_dir() + "/twin_f32_for_error.gguf";
    ConvertOptions o;
    o.input = std::string(BF_SOURCE_DIR) + "/models/sambay-math-f32twin";
    o.output = f32_path;
    o.progress = false;
    convert(o);
    const GgufFile g = GgufFile::open(f32_path);
    double e_ours = 0, e_plain = 0, w_ours = 0, w_plain = 0, ref = 0, wref = 0;
    std::vector<float> y(256), p(256);
    std::vector<uint8_t> q(row_nbytes(DType::Q4_K, 256));
    int matrices = 0;
    for (const auto& t : g.tensors()) {
        if (t.ne.size() != 2 || t.ne[0] % 256 != 0 || t.name.find("ssm_a") != std::string::npos) continue;
        ++matrices;
        const auto* x = reinterpret_cast<const float*>(t.data);
        for (int64_t b = 0; b < t.numel() / 256; ++b) {
            const float* xb = x + 256 * b;
            quantize_row_q4_k(xb, q.data(), 256, nullptr);
            dequantize_row_q4_k(q.data(), y.data(), 256);
            plain_q4_k(xb, p.data());
            for (int i = 0; i < 256; ++i) {
                const double w = std::fabs(xb[i]);  // |x|-weighted: large weights move the outputs most
                e_ours += std::pow(double(y[size_t(i)]) - xb[i], 2),
                    e_plain += std::pow(double(p[size_t(i)]) - xb[i], 2);
                w_ours += w * std::pow(double(y[size_t(i)]) - xb[i], 2),
                    w_plain += w * std::pow(double(p[size_t(i)]) - xb[i], 2);
                ref += double(xb[i]) * xb[i], wref += w * double(xb[i]) * xb[i];
            }
        }
    }
    ASSERT_GT(matrices, 30);
    std::printf(
        "twin, %d matrices: Q4_K RMS error / RMS: searched %.4f, plain min/max %.4f; |x|-weighted: %.4f vs %.4f\n",
        matrices, std::sqrt(e_ours / ref), std::sqrt(e_plain / ref), std::sqrt(w_ours / wref),
        std::sqrt(w_plain / wref));
    EXPECT_LT(e_ours, 0.95 * e_plain);
    EXPECT_LT(w_ours, 0.95 * w_plain);
}

}  // namespace
}  // namespace bf
