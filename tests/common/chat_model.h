// Test helper: a random model with a byte-level tokenizer and a Phi-style chat template, converted once
// per test process: enough to drive run, chat and tokenize end to end without any download.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "byte_tokenizer.h"
#include "cli_run.h"

namespace bf::testing {

inline std::string fixture(const std::string& name) { return std::string(BF_SOURCE_DIR) + "/tests/fixtures/" + name; }

// 256 byte tokens, Phi's chat tokens, no merges; the tiny8 config with a 320-token vocabulary.
inline const std::string& chat_model() {
    static const std::string path = [] {
        const std::string dir = tmp() + "/tok";
        std::filesystem::create_directories(dir);
        write_byte_tokenizer(dir + "/tokenizer.json", /*rstrip_chat_tokens=*/true);
        nlohmann::json cfg = nlohmann::json::parse(slurp(fixture("tiny8") + "/config.json"));
        cfg["vocab_size"] = 320;
        std::ofstream(dir + "/config.json") << cfg.dump();
        std::ofstream(dir + "/tokenizer_config.json") << nlohmann::json{
            {"chat_template",
             "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}{% if "
             "add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"},
            {"eos_token", "<|endoftext|>"}}.dump();
        const std::string gguf = tmp() + "/chat.gguf";
        const Result r =
            bitflash("convert --random " + dir + "/config.json --tokenizer-dir " + dir + " -o " + gguf + " -q");
        EXPECT_EQ(r.code, 0) << r.err;
        return gguf;
    }();
    return path;
}

}  // namespace bf::testing
