// The one list of SambaY tensors: HF checkpoint name <-> GGUF name, shape and storage role. The
// converter writes exactly these tensors and the loader expects exactly these (docs/formats.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace bf {

enum class TensorRole {
    Embedding,   // token_embd: the input table (and the output head when tied)
    Output,      // output: untied lm_head
    Projection,  // a linear map [out, in] that takes the requested weight type
    Param,       // norms, biases, conv, A, D, lambdas: always f32
};

enum class TensorTransform {
    None,
    NegExp,  // A_log -> A = −exp(A_log), precomputed once at conversion (§4.3 step 5)
};

struct TensorSpec {
    std::string gguf;               // e.g. blk.0.ssm_in.weight
    std::string hf;                 // e.g. model.layers.0.attn.in_proj.weight
    std::vector<int64_t> shape;     // PyTorch order as stored in GGUF: [rows, cols] or [n]
    std::vector<int64_t> hf_shape;  // as in the checkpoint (conv1d has a middle 1)
    TensorRole role = TensorRole::Param;
    TensorTransform transform = TensorTransform::None;
};

std::vector<TensorSpec> tensor_specs(const ModelConfig& c);

// "[10240, 2560]": shapes in error messages.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace bf
