// `bitflash convert`: Hugging Face SambaY checkpoint (or random weights for a config) -> GGUF, streamed
// tensor by tensor in row chunks so the real 7.7 GB checkpoint converts in a small, bounded memory.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "convert/quant_mix.h"
#include "convert/ternarize.h"
#include "core/dtype.h"

namespace bf {

struct ConvertOptions {
    std::string input;           // HF folder (config.json + safetensors), or a config.json with random
    std::string output;          // .gguf path
    DType outtype = DType::F32;  // projections; f32 | f16 | bf16 | q8_0 | q4_0 | q4_k | q5_k | q6_k | tq2_0 | i2_s
    QuantMix mix = QuantMix::Uniform;  // llama.cpp-style mix around outtype (parse_outtype sets both)
    std::optional<DType> head_type;    // embedding / lm_head; default: outtype (q6_k under mixes, q8_0 for ternary)
    // Per-column importance (an imatrix) by GGUF tensor name, `cols` weights each; used by the Q4_0 and
    // K-quant quantizers. Not owned; null = none.
    const std::map<std::string, std::vector<float>>* importance = nullptr;
    bool random = false;        // random weights for the config at `input`
    std::string tokenizer_dir;  // tokenizer files from here instead of `input` (needed with random)
    uint64_t seed = 1;
    bool progress = true;                                  // per-tensor lines on stderr
    TernaryScales ternary_scales = TernaryScales::Tensor;  // tq2_0 block scales (convert/ternarize.h)
    // With ternary_scales == Gptq: the TQ2_0 rows of every tq2_0 tensor by GGUF name, already computed from
    // calibration data (cli/gptq_calib.h). Not owned.
    const std::map<std::string, std::vector<uint8_t>>* prequantized = nullptr;
};

void convert(const ConvertOptions& opt);

// `bitflash quantize`: rewrites a bitflash GGUF (f32/f16/bf16/q8_0/...) with another weight type, keeping
// metadata and tokenizer; the same storage rules as convert.
// Uses opt.outtype, mix, head_type, importance and progress (input/output come from `in` / `out`).
void quantize_gguf(const std::string& in, const std::string& out, const ConvertOptions& opt);
void quantize_gguf(const std::string& in, const std::string& out, DType outtype, std::optional<DType> head_type,
                   bool progress, TernaryScales scales = TernaryScales::Tensor);

}  // namespace bf
