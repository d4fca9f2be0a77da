// Per-sequence decode state of SambaY (architecture.md §5): conv and SSM states of the Mamba layers,
// the sliding-window K/V rings, and the shared K/V that layer n/2+1 writes and the cross-decoder reads.
// Nothing else survives between steps: the GMU memory is recomputed for every token.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/kv_cache.h"
#include "model/config.h"

namespace bf {

struct MambaState {
    std::vector<float> conv;  // [d_inner, d_conv − 1]: the last raw x-branch inputs, oldest first
    std::vector<float> ssm;   // [d_inner, d_state]: h, kept in f32
};

struct SwaCache {
    std::vector<float> k, v;  // [window, kv_dim] ring: position p lives in slot p % window
};

struct SequenceState {
    int64_t n_past = 0;  // tokens already processed
    int64_t n_ctx = 0;   // capacity of shared_kv (the context length)
    int64_t kv_dim = 0;
    std::vector<MambaState> mamba;          // indexed by layer; empty for other layers
    std::vector<SwaCache> swa;              // indexed by layer; empty for other layers
    KvType kv_type = KvType::F32;           // storage of the shared K/V
    std::vector<float> shared_k, shared_v;  // f32: [n_past, kv_dim], capacity n_ctx rows (layer n/2+1)
    QuantKvCache shared_q;                  // q8_0 / q4_0: the same K/V, quantized

    static SequenceState create(const ModelConfig& c, int64_t n_ctx, KvType kv_type = KvType::F32);
    void reset();          // back to an empty sequence, keeping allocations
    size_t bytes() const;  // memory held now
};

}  // namespace bf
