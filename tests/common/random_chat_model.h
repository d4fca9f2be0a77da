// Test helper: a random tiny SambaY model (tests/fixtures/tiny8's shape, 320 ids) with the byte-level
// tokenizer of byte_tokenizer.h and a Phi-style chat template, converted by the binary under test.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "byte_tokenizer.h"
#include "core/error.h"

namespace bf::testing {

// Writes the model to dir/chat.gguf (dir is created) and returns its path. Throws bf::Error if convert fails.
inline std::string make_random_chat_model(const std::string& dir) {
    const std::string tok = dir + "/tok";
    std::filesystem::create_directories(tok);
    write_byte_tokenizer(tok + "/tokenizer.json", /*rstrip_chat_tokens=*/false);
    std::ifstream cfg_in(std::string(BF_SOURCE_DIR) + "/tests/fixtures/tiny8/config.json");
    nlohmann::json cfg = nlohmann::json::parse(cfg_in);
    cfg["vocab_size"] = 320;
    std::ofstream(tok + "/config.json") << cfg.dump();
    std::ofstream(tok + "/tokenizer_config.json") << nlohmann::json{
        {"chat_template",
         "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"},
        {"eos_token", "<|endoftext|>"}}.dump();
    const std::string gguf = dir + "/chat.gguf";
    const std::string cmd = std::string(BF_BINARY) + " convert --random " + tok + "/config.json --tokenizer-dir " +
                            tok + " -o " + gguf + " -q > " + dir + "/convert.log 2>&1";
    if (std::system(cmd.c_str()) != 0) fail("convert failed, see " + dir + "/convert.log");
    return gguf;
}

}  // namespace bf::testing
