// Quantizers into ggml's Q4_0, Q4_K, Q5_K and Q6_K file layouts (quant.h): block scales and mins chosen by
// the weighted least-squares searches of quant_fit.h, then every code rounded against the stored f16 scales.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/quant.h"
#include "kernels/quant_fit.h"

namespace bf {

namespace {

using qfit::DefaultWeights;

inline int round_clamp(float v, int lo, int hi) {
    const float r = std::nearbyint(v);
    return r < float(lo) ? lo : r > float(hi) ? hi : int(r);
}

// Bad input is refused before any search: a non-multiple length, a NaN/Inf, a magnitude whose block scale
// would overflow f16 (`max_abs`, per format), or an importance weight that is negative or not finite.
// Returns the row's mean x², the sigma² of the importance weighting.
float check_row(const float* x, int64_t n, int64_t block, const float* importance, float max_abs, const char* what) {
    if (n < 0 || n % block != 0)
        fail(strfmt("%s: element count %lld is not a non-negative multiple of %lld", what, (long long)n,
                    (long long)block));
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) fail(strfmt("%s: element %lld is not finite (%g)", what, (long long)i, double(x[i])));
        if (std::fabs(x[i]) > max_abs)
            fail(strfmt("%s: element %lld = %g is beyond what the format's f16 scales can hold (|x| <= %g)", what,
                        (long long)i, double(x[i]), double(max_abs)));
        sq += double(x[i]) * x[i];
        if (importance && !(std::isfinite(importance[i]) && importance[i] >= 0))
            fail(strfmt("%s: importance weight %lld is %g (must be finite and >= 0)", what, (long long)i,
                        double(importance[i])));
    }
    return n > 0 ? float(sq / double(n)) : 0.0f;
}

uint16_t to_f16_checked(float v, const char* what) {
    const uint16_t h = f32_to_f16(v);
    if (!std::isfinite(f16_to_f32(h))) fail(strfmt("%s: block scale %g overflows f16", what, double(v)));
    return h;
}

void put_half(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

float sum_of(const float* w, int n) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += w[i];
    return float(s);
}

// Largest |x| each format takes: the f16 super-scale times the largest code product, with a margin for the
// least-squares scales landing a little above the plain max/nmax (Q4_0: 8·65504; K-quants: their mins,
// 63·65504; Q6_K: 128·32·65504).
constexpr float kQ4_0MaxAbs = 5.0e5f;
constexpr float kKAffineMaxAbs = 4.0e6f;
constexpr float kQ6_KMaxAbs = 2.5e8f;

// One Q4_K/Q5_K super-block of 256: eight sub-blocks of 32 fitted as s·l − m (l in [0, nmax]), then the
// eight scales and eight mins each quantized to 6 bits against an f16 super-scale, then the codes rounded
// against the stored values.
struct AffineSuperBlock {
    uint16_t d, dmin;
    int sc[8], mn[8];
    uint8_t q[256];
};

void fit_affine_super_block(const float* x, const float* importance, float sigma2, int nmax, float rmin, float rdelta,
                            int nstep, AffineSuperBlock* o, const char* what) {
    float scale[8], mins[8], wsum[8], w[32];
    int l[32];
    for (int j = 0; j < 8; ++j) {
        qfit::block_weights(x + 32 * j, importance ? importance + 32 * j : nullptr, 32, sigma2,
                            DefaultWeights::kRmsPlusAbs, w);
        scale[j] = qfit::fit_affine(x + 32 * j, w, 32, nmax, rmin, rdelta, nstep, l, &mins[j]);
        wsum[j] = sum_of(w, 32);
    }
    o->d = to_f16_checked(qfit::fit_positive(scale, wsum, 8, 63, o->sc), what);
    o->dmin = to_f16_checked(qfit::fit_positive(mins, wsum, 8, 63, o->mn), what);
    const float d = f16_to_f32(o->d), dmin = f16_to_f32(o->dmin);
    for (int j = 0; j < 8; ++j) {
        const float s = d * float(o->sc[j]), m = dmin * float(o->mn[j]);
        for (int i = 0; i < 32; ++i)
            o->q[32 * j + i] = uint8_t(s == 0 ? 0 : round_clamp((x[32 * j + i] + m) / s, 0, nmax));
    }
}

// The 12 scale bytes of a K-quant: the inverse of k_scale_min.
void pack_k_scales(const int* sc, const int* mn, uint8_t* s) {
    for (int j = 0; j < 4; ++j) {
        s[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = uint8_t((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = uint8_t((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

// Q4_K/Q5_K share the header (d, dmin, scales) and the low-nibble layout: weights 64g..64g+31 in the low
// nibbles of qs[32g..32g+31], the next 32 in the high nibbles.
void pack_affine_header_and_nibbles(const AffineSuperBlock& b, uint8_t* p, uint8_t* qs) {
    put_half(p, b.d);
    put_half(p + 2, b.dmin);
    pack_k_scales(b.sc, b.mn, p + 4);
    for (int g = 0; g < 4; ++g)
        for (int l = 0; l < 32; ++l)
            qs[32 * g + l] = uint8_t((b.q[64 * g + l] & 15) | ((b.q[64 * g + 32 + l] & 15) << 4));
}

// Q4_K (144-byte blocks) and Q5_K (176: the 32 bytes of fifth bits sit before the nibbles). The search
// ranges are llama.cpp's: steps (nmax + rmin + 0.1·k)/(max − min), Q4_K rmin −1, k = 0..20; Q5_K −0.5, 0..15.
void quantize_row_k_affine(const float* x, void* out, int64_t n, const float* importance, bool five_bits,
                           const char* what) {
    const float sigma2 = check_row(x, n, 256, importance, kKAffineMaxAbs, what);
    const int nmax = five_bits ? 31 : 15, nstep = five_bits ? 15 : 20;
    const float rmin = five_bits ? -0.5f : -1.0f;
    const int64_t block_bytes = five_bits ? 176 : 144, qs_offset = five_bits ? 48 : 16;
    auto* p = static_cast<uint8_t*>(out);
    AffineSuperBlock b;
    for (int64_t i = 0; i < n / 256; ++i, p += block_bytes) {
        fit_affine_super_block(x + 256 * i, importance ? importance + 256 * i : nullptr, sigma2, nmax, rmin, 0.1f,
                               nstep, &b, what);
        pack_affine_header_and_nibbles(b, p, p + qs_offset);
        if (!five_bits) continue;
        uint8_t* qh = p + 16;  // bit s of qh[l]: the fifth bit of element l of sub-block s
        std::memset(qh, 0, 32);
        for (int s = 0; s < 8; ++s)
            for (int l = 0; l < 32; ++l) qh[l] = uint8_t(qh[l] | (((b.q[32 * s + l] >> 4) & 1) << s));
    }
}

}  // namespace

void quantize_row_q4_0(const float* x, void* out, int64_t n, const float* importance) {
    const char* what = "quantize_row_q4_0";
    const float sigma2 = check_row(x, n, 32, importance, kQ4_0MaxAbs, what);
    auto* p = static_cast<uint8_t*>(out);
    float w[32];
    int l[32];
    for (int64_t b = 0; b < n / 32; ++b, p += 18) {
        const float* xb = x + 32 * b;
        qfit::block_weights(xb, importance ? importance + 32 * b : nullptr, 32, sigma2, DefaultWeights::kSquare, w);
        const uint16_t dh = to_f16_checked(qfit::fit_symmetric(xb, w, 32, 8, l), what);
        put_half(p, dh);
        const float d = f16_to_f32(dh);
        for (int j = 0; j < 32; ++j) l[j] = d == 0 ? 8 : round_clamp(xb[j] / d, -8, 7) + 8;
        for (int j = 0; j < 16; ++j) p[2 + j] = uint8_t(l[j] | (l[j + 16] << 4));
    }
}

void quantize_row_q4_k(const float* x, void* out, int64_t n, const float* importance) {
    quantize_row_k_affine(x, out, n, importance, /*five_bits=*/false, "quantize_row_q4_k");
}

void quantize_row_q5_k(const float* x, void* out, int64_t n, const float* importance) {
    quantize_row_k_affine(x, out, n, importance, /*five_bits=*/true, "quantize_row_q5_k");
}

void quantize_row_q6_k(const float* x, void* out, int64_t n, const float* importance) {
    const char* what = "quantize_row_q6_k";
    const float sigma2 = check_row(x, n, 256, importance, kQ6_KMaxAbs, what);
    auto* p = static_cast<uint8_t*>(out);
    float scale[16], wsum[16], w[16];
    int l[16], sc[16];
    uint8_t q[256];
    for (int64_t i = 0; i < n / 256; ++i, p += 210) {
        const float* xb = x + 256 * i;
        for (int j = 0; j < 16; ++j) {  // sixteen sub-blocks of 16: x ≈ s·l, l in [−32, 31]
            qfit::block_weights(xb + 16 * j, importance ? importance + 256 * i + 16 * j : nullptr, 16, sigma2,
                                DefaultWeights::kSquare, w);
            scale[j] = qfit::fit_symmetric(xb + 16 * j, w, 16, 32, l);
            wsum[j] = sum_of(w, 16);
        }
        const uint16_t dh = to_f16_checked(qfit::fit_symmetric(scale, wsum, 16, 128, sc), what);  // int8 scales
        const float d = f16_to_f32(dh);
        for (int j = 0; j < 16; ++j) {
            const float s = d * float(sc[j]);
            for (int k = 0; k < 16; ++k)
                q[16 * j + k] = uint8_t(s == 0 ? 32 : round_clamp(xb[16 * j + k] / s, -32, 31) + 32);
        }
        uint8_t* ql = p;
        uint8_t* qh = p + 128;
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {  // elements l, l+32, l+64, l+96 of each 128-half
            const uint8_t* qq = q + 128 * h;
            for (int k = 0; k < 32; ++k) {
                ql[k] = uint8_t((qq[k] & 15) | ((qq[k + 64] & 15) << 4));
                ql[k + 32] = uint8_t((qq[k + 32] & 15) | ((qq[k + 96] & 15) << 4));
                qh[k] = uint8_t((qq[k] >> 4) | ((qq[k + 32] >> 4) << 2) | ((qq[k + 64] >> 4) << 4) |
                                ((qq[k + 96] >> 4) << 6));
            }
        }
        for (int j = 0; j < 16; ++j) p[192 + j] = uint8_t(int8_t(sc[j]));
        put_half(p + 208, dh);
    }
}

}  // namespace bf
