// Scalar reference kernels: the oracle every SIMD target is tested against. Plain loops, one output at a
// time, in the simplest summation order. Layouts: kernels/kernel_api.h.
#include <cstring>

#include "core/fp16.h"
#include "kernels/act_quant.h"
#include "kernels/kernel_api.h"

namespace bf {

namespace {

template <typename Load>
void mat_float(const MatArgs& a, int64_t r0, int64_t r1, Load load) {
    const auto* x = static_cast<const float*>(a.x);
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t) {
            float s = 0.0f;
            for (int64_t c = 0; c < a.cols; ++c) s += load(r * a.cols + c) * x[t * a.cols + c];
            a.y[t * a.y_stride + r] = s;
        }
}

void ref_f32(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const float*>(a.w);
    mat_float(a, r0, r1, [w](int64_t i) { return w[i]; });
}

void ref_f16(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint16_t*>(a.w);
    mat_float(a, r0, r1, [w](int64_t i) { return f16_to_f32(w[i]); });
}

void ref_bf16(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint16_t*>(a.w);
    mat_float(a, r0, r1, [w](int64_t i) { return bf16_to_f32(w[i]); });
}

// Σ_b (d_w·d_x) · Σ_j q_w·q_x, as ggml's q8_0 × q8_0 dot.
void ref_q8_0(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const int8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t nb = a.cols / 32;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                int32_t dot = 0;
                for (int j = 0; j < 32; ++j) dot += int32_t(w[r * a.cols + b * 32 + j]) * x[t * a.cols + b * 32 + j];
                s += f16_to_f32(a.w_scales_h[r * nb + b]) * a.xd[t * nb + b] * float(dot);
            }
            a.y[t * a.y_stride + r] = s;
        }
}

// Ternary: weight = code - 1; y = Σ_b d_b · (Σ code·x − Σ x)_b / s.
void ref_ternary(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* codes = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t nb = a.kp / 256;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = codes + r * (a.kp / 4);
        for (int64_t t = 0; t < a.n_tok; ++t) {
            const int8_t* xt = x + t * a.kp;
            int32_t total = 0;
            float s = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                int32_t acc = 0;
                for (int e = 0; e < 256; ++e) acc += ternary_code(row, b * 256 + e) * xt[b * 256 + e];
                acc -= a.xsum[t * nb + b];
                total += acc;
                if (!a.uniform) s += a.w_scales[r * nb + b] * float(acc);
            }
            if (a.uniform) s = float(total) * a.w_scales[0];
            a.y[t * a.y_stride + r] = s * a.xd[t];
        }
    }
}

// Q4_0: Σ_b d_w·d_x · (Σ_j q·x − 8·Σ_j x), the integer part exact.
void ref_q4_0(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                int32_t dot = 0;
                for (int j = 0; j < 32; ++j) dot += pair_nibble(w + r * (k / 2), b * 32 + j, k) * x[t * k + b * 32 + j];
                dot -= 8 * (a.xsum[t * (k / 16) + 2 * b] + a.xsum[t * (k / 16) + 2 * b + 1]);
                s += f16_to_f32(a.w_scales_h[r * nb + b]) * a.xd[t * nb + b] * float(dot);
            }
            a.y[t * a.y_stride + r] = s;
        }
}

// Q4_K / Q5_K: Σ_s d_x,s · (d·sc_s · Σ q·x − dmin·m_s · Σ x) over the 32-sub-blocks s.
template <bool kFifthBit>
void ref_kquant(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                const KqScales& sc = static_cast<const KqScales*>(a.w_meta)[r * (k / 256) + b / 8];
                int32_t dot = 0;
                for (int j = 0; j < 32; ++j) {
                    int q = pair_nibble(w + r * (k / 2), b * 32 + j, k);
                    if (kFifthBit) q |= ((a.w_hi[r * (k / 8) + (b / 8) * 32 + j] >> (b % 8)) & 1) << 4;
                    dot += q * x[t * k + b * 32 + j];
                }
                const int32_t xs = a.xsum[t * (k / 16) + 2 * b] + a.xsum[t * (k / 16) + 2 * b + 1];
                s += a.xd[t * nb + b] * (f16_to_f32(sc.d) * float(sc.sc[b % 8]) * float(dot) -
                                         f16_to_f32(sc.dmin) * float(sc.m[b % 8]) * float(xs));
            }
            a.y[t * a.y_stride + r] = s;
        }
}
void ref_q4_k(const MatArgs& a, int64_t r0, int64_t r1) { ref_kquant<false>(a, r0, r1); }
void ref_q5_k(const MatArgs& a, int64_t r0, int64_t r1) { ref_kquant<true>(a, r0, r1); }

// Q6_K: Σ_b d·d_x · Σ_{16-sub-blocks i of b} sc_i · (Σ q·x − 32·Σ x), the integer part exact.
void ref_q6_k(const MatArgs& a, int64_t r0, int64_t r1) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const auto* x = static_cast<const int8_t*>(a.x);
    const int64_t k = a.cols, nb = k / 32;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < a.n_tok; ++t) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                const Q6Scales& sc = static_cast<const Q6Scales*>(a.w_meta)[r * (k / 256) + b / 8];
                int32_t blk = 0;
                for (int h = 0; h < 2; ++h) {
                    int32_t dot = 0;
                    for (int j = 16 * h; j < 16 * h + 16; ++j)
                        dot += q6_code(w + r * (k / 2), a.w_hi + r * (k / 4), b * 32 + j) * x[t * k + b * 32 + j];
                    blk += int32_t(sc.sc[(b % 8) * 2 + h]) * (dot - 32 * a.xsum[t * (k / 16) + 2 * b + h]);
                }
                s += f16_to_f32(sc.d) * a.xd[t * nb + b] * float(blk);
            }
            a.y[t * a.y_stride + r] = s;
        }
}

// Q8_0 activations as ggml quantizes them: d = amax/127 (stored as f16), q = roundf(x/d).
void ref_quant_q8_0(const float* x, int64_t cols, int8_t* q, float* d) {
    for (int64_t b = 0; b < cols / 32; ++b) {
        const float* xb = x + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) {
            const float a = std::fabs(xb[j]);
            amax = a > amax ? a : amax;  // NaN never wins
        }
        const float id = act_q8_scale(amax, &d[b]);
        for (int j = 0; j < 32; ++j) q[b * 32 + j] = act_round_away(xb[j] * id);
    }
}

// BitNet b1.58 activations: s = 127/max|x|, q = clamp(rint(x·s), ±127), zero padding to kp, block sums.
void ref_quant_ternary(const float* x, int64_t cols, int64_t kp, int8_t* q, float* inv_s, int32_t* bsum) {
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
        const float a = std::fabs(x[c]);
        amax = a > amax ? a : amax;
    }
    const float s = act_ternary_scale(amax, inv_s);
    for (int64_t c = 0; c < cols; ++c) q[c] = act_round_even(x[c] * s);
    std::memset(q + cols, 0, size_t(kp - cols));
    for (int64_t b = 0; b < kp / 256; ++b) {
        int32_t sum = 0;
        for (int e = 0; e < 256; ++e) sum += q[b * 256 + e];
        bsum[b] = sum;
    }
}

const KernelTable kRef = {
    "scalar",      ref_f32, ref_f16, ref_bf16, ref_q8_0, ref_ternary, ref_quant_q8_0, ref_quant_ternary, ref_kv_scores,
    ref_kv_values, false,   false,   0,        ref_q4_0, ref_q4_k,    ref_q5_k,       ref_q6_k};

}  // namespace

const KernelTable* ref_kernels() { return &kRef; }

}  // namespace bf
