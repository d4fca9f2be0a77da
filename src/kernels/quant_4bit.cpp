// Dequantizers of ggml's 4- to 6-bit file layouts (Q4_0, Q4_K, Q5_K, Q6_K), written from the block
// descriptions in quant.h: the one decoder of these layouts that converters, loaders and tests share.
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/quant.h"

namespace bf {

namespace {

float half_at(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
}

}  // namespace

void k_scale_min(const uint8_t* s, int j, int* scale, int* min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

void dequantize_row_q4_0(const void* in, float* y, int64_t n) {
    check_multiple(n, 32, "dequantize_row_q4_0");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 32; ++b, p += 18, y += 32) {
        const float d = half_at(p);
        for (int j = 0; j < 16; ++j) {
            y[j] = float((p[2 + j] & 15) - 8) * d;
            y[j + 16] = float((p[2 + j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_k(const void* in, float* y, int64_t n) {
    check_multiple(n, 256, "dequantize_row_q4_k");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 256; ++b, p += 144) {
        const float d = half_at(p), dmin = half_at(p + 2);
        const uint8_t* sc = p + 4;
        const uint8_t* qs = p + 16;
        for (int g = 0; g < 4; ++g, qs += 32) {  // 64 weights: sub-block 2g from low nibbles, 2g+1 from high
            int s0, m0, s1, m1;
            k_scale_min(sc, 2 * g, &s0, &m0);
            k_scale_min(sc, 2 * g + 1, &s1, &m1);
            for (int l = 0; l < 32; ++l) *y++ = d * float(s0) * float(qs[l] & 15) - dmin * float(m0);
            for (int l = 0; l < 32; ++l) *y++ = d * float(s1) * float(qs[l] >> 4) - dmin * float(m1);
        }
    }
}

void dequantize_row_q5_k(const void* in, float* y, int64_t n) {
    check_multiple(n, 256, "dequantize_row_q5_k");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 256; ++b, p += 176) {
        const float d = half_at(p), dmin = half_at(p + 2);
        const uint8_t* sc = p + 4;
        const uint8_t* qh = p + 16;
        const uint8_t* qs = p + 48;
        for (int g = 0; g < 4; ++g, qs += 32) {  // sub-block s takes its fifth bit from bit s of qh[l]
            int s0, m0, s1, m1;
            k_scale_min(sc, 2 * g, &s0, &m0);
            k_scale_min(sc, 2 * g + 1, &s1, &m1);
            for (int l = 0; l < 32; ++l)
                *y++ = d * float(s0) * float((qs[l] & 15) | (((qh[l] >> (2 * g)) & 1) << 4)) - dmin * float(m0);
            for (int l = 0; l < 32; ++l)
                *y++ = d * float(s1) * float((qs[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4)) - dmin * float(m1);
        }
    }
}

void dequantize_row_q6_k(const void* in, float* y, int64_t n) {
    check_multiple(n, 256, "dequantize_row_q6_k");
    const auto* p = static_cast<const uint8_t*>(in);
    for (int64_t b = 0; b < n / 256; ++b, p += 210) {
        const uint8_t* ql = p;
        const uint8_t* qh = p + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = half_at(p + 208);
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, y += 128) {  // two halves of 128 weights
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q0 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * float(sc[is]) * float(q0);
                y[l + 32] = d * float(sc[is + 2]) * float(q1);
                y[l + 64] = d * float(sc[is + 4]) * float(q2);
                y[l + 96] = d * float(sc[is + 6]) * float(q3);
            }
        }
    }
}

}  // namespace bf
