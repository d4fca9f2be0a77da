// Load-time repacking of the 4-6-bit weight files (Q4_0, Q4_K, Q5_K, Q6_K) into the kernels' planes
// (layouts: kernels/kernel_api.h), and rows read back from those planes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace bf {

bool is_4to6_bit(DType t);

// Where the planes of a packed matrix live inside one buffer (nibbles first, 64-byte aligned pieces).
struct KqPlanes {
    uint8_t* q = nullptr;   // 4-bit codes, cols/2 bytes per row
    uint8_t* hi = nullptr;  // Q5_K fifth bits / Q6_K high pairs (nullptr otherwise)
    void* meta = nullptr;   // Q4_0: uint16_t d per 32-block; Q4_K/Q5_K: KqScales; Q6_K: Q6Scales
};

// Bytes of the buffer for a rows × cols matrix, and the planes' positions in it.
size_t kq_packed_bytes(DType t, int64_t rows, int64_t cols);
KqPlanes kq_planes(DType t, int64_t rows, int64_t cols, uint8_t* base);
// Fills the planes from the file's blocks (rows × cols, row-major blocks).
void kq_pack(DType t, int64_t rows, int64_t cols, const uint8_t* file, const KqPlanes& p);
// Row r dequantized from the planes (equal to the file's values).
void kq_row(DType t, int64_t cols, const KqPlanes& p, int64_t r, float* out);

}  // namespace bf
