// `--ternary-scales gptq --calib FILE` on convert and quantize, as a user runs them on the shipped f32
// twin: the same file from both commands and from one or many calibration passes, and the refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using bf::testing::bitflash;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

const std::string kTwin = std::string(BF_SOURCE_DIR) + "/models/sambay-math-f32twin";
const std::string kCalib = std::string(BF_SOURCE_DIR) + "/models/calib_text.txt";
const std::string kSmall = " --calib " + kCalib + " --calib-ctx 96 --calib-chunks 2";

std::string twin_f32() {
    const std::string out = tmp() + "/gptq-twin-f32.gguf";
    if (!fs::exists(out)) {
        const Result r = bitflash("convert " + kTwin + " -o " + out + " --outtype f32 -q");
        EXPECT_EQ(r.code, 0) << r.err;
    }
    return out;
}

int passes(const std::string& err) {
    std::smatch m;
    return std::regex_search(err, m, std::regex(R"((\d+) calibration pass)")) ? std::stoi(m[1]) : -1;
}

TEST(GptqCli, QuantizeAndConvertWriteTheSameFileInAnyNumberOfPasses) {
    const std::string f32 = twin_f32(), one = tmp() + "/gptq-one.gguf", many = tmp() + "/gptq-many.gguf",
                      conv = tmp() + "/gptq-conv.gguf", mse = tmp() + "/gptq-mse.gguf";
    const Result a = bitflash("quantize " + f32 + " " + one + " tq2_0 --ternary-scales gptq" + kSmall);
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(passes(a.err), 1);
    EXPECT_NE(a.err.find("blk.0.ffn_down.weight"), std::string::npos);  // one line per matrix, proxy error
    // 1 MB holds one 256-column Hessian (512 KB) plus GPTQ's work matrix: one pass per matrix.
    const Result b = bitflash("quantize " + f32 + " " + many + " tq2_0 --ternary-scales gptq --gptq-memory 1" + kSmall);
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_EQ(passes(b.err), 35);
    EXPECT_EQ(slurp(one), slurp(many));
    const Result c =
        bitflash("convert " + kTwin + " -o " + conv + " --outtype tq2_0 --ternary-scales gptq -q" + kSmall);
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(slurp(conv), slurp(one));
    EXPECT_FALSE(fs::exists(conv + ".calib-f32.tmp"));  // the temporary f32 file is gone
    ASSERT_EQ(bitflash("quantize " + f32 + " " + mse + " tq2_0 -q --ternary-scales block-mse").code, 0);
    EXPECT_NE(slurp(mse), slurp(one));
    EXPECT_EQ(bitflash("run -m " + one + " -p 'What is 2 + 3?' -n 4 --temp 0").code, 0);  // it loads and runs
}

TEST(GptqCli, Refusals) {
    const std::string f32 = twin_f32(), out = tmp() + "/gptq-bad.gguf";
    const auto refused = [&](const std::string& args) {
        const Result r = bitflash(args);
        EXPECT_EQ(r.code, 1) << args;
        EXPECT_FALSE(r.err.empty()) << args;
        EXPECT_FALSE(fs::exists(out)) << args;
    };
    refused("quantize " + f32 + " " + out + " tq2_0 --calib " + kCalib);  // --calib without gptq
    refused("convert " + kTwin + " -o " + out + " --outtype tq2_0 --calib-ctx 64");
    refused("quantize " + f32 + " " + out + " i2_s --ternary-scales gptq" + kSmall);  // one scale per tensor
    refused("quantize " + f32 + " " + out + " tq2_0 --ternary-scales gptq --calib " + tmp() + "/absent.txt");
    refused("quantize " + f32 + " " + out + " tq2_0 --ternary-scales gptq --gptq-memory 0" + kSmall);
    refused("quantize " + f32 + " " + out + " tq2_0 --ternary-scales gptq --calib " + kCalib + " --calib-ctx 0");
    const std::string tq = tmp() + "/gptq-from-tq.gguf";  // calibrating a model that is already ternary
    ASSERT_EQ(bitflash("quantize " + f32 + " " + tq + " tq2_0 -q").code, 0);
    refused("quantize " + tq + " " + out + " tq2_0 --ternary-scales gptq" + kSmall);
}

}  // namespace
