// Generation through the engine against the float64 reference's greedy continuations
// (tools/reference/greedy.py, tests/fixtures/*/greedy32.txt), and every stop rule of the one-sequence
// path (`run`, `chat`) and of the many-sequence greedy path (`eval`).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>

#include "../common/gen_fixture.h"
#include "requests.h"
#include "engine/batch_generate.h"
#include "engine/threads.h"

namespace bf {
namespace {

using namespace bf::testing;

const int kOneThread = (set_engine_threads(1), 0);

struct Fixture {
    Model model;
    Tokenizer tok;
    std::vector<int32_t> prompt, greedy;  // the reference's prompt and its 32 greedy tokens
};

const Fixture& fixture(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Fixture>> cache;
    auto& f = cache[name];
    if (!f) {
        Model m = Model::load(converted_f32(name));
        Tokenizer tok = char_tokenizer();
        f.reset(new Fixture{std::move(m), std::move(tok), read_ids(fixture_dir(name) + "/greedy_prompt.txt"),
                            read_ids(fixture_dir(name) + "/greedy32.txt")});
    }
    return *f;
}

std::vector<int32_t> head(const std::vector<int32_t>& v, size_t n) { return {v.begin(), v.begin() + long(n)}; }

// The first position >= 2 whose greedy token has not appeared before: as an end-of-generation id it
// stops generation exactly there.
size_t first_new_token(const std::vector<int32_t>& g) {
    for (size_t j = 2; j < g.size(); ++j)
        if (std::find(g.begin(), g.begin() + long(j), g[j]) == g.begin() + long(j)) return j;
    return 0;
}

struct Gen {
    std::vector<int32_t> tokens;
    std::string text;  // the streamed pieces, concatenated
    StopReason stop = StopReason::Length;
    int32_t end_token = -1;
};

// One greedy sequence the way `bitflash run` generates it (a one-slot batcher whose step budget is -b).
// stop_after > 0: the caller stops after that many tokens.
Gen run_one(const Fixture& f, const std::vector<int32_t>& eog, int64_t n_ctx, int64_t chunk, int64_t n_predict,
            int stop_after = 0) {
    BatcherOptions o;
    o.n_ctx = n_ctx;
    o.batch = chunk;
    Batcher b(f.model, &f.tok, eog, o);
    GenRequest req;
    req.prompt = f.prompt;
    req.sampler.temp = 0;
    req.max_tokens = n_predict;
    Gen r;
    int n = 0;
    const GenOutcome g = generate_one(b, std::move(req), [&](const std::string& piece) {
        r.text += piece;
        return stop_after <= 0 || ++n < stop_after;
    });
    r.tokens = g.tokens;
    r.stop = g.stop;
    r.end_token = g.end_token;
    return r;
}

class Greedy : public ::testing::TestWithParam<const char*> {};

TEST_P(Greedy, MatchesReferenceForEveryPrefillChunk) {
    const Fixture& f = fixture(GetParam());
    ASSERT_EQ(f.greedy.size(), 32u);
    ASSERT_GT(f.prompt.size(), 4u);  // so that chunks of 1, 2 and 4 really split it
    for (int64_t chunk : {1, 2, 4, 512}) {
        const Gen r = run_one(f, {}, 256, chunk, 32);
        EXPECT_EQ(r.tokens, f.greedy) << "prefill chunk " << chunk;
        EXPECT_EQ(r.stop, StopReason::Length);
        EXPECT_EQ(r.text, f.tok.decode(f.greedy)) << "prefill chunk " << chunk;
    }
}

TEST_P(Greedy, ManySequencesMatchReference) {
    const Fixture& f = fixture(GetParam());
    std::vector<BatchJob> jobs(3);
    for (auto& j : jobs) j.prompt = f.prompt;
    std::vector<size_t> done;
    generate_batch(f.model, jobs, {}, 256, 32, 2, [&](size_t i) { done.push_back(i); });
    EXPECT_EQ(done.size(), 3u);
    for (const auto& j : jobs) {
        EXPECT_EQ(j.output, f.greedy);
        EXPECT_EQ(j.stop, StopReason::Length);
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Greedy, ::testing::Values("tiny8", "bf16_untied"));

TEST(StopRules, EndOfGenerationIdIsNotOutput) {
    const Fixture& f = fixture("bf16_untied");
    const size_t k = first_new_token(f.greedy);
    ASSERT_GT(k, 0u);
    const Gen r = run_one(f, {f.greedy[k]}, 256, 512, 32);
    EXPECT_EQ(r.tokens, head(f.greedy, k));
    EXPECT_EQ(r.stop, StopReason::EndOfGeneration);
    EXPECT_EQ(r.end_token, f.greedy[k]);
    EXPECT_EQ(r.text, f.tok.decode(head(f.greedy, k)));
}

TEST(StopRules, MaxTokens) {
    const Fixture& f = fixture("bf16_untied");
    const Gen r = run_one(f, {}, 256, 512, 5);
    EXPECT_EQ(r.tokens, head(f.greedy, 5));
    EXPECT_EQ(r.stop, StopReason::Length);
}

TEST(StopRules, FullContextReturnsTheTokenThatNoLongerFits) {
    const Fixture& f = fixture("bf16_untied");
    const int64_t n_ctx = int64_t(f.prompt.size()) + 7;
    const Gen r = run_one(f, {}, n_ctx, 512, -1);
    // 7 generated tokens fill the context; the 8th is sampled from the last logits but cannot be fed.
    EXPECT_EQ(r.tokens, head(f.greedy, 8));
    EXPECT_EQ(r.stop, StopReason::ContextFull);
}

TEST(StopRules, CallerStops) {
    const Fixture& f = fixture("bf16_untied");
    const Gen r = run_one(f, {}, 256, 512, 32, 3);
    EXPECT_EQ(r.tokens, head(f.greedy, 3));
    EXPECT_EQ(r.stop, StopReason::Caller);
}

TEST(StopRules, ManySequencesStopAtEndOfGenerationAndFullContext) {
    const Fixture& f = fixture("bf16_untied");
    const size_t k = first_new_token(f.greedy);
    ASSERT_GT(k, 0u);
    std::vector<BatchJob> jobs(2);
    for (auto& j : jobs) j.prompt = f.prompt;
    generate_batch(f.model, jobs, {f.greedy[k]}, 256, 32, 2, nullptr);
    for (const auto& j : jobs) {
        EXPECT_EQ(j.output, head(f.greedy, k));
        EXPECT_EQ(j.stop, StopReason::EndOfGeneration);
    }
    for (auto& j : jobs) j.output.clear();
    generate_batch(f.model, jobs, {}, int64_t(f.prompt.size()) + 7, -1, 1, nullptr);
    for (const auto& j : jobs) {
        EXPECT_EQ(j.output, head(f.greedy, 8));
        EXPECT_EQ(j.stop, StopReason::ContextFull);
    }
}

// Decode tokens go first in a step; prompt chunks get what is left of the budget.
TEST(Batcher, DecodeFirstThenPromptChunksWithinTheBudget) {
    const Fixture& f = fixture("bf16_untied");
    ASSERT_EQ(f.prompt.size(), 6u);
    BatcherOptions o;
    o.n_slots = 2;
    o.n_ctx = 64;
    o.batch = 4;
    Batcher b(f.model, &f.tok, {}, o);
    GenOutcome a, c;
    b.admit(greedy_request(f.prompt, 12), {nullptr, [&](GenOutcome& out) { a = out; }, nullptr});
    b.step();
    b.step();  // prompt A: 4 + 2 tokens; A's first token is sampled
    b.admit(greedy_request(f.prompt, 5), {nullptr, [&](GenOutcome& out) { c = out; }, nullptr});
    while (!b.idle()) b.step();
    EXPECT_EQ(a.tokens, head(f.greedy, 12));
    EXPECT_EQ(c.tokens, head(f.greedy, 5));
    // A: 2 prompt steps + 11 decode steps. B's prompt rides along 3 tokens at a time (A's decode token
    // first) and its 4 decode steps too, so it adds no step of its own.
    EXPECT_EQ(b.steps(), 13);
}

TEST(Batcher, SlotCancelledMidPromptIsReused) {
    const Fixture& f = fixture("bf16_untied");
    std::vector<int32_t> prompt;
    for (int i = 0; i < 30; ++i) prompt.push_back(int32_t((i * 37 + 11) % 90));
    BatcherOptions o;
    o.n_ctx = 64;
    o.batch = 2;
    Batcher fresh(f.model, &f.tok, {}, o);
    const GenOutcome want = generate_one(fresh, greedy_request(prompt, 8), nullptr);
    ASSERT_EQ(want.tokens.size(), 8u);

    Batcher b(f.model, &f.tok, {}, o);
    GenOutcome cancelled;
    b.admit(greedy_request(prompt, 8),
            {nullptr, [&](GenOutcome& out) { cancelled = out; }, [&] { return b.steps() >= 3; }});
    while (!b.idle()) b.step();
    EXPECT_EQ(cancelled.stop, StopReason::Caller);
    EXPECT_TRUE(cancelled.tokens.empty());
    EXPECT_EQ(b.slot_tokens(0), head(prompt, 6));  // three steps of two prompt tokens
    const GenOutcome again = generate_one(b, greedy_request(prompt, 8), nullptr);
    EXPECT_EQ(again.stats.cache_n, 6);
    EXPECT_EQ(again.stats.prompt_n, 24);
    EXPECT_EQ(again.tokens, want.tokens);
}

}  // namespace
}  // namespace bf
