// What `perplexity` and `imatrix` share: a model loaded with its tokenizer, and a text file's tokens.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace bf {

struct ModelWithTokenizer {
    Model model;
    Tokenizer tok;
};

// Loads -m (applies -t first); throws bf::Error when the GGUF has no tokenizer.
std::unique_ptr<ModelWithTokenizer> load_model_with_tokenizer(const std::string& path, int64_t threads);

// The whole file, tokenized as llama-perplexity does (no BOS: bitflash GGUFs set add_bos_token false);
// parse_special turns added-token text such as <|user|> into its id.
std::vector<int32_t> tokenize_file(const Tokenizer& tok, const std::string& path, bool parse_special);

}  // namespace bf
