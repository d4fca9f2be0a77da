// Differential attention (architecture.md §4.5) over a key/value buffer: heads split into even/odd
// stripes, GQA inside each stripe, both value stripes attended with each stripe's weights, then
// U = O1 − λ·O2, RMSNorm over 2·head_dim, × (1 − λ_init). No positions: callers pick the visible keys.
#pragma once
#include <cstdint>

#include "kernels/kv_cache.h"

namespace bf {

// The layer's heads and differential-attention parameters, shared by both argument structs.
struct DiffAttnHeads {
    int64_t n_head = 0, n_kv_head = 0, head_dim = 0;
    float lambda = 0;              // λ_full of the layer
    float lambda_init = 0;         // λ_init(l)
    const float* subln = nullptr;  // [2·head_dim]
};

struct DiffAttnArgs : DiffAttnHeads {
    const float* q = nullptr;  // query t at q + t·q_stride: n_head heads of head_dim
    int64_t n_q = 0, q_stride = 0;
    const float* k = nullptr;  // key j at k + j·kv_stride: n_kv_head heads
    const float* v = nullptr;
    int64_t kv_stride = 0;
    const int64_t* key_lo = nullptr;  // query t sees keys [key_lo[t], key_hi[t])
    const int64_t* key_hi = nullptr;
    float* out = nullptr;  // query t's n_head·head_dim outputs at out + t·out_stride
    int64_t out_stride = 0;
};

void diff_attention(const DiffAttnArgs& a);

// The same attention over a quantized cache (kernels/kv_cache.h): queries quantized per head to int8,
// integer scores, softmax in f32, and O1 − λ·O2 formed as one weighted sum of V (the combined weights
// quantized per 16-token block). Query t sees cache tokens [0, key_hi[t]).
struct DiffAttnQuantArgs : DiffAttnHeads {
    const float* q = nullptr;
    int64_t n_q = 0, q_stride = 0;
    KvView kv;
    const int64_t* key_hi = nullptr;
    float* out = nullptr;
    int64_t out_stride = 0;
};

void diff_attention_quant(const DiffAttnQuantArgs& a);

}  // namespace bf
