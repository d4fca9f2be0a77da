// The C++ dequantizers of Q4_0/Q4_K/Q5_K/Q6_K against the independent NumPy ones (tools/reference/
// ggml_quants.py), value by value on blocks of random bytes. Skipped without python3 + numpy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using namespace convert_test;

// Random bytes, except that the f16 scales are finite (an Inf scale times a zero code is NaN on both sides,
// which says nothing about the layout).
std::vector<uint8_t> random_blocks(DType t, int64_t n_blocks, uint32_t seed) {
    std::mt19937 rng(seed);
    const size_t bytes = size_t(dtype_block_bytes(t));
    std::vector<uint8_t> v(size_t(n_blocks) * bytes);
    for (auto& b : v) b = uint8_t(rng());
    std::vector<size_t> half_offsets = t == DType::Q6_K   ? std::vector<size_t>{208}
                                       : t == DType::Q4_0 ? std::vector<size_t>{0}
                                                          : std::vector<size_t>{0, 2};
    for (int64_t b = 0; b < n_blocks; ++b)
        for (size_t off : half_offsets) {
            uint8_t* p = &v[size_t(b) * bytes + off];
            if (((p[1] >> 2) & 31) == 31) p[1] = uint8_t(p[1] & ~0x40);  // exponent 31 (Inf/NaN) -> 15
        }
    return v;
}

TEST(NumpyDequant, CppAndNumpyAgreeOnRandomBlocks) {
    if (run("/usr/bin/python3 -c 'import numpy'").status != 0) GTEST_SKIP() << "python3 with numpy not available";
    const std::string script = std::string(BF_SOURCE_DIR) + "/tools/reference/ggml_quants.py";
    struct Case {
        DType type;
        void (*dequantize)(const void*, float*, int64_t);
    };
    for (const Case& c : {Case{DType::Q4_0, dequantize_row_q4_0}, Case{DType::Q4_K, dequantize_row_q4_k},
                          Case{DType::Q5_K, dequantize_row_q5_k}, Case{DType::Q6_K, dequantize_row_q6_k}}) {
        const int64_t n_blocks = 200, n = n_blocks * dtype_block_elems(c.type);
        const auto blocks = random_blocks(c.type, n_blocks, 7 + uint32_t(c.type));
        const std::string in = temp_dir() + "/blocks_" + dtype_name(c.type) + ".bin", out = in + ".f32";
        write_bytes(in, blocks.data(), blocks.size());
        const RunResult r =
            run("/usr/bin/python3 '" + script + "' " + dtype_name(c.type) + " '" + in + "' '" + out + "'");
        ASSERT_EQ(r.status, 0) << r.out;
        const auto ref_bytes = read_bytes(out);
        ASSERT_EQ(ref_bytes.size(), size_t(n) * 4) << dtype_name(c.type);
        std::vector<float> ref(static_cast<size_t>(n)), mine(static_cast<size_t>(n));
        std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());
        c.dequantize(blocks.data(), mine.data(), n);
        int64_t mismatches = 0, nonzero = 0;
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_TRUE(std::isfinite(mine[size_t(i)])) << dtype_name(c.type) << " " << i;
            nonzero += mine[size_t(i)] != 0;
            if (mine[size_t(i)] != ref[size_t(i)] && mismatches++ < 5)
                ADD_FAILURE() << dtype_name(c.type) << " element " << i << ": C++ " << mine[size_t(i)] << ", NumPy "
                              << ref[size_t(i)];
        }
        EXPECT_EQ(mismatches, 0) << dtype_name(c.type);
        EXPECT_GT(nonzero, n / 2) << dtype_name(c.type);  // the random blocks really exercise the codes
    }
}

}  // namespace
}  // namespace bf
