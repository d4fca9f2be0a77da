// --check-tensors: scanning a GGUF's tensors for NaN and infinity (values, and the scales of quantized blocks).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/gguf.h"

namespace bf {

// Where the first NaN/Inf in one tensor's bytes is ("element 12 is NaN", "the scale of block 3 is +Inf"),
// or "" if there is none. Quantized codes cannot be NaN; their f16/f32 scales (and Q4_K/Q5_K mins) can.
std::string find_nonfinite(DType type, const uint8_t* data, size_t nbytes);

// Throws bf::Error naming the first tensor of the file that holds a NaN or infinity, and where.
void check_tensors_finite(const GgufFile& f);

}  // namespace bf
