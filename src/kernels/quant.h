// Weight quantizers and dequantizers in the file layouts (formats-and-conventions.md §2), used by the
// converter and by tests. Scalar code only; the hot activation quantizers live in matmul.cpp.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bf {

// Q8_0 (34-byte blocks: f16 d, int8 qs[32]) as ggml's reference: d = max|x|/127, q = roundf(x/d).
// n must be a multiple of 32 (throws bf::Error otherwise).
void quantize_row_q8_0(const float* x, void* out, int64_t n);
void dequantize_row_q8_0(const void* in, float* y, int64_t n);

// Σ|x| in double, for gamma = mean|W| over a whole tensor (computed chunk by chunk by the converter).
double sum_abs(const float* x, int64_t n);

// TQ2_0 (66-byte blocks: qs[64], f16 d last). Codes clip(rint(w/gamma), -1, 1) + 1; d = f16(gamma).
// n must be a multiple of 256; gamma must be finite and >= 0 (0 gives all-zero codes).
void quantize_row_tq2_0(const float* w, void* out, int64_t n, float gamma);
void dequantize_row_tq2_0(const void* in, float* y, int64_t n);

// I2_S (bitnet.cpp x86 layout): the tensor's n elements, flattened row-major, form 128-element groups
// of 32 bytes; element j of a group is byte j%32 at shift 6-2*(j/32); code 0 = -1, 1 = 0, 2 = +1.
// After the n/4 code bytes comes a 32-byte tail: the f32 scale, then zeros.
// quantize_i2_s packs n elements starting at element `elem_offset` of the tensor into `codes` (the
// start of the tensor's code bytes), so a converter can stream row chunks. n and elem_offset must be
// multiples of 128.
void quantize_i2_s(const float* w, int64_t n, int64_t elem_offset, float gamma, uint8_t* codes);
// Writes the 32-byte tail (scale, then 28 zero bytes) at `tail` (= codes + n_total/4).
void write_i2_s_tail(uint8_t* tail, float scale);
// Dequantizes a whole I2_S tensor of n elements (n multiple of 128); reads the scale from the tail.
void dequantize_i2_s(const void* data, float* y, int64_t n);
// Reads the scale from the tail of an I2_S tensor of n elements.
float i2_s_scale(const void* data, int64_t n);

// Rounds to the nearest integer (ties to even) and clamps to [-lim, lim]; NaN gives 0.
inline int8_t round_clamp_i8(float v, float lim) {
    float r = __builtin_nearbyintf(v);
    if (r > lim) r = lim;
    if (r < -lim) r = -lim;
    if (r != r) r = 0.0f;
    return int8_t(r);
}

}  // namespace bf
