// Keys: tokenizer.ggml.* as llama.cpp writes them, plus bitflash.tokenizer.* for what GGUF has no
// standard key for (rstrip/lstrip flags, the pre-tokenizer regex, the end-of-generation set).
#include "convert/tokenizer_meta.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace bf {

namespace {

bool read_file(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    out = ss.str();
    return true;
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail(what + ": invalid JSON: " + e.what());
    }
}

// tokenizer_config.json names tokens as strings or as {"content": ...} objects.
std::string token_text(const nlohmann::json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
    return {};
}

}  // namespace

void add_tokenizer_metadata(const std::string& dir, const ModelConfig& cfg, GgufWriter& w) {
    std::string text;
    if (!read_file(dir + "/tokenizer.json", text)) {
        std::fprintf(stderr, "convert: no tokenizer.json in %s: the GGUF will have no tokenizer\n", dir.c_str());
        return;
    }
    Tokenizer tok = Tokenizer::from_hf_json(text);
    TokenizerData data = tok.to_data();
    if (int64_t(data.tokens.size()) > cfg.n_vocab)
        fail(strfmt("tokenizer has %zu tokens but the model's vocab_size is %lld", data.tokens.size(),
                    (long long)cfg.n_vocab));
    // Rows of the embedding without a token (padding to a multiple of 64) get llama.cpp's filler.
    for (int64_t id = int64_t(data.tokens.size()); id < cfg.n_vocab; ++id) {
        data.tokens.push_back("[PAD" + std::to_string(id) + "]");
        data.token_type.push_back(kTokenUnused);
    }

    std::string chat_template, bos_text, eos_text;
    if (read_file(dir + "/tokenizer_config.json", text)) {
        const auto j = parse_json(text, "tokenizer_config.json");
        if (j.contains("chat_template")) {
            const auto& t = j["chat_template"];
            if (t.is_string()) {
                chat_template = t.get<std::string>();
            } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
                for (const auto& e : t)
                    if (e.is_object() && e.value("name", "") == "default" && e.contains("template"))
                        chat_template = e["template"].get<std::string>();
            }
        }
        if (j.contains("bos_token")) bos_text = token_text(j["bos_token"]);
        if (j.contains("eos_token")) eos_text = token_text(j["eos_token"]);
    }
    auto id_of = [&](const std::string& t) -> int32_t {
        if (t.empty()) return -1;
        auto id = tok.token_id(t);
        return id ? *id : -1;
    };
    int32_t bos = id_of(bos_text), eos = id_of(eos_text);
    if (bos < 0) bos = data.bos_id;
    if (eos < 0) eos = data.eos_id;

    // End of generation: generation_config's eos_token_id (int or list), else eos and <|end|>.
    std::vector<int32_t> eog;
    if (read_file(dir + "/generation_config.json", text)) {
        const auto j = parse_json(text, "generation_config.json");
        if (j.contains("eos_token_id")) {
            const auto& e = j["eos_token_id"];
            if (e.is_number_integer()) eog.push_back(e.get<int32_t>());
            if (e.is_array())
                for (const auto& x : e)
                    if (x.is_number_integer()) eog.push_back(x.get<int32_t>());
        }
    }
    if (eog.empty()) {
        for (const char* t : {"<|end|>", "<|endoftext|>"})
            if (int32_t id = id_of(t); id >= 0) eog.push_back(id);
        if (eog.empty() && eos >= 0) eog.push_back(eos);
    }
    for (int32_t id : eog)
        if (id < 0 || id >= cfg.n_vocab) fail(strfmt("generation_config.json: eos_token_id %d is out of range", id));

    w.add_kv("tokenizer.ggml.model", GgufValue::string("gpt2"));
    w.add_kv("tokenizer.ggml.pre", GgufValue::string(data.pre.empty() ? "default" : data.pre));
    w.add_kv("tokenizer.ggml.tokens", GgufValue::str_array(data.tokens));
    w.add_kv("tokenizer.ggml.token_type", GgufValue::i32_array(data.token_type));
    w.add_kv("tokenizer.ggml.merges", GgufValue::str_array(data.merges));
    if (bos >= 0) w.add_kv("tokenizer.ggml.bos_token_id", GgufValue::u32(uint32_t(bos)));
    if (eos >= 0) w.add_kv("tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(eos)));
    if (data.pad_id >= 0) w.add_kv("tokenizer.ggml.padding_token_id", GgufValue::u32(uint32_t(data.pad_id)));
    w.add_kv("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
    w.add_kv("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
    if (!data.pre_regex.empty()) w.add_kv("bitflash.tokenizer.pre_regex", GgufValue::string(data.pre_regex));
    w.add_kv("bitflash.tokenizer.ignore_merges", GgufValue::boolean(data.ignore_merges));
    w.add_kv("bitflash.tokenizer.rstrip_ids", GgufValue::i32_array(data.rstrip_ids));
    w.add_kv("bitflash.tokenizer.lstrip_ids", GgufValue::i32_array(data.lstrip_ids));
    w.add_kv("bitflash.tokenizer.eog_ids", GgufValue::i32_array(eog));
    if (!chat_template.empty()) w.add_kv("tokenizer.chat_template", GgufValue::string(chat_template));
}

}  // namespace bf
