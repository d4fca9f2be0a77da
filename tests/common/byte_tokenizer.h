// Test helper: a byte-level tokenizer.json with no merges (each byte is a token, 0..255) plus Phi's chat
// tokens at 256..260, so a text's token count is its byte count plus one per special token. Written
// independently of the tokenizer under test (the GPT-2 byte-to-unicode map is rebuilt here).
#pragma once
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bf::testing {

inline void write_byte_tokenizer(const std::string& path, bool rstrip_chat_tokens) {
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
    std::vector<int> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b)
        if (std::find(bs.begin(), bs.end(), b) == bs.end()) bs.push_back(b), cs.push_back(256 + n++);
    auto utf8 = [](int cp) {
        std::string s;
        if (cp < 0x80)
            s += char(cp);
        else
            s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
        return s;
    };
    nlohmann::json vocab = nlohmann::json::object();
    for (size_t i = 0; i < bs.size(); ++i) vocab[utf8(cs[i])] = bs[i];
    nlohmann::json added = nlohmann::json::array();
    const char* specials[] = {"<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"};
    for (int i = 0; i < 5; ++i)
        added.push_back({{"id", 256 + i},
                         {"content", specials[i]},
                         {"special", true},
                         {"lstrip", false},
                         {"rstrip", rstrip_chat_tokens && i > 0},
                         {"normalized", false},
                         {"single_word", false}});
    const nlohmann::json byte_level = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    const nlohmann::json tok = {
        {"version", "1.0"},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level},
        {"decoder", byte_level},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}, {"ignore_merges", false}}}};
    std::ofstream(path) << tok.dump();
}

}  // namespace bf::testing
