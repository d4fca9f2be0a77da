// Embeds the checkpoint's tokenizer, chat template and end-of-generation ids into the GGUF.
#pragma once
#include <string>

#include "model/config.h"

namespace bf {

class GgufWriter;

// Reads tokenizer.json, tokenizer_config.json and generation_config.json from `dir` when present.
// Without tokenizer.json nothing is written (the model then runs on token ids only).
void add_tokenizer_metadata(const std::string& dir, const ModelConfig& cfg, GgufWriter& w);

}  // namespace bf
