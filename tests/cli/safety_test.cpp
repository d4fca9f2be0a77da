// Messages that stop a user from losing work: ternarizing a model not trained ternary, re-quantizing a
// quantized file, a checkpoint folder given to run, a GGUF given to convert.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../common/chat_model.h"
#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using bf::testing::bitflash;
using bf::testing::fixture;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

const char* kNotTernary = "was not trained ternary";

TEST(Safety, TernarizingAFullPrecisionModelWarnsWithTheCost) {
    // ternary256 holds random (full-precision) weights with 256-wide rows, so tq2_0 applies to them.
    const std::string src = fixture("ternary256"), tq2 = tmp() + "/t256_tq2.gguf";
    Result r = bitflash("convert " + src + " -o " + tq2 + " --outtype tq2_0 -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find(kNotTernary), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("52.8 % to 0.2 %"), std::string::npos) << r.err;
    r = bitflash("convert " + src + " -o " + tmp() + "/t256_q8.gguf --outtype q8_0 -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find(kNotTernary), std::string::npos) << r.err;  // only ternary targets warn

    // A checkpoint that declares quantization-aware training is taken at its word.
    const std::string qat = tmp() + "/t256_qat";
    fs::create_directories(qat);
    fs::copy_file(src + "/model.safetensors", qat + "/model.safetensors", fs::copy_options::overwrite_existing);
    nlohmann::json cfg = nlohmann::json::parse(slurp(src + "/config.json"));
    cfg["quantization_config"] = {{"quant_method", "bitnet"}};
    std::ofstream(qat + "/config.json") << cfg.dump();
    r = bitflash("convert " + qat + " -o " + tmp() + "/t256_qat.gguf --outtype tq2_0 -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find(kNotTernary), std::string::npos) << r.err;

    // quantize: full precision -> i2_s warns; weights that are already {-g, 0, +g} do not.
    const std::string f32 = tmp() + "/t256_f32.gguf";
    ASSERT_EQ(bitflash("convert " + src + " -o " + f32 + " -q").code, 0);
    r = bitflash("quantize " + f32 + " " + tmp() + "/t256_i2s.gguf i2_s -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find(kNotTernary), std::string::npos) << r.err;
    const std::string back = tmp() + "/t256_ternary_f32.gguf";  // the tq2_0 file's values, stored as f32
    r = bitflash("quantize " + tq2 + " " + back + " f32 -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("already holds quantized weights (q8_0, tq2_0)"), std::string::npos) << r.err;
    r = bitflash("quantize " + back + " " + tmp() + "/t256_again.gguf tq2_0 -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find(kNotTernary), std::string::npos) << r.err;
}

TEST(Safety, WrongKindOfInputPointsToTheRightCommand) {
    Result r = bitflash("run -m " + fixture("tiny8") + " -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("Hugging Face checkpoint folder, not a GGUF file: convert it first"), std::string::npos)
        << r.err;
    r = bitflash("run -m " + fixture("tiny8") + "/model.safetensors -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("`bitflash convert` its folder"), std::string::npos) << r.err;
    r = bitflash("convert " + bf::testing::chat_model() + " -o " + tmp() + "/never.gguf");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("is already a GGUF file: use `bitflash quantize"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp() + "/never.gguf"));
}

}  // namespace
