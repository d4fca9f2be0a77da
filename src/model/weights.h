// SambaY weights bound to a mapped GGUF file: every tensor checked for name, type and shape at load.
// Shapes are PyTorch's [out, in]; vectors are f32.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "kernels/matmul.h"
#include "model/config.h"

namespace bf {

struct LayerNormWeights {
    const float* weight = nullptr;  // [d_model]
    const float* bias = nullptr;    // [d_model]
};

struct MambaWeights {                // §4.3 (layers 0, 2, ..., n/2)
    Matrix in_proj;                  // [2·d_inner, d_model]: x rows first, then z rows
    const float* conv_w = nullptr;   // [d_inner, d_conv]; column d_conv−1 multiplies the current input
    const float* conv_b = nullptr;   // [d_inner] (nullptr when the config has no conv bias)
    Matrix x_proj;                   // [dt_rank + 2·d_state, d_inner]: δ_raw, B, C
    Matrix dt_proj;                  // [d_inner, dt_rank]
    const float* dt_bias = nullptr;  // [d_inner], added inside the softplus
    const float* A = nullptr;        // [d_inner, d_state] = −exp(A_log), precomputed by the converter
    const float* D = nullptr;        // [d_inner]
    Matrix out_proj;                 // [d_model, d_inner]
};

struct GmuWeights {   // §4.4 (even layers >= n/2+2)
    Matrix in_proj;   // [d_inner, d_model]
    Matrix out_proj;  // [d_model, d_inner]
};

struct AttentionWeights {  // §4.5 (odd layers)
    Matrix qkv;            // self: [d_model + 2·kv_dim, d_model]; cross: [d_model, d_model] (q only)
    const float* qkv_bias = nullptr;
    Matrix out;  // [d_model, d_model]
    const float* out_bias = nullptr;
    const float* lambda_q1 = nullptr;  // [head_dim] each
    const float* lambda_k1 = nullptr;
    const float* lambda_q2 = nullptr;
    const float* lambda_k2 = nullptr;
    const float* subln = nullptr;  // [2·head_dim], RMSNorm weight
    float lambda_full = 0;         // exp(λq1·λk1) − exp(λq2·λk2) + λ_init(l), fixed at load
    float lambda_init = 0;
};

struct LayerWeights {
    LayerKind kind = LayerKind::Mamba;
    LayerNormWeights attn_norm;  // input_layernorm
    LayerNormWeights ffn_norm;   // post_attention_layernorm
    MambaWeights mamba;
    GmuWeights gmu;
    AttentionWeights attn;
    Matrix ffn_gate_up;  // [2·d_ff, d_model]: gate rows first, then up
    Matrix ffn_down;     // [d_model, d_ff]
};

struct Model {
    ModelConfig config;
    std::shared_ptr<GgufFile> file;  // keeps the mapping alive
    Matrix token_embd;               // [n_vocab, d_model], file layout (row lookups)
    Matrix output;                   // [n_vocab, d_model] prepared for matmul (token_embd when tied)
    LayerNormWeights output_norm;
    std::vector<LayerWeights> layers;

    // Maps and validates a bitflash GGUF; throws bf::Error naming any missing, extra or mis-shaped tensor.
    static Model load(const std::string& path);
    static Model from_gguf(std::shared_ptr<GgufFile> file);
    size_t weight_bytes() const;  // bytes of all tensors in the file
};

// Row `id` of an embedding table as f32 (any weight type).
void embedding_row(const Matrix& table, int64_t id, float* out);

}  // namespace bf
