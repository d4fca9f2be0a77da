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

// ggml's 4- to 6-bit layouts (formats-and-conventions.md §2; ggml-common.h). n must be a multiple of the
// block (32 for Q4_0, 256 for the K-quants); dequantizers live in quant_4bit.cpp.
//   Q4_0 (18 B / 32): f16 d; u8 qs[16]. y[j] = ((qs[j] & 15) - 8)·d, y[j+16] = ((qs[j] >> 4) - 8)·d.
//   Q4_K (144 B / 256): f16 d; f16 dmin; u8 scales[12]; u8 qs[128]. Eight sub-blocks of 32 with 6-bit
//     scale sc_s and min m_s (k_scale_min); weights 64g..64g+31 are the low nibbles of qs[32g..32g+31]
//     (sub-block 2g), the next 32 their high nibbles (2g+1); y = d·sc_s·q − dmin·m_s.
//   Q5_K (176 B / 256): f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]. As Q4_K, plus bit s of
//     qh[l] as the fifth bit (value 16) of element l of sub-block s.
//   Q6_K (210 B / 256): u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d (last). Per 128-weight half h
//     (ql += 64h, qh += 32h, scales += 8h), l < 32: q = (4 low bits | 2 high bits << 4) − 32 with
//     low bits ql[l]&15, ql[l+32]&15, ql[l]>>4, ql[l+32]>>4 and high bits qh[l]>>0, >>2, >>4, >>6 for
//     elements l, l+32, l+64, l+96; scale index (l/16) + 0, 2, 4, 6; y = d·scale·q.
void dequantize_row_q4_0(const void* in, float* y, int64_t n);
void dequantize_row_q4_k(const void* in, float* y, int64_t n);
void dequantize_row_q5_k(const void* in, float* y, int64_t n);
void dequantize_row_q6_k(const void* in, float* y, int64_t n);
// Quantizers into these layouts (quant_kquant.cpp). `importance` is null or n per-column weights (an
// imatrix row; finite, >= 0): block scales, mins and codes minimise the importance-weighted squared error,
// each element weighted importance·sqrt(mean x² + x²); without it Q4_0/Q6_K weight by x² and Q4_K/Q5_K by
// rms(sub-block) + |x| (llama.cpp's defaults). Throws bf::Error for NaN/Inf input, a length that is not a
// multiple of the block, or a magnitude beyond the f16 scales' reach.
void quantize_row_q4_0(const float* x, void* out, int64_t n, const float* importance);
void quantize_row_q4_k(const float* x, void* out, int64_t n, const float* importance);
void quantize_row_q5_k(const float* x, void* out, int64_t n, const float* importance);
void quantize_row_q6_k(const float* x, void* out, int64_t n, const float* importance);
// The 6-bit scale and min of sub-block j (0..7) from a K-quant's 12 scale bytes: j < 4 from the low 6
// bits of s[j] and s[j+4]; j >= 4 from the nibbles of s[j+4] with s[j-4]'s and s[j]'s top 2 bits above.
void k_scale_min(const uint8_t* s, int j, int* scale, int* min);

// Throws bf::Error naming `what` unless n is a non-negative multiple of block (the quantizers' length check).
void check_multiple(int64_t n, int64_t block, const char* what);

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
