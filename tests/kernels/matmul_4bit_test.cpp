// 4-6-bit matmul tests (Q4_0, Q4_K, Q5_K, Q6_K): the scalar kernel against a double-precision product of
// the file dequantizers' values (quant.h) and independently quantized activations; every SIMD target
// against the scalar kernel on awkward sizes, token counts and extreme codes; packed rows.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using test::random_floats;
using test::run_matmul;

const DType kKq[] = {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

void dequant(DType t, const uint8_t* p, float* y, int64_t n) {
    switch (t) {
        case DType::Q4_0: dequantize_row_q4_0(p, y, n); return;
        case DType::Q4_K: dequantize_row_q4_k(p, y, n); return;
        case DType::Q5_K: dequantize_row_q5_k(p, y, n); return;
        default: dequantize_row_q6_k(p, y, n); return;
    }
}

void put_f16(uint8_t* p, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// Byte ranges of a block holding codes (as opposed to scales), per type.
struct CodeBytes {
    int begin, end;
};
CodeBytes code_bytes(DType t) {
    switch (t) {
        case DType::Q4_0: return {2, 18};
        case DType::Q4_K: return {16, 144};
        case DType::Q5_K: return {16, 176};
        default: return {0, 192};
    }
}

// A matrix of random file blocks: random code bytes (every pattern is valid), random 6-bit / int8
// sub-scales and f16 scales. `extreme`: codes all 0 or all max per block, sub-scales at their limits,
// and negative super-scales on some blocks.
struct KqMatrix {
    Matrix m;
    std::vector<uint8_t> bytes;
    std::vector<double> w, mag_w;  // values, and |code part| + |offset part| per weight (error bounds)
};

KqMatrix make_kq(DType t, int64_t rows, int64_t cols, uint32_t seed, bool extreme = false) {
    std::mt19937 rng(seed);
    const int64_t n = rows * cols, bb = dtype_block_bytes(t), nblk = n / dtype_block_elems(t);
    KqMatrix km;
    km.bytes.resize(size_t(nblk * bb));
    const CodeBytes cb = code_bytes(t);
    auto scale = [&](float lo, float hi) { return lo + (hi - lo) * float(rng() % 1000) / 1000.0f; };
    for (int64_t b = 0; b < nblk; ++b) {
        uint8_t* p = &km.bytes[size_t(b * bb)];
        const int mode = extreme ? int(rng() % 3) : 2;  // 0: all codes 0, 1: all codes max, 2: random
        for (int i = 0; i < bb; ++i) p[i] = uint8_t(rng());
        for (int i = cb.begin; i < cb.end; ++i) p[i] = mode == 0 ? 0 : mode == 1 ? 0xFF : p[i];
        const float sign = extreme && rng() % 4 == 0 ? -1.0f : 1.0f;
        switch (t) {
            case DType::Q4_0: put_f16(p, sign * scale(0.001f, 0.02f)); break;
            case DType::Q4_K:
            case DType::Q5_K:
                put_f16(p, sign * scale(0.0002f, 0.002f));
                put_f16(p + 2, scale(0.0002f, 0.003f));
                if (extreme) std::memset(p + 4, rng() % 2 ? 0xFF : 0x00, 12);  // sub-scales and mins 63 (or 0)
                break;
            default:
                put_f16(p + 208, sign * scale(0.0001f, 0.001f));
                if (extreme)
                    for (int i = 0; i < 16; ++i) p[192 + i] = uint8_t(i % 2 ? 0x80 : 0x7F);  // −128, 127
                break;
        }
    }
    km.w.resize(size_t(n));
    km.mag_w.resize(size_t(n));
    std::vector<float> v(static_cast<size_t>(n)), off(static_cast<size_t>(n));
    std::vector<uint8_t> zeroed = km.bytes;  // the same blocks with every code 0: the offset part alone
    for (int64_t b = 0; b < nblk; ++b)
        for (int i = cb.begin; i < cb.end; ++i) zeroed[size_t(b * bb + i)] = 0;
    dequant(t, km.bytes.data(), v.data(), n);
    dequant(t, zeroed.data(), off.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        km.w[size_t(i)] = v[size_t(i)];
        km.mag_w[size_t(i)] = std::fabs(double(v[size_t(i)]) - off[size_t(i)]) + std::fabs(double(off[size_t(i)]));
    }
    km.m.type = t, km.m.rows = rows, km.m.cols = cols, km.m.data = km.bytes.data();
    return km;
}

// y in double from the dequantized weights and the Q8_0-quantized activations; mag bounds the rounding.
std::vector<double> expected(const KqMatrix& km, const std::vector<float>& x, int64_t n_tok, std::vector<double>* mag) {
    const int64_t rows = km.m.rows, cols = km.m.cols;
    std::vector<double> y(size_t(n_tok * rows));
    mag->assign(y.size(), 0.0);
    for (int64_t t = 0; t < n_tok; ++t) {
        const auto xa = test::q8_act(x.data() + t * cols, cols);
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0, a = 0;
            for (int64_t c = 0; c < cols; ++c) {
                s += km.w[size_t(r * cols + c)] * xa[size_t(c)];
                a += km.mag_w[size_t(r * cols + c)] * std::fabs(xa[size_t(c)]);
            }
            y[size_t(t * rows + r)] = s;
            (*mag)[size_t(t * rows + r)] = a;
        }
    }
    return y;
}

std::vector<int64_t> cols_for(DType t) {
    if (t == DType::Q4_0) return {32, 96, 160, 256, 768, 1056};  // odd block counts: the lone last block
    return {256, 768, 2560};
}

TEST(Matmul4bit, ScalarMatchesDoublePrecision) {
    for (DType type : kKq)
        for (int64_t cols : cols_for(type))
            for (int64_t rows : {int64_t(1), int64_t(17)})
                for (int64_t n_tok : {int64_t(1), int64_t(3)})
                    for (bool extreme : {false, true}) {
                        SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::to_string(rows) + "x" +
                                     std::to_string(cols) + " tokens " + std::to_string(n_tok) +
                                     (extreme ? " extreme" : ""));
                        auto km = make_kq(type, rows, cols, uint32_t(rows * 7 + cols + extreme), extreme);
                        const Matrix pm = prepare_matrix(km.m);
                        auto x = random_floats(size_t(n_tok * cols), uint32_t(cols + n_tok), extreme ? 100.0f : 1.0f);
                        std::vector<double> mag;
                        const auto want = expected(km, x, n_tok, &mag);
                        const auto got = run_matmul(pm, x, n_tok, "scalar", 1);
                        for (size_t i = 0; i < got.size(); ++i)
                            ASSERT_NEAR(got[i], want[i], 1e-5 * mag[i] + 1e-6) << "output " << i;
                    }
}

TEST(Matmul4bit, PackedRowsEqualTheFileValues) {
    for (DType type : kKq)
        for (int64_t cols : cols_for(type)) {
            auto km = make_kq(type, 5, cols, uint32_t(cols), true);
            const Matrix pm = prepare_matrix(km.m);
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = 0; r < 5; ++r) {
                ASSERT_TRUE(packed_row(pm, r, row.data()));
                for (int64_t c = 0; c < cols; ++c)
                    ASSERT_EQ(double(row[size_t(c)]), km.w[size_t(r * cols + c)])
                        << dtype_name(type) << " " << r << "," << c;
            }
        }
}

TEST(Matmul4bit, SimdTargetsMatchScalar) {
    std::vector<std::string> skipped;
    for (const char* target : kSimdTargets) {
        if (!kernels_available(target)) {
            skipped.push_back(target);
            continue;
        }
        for (DType type : kKq)
            for (int64_t cols : cols_for(type))
                for (int64_t rows : {int64_t(1), int64_t(3), int64_t(17), int64_t(70)})
                    for (int64_t n_tok : {1, 2, 3, 7, 8, 20, 48, 70}) {
                        if (cols == 2560 && rows == 70 && n_tok > 8) continue;  // keep the test quick
                        const bool extreme = (rows + n_tok) % 2 == 0;
                        SCOPED_TRACE(std::string(target) + " " + dtype_name(type) + " " + std::to_string(rows) + "x" +
                                     std::to_string(cols) + " tokens " + std::to_string(n_tok) +
                                     (extreme ? " extreme" : ""));
                        auto km = make_kq(type, rows, cols, uint32_t(rows * 31 + cols + n_tok), extreme);
                        const Matrix pm = prepare_matrix(km.m);
                        auto x = random_floats(size_t(n_tok * cols), uint32_t(rows + cols * 3 + n_tok),
                                               extreme ? 50.0f : 1.0f);
                        std::vector<double> mag;
                        expected(km, x, n_tok, &mag);
                        const auto ref = run_matmul(pm, x, n_tok, "scalar", 1);
                        for (int threads : {1, 2}) {
                            const auto got = run_matmul(pm, x, n_tok, target, threads);
                            for (size_t i = 0; i < got.size(); ++i)
                                ASSERT_NEAR(got[i], ref[i], 1e-5 * mag[i] + 1e-6)
                                    << "output " << i << " threads " << threads;
                        }
                    }
    }
    for (const auto& s : skipped) std::printf("[   INFO   ] kernel target %s not available here: skipped\n", s.c_str());
}

// More than one 64-token chunk: each chunk of 8 or more has its own tokens-in-lanes copy and min terms.
TEST(Matmul4bit, ChunksEachUseTheirOwnLanes) {
    for (const char* target : kSimdTargets) {
        if (!kernels_available(target)) continue;
        for (DType type : kKq) {
            SCOPED_TRACE(std::string(target) + " " + dtype_name(type));
            auto km = make_kq(type, 19, 512, 5);
            const Matrix pm = prepare_matrix(km.m);
            auto x = random_floats(size_t(150 * 512), 6);  // chunks of 64, 64 and 22 tokens
            std::vector<double> mag;
            expected(km, x, 150, &mag);
            const auto ref = run_matmul(pm, x, 150, "scalar", 1);
            const auto got = run_matmul(pm, x, 150, target, 2);
            for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5 * mag[i] + 1e-6) << "output " << i;
        }
    }
}

// Decode (one token) with a worker paused inside its row range (the pool's test hook): the caller takes
// the range over and the output equals the one-thread output exactly, for every 4-6-bit type and target.
TEST(Matmul4bit, DecodeRowsTakenOverFromAPausedWorkerAreExact) {
    for (const char* target : {"scalar", "avx2", "avx512", "neon", "neon_dot"}) {
        if (!kernels_available(target)) continue;
        for (DType type : kKq) {
            SCOPED_TRACE(std::string(target) + " " + dtype_name(type));
            auto km = make_kq(type, 512, 1024, 13);  // chunks long enough for the worker to claim some
            const Matrix pm = prepare_matrix(km.m);
            const auto x = random_floats(1024, 14);
            const auto ref = run_matmul(pm, x, 1, target, 1);
            test::expect_exact_decode_takeovers(pm, x, target, ref);
        }
    }
}

TEST(Matmul4bit, BadShapesThrow) {
    std::vector<uint8_t> buf(4096);
    Matrix m;
    m.rows = 2, m.data = buf.data();
    m.type = DType::Q4_0, m.cols = 48;
    EXPECT_THROW(prepare_matrix(m), Error);
    for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
        m.type = t, m.cols = 128;
        EXPECT_THROW(prepare_matrix(m), Error) << dtype_name(t);
    }
}

}  // namespace
}  // namespace bf
