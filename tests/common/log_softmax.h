// Test helper: log-softmax of a row of logits in double, written from the definition (the oracle of the
// perplexity and logprobs tests).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace bf::testing {

inline std::vector<double> log_softmax(const std::vector<float>& logits) {
    double m = -INFINITY, s = 0;
    for (float v : logits) m = std::max(m, double(v));
    for (float v : logits) s += std::exp(double(v) - m);
    std::vector<double> out;
    for (float v : logits) out.push_back(double(v) - m - std::log(s));
    return out;
}

}  // namespace bf::testing
