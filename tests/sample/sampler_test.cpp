// Sampler tests: exact survivor sets on hand-made logits, and draw frequencies against probabilities
// computed here from the definitions (softmax, top-k/p, min-p, temperature) in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "sample/sampler.h"

namespace bf {
namespace {

SamplerParams plain(float temp = 1.0f) {  // every filter off
    SamplerParams p;
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    return p;
}

std::map<int32_t, double> frequencies(Sampler& s, const std::vector<float>& logits, int n) {
    std::map<int32_t, double> f;
    for (int i = 0; i < n; ++i) f[s.sample(logits.data())] += 1.0 / n;
    return f;
}

// Every sampled token must be in `want` with frequency within 5 standard errors of its probability.
void expect_distribution(const std::map<int32_t, double>& got, const std::map<int32_t, double>& want, int n) {
    for (auto [id, f] : got) EXPECT_TRUE(want.count(id)) << "token " << id << " should have been cut";
    for (auto [id, p] : want) {
        const double f = got.count(id) ? got.at(id) : 0.0;
        EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / n) + 1e-9) << "token " << id;
    }
}

std::vector<float> logs(std::initializer_list<double> probs) {
    std::vector<float> v;
    for (double p : probs) v.push_back(static_cast<float>(std::log(p)));
    return v;
}

TEST(Sampler, DefaultsAreLlamaCpps) {
    const SamplerParams p;
    EXPECT_FLOAT_EQ(p.temp, 0.8f);
    EXPECT_EQ(p.top_k, 40);
    EXPECT_FLOAT_EQ(p.top_p, 0.95f);
    EXPECT_FLOAT_EQ(p.min_p, 0.05f);
    EXPECT_FLOAT_EQ(p.repeat_penalty, 1.0f);
    EXPECT_EQ(p.repeat_last_n, 64);
    EXPECT_EQ(p.presence_penalty, 0.0f);
    EXPECT_EQ(p.frequency_penalty, 0.0f);
}

TEST(Sampler, GreedyAndTopK1AreArgmax) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 3);
    SamplerParams g = plain(0.0f);
    SamplerParams k1;
    k1.top_k = 1;
    k1.seed = 9;
    Sampler greedy(g, 1000), topk(k1, 1000);
    for (int it = 0; it < 50; ++it) {
        std::vector<float> l(1000);
        for (float& x : l) x = nd(rng);
        const int32_t arg = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
        EXPECT_EQ(greedy.sample(l.data()), arg);
        EXPECT_EQ(topk.sample(l.data()), arg);
    }
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
    // p = .5 .3 .15 .05; top_p .7: cumulative .5 < .7, .8 >= .7 -> {0, 1}, renormalised .625/.375.
    const std::vector<float> l = logs({0.5, 0.3, 0.15, 0.05});
    SamplerParams p = plain();
    p.top_p = 0.7f;
    Sampler s(p, 4);
    const int n = 40000;
    expect_distribution(frequencies(s, l, n), {{0, 0.625}, {1, 0.375}}, n);
    p.top_p = 0.5f;  // exactly reached by the first token
    Sampler s1(p, 4);
    expect_distribution(frequencies(s1, l, 2000), {{0, 1.0}}, 2000);
}

TEST(Sampler, MinPKeepsTokensAboveAFractionOfTheMax) {
    // min_p .25 -> p >= .125: {0, 1, 2} with .5/.95, .3/.95, .15/.95.
    const std::vector<float> l = logs({0.5, 0.3, 0.15, 0.05});
    SamplerParams p = plain();
    p.min_p = 0.25f;
    Sampler s(p, 4);
    const int n = 40000;
    expect_distribution(frequencies(s, l, n), {{0, 0.5 / 0.95}, {1, 0.3 / 0.95}, {2, 0.15 / 0.95}}, n);
}

TEST(Sampler, TemperatureFrequencies) {
    const std::vector<float> l = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
    for (float temp : {0.5f, 1.0f, 1.7f}) {
        std::map<int32_t, double> want;
        double z = 0;
        for (double x : l) z += std::exp(x / temp);
        for (int i = 0; i < 5; ++i) want[i] = std::exp(l[i] / temp) / z;
        Sampler s(plain(temp), 5);
        const int n = 50000;
        expect_distribution(frequencies(s, l, n), want, n);
    }
}

TEST(Sampler, FullChainInLlamaCppOrder) {
    // top_k 4 -> ids {1,4,0,2}; top_p .58 on their T=1 probabilities (.455 .276 .167 .102) keeps {1,4};
    // min_p .5 keeps 4 (p4/p1 = e^-.5 = .61); temperature .6 last. Applying the temperature first would
    // give {1} (top_p on .586 .255 ...) and min_p would then cut 4 too (e^(-.5/.6) = .43).
    const std::vector<float> l = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, -3.0f};
    SamplerParams p;
    p.temp = 0.6f;
    p.top_k = 4;
    p.top_p = 0.58f;
    p.min_p = 0.5f;
    p.seed = 77;
    std::vector<int> order = {1, 4, 0, 2};
    double z = 0;
    for (int i : order) z += std::exp(l[i]);
    std::vector<int> kept;
    double cum = 0;
    for (int i : order) {
        kept.push_back(i);
        cum += std::exp(l[i]) / z;
        if (cum >= p.top_p) break;
    }
    std::vector<int> kept2;
    for (int i : kept)
        if (std::exp(l[i]) >= p.min_p * std::exp(l[order[0]])) kept2.push_back(i);
    ASSERT_EQ(kept, (std::vector<int>{1, 4}));
    ASSERT_EQ(kept2, (std::vector<int>{1, 4}));
    std::map<int32_t, double> want;
    double zt = 0;
    for (int i : kept2) zt += std::exp(l[i] / p.temp);
    for (int i : kept2) want[i] = std::exp(l[i] / p.temp) / zt;
    Sampler s(p, 6);
    const int n = 50000;
    expect_distribution(frequencies(s, l, n), want, n);
}

TEST(Sampler, PenaltyFormula) {
    SamplerParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.5f;
    p.repeat_last_n = 3;
    Sampler s(p, 4);
    for (int32_t t : {2, 0, 0, 1}) s.accept(t);  // window of 3: {0, 0, 1}; the 2 has left it
    std::vector<float> l = {2.0f, -1.0f, 0.5f, 3.0f};
    s.apply_penalties(l);
    EXPECT_FLOAT_EQ(l[0], 2.0f / 2 - 2 * 0.1f - 0.5f);   // 0.3
    EXPECT_FLOAT_EQ(l[1], -1.0f * 2 - 1 * 0.1f - 0.5f);  // -2.6
    EXPECT_FLOAT_EQ(l[2], 0.5f);
    EXPECT_FLOAT_EQ(l[3], 3.0f);
    // Greedy sees the penalised logits: 3 stays best; once 3 is penalised 4 times, 2 wins.
    std::vector<float> base = {2.0f, -1.0f, 0.5f, 0.9f};
    EXPECT_EQ(s.sample(base.data()), 3);
    for (int i = 0; i < 3; ++i) s.accept(3);  // window {3,3,3}: 0.9/2 - 0.3 - 0.5 < 0.5 ... and 0 is back to 2.0
    EXPECT_EQ(s.sample(base.data()), 0);
    s.reset();
    EXPECT_EQ(s.sample(base.data()), 0);
}

TEST(Sampler, SameSeedSameSequence) {
    std::vector<float> l(50);
    for (int i = 0; i < 50; ++i) l[i] = static_cast<float>(std::sin(i * 1.3));
    SamplerParams p = plain(1.0f);
    p.seed = 42;
    Sampler a(p, 50), b(p, 50);
    p.seed = 43;
    Sampler c(p, 50);
    std::vector<int32_t> sa, sb, sc;
    for (int i = 0; i < 200; ++i)
        sa.push_back(a.sample(l.data())), sb.push_back(b.sample(l.data())), sc.push_back(c.sample(l.data()));
    EXPECT_EQ(sa, sb);
    EXPECT_NE(sa, sc);
    a.reset();
    std::vector<int32_t> again;
    for (int i = 0; i < 200; ++i) again.push_back(a.sample(l.data()));
    EXPECT_EQ(sa, again);
}

TEST(Sampler, BadInputs) {
    EXPECT_THROW(Sampler(plain(), 0), Error);
    SamplerParams p = plain();
    p.repeat_penalty = 0;
    EXPECT_THROW(Sampler(p, 10), Error);
    p = plain();
    p.top_p = std::nanf("");
    EXPECT_THROW(Sampler(p, 10), Error);
    p = plain();
    p.repeat_last_n = -1;
    EXPECT_THROW(Sampler(p, 10), Error);
    Sampler s(plain(), 3);
    EXPECT_THROW(s.accept(3), Error);
    EXPECT_THROW(s.accept(-1), Error);
    // NaN logits never win; all -inf falls back to the lowest id.
    const float nan = std::nanf("");
    const std::vector<float> l = {nan, 1.0f, nan};
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(l.data()), 1);
    const float inf = -INFINITY;
    const std::vector<float> all = {inf, inf, inf};
    EXPECT_EQ(s.sample(all.data()), 0);
}

}  // namespace
}  // namespace bf

namespace bf {
namespace {

// A mask leaves only allowed tokens, before top-k (so top_k = 1 picks the best allowed one, not the best one).
TEST(SamplerMask, OnlyAllowedTokensAreDrawn) {
    const int V = 37;
    std::vector<float> logits(V);
    for (int i = 0; i < V; ++i) logits[size_t(i)] = float((i * 7) % V);  // best is id with (i*7)%37 == 36
    std::vector<uint8_t> allowed(V, 0);
    for (int i : {3, 11, 20, 29}) allowed[size_t(i)] = 1;
    SamplerParams p;
    p.seed = 5;
    p.top_k = 1;
    Sampler topk(p, V);
    int best = 3;
    for (int i : {11, 20, 29})
        if (logits[size_t(i)] > logits[size_t(best)]) best = i;
    EXPECT_EQ(topk.sample(logits.data(), allowed.data()), best);
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temp = 50.0f;  // nearly uniform: every allowed token should appear, no other
    Sampler wide(p, V);
    std::vector<int> seen(V, 0);
    for (int n = 0; n < 2000; ++n) ++seen[size_t(wide.sample(logits.data(), allowed.data()))];
    for (int i = 0; i < V; ++i) EXPECT_EQ(seen[size_t(i)] > 0, allowed[size_t(i)] == 1) << i;
    // All allowed logits -inf: still an allowed token (the lowest), never a disallowed one.
    std::vector<float> dead(logits);
    for (int i : {3, 11, 20, 29}) dead[size_t(i)] = -std::numeric_limits<float>::infinity();
    EXPECT_EQ(wide.sample(dead.data(), allowed.data()), 3);
    std::vector<uint8_t> none(V, 0);
    EXPECT_THROW(wide.sample(logits.data(), none.data()), Error);
}

}  // namespace
}  // namespace bf
