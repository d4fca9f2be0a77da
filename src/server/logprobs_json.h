// The `logprobs` objects of responses, in OpenAI's two shapes (chat: content[] entries with bytes and
// top_logprobs[]; text completions: parallel tokens / token_logprobs / top_logprobs / text_offset arrays).
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/logprobs.h"
#include "tokenizer/tokenizer.h"

namespace bf {

// {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}
nlohmann::json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const Tokenizer& tok);

// {tokens, token_logprobs, top_logprobs: [{piece: logprob}], text_offset}; `offset` is the byte offset of the
// first token in the completion's text, advanced past these tokens (streaming continues from it).
nlohmann::json text_logprobs_json(const std::vector<TokenLogprob>& lps, const Tokenizer& tok, size_t& offset);

}  // namespace bf
