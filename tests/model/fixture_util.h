// Helpers shared by the model tests: fixture files, conversion into a temp folder, greedy decoding.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <optional>
#include <unistd.h>
#include <sstream>
#include <string>
#include <vector>

#include "../common/fixture_files.h"
#include "convert/convert.h"
#include "model/sambay.h"

namespace bf::testing {

inline std::vector<float> read_f32(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

inline std::string temp_dir() {
    auto d = std::filesystem::temp_directory_path() / ("bitflash_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d.string();
}

// Converts fixture `name` to `type` (cached per process) and returns the GGUF path.
inline std::string converted(const std::string& name, DType type, std::optional<DType> head = std::nullopt) {
    const std::string out = temp_dir() + "/" + name + "_" + dtype_name(type) +
                            (head ? std::string("_h") + dtype_name(*head) : "") + ".gguf";
    if (!std::filesystem::exists(out)) {
        ConvertOptions o;
        o.input = fixture_dir(name);
        o.output = out;
        o.outtype = type;
        o.head_type = head;
        o.progress = false;
        convert(o);
    }
    return out;
}

// Logits of every position, feeding the tokens in chunks of `batch` (0 = all at once).
inline std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& tokens, size_t batch,
                                     KvType kv = KvType::F32) {
    SequenceState st = SequenceState::create(m.config, int64_t(tokens.size()), kv);
    Workspace ws;
    const size_t V = size_t(m.config.n_vocab);
    std::vector<float> out(tokens.size() * V);
    if (batch == 0) batch = tokens.size();
    for (size_t i = 0; i < tokens.size(); i += batch) {
        const size_t n = std::min(batch, tokens.size() - i);
        forward(m, st, std::span<const int32_t>(tokens.data() + i, n), LogitsFor::AllTokens, ws, out.data() + i * V);
    }
    return out;
}

inline int32_t argmax(const float* x, int64_t n) { return int32_t(std::max_element(x, x + n) - x); }

// Prompt in one chunk (last-token logits only), then n greedy steps of one token.
inline std::vector<int32_t> greedy(const Model& m, const std::vector<int32_t>& prompt, int n) {
    SequenceState st = SequenceState::create(m.config, int64_t(prompt.size()) + n);
    Workspace ws;
    std::vector<float> logits(size_t(m.config.n_vocab));
    forward(m, st, prompt, LogitsFor::LastToken, ws, logits.data());
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        const int32_t tok = argmax(logits.data(), m.config.n_vocab);
        out.push_back(tok);
        if (i + 1 < n) forward(m, st, std::span<const int32_t>(&tok, 1), LogitsFor::LastToken, ws, logits.data());
    }
    return out;
}

struct Diff {
    double max_abs = 0, scale = 0;
    double rel() const { return max_abs / scale; }
};
inline Diff compare(const std::vector<float>& got, const std::vector<float>& want) {
    Diff d;
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
        d.max_abs = std::max(d.max_abs, double(std::fabs(got[i] - want[i])));
        d.scale = std::max(d.scale, double(std::fabs(want[i])));
    }
    return d;
}

}  // namespace bf::testing
