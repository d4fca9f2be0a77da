// Weight type table: sizes, names and ids against ggml's.
#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"

namespace bf {

TEST(DType, RowBytes) {
    EXPECT_EQ(row_nbytes(DType::Q8_0, 64), 68u);
    EXPECT_EQ(row_nbytes(DType::TQ2_0, 512), 132u);
    EXPECT_EQ(tensor_nbytes(DType::I2_S, 256, 2), 256u * 2 / 4 + 32);
    EXPECT_THROW(row_nbytes(DType::Q8_0, 33), Error);
    EXPECT_EQ(row_nbytes(DType::Q4_0, 64), 36u);
    EXPECT_EQ(row_nbytes(DType::Q4_K, 512), 288u);
    EXPECT_EQ(row_nbytes(DType::Q5_K, 256), 176u);
    EXPECT_EQ(row_nbytes(DType::Q6_K, 256), 210u);
    EXPECT_THROW(row_nbytes(DType::Q4_K, 128), Error);
    EXPECT_THROW(dtype_from_name("q4_1"), Error);
}

TEST(Fp16, RoundTrips) {
    for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 3.14159f}) {
        EXPECT_EQ(f16_to_f32(f32_to_f16(f)), f16_to_f32(f32_to_f16(f16_to_f32(f32_to_f16(f)))));
        EXPECT_NEAR(f16_to_f32(f32_to_f16(f)), f, std::abs(f) * 1e-3);  // relative only: no flush to zero
        EXPECT_NEAR(bf16_to_f32(f32_to_bf16(f)), f, std::abs(f) * 8e-3);
    }
    // Subnormals exactly (a converter that flushes them to zero fails here): 2^-24, 2^-15 and their bits.
    EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);
    EXPECT_EQ(f32_to_f16(5.9604644775390625e-08f), 0x0001);
    EXPECT_EQ(f16_to_f32(0x0200), 3.0517578125e-05f);
    EXPECT_EQ(f32_to_f16(-3.0517578125e-05f), 0x8200);
    EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
    EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // tie rounds to even
}

}  // namespace bf
