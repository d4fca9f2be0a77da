// `--ternary-scales gptq`: runs the full-precision model over a calibration text, gathers each ternary
// matrix's Hessian X^T X and ternarizes it with GPTQ, in passes whose Hessians fit a memory bound.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cli/args.h"
#include "convert/convert.h"

namespace bf {

struct GptqCalibration {
    std::string text;          // calibration text file (tokenized with special tokens parsed); "": default
    int64_t ctx = 512;         // tokens per chunk; every chunk starts from an empty state
    int64_t max_chunks = 0;    // 0: every chunk of the text
    int64_t memory_mb = 4096;  // bound on the Hessians held at once (plus one GPTQ work matrix)
    bool progress = true;
};

// --calib, --calib-ctx, --calib-chunks, --gptq-memory (the same on convert and quantize).
void add_gptq_options(ArgParser& p, GptqCalibration& c);

// The default --calib: models/calib_text.txt of the source tree (docs/ACCURACY.md).
std::string default_calibration_text();

// TQ2_0 rows by GGUF tensor name, for every matrix that `opt` stores as tq2_0, computed from the
// model in `model_gguf` (which should hold full-precision weights). Throws bf::Error on bad input.
std::map<std::string, std::vector<uint8_t>> gptq_ternarize_model(const std::string& model_gguf,
                                                                 const ConvertOptions& opt, const GptqCalibration& c);

// Fails if a calibration option was given without --ternary-scales gptq (it would be ignored).
void check_calibration_options(const ConvertOptions& opt, const GptqCalibration& c);

// quantize_gguf(in, out, opt); with opt.ternary_scales == Gptq it calibrates on `in` first.
void quantize_with_calibration(const std::string& in, const std::string& out, ConvertOptions opt,
                               const GptqCalibration& c);

}  // namespace bf
