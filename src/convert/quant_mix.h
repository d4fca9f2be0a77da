// Which storage type each tensor gets under an --outtype: llama.cpp-style mixes (q4_k_m, ...), the head
// rule, and the fallback for rows too narrow for a type's blocks. docs/formats.md "Storage types" and
// "Quantization mixes" describe the rule this file owns.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace bf {

struct ConvertOptions;
struct ModelConfig;
struct TensorSpec;

// How far an outtype departs from "one type for every projection".
enum class QuantMix {
    Uniform,  // the outtype for every projection and (unless head_type) the head: API callers' default
    Plain,    // llama.cpp's q4_0 / q6_k file types: a Q6_K head and Q8_0 for the Δ path (ssm_x, ssm_dt)
    Small,    // _S: as Plain, plus one step up where the errors hurt most (few tensors)
    Medium,   // _M: as Small, more tensors and more bits (Q6_K)
};

// Parses a --outtype / `quantize` TYPE name into o.outtype and o.mix: a dtype name (f32 ... i2_s: Uniform;
// q4_0, q6_k: Plain), or q4_k_s | q4_k_m | q5_k_s | q5_k_m; plain q4_k / q5_k mean _m, as llama-quantize's
// aliases do. Throws bf::Error naming the accepted names.
void parse_outtype(const std::string& name, ConvertOptions& o);
// The outtype's name as parse_outtype accepts it (e.g. "q4_k_m").
std::string outtype_name(const ConvertOptions& o);

// general.file_type: llama.cpp's LLAMA_FTYPE_* number of the outtype and mix.
uint32_t file_type_of(const ConvertOptions& o);
// The outtype name (as outtype_name gives it) of a general.file_type number; "" if bitflash writes no such type.
std::string file_type_name(uint32_t file_type);

// The storage type of tensor `s` (the one place of the rule). When the preferred type does not fit the row
// width, `note` (if given) says what was preferred and why the returned type replaces it.
DType tensor_storage_type(const TensorSpec& s, const ConvertOptions& o, const ModelConfig& c, std::string* note);

bool is_ternary(DType t);

}  // namespace bf
