// convert/quantize --ternary-scales on a fixture: per-block rules change only tensors that are not already
// ternary, and convert and quantize write the same blocks.
#include <gtest/gtest.h>

#include <vector>

#include "fixture_util.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "model/tensor_names.h"

namespace bf {
namespace {

using namespace bf::testing;

std::string convert_with(TernaryScales m) {
    const std::string out = temp_dir() + "/ternary256_scales_" + ternary_scales_name(m) + ".gguf";
    ConvertOptions o;
    o.input = fixture_dir("ternary256");
    o.output = out;
    o.outtype = DType::TQ2_0;
    o.ternary_scales = m;
    o.progress = false;
    convert(o);
    return out;
}

std::vector<uint8_t> tensor_bytes(const GgufFile& f, const std::string& name) {
    const GgufTensorInfo& t = f.tensor(name);
    return std::vector<uint8_t>(t.data, t.data + t.nbytes);
}

TEST(TernaryScales, BlockRulesKeepAlreadyTernaryTensors) {
    const GgufFile tensor = GgufFile::open(converted("ternary256", DType::TQ2_0));
    const GgufFile block = GgufFile::open(convert_with(TernaryScales::BlockMse));
    const GgufFile absblock = GgufFile::open(convert_with(TernaryScales::Block));
    int same = 0, differ = 0;
    for (const auto& s : tensor_specs(config_from_gguf(tensor))) {
        if (tensor.tensor(s.gguf).dtype() != DType::TQ2_0) continue;
        const auto a = tensor_bytes(tensor, s.gguf);
        if (s.hf == "model.layers.3.mlp.fc2.weight") {  // stored already ternary in the fixture
            EXPECT_EQ(tensor_bytes(block, s.gguf), a);
            EXPECT_EQ(tensor_bytes(absblock, s.gguf), a);
            ++same;
        } else {
            differ += tensor_bytes(block, s.gguf) != a;
        }
    }
    EXPECT_EQ(same, 1);
    EXPECT_GT(differ, 10);
}

TEST(TernaryScales, QuantizeWritesWhatConvertWrites) {
    const std::string f32 = converted("ternary256", DType::F32);
    const std::string out = temp_dir() + "/requantized_block_mse.gguf";
    quantize_gguf(f32, out, DType::TQ2_0, std::nullopt, false, TernaryScales::BlockMse);
    const GgufFile a = GgufFile::open(out), b = GgufFile::open(convert_with(TernaryScales::BlockMse));
    for (const auto& s : tensor_specs(config_from_gguf(a)))
        EXPECT_EQ(tensor_bytes(a, s.gguf), tensor_bytes(b, s.gguf)) << s.gguf;
    EXPECT_THROW(quantize_gguf(f32, temp_dir() + "/bad.gguf", DType::I2_S, std::nullopt, false, TernaryScales::Row),
                 Error);
}

}  // namespace
}  // namespace bf
