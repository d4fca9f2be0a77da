// Q4_0 / Q4_K / Q5_K / Q6_K quantizers: round-trip error on awkward sizes against a plain min/max
// quantizer written here, adversarial rows, bad input, re-quantization of decoded rows, and importance.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using test::random_floats;

struct Format {
    DType type;
    void (*quantize)(const float*, void*, int64_t, const float*);
    void (*dequantize)(const void*, float*, int64_t);
    int nmax;            // codes per sub-block step: 15 (4-bit), 31 (5-bit), 63 (6-bit)
    double max_rel_rms;  // bound on RMS error / RMS of N(0,1) rows
};

const Format kFormats[] = {
    {DType::Q4_0, quantize_row_q4_0, dequantize_row_q4_0, 15, 0.1},
    {DType::Q4_K, quantize_row_q4_k, dequantize_row_q4_k, 15, 0.085},
    {DType::Q5_K, quantize_row_q5_k, dequantize_row_q5_k, 31, 0.045},
    {DType::Q6_K, quantize_row_q6_k, dequantize_row_q6_k, 63, 0.022},
};

std::string name_of(const Format& f) { return dtype_name(f.type); }

std::vector<float> round_trip(const Format& f, const std::vector<float>& x, const float* importance = nullptr) {
    const int64_t n = int64_t(x.size());
    std::vector<uint8_t> q(row_nbytes(f.type, n));
    f.quantize(x.data(), q.data(), n, importance);
    std::vector<float> y(x.size());
    f.dequantize(q.data(), y.data(), n);
    return y;
}

double weighted_sq_error(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& w) {
    double e = 0;
    for (size_t i = 0; i < x.size(); ++i) e += double(w[i]) * (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    return e;
}

double rms(const std::vector<float>& v) {
    double s = 0;
    for (float a : v) s += double(a) * a;
    return std::sqrt(s / double(v.size()));
}

std::vector<float> diff(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> d(a.size());
    for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
    return d;
}

// The plain choice without any search, in double: per block of 32, x ≈ step·l + lo with lo = min(0, min x),
// step = (max − lo)/nmax (Q4_0: symmetric, step = max|x|/8). No f16 rounding, no 6-bit scales: a
// generous baseline the searched and stored formats must still beat on average.
std::vector<float> plain_min_max(const Format& f, const std::vector<float>& x) {
    std::vector<float> y(x.size());
    const size_t block = f.type == DType::Q6_K ? 16 : 32;
    for (size_t b = 0; b < x.size(); b += block) {
        double lo = 0, hi = -1e300, amax = 0;
        for (size_t i = b; i < b + block; ++i) {
            lo = std::min(lo, double(x[i]));
            hi = std::max(hi, double(x[i]));
            amax = std::max(amax, std::fabs(double(x[i])));
        }
        for (size_t i = b; i < b + block; ++i) {
            if (f.type == DType::Q4_0 || f.type == DType::Q6_K) {
                const double half = f.type == DType::Q4_0 ? 8 : 32, step = amax / half;
                y[i] = step == 0 ? 0 : float(std::min(half - 1, std::max(-half, std::nearbyint(x[i] / step))) * step);
            } else {
                const double step = (hi - lo) / f.nmax;
                y[i] = step == 0 ? float(lo) : float(std::nearbyint((x[i] - lo) / step) * step + lo);
            }
        }
    }
    return y;
}

TEST(KQuant, RoundTripOnAwkwardSizesBeatsPlainMinMax) {
    for (const Format& f : kFormats) {
        const int64_t block = dtype_block_elems(f.type);
        for (int64_t n : {block, 3 * block, 10 * block, 11 * block}) {
            double err = 0, err_plain = 0, sum_sq = 0;
            for (uint32_t seed = 1; seed <= 8; ++seed) {
                const auto x = random_floats(size_t(n), seed * 31 + uint32_t(n), 0.02f);
                const auto y = round_trip(f, x);
                const auto p = plain_min_max(f, x);
                const std::vector<float> ones(x.size(), 1.0f);
                err += weighted_sq_error(x, y, ones);
                err_plain += weighted_sq_error(x, p, ones);
                sum_sq += weighted_sq_error(x, std::vector<float>(x.size(), 0.0f), ones);
            }
            const double rel = std::sqrt(err / sum_sq), rel_plain = std::sqrt(err_plain / sum_sq);
            EXPECT_LT(rel, f.max_rel_rms) << name_of(f) << " n=" << n;
            EXPECT_LT(rel, rel_plain) << name_of(f) << " n=" << n;
            if (n == 10 * block)
                std::printf("%s: RMS error / RMS %.4f (plain min/max %.4f)\n", name_of(f).c_str(), rel, rel_plain);
        }
    }
}

TEST(KQuant, AdversarialRows) {
    for (const Format& f : kFormats) {
        const int64_t n = 512;
        const std::vector<float> zero(size_t(n), 0.0f);
        for (float v : round_trip(f, zero)) ASSERT_EQ(v, 0.0f) << name_of(f);
        // Constant rows: exact up to the f16 scale (2^-11 relative while the super-scale stays a normal f16).
        for (float c : {0.37f, -2.5f, 64.0f}) {
            const std::vector<float> x(size_t(n), c);
            for (float v : round_trip(f, x)) ASSERT_NEAR(v, c, std::fabs(c) * 2e-3) << name_of(f) << " c=" << c;
        }
        {  // negative-only rows are as good as mixed ones
            auto x = random_floats(size_t(n), 7, 1.0f);
            for (auto& v : x) v = -std::fabs(v);
            const auto y = round_trip(f, x);
            EXPECT_LT(rms(diff(y, x)) / rms(x), f.max_rel_rms) << name_of(f);
        }
        {  // one huge value: reproduced closely; blocks (super-blocks) without it are untouched
            auto x = random_floats(size_t(n), 8, 1.0f);
            const auto before = round_trip(f, x);
            x[300] = 5000.0f;
            const auto y = round_trip(f, x);
            EXPECT_NEAR(y[300], 5000.0f, 5000.0f * 0.02f) << name_of(f);
            const int64_t block = dtype_block_elems(f.type);
            for (int64_t i = 0; i < n; ++i) {
                if (i / block == 300 / block) continue;
                ASSERT_EQ(y[size_t(i)], before[size_t(i)]) << name_of(f) << " " << i;
            }
        }
        for (float tiny : {1e-40f, 1e-30f, 3e-6f}) {  // denormal and tiny rows: finite, error below the value
            auto x = random_floats(size_t(n), 9, tiny);
            const auto y = round_trip(f, x);
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_TRUE(std::isfinite(y[size_t(i)])) << name_of(f);
                ASSERT_LE(std::fabs(y[size_t(i)] - x[size_t(i)]), 10 * tiny + 1e-7f) << name_of(f) << " " << tiny;
            }
        }
    }
}

TEST(KQuant, BadInputIsAClearError) {
    for (const Format& f : kFormats) {
        const int64_t block = dtype_block_elems(f.type);
        auto x = random_floats(size_t(2 * block), 3, 1.0f);
        std::vector<uint8_t> q(row_nbytes(f.type, 2 * block));
        auto message = [&](const std::vector<float>& in, int64_t n, const float* imp) -> std::string {
            try {
                f.quantize(in.data(), q.data(), n, imp);
            } catch (const Error& e) {
                return e.what();
            }
            return "";
        };
        EXPECT_NE(message(x, block + 16, nullptr).find("not a non-negative multiple"), std::string::npos) << name_of(f);
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}) {
            auto y = x;
            y[size_t(block + 5)] = bad;
            EXPECT_NE(message(y, 2 * block, nullptr).find("is not finite"), std::string::npos) << name_of(f);
        }
        auto huge = x;
        huge[1] = 3e9f;
        EXPECT_NE(message(huge, 2 * block, nullptr).find("beyond"), std::string::npos) << name_of(f);
        std::vector<float> imp(size_t(2 * block), 1.0f);
        imp[7] = -1.0f;
        EXPECT_NE(message(x, 2 * block, imp.data()).find("importance weight 7"), std::string::npos) << name_of(f);
        imp[7] = NAN;
        EXPECT_NE(message(x, 2 * block, imp.data()).find("importance weight 7"), std::string::npos) << name_of(f);
    }
}

// Quantizing a decoded row again: Q4_0 and Q6_K give the same values (each search has a candidate that
// reproduces the decoded block with zero error, and the stored scales are found again). Q4_K/Q5_K blocks
// can have several exact (scale, min) pairs whose 6-bit re-encoding differs, so there a few values move,
// by far less than the first pass's error. Checked over many rows.
TEST(KQuant, RequantizingDecodedRows) {
    for (const Format& f : kFormats) {
        int64_t moved = 0, total = 0;
        double first = 0, second = 0;
        for (uint32_t seed = 1; seed <= 40; ++seed) {
            const int64_t n = 2560;
            const auto x = random_floats(size_t(n), 11 + seed, seed % 2 ? 0.05f : 3.0f);
            const auto y = round_trip(f, x);
            const auto z = round_trip(f, y);
            for (int64_t i = 0; i < n; ++i) {
                moved += z[size_t(i)] != y[size_t(i)];
                first += std::pow(double(y[size_t(i)]) - x[size_t(i)], 2) / (seed % 2 ? 0.05 * 0.05 : 9.0);
                second += std::pow(double(z[size_t(i)]) - y[size_t(i)], 2) / (seed % 2 ? 0.05 * 0.05 : 9.0);
            }
            total += n;
        }
        std::printf("%s: requantizing moved %lld of %lld values; RMS shift %.3g of the first pass's error\n",
                    name_of(f).c_str(), (long long)moved, (long long)total, std::sqrt(second / first));
        if (f.type == DType::Q4_0 || f.type == DType::Q6_K)
            EXPECT_EQ(moved, 0) << name_of(f);
        else
            EXPECT_LT(std::sqrt(second / first), 0.1) << name_of(f);
    }
}

TEST(KQuant, ImportanceLowersTheWeightedError) {
    for (const Format& f : kFormats) {
        const int64_t n = 1024;
        double with = 0, without = 0;
        for (uint32_t seed = 1; seed <= 6; ++seed) {
            const auto x = random_floats(size_t(n), 100 + seed, 1.0f);
            // Skewed importance: one column in eight matters 100x more (as an imatrix's hot channels do).
            std::vector<float> imp(size_t(n), 1.0f);
            for (int64_t i = 0; i < n; i += 8) imp[size_t(i + seed % 8)] = 100.0f;
            with += weighted_sq_error(x, round_trip(f, x, imp.data()), imp);
            without += weighted_sq_error(x, round_trip(f, x), imp);
        }
        std::printf("%s: importance-weighted error with/without importance %.3f\n", name_of(f).c_str(), with / without);
        EXPECT_LT(with, 0.8 * without) << name_of(f);
    }
}

}  // namespace
}  // namespace bf
