// The int8 weights of one (block, pair, half) of the values pass over the quantized cache, exactly as the
// contract of kernel_api.h (KvValueArgs) defines them: w = fma(e1, c1, −e2·c2) · V-scale per token, one
// absmax scale, codes rounded half to even. The scalar reference and the NEON kernels share this code;
// the x86 kernels compute the same values with vector instructions (AVX2 into this struct).
#pragma once
#include <cfloat>
#include <cmath>

#include "core/fp16.h"
#include "kernels/act_quant.h"
#include "kernels/kernel_api.h"

namespace bf {

struct KvBlockWeights {
    alignas(16) int8_t wq[kKvBlock];  // tokens 4kq..4kq+3 in bytes 4kq..: one int32 per group of 4 tokens
    int32_t wsum = 0;                 // Σ wq (removes the code offset)
    float scale = 0.0f;               // amax / 127
    bool used = false;                // false: all weights (nearly) 0, the block adds nothing
};

// Internal linkage, so each including file (compiled with its own ISA flags) keeps its own copy of this
// function. The small inline helpers it calls (f16_to_f32, act_round_even) are ordinary inline functions:
// an unoptimized build may emit them from several files and the linker keeps one, which is safe only as
// long as they compile to plain scalar code in every file (true for the NEON and reference files today).
namespace {

// False when every weight is 0 or so small that 127/amax would be inf: the block adds nothing.
inline bool kv_block_weights(const KvValueArgs& a, int64_t b, int64_t p, int64_t half, KvBlockWeights& out) {
    const KvView& kv = a.kv;
    const int64_t gv = 2 * (p / a.group) + half;
    const float* e1 = a.e + (b * 2 * a.n_pair + 2 * p) * kKvBlock;
    const float* e2 = e1 + kKvBlock;
    const float* c = a.coef + (b / kKvSpan) * 2 * a.n_pair + 2 * p;
    float w[kKvBlock];
    float amax = 0.0f;
    for (int64_t t = 0; t < kKvBlock; ++t) {
        const float wc = std::fmaf(e1[t], c[0], -(e2[t] * c[1]));
        w[t] = wc * f16_to_f32(kv.vs[(b * kv.n_kv_head + gv) * kKvBlock + t]);
        amax = std::fmax(amax, std::fabs(w[t]));
    }
    out.used = false;
    if (!(amax >= FLT_MIN)) return false;
    const float inv = 127.0f / amax;
    out.scale = amax / 127.0f;
    out.wsum = 0;
    for (int64_t t = 0; t < kKvBlock; ++t) out.wsum += out.wq[t] = act_round_even(w[t] * inv);
    return out.used = true;
}

}  // namespace

}  // namespace bf
