// Log-probabilities of generated tokens (the API's `logprobs`): log-softmax of the model's raw logits, that
// is before temperature, penalties and top-k/p truncation — the model's own distribution, as OpenAI reports.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace bf {

constexpr int kMaxTopLogprobs = 20;

struct TokenLogprob {
    int32_t id = -1;
    float logprob = 0;
    std::vector<std::pair<int32_t, float>> top;  // the most likely tokens, most likely first (ties: lower id)
};

// The chosen token's log-probability and the top_n most likely tokens' (0 <= top_n <= kMaxTopLogprobs).
TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t id, int top_n);

}  // namespace bf
