// bitflash quantize IN.gguf OUT.gguf TYPE: like llama-quantize, for bitflash's phi4flash files.
#include <cstdio>

#include "cli/args.h"
#include "convert/convert.h"
#include "core/error.h"

namespace bf {

int cmd_quantize(int argc, char** argv) {
    std::string in, out, type, head_type, ternary_scales = "tensor";
    bool quiet = false;
    ArgParser p("bitflash quantize IN.gguf OUT.gguf TYPE [--head-type TYPE] [--ternary-scales RULE]",
                "Requantizes a GGUF (e.g. f32 or bf16) to TYPE: f32 | f16 | bf16 | q8_0 | tq2_0 | i2_s.\n"
                "Ternary types apply BitNet b1.58's absmean rule; see README on what that does to a model not trained for it.");
    p.positional("IN.gguf", &in, "input model");
    p.positional("OUT.gguf", &out, "output model");
    p.positional("TYPE", &type, "weight type");
    p.option({"--head-type"}, &head_type, "TYPE", "embedding / lm_head type (default: TYPE; q8_0 for ternary)");
    p.option({"--ternary-scales"}, &ternary_scales, "RULE",
             "tq2_0 scales: tensor (default) | row | block | row-mse | block-mse (docs/ACCURACY.md)");
    p.flag({"-q", "--quiet"}, &quiet, "no per-tensor progress");
    if (!p.parse(argc, argv)) return 0;
    const DType t = dtype_from_name(type);
    if (t == DType::TQ1_0) fail("tq1_0 is not supported yet (use tq2_0 or i2_s)");
    if (t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K)
        fail(type + " is not supported yet");
    std::optional<DType> head;
    if (!head_type.empty()) head = dtype_from_name(head_type);
    quantize_gguf(in, out, t, head, !quiet, ternary_scales_from_name(ternary_scales));
    std::fprintf(stderr, "quantize: wrote %s\n", out.c_str());
    return 0;
}

}  // namespace bf
