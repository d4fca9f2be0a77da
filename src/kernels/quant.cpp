// Weight quantizers/dequantizers in the file layouts (Q8_0, TQ2_0, I2_S). Scalar, written for clarity.
#include "kernels/quant.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace bf {

void check_multiple(int64_t n, int64_t block, const char* what) {
    if (n < 0 || n % block != 0)
        fail(strfmt("%s: element count %lld is not a non-negative multiple of %lld", what, (long long)n,
                    (long long)block));
}

namespace {

void check_gamma(float gamma, const char* what) {
    if (!std::isfinite(gamma) || gamma < 0.0f)
        fail(strfmt("%s: ternary scale gamma must be finite and >= 0, got %g", what, double(gamma)));
}

// Ternary code 0, 1, 2 for weight -1, 0, +1.
inline uint8_t ternary_code(float w, float inv_gamma) {
    if (inv_gamma == 0.0f) return 1;
    return uint8_t(round_clamp_i8(w * inv_gamma, 1.0f) + 1);
}

// ggml rounds Q8_0 with roundf (ties away from zero).
inline int8_t round_away_i8(float v) {
    float r = std::roundf(v);
    if (r > 127.0f) r = 127.0f;
    if (r < -127.0f) r = -127.0f;
    if (r != r) r = 0.0f;
    return int8_t(r);
}

}  // namespace

void quantize_row_q8_0(const float* x, void* out, int64_t n) {
    check_multiple(n, 32, "quantize_row_q8_0");
    auto* o = static_cast<uint8_t*>(out);
    for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = f32_to_f16(d);
        std::memcpy(o + b * 34, &dh, 2);
        for (int j = 0; j < 32; ++j) o[b * 34 + 2 + j] = uint8_t(round_away_i8(xb[j] * id));
    }
}

void dequantize_row_q8_0(const void* in, float* y, int64_t n) {
    check_multiple(n, 32, "dequantize_row_q8_0");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t dh;
        std::memcpy(&dh, p + b * 34, 2);
        const float d = f16_to_f32(dh);
        for (int j = 0; j < 32; ++j) y[b * 32 + j] = float(int8_t(p[b * 34 + 2 + j])) * d;
    }
}

double sum_abs(const float* x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::fabs(double(x[i]));
    return s;
}

void quantize_row_tq2_0(const float* w, void* out, int64_t n, float gamma) {
    check_multiple(n, 256, "quantize_row_tq2_0");
    check_gamma(gamma, "quantize_row_tq2_0");
    const float inv = gamma > 0.0f ? 1.0f / gamma : 0.0f;
    auto* o = static_cast<uint8_t*>(out);
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t* blk = o + b * 66;
        const float* wb = w + b * 256;
        std::memset(blk, 0, 64);
        // Element 128*(j/32) + 32*l + m lives in qs[j + m] at shift 2l (j in {0, 32}).
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m)
                    blk[j + m] |= uint8_t(ternary_code(wb[4 * j + 32 * l + m], inv) << (2 * l));
        const uint16_t dh = f32_to_f16(gamma);
        std::memcpy(blk + 64, &dh, 2);
    }
}

void dequantize_row_tq2_0(const void* in, float* y, int64_t n) {
    check_multiple(n, 256, "dequantize_row_tq2_0");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 66;
        uint16_t dh;
        std::memcpy(&dh, blk + 64, 2);
        const float d = f16_to_f32(dh);
        for (int j = 0; j < 64; j += 32)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m)
                    y[b * 256 + 4 * j + 32 * l + m] = float(int((blk[j + m] >> (2 * l)) & 3) - 1) * d;
    }
}

void quantize_i2_s(const float* w, int64_t n, int64_t elem_offset, float gamma, uint8_t* codes) {
    check_multiple(n, 128, "quantize_i2_s");
    check_multiple(elem_offset, 128, "quantize_i2_s offset");
    check_gamma(gamma, "quantize_i2_s");
    const float inv = gamma > 0.0f ? 1.0f / gamma : 0.0f;
    uint8_t* o = codes + elem_offset / 4;
    for (int64_t g = 0; g < n / 128; ++g) {
        uint8_t* grp = o + g * 32;
        std::memset(grp, 0, 32);
        for (int j = 0; j < 128; ++j) grp[j % 32] |= uint8_t(ternary_code(w[g * 128 + j], inv) << (6 - 2 * (j / 32)));
    }
}

void write_i2_s_tail(uint8_t* tail, float scale) {
    std::memset(tail, 0, 32);
    std::memcpy(tail, &scale, 4);
}

float i2_s_scale(const void* data, int64_t n) {
    check_multiple(n, 128, "i2_s_scale");
    float s;
    std::memcpy(&s, static_cast<const uint8_t*>(data) + n / 4, 4);
    return s;
}

void dequantize_i2_s(const void* data, float* y, int64_t n) {
    check_multiple(n, 128, "dequantize_i2_s");
    const auto* p = static_cast<const uint8_t*>(data);
    const float s = i2_s_scale(data, n);
    static const float kVal[4] = {-1.0f, 0.0f, 1.0f, 0.0f};
    for (int64_t g = 0; g < n / 128; ++g)
        for (int j = 0; j < 128; ++j) y[g * 128 + j] = kVal[(p[g * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3] * s;
}

}  // namespace bf
