// log-softmax of one logits row and its top entries (engine/logprobs.h).
#include "engine/logprobs.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bf {

TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t id, int top_n) {
    if (top_n < 0 || top_n > kMaxTopLogprobs) fail(strfmt("top_logprobs must be between 0 and %d", kMaxTopLogprobs));
    if (id < 0 || id >= n_vocab) fail(strfmt("token id %d is out of range", id));
    float mx = -INFINITY;
    for (int64_t i = 0; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - mx);
    const double log_z = double(mx) + std::log(sum);
    TokenLogprob r;
    r.id = id;
    r.logprob = float(double(logits[id]) - log_z);
    // The top_n largest by one pass over the row, kept sorted (top_n is small).
    auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::vector<int32_t> best;
    best.reserve(size_t(top_n) + 1);
    for (int32_t i = 0; i < int32_t(n_vocab) && top_n > 0; ++i) {
        if (int(best.size()) == top_n && !better(i, best.back())) continue;
        best.insert(std::upper_bound(best.begin(), best.end(), i, better), i);
        if (int(best.size()) > top_n) best.pop_back();
    }
    for (int32_t t : best) r.top.emplace_back(t, float(double(logits[t]) - log_z));
    return r;
}

}  // namespace bf
