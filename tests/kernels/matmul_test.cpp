// matmul tests: the scalar reference against a double-precision product of independently decoded
// weights and independently quantized activations; every SIMD target available here against the
// scalar reference on awkward sizes with 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/compute.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace bf {
namespace {

using test::random_floats;
using test::run_matmul;

// A weight matrix in a file format plus its exact values (double) decoded by the test's own decoder.
struct TestMatrix {
    Matrix m;
    std::vector<uint8_t> bytes;
    std::vector<double> values;  // [rows][cols]
};

TestMatrix make_matrix(DType type, int64_t rows, int64_t cols, uint32_t seed, bool uniform = false) {
    TestMatrix tm;
    const int64_t n = rows * cols;
    std::mt19937 rng(seed);
    const auto w = random_floats(size_t(n), seed, 0.5f);
    tm.values.resize(size_t(n));
    switch (type) {
        case DType::F32:
            tm.bytes.resize(size_t(n) * 4);
            std::memcpy(tm.bytes.data(), w.data(), tm.bytes.size());
            for (int64_t i = 0; i < n; ++i) tm.values[size_t(i)] = w[size_t(i)];
            break;
        case DType::F16:
        case DType::BF16:
            tm.bytes.resize(size_t(n) * 2);
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = type == DType::F16 ? f32_to_f16(w[size_t(i)]) : f32_to_bf16(w[size_t(i)]);
                std::memcpy(&tm.bytes[size_t(i) * 2], &h, 2);
                tm.values[size_t(i)] = type == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
            }
            break;
        case DType::Q8_0: {
            // Random int8 quants in [-128, 127] (−128 never comes from a quantizer, but a file may hold it)
            // and positive f16 scales, laid out by hand.
            tm.bytes.resize(size_t(n / 32) * 34);
            for (int64_t b = 0; b < n / 32; ++b) {
                const uint16_t d = f32_to_f16(0.001f + 0.01f * float(rng() % 100) / 100.0f);
                std::memcpy(&tm.bytes[size_t(b) * 34], &d, 2);
                for (int j = 0; j < 32; ++j) tm.bytes[size_t(b) * 34 + 2 + j] = uint8_t(int8_t(int(rng() % 256) - 128));
            }
            tm.values = test::decode_q8_0(tm.bytes.data(), n);
            break;
        }
        case DType::TQ2_0: {
            std::vector<int> codes(static_cast<size_t>(n));
            for (auto& c : codes) c = int(rng() % 3);
            if (!uniform) codes[0] = 3;  // the format allows code 3 = +2
            std::vector<uint16_t> d(size_t(n / 256));
            for (auto& v : d) v = f32_to_f16(uniform ? 0.0173f : 0.005f + 0.02f * float(rng() % 100) / 100.0f);
            tm.bytes = test::encode_tq2_0(codes, d);
            tm.values = test::decode_tq2_0(tm.bytes.data(), n);
            break;
        }
        case DType::I2_S: {
            std::vector<int> codes(static_cast<size_t>(n));
            for (auto& c : codes) c = int(rng() % 4);  // includes 3, which means 0
            const float scale = 0.0231f;
            tm.bytes = test::encode_i2_s(codes, scale);
            for (int64_t i = 0; i < n; ++i)
                tm.values[size_t(i)] = test::i2s_value(test::i2s_code_at(tm.bytes.data(), i)) * double(scale);
            tm.m.scale = scale;
            break;
        }
        default: ADD_FAILURE() << "unexpected type";
    }
    tm.m.type = type;
    tm.m.rows = rows;
    tm.m.cols = cols;
    tm.m.data = tm.bytes.data();
    return tm;
}

// Expected y in double, with the activations quantized the way the format prescribes.
std::vector<double> expected(const TestMatrix& tm, const std::vector<float>& x, int64_t n_tok,
                             std::vector<double>* mag) {
    const int64_t rows = tm.m.rows, cols = tm.m.cols;
    std::vector<double> y(size_t(n_tok * rows)), xa;
    mag->assign(y.size(), 0.0);
    for (int64_t t = 0; t < n_tok; ++t) {
        const float* xt = x.data() + t * cols;
        if (tm.m.type == DType::Q8_0)
            xa = test::q8_act(xt, cols);
        else if (tm.m.type == DType::TQ2_0 || tm.m.type == DType::I2_S)
            xa = test::ternary_act(xt, cols);
        else
            xa.assign(xt, xt + cols);
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0, a = 0;
            for (int64_t c = 0; c < cols; ++c) {
                s += tm.values[size_t(r * cols + c)] * xa[size_t(c)];
                a += std::fabs(tm.values[size_t(r * cols + c)] * xa[size_t(c)]);
            }
            y[size_t(t * rows + r)] = s;
            (*mag)[size_t(t * rows + r)] = a;
        }
    }
    return y;
}

std::vector<int64_t> cols_for(DType t) {
    switch (t) {
        case DType::F32:
        case DType::F16:
        case DType::BF16: return {1, 7, 32, 96, 256, 768, 5120};
        case DType::Q8_0: return {32, 96, 256, 608, 768, 5120};  // 608: 19 blocks, an odd tail after 16
        case DType::TQ2_0: return {256, 768, 5120};
        default: return {128, 256, 768, 5120};
    }
}

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::TQ2_0, DType::I2_S};
const int64_t kRows[] = {1, 3, 17, 63, 130};
const int64_t kToks[] = {1, 2, 5, 7, 8, 20, 33, 48, 70};  // 70: more than one 64-token chunk of the prefill kernels

TEST(Matmul, ScalarMatchesDoublePrecision) {
    for (DType type : kTypes)
        for (int64_t cols : cols_for(type))
            for (int64_t rows : {int64_t(1), int64_t(17), int64_t(130)})
                for (int64_t n_tok : {int64_t(1), int64_t(5)}) {
                    if (type == DType::I2_S && (rows * cols) % 128) continue;
                    SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::to_string(rows) + "x" +
                                 std::to_string(cols) + " tokens " + std::to_string(n_tok));
                    auto tm = make_matrix(type, rows, cols, uint32_t(rows * 7 + cols));
                    const Matrix pm = prepare_matrix(tm.m);
                    auto x = random_floats(size_t(n_tok * cols), uint32_t(cols + n_tok));
                    std::vector<double> mag;
                    const auto want = expected(tm, x, n_tok, &mag);
                    const auto got = run_matmul(pm, x, n_tok, "scalar", 1);
                    for (size_t i = 0; i < got.size(); ++i)
                        ASSERT_NEAR(got[i], want[i], 1e-5 * mag[i] + 1e-6) << "output " << i;
                }
}

// Rows read back from the repacked copy (embedding lookups of a tied head) equal the file's values.
TEST(Matmul, PackedRowsEqualTheFileValues) {
    for (DType type : {DType::Q8_0, DType::TQ2_0, DType::I2_S})
        for (int64_t cols : cols_for(type))
            for (int64_t rows : {int64_t(3), int64_t(17)}) {
                if (type == DType::I2_S && (rows * cols) % 128) continue;
                auto tm = make_matrix(type, rows, cols, uint32_t(rows * 5 + cols));
                const Matrix pm = prepare_matrix(tm.m);
                std::vector<float> row(static_cast<size_t>(cols));
                for (int64_t r = 0; r < rows; ++r) {
                    ASSERT_TRUE(packed_row(pm, r, row.data()));
                    for (int64_t c = 0; c < cols; ++c)
                        ASSERT_EQ(double(row[size_t(c)]), double(float(tm.values[size_t(r * cols + c)])))
                            << dtype_name(type) << " " << rows << "x" << cols << " at " << r << "," << c;
                }
                EXPECT_THROW(packed_row(pm, rows, row.data()), Error);
            }
    Matrix f;
    f.type = DType::F32;
    EXPECT_FALSE(packed_row(f, 0, nullptr));  // not repacked: callers read the file layout
}

TEST(Matmul, I2sGroupsCrossRows) {
    // cols = 160 is not a multiple of 128, so the flattened 128-element groups straddle rows.
    for (int64_t rows : {4, 64}) {
        auto tm = make_matrix(DType::I2_S, rows, 160, 99);
        auto x = random_floats(size_t(3 * 160), 5);
        std::vector<double> mag;
        const auto want = expected(tm, x, 3, &mag);
        for (const char* target : {"scalar", "avx2", "avx512", "neon", "neon_dot"}) {
            if (!kernels_available(target)) continue;
            const auto got = run_matmul(prepare_matrix(tm.m), x, 3, target, 2);
            for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * mag[i] + 1e-6) << target;
        }
    }
}

TEST(Matmul, UniformTq2MatchesDoublePrecision) {
    auto tm = make_matrix(DType::TQ2_0, 33, 768, 3, /*uniform=*/true);
    auto x = random_floats(size_t(4 * 768), 8);
    std::vector<double> mag;
    const auto want = expected(tm, x, 4, &mag);
    const auto got = run_matmul(prepare_matrix(tm.m), x, 4, "scalar", 1);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * mag[i] + 1e-6);
}

TEST(Matmul, SimdTargetsMatchScalar) {
    std::vector<std::string> skipped;
    for (const char* target : kSimdTargets) {
        if (!kernels_available(target)) {
            skipped.push_back(target);
            continue;
        }
        for (DType type : kTypes)
            for (bool uniform : {false, true}) {
                if (uniform && type != DType::TQ2_0) continue;
                for (int64_t cols : cols_for(type))
                    for (int64_t rows : kRows)
                        for (int64_t n_tok : kToks) {
                            if (type == DType::I2_S && (rows * cols) % 128) continue;
                            if (cols == 5120 && n_tok == 33 && rows > 17) continue;  // keep the test quick
                            SCOPED_TRACE(std::string(target) + " " + dtype_name(type) + " " + std::to_string(rows) +
                                         "x" + std::to_string(cols) + " tokens " + std::to_string(n_tok) +
                                         (uniform ? " uniform" : ""));
                            auto tm = make_matrix(type, rows, cols, uint32_t(rows * 31 + cols + n_tok), uniform);
                            const Matrix pm = prepare_matrix(tm.m);
                            auto x = random_floats(size_t(n_tok * cols), uint32_t(rows + cols * 3 + n_tok));
                            std::vector<double> mag;
                            expected(tm, x, n_tok, &mag);
                            const auto ref = run_matmul(pm, x, n_tok, "scalar", 1);
                            for (int threads : {1, 2}) {
                                const auto got = run_matmul(pm, x, n_tok, target, threads);
                                for (size_t i = 0; i < got.size(); ++i) {
                                    if ((type == DType::TQ2_0 && uniform) || type == DType::I2_S)
                                        ASSERT_EQ(got[i], ref[i]) << "output " << i << " threads " << threads;
                                    else
                                        ASSERT_NEAR(got[i], ref[i], 1e-5 * mag[i] + 1e-6)
                                            << "output " << i << " threads " << threads;
                                }
                            }
                        }
            }
    }
    for (const auto& s : skipped) std::printf("[   INFO   ] kernel target %s not available here: skipped\n", s.c_str());
}

// Q8_0 prompts longer than one 64-token chunk: each chunk ≥ 8 tokens has its own tokens-in-lanes copy.
TEST(Matmul, Q8ChunksEachUseTheirOwnLanes) {
    for (const char* target : {"avx2", "avx512"}) {
        if (!kernels_available(target)) continue;
        for (int64_t cols : {96, 256}) {
            SCOPED_TRACE(std::string(target) + " cols " + std::to_string(cols));
            auto tm = make_matrix(DType::Q8_0, 17, cols, uint32_t(cols));
            const Matrix pm = prepare_matrix(tm.m);
            auto x = random_floats(size_t(150 * cols), uint32_t(cols + 1));  // chunks of 64, 64 and 22 tokens
            std::vector<double> mag;
            expected(tm, x, 150, &mag);
            const auto ref = run_matmul(pm, x, 150, "scalar", 1);
            for (int threads : {1, 2}) {
                const auto got = run_matmul(pm, x, 150, target, threads);
                for (size_t i = 0; i < got.size(); ++i)
                    ASSERT_NEAR(got[i], ref[i], 1e-5 * mag[i] + 1e-6) << "output " << i;
            }
        }
    }
}

TEST(Matmul, UnpreparedQuantizedMatrixStillWorks) {
    auto tm = make_matrix(DType::Q8_0, 5, 64, 1);
    auto x = random_floats(64, 2);
    std::vector<double> mag;
    const auto want = expected(tm, x, 1, &mag);
    std::vector<float> y(5);
    matmul(tm.m, x.data(), 1, y.data());
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[size_t(i)], want[size_t(i)], 1e-5 * mag[size_t(i)] + 1e-6);
}

// Decode matmuls (one token) with a worker paused inside its row range (the pool's test hook): the caller
// takes the range over, and the output equals the one-thread output exactly, for every SIMD target.
TEST(Matmul, DecodeRowsTakenOverFromAPausedWorkerAreExact) {
    for (const char* target : {"scalar", "avx2", "avx512", "neon", "neon_dot"}) {
        if (!kernels_available(target)) continue;
        for (DType type : {DType::Q8_0, DType::TQ2_0, DType::I2_S}) {
            SCOPED_TRACE(std::string(target) + " " + dtype_name(type));
            auto tm = make_matrix(type, 1024, 2048, 11);  // chunks long enough for the worker to claim some
            const Matrix pm = prepare_matrix(tm.m);
            const auto x = random_floats(2048, 12);
            const auto ref = run_matmul(pm, x, 1, target, 1);
            test::expect_exact_decode_takeovers(pm, x, target, ref);
        }
    }
}

// Exact ties: Q8_0 activations round half away from zero (ggml's roundf), ternary ones half to even.
TEST(Matmul, ActivationRoundingTies) {
    const float xs[8] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -2.5f, 126.5f};
    const float q8_want[8] = {127, 3, -4, 1, -1, 2, -3, 127};
    const float tq_want[8] = {127, 2, -4, 0, -0, 2, -2, 126};
    // Q8_0: row r has q = 1 at column r, d = 1.
    std::vector<uint8_t> q8(8 * 34, 0);
    for (int r = 0; r < 8; ++r) {
        const uint16_t one = f32_to_f16(1.0f);
        std::memcpy(&q8[size_t(r) * 34], &one, 2);
        q8[size_t(r) * 34 + 2 + r] = 1;
    }
    // TQ2_0: row r has code 2 (+1) at element r, code 1 (0) elsewhere, d = 1.
    std::vector<int> codes(8 * 256, 1);
    for (int r = 0; r < 8; ++r) codes[size_t(r) * 256 + r] = 2;
    const auto tq = test::encode_tq2_0(codes, std::vector<uint16_t>(8, f32_to_f16(1.0f)));
    std::vector<float> x32(32, 0.0f), x256(256, 0.0f);
    std::copy(xs, xs + 8, x32.begin());
    std::copy(xs, xs + 8, x256.begin());
    for (const char* target : {"scalar", "avx2", "avx512", "neon", "neon_dot"}) {
        if (!kernels_available(target)) continue;
        Matrix m;
        m.type = DType::Q8_0, m.rows = 8, m.cols = 32, m.data = q8.data();
        const auto y8 = run_matmul(prepare_matrix(m), x32, 1, target, 1);
        m.type = DType::TQ2_0, m.cols = 256, m.data = tq.data();
        const auto yt = run_matmul(prepare_matrix(m), x256, 1, target, 1);
        for (int r = 0; r < 8; ++r) {
            EXPECT_EQ(y8[size_t(r)], q8_want[r]) << target << " q8_0 row " << r;
            EXPECT_EQ(yt[size_t(r)], tq_want[r]) << target << " tq2_0 row " << r;
        }
    }
}

TEST(Matmul, ZeroActivationsGiveZero) {
    for (DType type : {DType::Q8_0, DType::TQ2_0, DType::I2_S}) {
        auto tm = make_matrix(type, 3, 256, 4);
        std::vector<float> x(256, 0.0f), y(3, 1.0f);
        matmul(prepare_matrix(tm.m), x.data(), 1, y.data());
        for (float v : y) EXPECT_EQ(v, 0.0f) << dtype_name(type);
    }
}

TEST(Matmul, BadInputThrows) {
    std::vector<uint8_t> buf(4096);
    Matrix m;
    m.type = DType::Q8_0;
    m.rows = 2;
    m.cols = 33;
    m.data = buf.data();
    EXPECT_THROW(prepare_matrix(m), Error);
    m.type = DType::TQ2_0;
    m.cols = 128;
    EXPECT_THROW(prepare_matrix(m), Error);
    m.type = DType::I2_S;
    m.rows = 3;
    m.cols = 32;  // 96 elements, not a multiple of 128
    EXPECT_THROW(prepare_matrix(m), Error);
    m.type = DType::F32;
    m.rows = -1;
    EXPECT_THROW(prepare_matrix(m), Error);
    m.rows = int64_t(1) << 40;
    m.cols = int64_t(1) << 20;
    EXPECT_THROW(prepare_matrix(m), Error);
    m.rows = 1;
    m.cols = 4;
    m.data = nullptr;
    EXPECT_THROW(prepare_matrix(m), Error);
    m.data = buf.data();
    float x[4] = {}, y[1];
    EXPECT_THROW(matmul(m, x, -1, y), Error);
    EXPECT_THROW(matmul(m, nullptr, 1, y), Error);
    EXPECT_THROW(force_kernels("sse9"), Error);
}

TEST(Matmul, KernelSelection) {
    force_kernels("scalar");
    EXPECT_STREQ(kernels_name(), "scalar");
    force_kernels("auto");
    std::printf("[   INFO   ] best kernel target here: %s\n", kernels_name());
    // "auto" is the first usable target in order of preference (dispatch.cpp).
    for (const char* t : {"avx512", "avx2", "neon_dot", "neon", "scalar"})
        if (kernels_available(t)) {
            EXPECT_STREQ(kernels_name(), t);
            break;
        }
    for (const char* t : kSimdTargets) {
        if (!kernels_available(t)) {
            EXPECT_THROW(force_kernels(t), Error);
        }
    }
    force_kernels("auto");
}

}  // namespace
}  // namespace bf
