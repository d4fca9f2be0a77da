// Chunk plans, perplexity and KL-divergence statistics against direct double-precision computations
// written here from the definitions, and the KL-divergence base file: round trip and malformed files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "../common/log_softmax.h"
#include "core/error.h"
#include "engine/kld_base.h"
#include "engine/perplexity.h"

namespace bf {
namespace {

using testing::log_softmax;

std::vector<float> random_logits(std::mt19937& rng, int n, float spread) {
    std::normal_distribution<float> d(0, spread);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

TEST(ChunkPlan, FollowsLlamaPerplexity) {
    const ChunkPlan p = plan_chunks(1300, 512, -1);
    EXPECT_EQ(p.n_chunk, 2);  // 1300 / 512, the remainder unused
    EXPECT_EQ(p.first, 256);
    EXPECT_EQ(p.n_scored(), 255);  // positions 256..510 predict tokens 257..511
    EXPECT_EQ(plan_chunks(5000, 512, 3).n_chunk, 3);
    EXPECT_EQ(plan_chunks(7, 3, -1).n_scored(), 1);
    EXPECT_THROW(plan_chunks(1023, 512, -1), Error);  // fewer than two chunks
    EXPECT_THROW(plan_chunks(100, 2, -1), Error);     // nothing would be scored
    try {
        plan_chunks(10, 8, -1);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("at least 16"), std::string::npos) << e.what();
    }
}

TEST(Perplexity, TokenLogProbAndStatsMatchDirectComputation) {
    std::mt19937 rng(1);
    PplStats s;
    std::vector<double> nll;
    for (int t = 0; t < 40; ++t) {
        const std::vector<float> l = random_logits(rng, 37, 3.0f);
        const int32_t target = int32_t(rng() % 37);
        const TokenLogProb lp = token_logprob(l.data(), 37, target);
        EXPECT_NEAR(lp.logprob, log_softmax(l)[size_t(target)], 1e-12);
        EXPECT_EQ(lp.argmax, std::max_element(l.begin(), l.end()) - l.begin());
        s.add(-lp.logprob);
        nll.push_back(-lp.logprob);
    }
    double mean = 0, var = 0;  // two-pass variance, unlike PplStats' running sums
    for (double v : nll) mean += v / double(nll.size());
    for (double v : nll) var += (v - mean) * (v - mean) / double(nll.size());
    EXPECT_NEAR(s.ppl(), std::exp(mean), 1e-9 * std::exp(mean));
    EXPECT_NEAR(s.error(), std::exp(mean) * std::sqrt(var / double(nll.size() - 1)), 1e-9);
    const std::vector<float> four(4);
    EXPECT_THROW(token_logprob(four.data(), 4, 4), Error);  // target outside the vocabulary
}

TEST(Kld, PercentileInterpolatesLikeLlama) {
    const std::vector<float> v = {0, 1, 2, 3, 4};
    EXPECT_DOUBLE_EQ(percentile(v, 0.9), 3.6);
    EXPECT_DOUBLE_EQ(percentile(v, 0.5), 2.0);
    EXPECT_DOUBLE_EQ(percentile(v, 1.0), 4.0);
    EXPECT_DOUBLE_EQ(percentile(v, 0.0), 0.0);
}

// Base rows from random "base" logits; Q = base plus noise. Every statistic against its definition.
TEST(Kld, StatisticsMatchDirectComputation) {
    std::mt19937 rng(7);
    const int V = 300, T = 60;
    KldStats k;
    std::vector<double> kl, dp, nll_q, nll_b;
    int same = 0;
    std::vector<uint8_t> row(size_t(base_row_bytes(V)));
    for (int t = 0; t < T; ++t) {
        const std::vector<float> base = random_logits(rng, V, 2.5f);
        std::vector<float> q = base;
        std::normal_distribution<float> noise(0, t % 3 == 0 ? 0.5f : 0.05f);
        for (float& x : q) x += noise(rng);
        const int32_t target = int32_t(rng() % V);
        encode_base_row(base.data(), V, target, row.data());
        const double got = k.add(row.data(), q.data(), V, target);
        const std::vector<double> lp = log_softmax(base), lq = log_softmax(q);
        double want = 0;
        for (int i = 0; i < V; ++i) want += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
        // 16-bit codes over 24 nats: 1.8e-4 steps; the KLD moves by far less than the step
        EXPECT_NEAR(got, want, 2e-4 + 1e-3 * want) << t;
        kl.push_back(want);
        nll_q.push_back(-lq[size_t(target)]);
        nll_b.push_back(-lp[size_t(target)]);
        dp.push_back(std::exp(lq[size_t(target)]) - std::exp(lp[size_t(target)]));
        same += std::max_element(q.begin(), q.end()) - q.begin() ==
                std::max_element(base.begin(), base.end()) - base.begin();
    }
    const KldSummary s = k.summary();
    auto mean = [](const std::vector<double>& v) {
        double m = 0;
        for (double x : v) m += x / double(v.size());
        return m;
    };
    EXPECT_EQ(s.count, T);
    EXPECT_NEAR(s.kld, mean(kl), 2e-4);
    EXPECT_NEAR(s.ppl_q, std::exp(mean(nll_q)), 1e-4 * s.ppl_q);
    EXPECT_NEAR(s.ppl_base, std::exp(mean(nll_b)), 1e-4 * s.ppl_base);  // stored exactly (as f32)
    EXPECT_NEAR(s.ln_ratio, mean(nll_q) - mean(nll_b), 1e-5);
    EXPECT_DOUBLE_EQ(s.same_top, double(same) / T);
    std::vector<double> dp2;
    for (double d : dp) dp2.push_back(d * d);
    EXPECT_NEAR(s.rms_dp, std::sqrt(mean(dp2)), 1e-6);
    EXPECT_NEAR(s.mean_dp, mean(dp), 1e-6);
    std::sort(kl.begin(), kl.end());
    EXPECT_NEAR(s.kld_max, kl.back(), 2e-4 + 1e-3 * kl.back());
    EXPECT_NEAR(s.kld_median, 0.5 * (kl[T / 2 - 1] + kl[T / 2]), 2e-4);
    double var = 0;
    for (double x : kl) var += (x - mean(kl)) * (x - mean(kl)) / T;
    EXPECT_NEAR(s.kld_err, std::sqrt(var / (T - 1)), 1e-4);
    EXPECT_GT(s.kld, 1e-3);  // the noise is visible
}

TEST(Kld, IdenticalModelsGiveZero) {
    std::mt19937 rng(3);
    KldStats k;
    std::vector<uint8_t> row(size_t(base_row_bytes(500)));
    for (int t = 0; t < 20; ++t) {
        const std::vector<float> l = random_logits(rng, 500, 4.0f);
        encode_base_row(l.data(), 500, t, row.data());
        EXPECT_LT(k.add(row.data(), l.data(), 500, t), 1e-7);
    }
    const KldSummary s = k.summary();
    EXPECT_EQ(s.same_top, 1.0);
    EXPECT_LT(s.rms_dp, 1e-9);  // the base's target log-prob is stored as f32
    EXPECT_NEAR(s.ppl_q, s.ppl_base, 1e-6 * s.ppl_base);
}

struct TempFile {
    std::string path = (std::filesystem::temp_directory_path() / ("bf_kld_" + std::to_string(::getpid()))).string();
    ~TempFile() { std::filesystem::remove(path); }
};

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(KldBase, RoundTripAndMalformedFiles) {
    TempFile tf;
    const int V = 11;
    const ChunkPlan plan = plan_chunks(20, 8, -1);  // 2 chunks, 3 scored each
    std::vector<int32_t> tokens(20);
    for (int i = 0; i < 20; ++i) tokens[size_t(i)] = i % V;
    std::vector<std::vector<uint8_t>> chunks(2, std::vector<uint8_t>(size_t(plan.n_scored() * base_row_bytes(V))));
    for (size_t c = 0; c < 2; ++c)
        for (size_t i = 0; i < chunks[c].size(); ++i) chunks[c][i] = uint8_t(i * 7 + c);
    {
        KldBaseWriter w(tf.path, V, plan, tokens);
        w.write_rows(chunks[0]);
        EXPECT_THROW(w.close(), Error);  // a chunk is missing
        w.write_rows(chunks[1]);
        EXPECT_THROW(w.write_rows(chunks[1]), Error);
        w.close();
    }
    KldBaseReader r(tf.path);
    EXPECT_EQ(r.n_vocab(), V);
    EXPECT_EQ(r.plan().n_chunk, 2);
    EXPECT_EQ(r.plan().n_ctx, 8);
    EXPECT_EQ(r.tokens(), std::vector<int32_t>(tokens.begin(), tokens.begin() + 16));
    std::vector<uint8_t> got;
    r.read_chunk(1, got);
    EXPECT_EQ(got, chunks[1]);
    r.read_chunk(0, got);
    EXPECT_EQ(got, chunks[0]);
    EXPECT_THROW(r.read_chunk(2, got), Error);

    const std::string good = slurp(tf.path);
    auto rejects = [&](std::string bytes, const char* why) {
        std::ofstream(tf.path, std::ios::binary) << bytes;
        EXPECT_THROW(KldBaseReader{tf.path}, Error) << why;
    };
    auto with_u32 = [&](size_t off, uint32_t v) {
        std::string b = good;
        std::memcpy(b.data() + off, &v, 4);
        return b;
    };
    rejects("", "empty");
    rejects(good.substr(0, 20), "header cut");
    rejects(good.substr(0, good.size() - 1), "one byte short");
    rejects(good + "x", "one byte long");
    rejects("X" + good.substr(1), "magic");
    rejects(with_u32(8, 2), "version");
    rejects(with_u32(12, 0), "vocabulary 0");
    rejects(with_u32(12, 0xffffffffu), "huge vocabulary");
    rejects(with_u32(16, 10), "n_ctx disagrees with first");
    rejects(with_u32(20, 0x7fffffffu), "huge chunk count");
    rejects(with_u32(24, 3), "first is not n_ctx/2");
    rejects(with_u32(28, uint32_t(V)), "token id out of range");
    EXPECT_THROW(KldBaseReader{tf.path + ".absent"}, Error);
}

}  // namespace
}  // namespace bf
