// bitflash convert HF_DIR -o OUT.gguf --outtype TYPE | bitflash convert --random CONFIG.json -o OUT.gguf
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/gptq_calib.h"
#include "cli/hints.h"
#include "convert/convert.h"
#include "convert/imatrix.h"
#include "core/error.h"

namespace bf {

int cmd_convert(int argc, char** argv) {
    std::string input, output, outtype = "f32", head_type, imatrix_path, random_config, tokenizer_dir,
                               ternary_scales = "tensor";
    int64_t seed = 1;
    bool quiet = false;
    ArgParser p(
        "bitflash convert HF_DIR -o OUT.gguf [--outtype TYPE] | bitflash convert --random CONFIG.json -o OUT.gguf",
        "Converts a Hugging Face Phi-4-mini-flash (phi4flash) checkpoint to GGUF, streaming tensor by tensor.\n"
        "Norms, biases, conv, A, D and lambdas stay f32 whatever the type.");
    p.positional("HF_DIR", &input, "folder with config.json, *.safetensors and tokenizer files", false);
    p.option({"-o", "--outfile"}, &output, "OUT.gguf", "output file (required)");
    p.option({"--outtype"}, &outtype, "TYPE",
             "f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_s | q4_k_m | q5_k_s | q5_k_m | q6_k | tq2_0 | i2_s (default f32;\n"
             "q4_k, q5_k mean _m; the mixes are in docs/formats.md)");
    p.option({"--head-type"}, &head_type, "TYPE",
             "embedding / lm_head type: f32 | f16 | bf16 | q8_0 | q6_k | q4_k | q4_0 | tq2_0\n"
             "(default: outtype; q6_k for q4_0 and the k-quants; q8_0 for ternary)");
    p.option({"--ternary-scales"}, &ternary_scales, "RULE",
             "tq2_0 scales: tensor (BitNet absmean, default) | row | block | row-mse | block-mse | gptq\n"
             "(calibrated on --calib: writes an f32 OUT.gguf.calib-f32.tmp first; docs/ACCURACY.md)");
    GptqCalibration calib;
    add_gptq_options(p, calib);
    p.option({"--random"}, &random_config, "CONFIG.json", "random weights for this config instead of a checkpoint");
    p.option({"--seed"}, &seed, "N", "seed of --random (default 1)");
    p.option({"--tokenizer-dir"}, &tokenizer_dir, "DIR",
             "take tokenizer.json, tokenizer_config.json, generation_config.json from DIR");
    p.option({"--imatrix"}, &imatrix_path, "FILE",
             "importance matrix from `bitflash imatrix` (llama.cpp's .dat): q4_0 and k-quant scales minimise\n"
             "the importance-weighted error");
    p.flag({"-q", "--quiet"}, &quiet, "no per-tensor progress");
    if (!p.parse(argc, argv)) return 0;
    if (output.empty()) fail("missing -o OUT.gguf");
    ConvertOptions o;
    o.random = !random_config.empty();
    if (o.random && !input.empty()) fail("give either HF_DIR or --random CONFIG.json, not both");
    if (!o.random && input.empty()) fail("missing HF_DIR (or --random CONFIG.json)");
    if (!o.random) check_convert_input(input);
    o.input = o.random ? random_config : input;
    o.output = output;
    parse_outtype(outtype, o);
    if (o.outtype == DType::TQ1_0) fail("--outtype tq1_0 is not supported yet (use tq2_0 or i2_s)");
    if (!head_type.empty()) o.head_type = dtype_from_name(head_type);
    o.ternary_scales = ternary_scales_from_name(ternary_scales);
    o.seed = uint64_t(seed);
    o.tokenizer_dir = tokenizer_dir;
    o.progress = !quiet;
    std::map<std::string, std::vector<float>> imatrix;
    if (!imatrix_path.empty()) {
        imatrix = load_imatrix(imatrix_path);
        o.importance = &imatrix;
    }
    if (o.ternary_scales == TernaryScales::Gptq) {
        check_ternary_scales(o.outtype, o.ternary_scales);
        // GPTQ runs the full-precision model, which the engine reads from a GGUF: convert to f32 first.
        ConvertOptions f32 = o;
        f32.outtype = DType::F32;
        f32.mix = QuantMix::Uniform;
        f32.head_type.reset();
        f32.ternary_scales = TernaryScales::Tensor;
        f32.importance = nullptr;
        f32.output = output + ".calib-f32.tmp";
        struct Remove {
            std::string path;
            ~Remove() { std::filesystem::remove(path); }
        } remove_tmp{f32.output};
        convert(f32);
        quantize_with_calibration(f32.output, output, o, calib);
    } else {
        check_calibration_options(o, calib);
        convert(o);
    }
    std::fprintf(stderr, "convert: wrote %s\n", output.c_str());
    return 0;
}

}  // namespace bf
