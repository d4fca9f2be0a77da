// Activation quantizers for the integer formats, scalar form. SIMD targets reimplement them bit for bit
// (same clamps, same rounding); the element helpers here also serve their tails.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/fp16.h"

namespace bf {

// Clamps to [-127, 127] with NaN -> 0, so the conversions below are always defined.
inline float act_clamp127(float v) {
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
    return v == v ? v : 0.0f;
}

// Round half to even by adding and removing 1.5·2^23 (exact for |v| <= 127, round-to-nearest mode).
inline int8_t act_round_even(float v) {
    const float kMagic = 12582912.0f;
    return int8_t(int((act_clamp127(v) + kMagic) - kMagic));
}

// Round half away from zero (C roundf, as ggml's Q8_0 reference), via truncation and a half-step test.
inline int8_t act_round_away(float v) {
    v = act_clamp127(v);
    int i = int(v);
    const float frac = v - float(i);
    i += (frac >= 0.5f) - (frac <= -0.5f);
    return int8_t(i);
}

// Q8_0 block scale as ggml stores it: d = amax/127 rounded through f16; returns the f32 id = 1/d used
// for quantizing (ggml quantizes with the unrounded d).
inline float act_q8_scale(float amax, float* d_rounded) {
    const float d = amax / 127.0f;
    *d_rounded = f16_to_f32(f32_to_f16(d));
    return d != 0.0f ? 1.0f / d : 0.0f;
}

// BitNet b1.58 per-token scale s = 127/max|x| (0 if all zero); returns s, writes 1/s.
inline float act_ternary_scale(float amax, float* inv_s) {
    const float s = amax > 0.0f ? 127.0f / amax : 0.0f;
    *inv_s = s > 0.0f ? 1.0f / s : 0.0f;
    return s;
}

}  // namespace bf
