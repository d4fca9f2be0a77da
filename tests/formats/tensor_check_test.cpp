// find_nonfinite on every element type: values of float tensors and each scale slot of quantized blocks;
// finite data (including the largest finite values and subnormals) passes.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/tensor_check.h"

namespace bf {
namespace {

constexpr uint16_t kF16Max = 0x7BFF, kF16Inf = 0x7C00, kF16NaN = 0x7E00, kF16NegInf = 0xFC00, kF16Sub = 0x0001;

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(&b[at], &v, 2); }
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

TEST(TensorCheck, FloatTypes) {
    std::vector<uint8_t> f32(4 * 7, 0);
    put32(f32, 0, 0x7F7FFFFFu);  // FLT_MAX: finite
    put32(f32, 4, 0x00000001u);  // subnormal
    EXPECT_EQ(find_nonfinite(DType::F32, f32.data(), f32.size()), "");
    put32(f32, 24, 0x7FC00000u);
    EXPECT_EQ(find_nonfinite(DType::F32, f32.data(), f32.size()), "element 6 is NaN");
    put32(f32, 8, 0xFF800000u);
    EXPECT_EQ(find_nonfinite(DType::F32, f32.data(), f32.size()), "element 2 is -Inf");

    std::vector<uint8_t> h(2 * 5, 0);
    put16(h, 0, kF16Max);
    put16(h, 2, kF16Sub);
    EXPECT_EQ(find_nonfinite(DType::F16, h.data(), h.size()), "");
    put16(h, 8, kF16Inf);
    EXPECT_EQ(find_nonfinite(DType::F16, h.data(), h.size()), "element 4 is +Inf");
    // The same bits as bf16 are finite (exponent 0x7C00 >> 7 is not all ones); bf16 NaN is 0x7FC0.
    EXPECT_EQ(find_nonfinite(DType::BF16, h.data(), h.size()), "");
    put16(h, 6, 0x7FC0);
    EXPECT_EQ(find_nonfinite(DType::BF16, h.data(), h.size()), "element 3 is NaN");
}

// Each quantized type: a poisoned scale at its offset in block 2 is found; codes never count.
TEST(TensorCheck, QuantizedScales) {
    struct Case {
        DType t;
        size_t off;
        const char* what;
    };
    for (const Case& c :
         {Case{DType::Q8_0, 0, "scale"}, Case{DType::Q4_0, 0, "scale"}, Case{DType::Q4_K, 0, "scale"},
          Case{DType::Q4_K, 2, "min scale"}, Case{DType::Q5_K, 2, "min scale"}, Case{DType::Q6_K, 208, "scale"},
          Case{DType::TQ1_0, 52, "scale"}, Case{DType::TQ2_0, 64, "scale"}}) {
        const size_t bb = size_t(dtype_block_bytes(c.t));
        std::vector<uint8_t> b(bb * 4, 0xFF);  // codes all ones: not a float anywhere
        for (size_t k = 0; k < 4; ++k) {       // finite scales everywhere first
            for (size_t o : {size_t(0), size_t(2), size_t(52), size_t(64), size_t(208)})
                if (o + 2 <= bb) put16(b, k * bb + o, kF16Max);
        }
        EXPECT_EQ(find_nonfinite(c.t, b.data(), b.size()), "") << dtype_name(c.t);
        put16(b, 2 * bb + c.off, kF16NegInf);
        EXPECT_EQ(find_nonfinite(c.t, b.data(), b.size()), std::string("the ") + c.what + " of block 2 is -Inf")
            << dtype_name(c.t);
    }
    std::vector<uint8_t> i2(128 / 4 + 32, 0xAA);  // 128 codes, then the f32 scale and zeros
    put32(i2, 32, 0x3F800000u);
    EXPECT_EQ(find_nonfinite(DType::I2_S, i2.data(), i2.size()), "");
    put32(i2, 32, 0x7F800001u);
    EXPECT_EQ(find_nonfinite(DType::I2_S, i2.data(), i2.size()), "the tensor's scale is NaN");
}

}  // namespace
}  // namespace bf
