// bitflash convert HF_DIR -o OUT.gguf --outtype TYPE | bitflash convert --random CONFIG.json -o OUT.gguf
#include <cstdio>

#include "cli/args.h"
#include "convert/convert.h"
#include "core/error.h"

namespace bf {

int cmd_convert(int argc, char** argv) {
    std::string input, output, outtype = "f32", head_type, random_config, tokenizer_dir, ternary_scales = "tensor";
    int64_t seed = 1;
    bool quiet = false;
    ArgParser p("bitflash convert HF_DIR -o OUT.gguf [--outtype TYPE] | bitflash convert --random CONFIG.json -o OUT.gguf",
                "Converts a Hugging Face Phi-4-mini-flash (phi4flash) checkpoint to GGUF, streaming tensor by tensor.\n"
                "Norms, biases, conv, A, D and lambdas stay f32 whatever the type.");
    p.positional("HF_DIR", &input, "folder with config.json, *.safetensors and tokenizer files", false);
    p.option({"-o", "--outfile"}, &output, "OUT.gguf", "output file (required)");
    p.option({"--outtype"}, &outtype, "TYPE", "f32 | f16 | bf16 | q8_0 | tq2_0 | i2_s (default f32)");
    p.option({"--head-type"}, &head_type, "TYPE",
             "embedding / lm_head type: f32 | f16 | bf16 | q8_0 | tq2_0 (default: outtype; q8_0 for ternary)");
    p.option({"--ternary-scales"}, &ternary_scales, "RULE",
             "tq2_0 scales: tensor (BitNet absmean, default) | row | block | row-mse | block-mse (docs/ACCURACY.md)");
    p.option({"--random"}, &random_config, "CONFIG.json", "random weights for this config instead of a checkpoint");
    p.option({"--seed"}, &seed, "N", "seed of --random (default 1)");
    p.option({"--tokenizer-dir"}, &tokenizer_dir, "DIR",
             "take tokenizer.json, tokenizer_config.json, generation_config.json from DIR");
    p.flag({"-q", "--quiet"}, &quiet, "no per-tensor progress");
    if (!p.parse(argc, argv)) return 0;
    if (output.empty()) fail("missing -o OUT.gguf");
    ConvertOptions o;
    o.random = !random_config.empty();
    if (o.random && !input.empty()) fail("give either HF_DIR or --random CONFIG.json, not both");
    if (!o.random && input.empty()) fail("missing HF_DIR (or --random CONFIG.json)");
    o.input = o.random ? random_config : input;
    o.output = output;
    o.outtype = dtype_from_name(outtype);
    if (o.outtype == DType::TQ1_0) fail("--outtype tq1_0 is not supported yet (use tq2_0 or i2_s)");
    if (o.outtype == DType::Q4_0 || o.outtype == DType::Q4_K || o.outtype == DType::Q5_K || o.outtype == DType::Q6_K)
        fail("--outtype " + outtype + " is not supported yet");
    if (!head_type.empty()) o.head_type = dtype_from_name(head_type);
    o.ternary_scales = ternary_scales_from_name(ternary_scales);
    o.seed = uint64_t(seed);
    o.tokenizer_dir = tokenizer_dir;
    o.progress = !quiet;
    convert(o);
    std::fprintf(stderr, "convert: wrote %s\n", output.c_str());
    return 0;
}

}  // namespace bf
