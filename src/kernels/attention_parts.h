// Pieces the f32 decode, f32 prefill and quantized-cache attention files share (kernels/ internal).
#pragma once
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/compute.h"

namespace bf::kernels {

// The heads of one attention call as the f32 paths see them.
struct AttnShape {
    int64_t n_head, hd, group, kv_stride;
    float scale;
};

// A generic 16-float vector: zmm in the AVX-512 clone, pairs/quads of narrower registers elsewhere.
typedef float V16 __attribute__((vector_size(64)));

// RMSNorm over each pair's 2·D outputs U = O1 − λ·O2, × (1 − λ_init) and subln.
void finish_pairs(int64_t n_head, int64_t D, float lambda_init, const float* subln, const float* u, float* out);

// Parts one query's keys are split into: a few per thread, claimed one at a time, so a thread the OS
// pauses holds up only its current part; one part when threads would cost more than they save.
int decode_parts(bool threaded, int64_t n_units);

// Prefill (many queries) of diff_attention, with the caller's scratch (attention_prefill.cpp).
void prefill_attention(const DiffAttnArgs& a, const AttnShape& sh, bool threaded, KernelScratch& ws);

}  // namespace bf::kernels
