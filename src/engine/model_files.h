// What a bitflash GGUF carries besides the weights: tokenizer, chat template, end-of-generation ids.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace bf {

// Throws bf::Error when the GGUF has no tokenizer (converted from a folder without tokenizer.json).
Tokenizer load_tokenizer(const GgufFile& f);
// bitflash.tokenizer.eog_ids, else the eos id plus <|end|> / <|endoftext|> when present.
std::vector<int32_t> load_eog_ids(const GgufFile& f, const Tokenizer& tok);
// tokenizer.chat_template, if any.
std::optional<std::string> load_chat_template(const GgufFile& f);

}  // namespace bf
