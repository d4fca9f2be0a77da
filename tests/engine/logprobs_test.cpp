// token_logprob against a plain double-precision log-softmax and a full sort, on awkward sizes, with ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "engine/logprobs.h"

namespace bf {
namespace {

TEST(TokenLogprob, MatchesLogSoftmaxAndFullSort) {
    std::mt19937 rng(5);
    for (int64_t n : {1, 7, 21, 1000, 4099}) {
        std::vector<float> logits(static_cast<size_t>(n));
        std::normal_distribution<float> d(0.0f, 4.0f);
        for (auto& v : logits) v = std::round(d(rng) * 4) / 4;  // quarter steps: many exact ties
        logits[0] = 80.0f;                                      // large: a naive exp would lose the rest
        double mx = -INFINITY, sum = 0;
        for (float v : logits) mx = std::max(mx, double(v));
        for (float v : logits) sum += std::exp(double(v) - mx);
        std::vector<int32_t> order(static_cast<size_t>(n));
        for (int32_t i = 0; i < int32_t(n); ++i) order[size_t(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
        for (int top : {0, 1, 5, 20}) {
            const int32_t id = int32_t(n / 2);
            const TokenLogprob r = token_logprob(logits.data(), n, id, top);
            EXPECT_EQ(r.id, id);
            EXPECT_NEAR(r.logprob, double(logits[size_t(id)]) - mx - std::log(sum), 1e-5) << n;
            ASSERT_EQ(r.top.size(), size_t(std::min<int64_t>(top, n)));
            for (size_t k = 0; k < r.top.size(); ++k) {
                EXPECT_EQ(r.top[k].first, order[k]) << "n " << n << " rank " << k;  // ties: lower id first
                EXPECT_NEAR(r.top[k].second, double(logits[size_t(order[k])]) - mx - std::log(sum), 1e-5);
            }
        }
    }
}

TEST(TokenLogprob, RejectsBadArguments) {
    const std::vector<float> l = {0.0f, 1.0f};
    EXPECT_THROW(token_logprob(l.data(), 2, 2, 0), Error);
    EXPECT_THROW(token_logprob(l.data(), 2, 0, 21), Error);
    EXPECT_THROW(token_logprob(l.data(), 2, 0, -1), Error);
}

}  // namespace
}  // namespace bf
