// The shipped default ternary model, converted to tq2_0 and i2_s, must still solve the committed held-out subset
// at the accuracy PyTorch measured for it, minus a stated margin (tests/data/eval_expected.json).
// The answers are computed by the model here; only the reference answers are stored.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "../common/cli_run.h"

namespace {

using bf::testing::slurp;

TEST(ShippedModel, HeldOutAccuracyAtLeastMeasuredMinusMargin) {
    const std::string src = BF_SOURCE_DIR;
    const auto expected = nlohmann::json::parse(slurp(src + "/tests/data/eval_expected.json"));
    const std::string dir = std::filesystem::temp_directory_path() / ("bitflash_eval_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string model = src + "/" + expected["model"].get<std::string>();
    const int floor = expected["measured"].get<int>() - expected["margin"].get<int>();
    for (const auto& t : expected["types"]) {
        const std::string type = t.get<std::string>();
        const std::string gguf = dir + "/model-" + type + ".gguf", out = dir + "/out.txt";
        std::string cmd =
            std::string(BF_BINARY) + " convert " + model + " -o " + gguf + " --outtype " + type + " -q 2>/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        cmd = std::string(BF_BINARY) + " eval -m " + gguf + " --data " + src + "/tests/data/heldout_small.jsonl > " +
              out + " 2>/dev/null";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        std::smatch m;
        const std::string text = slurp(out);
        ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(accuracy: (\d+)/(\d+))"))) << text;
        const int correct = std::stoi(m[1]), total = std::stoi(m[2]);
        EXPECT_EQ(total, expected["problems"].get<int>());
        EXPECT_GE(correct, floor) << type << ": " << correct << "/" << total << " < measured " << expected["measured"]
                                  << " - margin " << expected["margin"];
    }
}

}  // namespace
