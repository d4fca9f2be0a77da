// `bitflash quantize` (requantizing a GGUF) must give the same model as converting straight to the type.
#include <gtest/gtest.h>

#include "fixture_util.h"

namespace bf {
namespace {

using namespace bf::testing;

TEST(Quantize, SameLogitsAsDirectConversion) {
    const auto tokens = read_ids(fixture_dir("ternary256") + "/tokens.txt");
    const std::string f32 = converted("ternary256", DType::F32);
    for (DType t : {DType::Q8_0, DType::TQ2_0, DType::I2_S}) {
        const std::string out = temp_dir() + "/requantized_" + dtype_name(t) + ".gguf";
        quantize_gguf(f32, out, t, std::nullopt, false);
        const Model a = Model::load(out), b = Model::load(converted("ternary256", t));
        EXPECT_EQ(all_logits(a, tokens, 0), all_logits(b, tokens, 0)) << dtype_name(t);
        // Requantizing a quantized file again is stable (the ternary values are found already ternary).
        if (t != DType::Q8_0) {
            const std::string again = temp_dir() + "/requantized2_" + dtype_name(t) + ".gguf";
            quantize_gguf(out, again, t, std::nullopt, false);
            const Model c = Model::load(again);
            const Diff d = compare(all_logits(c, tokens, 0), all_logits(b, tokens, 0));
            EXPECT_LT(d.rel(), 1e-3) << dtype_name(t);
        }
    }
}

}  // namespace
}  // namespace bf
