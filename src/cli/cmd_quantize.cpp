// bitflash quantize IN.gguf OUT.gguf TYPE: like llama-quantize, for bitflash's phi4flash files.
#include <cstdio>

#include "cli/args.h"
#include "cli/gptq_calib.h"
#include "convert/convert.h"
#include "convert/imatrix.h"
#include "core/error.h"

namespace bf {

int cmd_quantize(int argc, char** argv) {
    std::string in, out, type, head_type, imatrix_path, ternary_scales = "tensor";
    bool quiet = false;
    ArgParser p(
        "bitflash quantize IN.gguf OUT.gguf TYPE [--head-type TYPE] [--imatrix FILE] [--ternary-scales RULE [--calib "
        "FILE]]",
        "Requantizes a GGUF (e.g. f32 or bf16) to TYPE: f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_s | q4_k_m |\n"
        "q5_k_s | q5_k_m | q6_k | tq2_0 | i2_s (q4_k, q5_k mean _m; mixes: docs/formats.md).\n"
        "Ternary types apply BitNet b1.58's absmean rule; see README on what that does to a model not trained for it.");
    p.positional("IN.gguf", &in, "input model");
    p.positional("OUT.gguf", &out, "output model");
    p.positional("TYPE", &type, "weight type");
    p.option({"--head-type"}, &head_type, "TYPE",
             "embedding / lm_head type (default: TYPE; q6_k for q4_0 and the k-quants; q8_0 for ternary)");
    p.option({"--imatrix"}, &imatrix_path, "FILE",
             "importance matrix from `bitflash imatrix` (llama.cpp's .dat): q4_0 and k-quant scales minimise\n"
             "the importance-weighted error");
    p.option({"--ternary-scales"}, &ternary_scales, "RULE",
             "tq2_0 scales: tensor (default) | row | block | row-mse | block-mse | gptq (calibrated on --calib;\n"
             "docs/ACCURACY.md)");
    GptqCalibration calib;
    add_gptq_options(p, calib);
    p.flag({"-q", "--quiet"}, &quiet, "no per-tensor progress");
    if (!p.parse(argc, argv)) return 0;
    ConvertOptions o;
    parse_outtype(type, o);
    if (o.outtype == DType::TQ1_0) fail("tq1_0 is not supported yet (use tq2_0 or i2_s)");
    if (!head_type.empty()) o.head_type = dtype_from_name(head_type);
    o.ternary_scales = ternary_scales_from_name(ternary_scales);
    o.progress = !quiet;
    std::map<std::string, std::vector<float>> imatrix;
    if (!imatrix_path.empty()) {
        imatrix = load_imatrix(imatrix_path);
        o.importance = &imatrix;
    }
    quantize_with_calibration(in, out, o, calib);
    std::fprintf(stderr, "quantize: wrote %s\n", out.c_str());
    return 0;
}

}  // namespace bf
