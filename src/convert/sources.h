// Where the converter's tensors come from: a safetensors checkpoint, or a seeded generator of
// plausible random weights (for benchmarking at full size without the real download).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor_names.h"

namespace bf {

class TensorSource {
public:
    virtual ~TensorSource() = default;
    // Rows [row0, row0 + n) of the tensor as f32, in HF values (before any transform).
    virtual void read_rows(int64_t row0, int64_t n, float* out) = 0;
};

class SourceFactory {
public:
    virtual ~SourceFactory() = default;
    virtual std::unique_ptr<TensorSource> open(const TensorSpec& spec, size_t index) = 0;
};

// Opens the checkpoint and checks it holds exactly the expected tensors with the expected shapes.
std::unique_ptr<SourceFactory> make_checkpoint_sources(const std::string& dir, const std::vector<TensorSpec>& specs);
// Deterministic in (seed, tensor index, row): reading a row twice gives the same values.
std::unique_ptr<SourceFactory> make_random_sources(const ModelConfig& cfg, uint64_t seed);

}  // namespace bf
