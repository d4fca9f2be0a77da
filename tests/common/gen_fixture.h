// Test helper for generation tests: a reference fixture converted by the bitflash binary, a tokenizer whose
// every id is one visible character (so texts and token runs map one to one), and the reference's greedy ids.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "fixture_files.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace bf::testing {

// The fixture as an f32 GGUF (converted once per process by the binary under test).
inline std::string converted_f32(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("bitflash_gen_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / (name + "_f32.gguf")).string();
    if (std::filesystem::exists(path)) return path;
    const std::string cmd = std::string(BF_BINARY) + " convert " + fixture_dir(name) + " -o " + path +
                            " --outtype f32 -q > " + path + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) fail("converting fixture " + name + " failed, see " + path + ".log");
    return path;
}

// Id i < 94 is the character '!' + i, 94 a space, 95 the control token <|end|>; the other bytes follow
// (the tokenizer needs all 256), so ids below a small model's vocabulary are one visible character each.
inline Tokenizer char_tokenizer() {
    auto byte_level = [](int b) {  // GPT-2's byte-to-unicode map, as UTF-8
        int cp = b;
        const bool visible = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (!visible) {
            int n = 0;
            for (int c = 0; c < b; ++c)
                if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) ++n;
            cp = 256 + n;
        }
        std::string s;
        if (cp < 0x80)
            s += char(cp);
        else
            s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
        return s;
    };
    TokenizerData d;
    for (int b = '!'; b <= '~'; ++b) d.tokens.push_back(byte_level(b));
    d.tokens.push_back(byte_level(' '));
    d.tokens.push_back("<|end|>");
    for (int b = 0; b < 256; ++b)
        if (b != ' ' && !(b >= '!' && b <= '~')) d.tokens.push_back(byte_level(b));
    d.token_type.assign(d.tokens.size(), kTokenNormal);
    d.token_type[95] = kTokenControl;
    d.pre = "gpt2";
    return Tokenizer::from_data(d);
}

}  // namespace bf::testing
