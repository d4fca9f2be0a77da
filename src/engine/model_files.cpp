// What a GGUF carries besides weights: tokenizer, end-of-generation ids, chat template.
#include "engine/model_files.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

Tokenizer load_tokenizer(const GgufFile& f) {
    if (!f.find("tokenizer.ggml.tokens"))
        fail(
            "this GGUF has no tokenizer (convert from a checkpoint folder that has tokenizer.json), "
            "or use `bitflash logits` with token ids");
    const std::string model = f.get_string("tokenizer.ggml.model");
    if (model != "gpt2")
        fail("tokenizer model '" + model + "' is not supported (bitflash reads byte-level BPE, 'gpt2')");
    TokenizerData d;
    d.tokens = f.get_str_array("tokenizer.ggml.tokens");
    d.token_type = f.find("tokenizer.ggml.token_type") ? f.get_i32_array("tokenizer.ggml.token_type")
                                                       : std::vector<int32_t>(d.tokens.size(), kTokenNormal);
    if (f.find("tokenizer.ggml.merges")) d.merges = f.get_str_array("tokenizer.ggml.merges");
    d.pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
    auto id_or = [&](const char* key) { return f.find(key) ? int32_t(f.get_u32(key)) : -1; };
    d.bos_id = id_or("tokenizer.ggml.bos_token_id");
    d.eos_id = id_or("tokenizer.ggml.eos_token_id");
    d.pad_id = id_or("tokenizer.ggml.padding_token_id");
    if (f.find("bitflash.tokenizer.rstrip_ids")) d.rstrip_ids = f.get_i32_array("bitflash.tokenizer.rstrip_ids");
    if (f.find("bitflash.tokenizer.lstrip_ids")) d.lstrip_ids = f.get_i32_array("bitflash.tokenizer.lstrip_ids");
    if (f.find("bitflash.tokenizer.pre_regex")) d.pre_regex = f.get_string("bitflash.tokenizer.pre_regex");
    d.ignore_merges = f.get_bool_or("bitflash.tokenizer.ignore_merges", false);
    return Tokenizer::from_data(d);
}

std::vector<int32_t> load_eog_ids(const GgufFile& f, const Tokenizer& tok) {
    std::vector<int32_t> ids;
    if (f.find("bitflash.tokenizer.eog_ids")) ids = f.get_i32_array("bitflash.tokenizer.eog_ids");
    if (ids.empty()) {
        if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
        for (const char* t : {"<|end|>", "<|endoftext|>"})
            if (auto id = tok.token_id(t)) ids.push_back(*id);
    }
    for (int32_t id : ids)
        if (id < 0 || id >= tok.n_vocab()) fail(strfmt("end-of-generation id %d is outside the vocabulary", id));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

std::optional<std::string> load_chat_template(const GgufFile& f) {
    if (!f.find("tokenizer.chat_template")) return std::nullopt;
    return f.get_string("tokenizer.chat_template");
}

}  // namespace bf
