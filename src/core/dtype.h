// Tensor element types, numbered as ggml numbers them in GGUF files (I2_S as bitnet.cpp does).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bf {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,  // 32 weights: f16 d, 16 bytes of nibbles
    Q8_0 = 8,
    Q4_K = 12,  // 256 weights (super-block of 8 × 32): f16 d, dmin, 12 bytes of 6-bit scales/mins, 128 of nibbles
    Q5_K = 13,  // Q4_K plus 32 bytes of fifth bits
    Q6_K = 14,  // 256 weights (16 × 16): 128 bytes low nibbles, 64 high 2-bit pairs, 16 int8 scales, f16 d
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    I2_S = 36,  // bitnet.cpp fork id; one f32 scale per tensor after the packed codes
};

const char* dtype_name(DType t);
// Parses "f32", "q8_0", "tq2_0", ... (case-insensitive). Throws bf::Error for unknown names.
DType dtype_from_name(const std::string& name);
// True for the ids above; anything else in a file is rejected by the loader.
bool dtype_known(uint32_t id);
// Elements per block and bytes per block (I2_S: 1 and 1, its tensor tail handled by tensor_nbytes).
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
// Bytes of one row of ne0 elements; throws bf::Error if ne0 is not a multiple of the block size.
size_t row_nbytes(DType t, int64_t ne0);
// Bytes of a whole tensor of n_rows rows (I2_S: n/4 + 32, the bitnet.cpp convention).
size_t tensor_nbytes(DType t, int64_t ne0, int64_t n_rows);

}  // namespace bf
