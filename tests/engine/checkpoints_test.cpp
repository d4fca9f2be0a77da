// State checkpoints: the store's choice (longest matching token list), its count and byte bounds, and the
// batcher restoring a checkpoint when a prompt extends an earlier prompt but not what the slot generated.
#include <gtest/gtest.h>

#include <memory>

#include "../common/gen_fixture.h"
#include "requests.h"
#include "engine/batcher.h"
#include "engine/threads.h"

namespace bf {
namespace {

using namespace bf::testing;

const int kOneThread = (set_engine_threads(1), 0);

// A checkpoint of `tokens` whose state holds `floats` floats of SSM state (so its bytes are known).
StateCheckpoint make_cp(std::vector<int32_t> tokens, size_t floats = 16, bool logits = true) {
    StateCheckpoint c;
    c.tokens = std::move(tokens);
    c.state.mamba.resize(1);
    c.state.mamba[0].ssm.assign(floats, 1.0f);
    if (logits) c.logits.assign(4, 0.5f);
    return c;
}

TEST(ReusablePrefix, PrefixOnlyAndEqualNeedsLogits) {
    const std::vector<int32_t> p = {1, 2, 3, 4};
    EXPECT_EQ(reusable_prefix({1, 2}, false, p), 2u);
    EXPECT_EQ(reusable_prefix({1, 3}, true, p), 0u);
    EXPECT_EQ(reusable_prefix({1, 2, 3, 4, 5}, true, p), 0u);
    EXPECT_EQ(reusable_prefix({1, 2, 3, 4}, false, p), 0u);
    EXPECT_EQ(reusable_prefix({1, 2, 3, 4}, true, p), 4u);
    EXPECT_EQ(reusable_prefix({}, true, p), 0u);
}

TEST(CheckpointStore, ChoosesTheLongestMatchingCheckpoint) {
    CheckpointStore st(8, 1 << 20);
    ASSERT_TRUE(st.add(make_cp({1, 2})));
    ASSERT_TRUE(st.add(make_cp({1, 2, 3, 9, 9})));  // longer, but not a prefix of the prompt below
    ASSERT_TRUE(st.add(make_cp({1, 2, 3})));
    ASSERT_TRUE(st.add(make_cp({5})));
    const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
    const StateCheckpoint* c = st.longest_prefix(prompt);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->tokens, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(st.longest_prefix(std::vector<int32_t>{7, 1}), nullptr);
    // Equal to the prompt: usable only with its logits.
    CheckpointStore no_logits(8, 1 << 20);
    ASSERT_TRUE(no_logits.add(make_cp({1, 2}, 16, false)));
    EXPECT_EQ(no_logits.longest_prefix(std::vector<int32_t>{1, 2}), nullptr);
    EXPECT_NE(no_logits.longest_prefix(std::vector<int32_t>{1, 2, 3}), nullptr);
}

TEST(CheckpointStore, CountBoundEvictsTheLeastRecentlyUsed) {
    CheckpointStore st(3, 1 << 20);
    ASSERT_TRUE(st.add(make_cp({1})));
    ASSERT_TRUE(st.add(make_cp({2})));
    ASSERT_TRUE(st.add(make_cp({3})));
    ASSERT_NE(st.longest_prefix(std::vector<int32_t>{1, 0}), nullptr);  // {1} is now the most recently used
    ASSERT_TRUE(st.add(make_cp({4})));
    ASSERT_EQ(st.size(), 3u);
    EXPECT_NE(st.longest_prefix(std::vector<int32_t>{1}), nullptr);
    EXPECT_EQ(st.longest_prefix(std::vector<int32_t>{2}), nullptr);  // evicted
    EXPECT_NE(st.longest_prefix(std::vector<int32_t>{3}), nullptr);
    EXPECT_NE(st.longest_prefix(std::vector<int32_t>{4}), nullptr);
    // The same tokens again replace the old copy rather than adding one.
    ASSERT_TRUE(st.add(make_cp({4})));
    EXPECT_EQ(st.size(), 3u);
    CheckpointStore none(0, 1 << 20);
    EXPECT_FALSE(none.add(make_cp({1})));
    EXPECT_EQ(none.size(), 0u);
}

TEST(CheckpointStore, ByteBoundHoldsAndTooLargeIsRefused) {
    const size_t one = make_cp({1, 2}, 100).bytes();
    CheckpointStore st(100, 3 * one + one / 2);  // room for three
    for (int32_t i = 0; i < 5; ++i) ASSERT_TRUE(st.add(make_cp({i, i}, 100)));
    EXPECT_EQ(st.size(), 3u);
    EXPECT_LE(st.bytes(), 3 * one + one / 2);
    EXPECT_EQ(st.longest_prefix(std::vector<int32_t>{0, 0}), nullptr);
    EXPECT_NE(st.longest_prefix(std::vector<int32_t>{4, 4}), nullptr);
    // One that alone is over the bound is not kept and evicts nothing.
    EXPECT_FALSE(st.add(make_cp({9, 9}, 1000)));
    EXPECT_EQ(st.size(), 3u);
    // A big one that fits evicts as many as needed.
    ASSERT_TRUE(st.add(make_cp({8, 8}, 250)));
    EXPECT_LE(st.bytes(), 3 * one + one / 2);
    EXPECT_NE(st.longest_prefix(std::vector<int32_t>{8, 8}), nullptr);
}

// A model, and a second prompt p2 that extends p1 with tokens no greedy reply to p1 starts with.
struct Conversation {
    Model model = Model::load(converted_f32("bf16_untied"));
    Tokenizer tok = char_tokenizer();
    std::vector<int32_t> p1 = id_run(21, 37, 11), p2 = [this] {
        std::vector<int32_t> v = p1;
        for (int32_t t : id_run(13, 53, 5)) v.push_back(t);
        return v;
    }();
};

// Turn 1 generates from P1; turn 2's prompt is P1 + a reply the slot never generated + more: the slot's
// own tokens do not match, its end-of-prompt checkpoint does. The continuation equals a fresh prefill's.
TEST(BatcherCheckpoints, RestoredCheckpointContinuesLikeAFreshPrefill) {
    const Conversation c;
    const Model& model = c.model;
    const Tokenizer& tok = c.tok;
    const std::vector<int32_t>&p1 = c.p1, &p2 = c.p2;
    for (KvType kv : {KvType::F32, KvType::Q8_0}) {
        BatcherOptions o;
        o.n_ctx = 64;
        o.batch = 8;
        o.kv_type = kv;
        Batcher fresh(model, &tok, {}, o);
        const GenOutcome want = generate_one(fresh, greedy_request(p2, 6), nullptr);
        ASSERT_EQ(want.tokens.size(), 6u);

        for (int n_cp : {0, 2}) {
            o.ctx_checkpoints = n_cp;
            o.checkpoint_bytes = 64 << 20;
            Batcher b(model, &tok, {}, o);
            const GenOutcome t1 = generate_one(b, greedy_request(p1, 9), nullptr);
            ASSERT_EQ(t1.tokens.size(), 9u);
            ASSERT_NE(std::vector<int32_t>(b.slot_tokens(0).begin() + long(p1.size()), b.slot_tokens(0).end()),
                      std::vector<int32_t>(p2.begin() + long(p1.size()), p2.begin() + long(b.slot_tokens(0).size())));
            const GenOutcome t2 = generate_one(b, greedy_request(p2, 6), nullptr);
            EXPECT_EQ(t2.stats.cache_n, n_cp ? int64_t(p1.size()) : 0) << "checkpoints " << n_cp;
            EXPECT_EQ(t2.stats.prompt_n, int64_t(p2.size()) - t2.stats.cache_n);
            EXPECT_EQ(t2.tokens, want.tokens) << "checkpoints " << n_cp << ", kv " << kv_type_name(kv);
            // The same prompt once more: its own end-of-prompt checkpoint (with logits) serves it whole.
            const GenOutcome t3 = generate_one(b, greedy_request(p2, 6), nullptr);
            if (n_cp) {
                EXPECT_EQ(t3.stats.cache_n, int64_t(p2.size()));
            }
            EXPECT_EQ(t3.tokens, want.tokens);
        }
    }
}

// A checkpoint kept by a slot that is busy serves a request on another slot (it is restored as a copy).
TEST(BatcherCheckpoints, ABusySlotsCheckpointServesAnotherSlot) {
    const Conversation c;
    const Model& model = c.model;
    const Tokenizer& tok = c.tok;
    const std::vector<int32_t>&p1 = c.p1, &p2 = c.p2;
    BatcherOptions o;
    o.n_slots = 2;
    o.n_ctx = 96;
    o.batch = 8;
    Batcher fresh(model, &tok, {}, o);
    const GenOutcome want = generate_one(fresh, greedy_request(p2, 6), nullptr);

    o.ctx_checkpoints = 4;
    o.checkpoint_bytes = 64 << 20;
    Batcher b(model, &tok, {}, o);
    generate_one(b, greedy_request(p1, 9), nullptr);  // slot 0 (both empty: the first one)
    std::vector<int32_t> busy = b.slot_tokens(0);
    ASSERT_EQ(busy.size(), p1.size() + 8);
    busy.push_back(3);
    GenOutcome long_one, got;
    b.admit(greedy_request(busy, 20), {nullptr, [&](GenOutcome& out) { long_one = out; }, nullptr});  // slot 0 again
    EXPECT_EQ(b.free_slots(), 1);
    b.admit(greedy_request(p2, 6), {nullptr, [&](GenOutcome& out) { got = out; }, nullptr});
    while (!b.idle()) b.step();
    EXPECT_EQ(long_one.stats.cache_n, int64_t(busy.size()) - 1);
    EXPECT_EQ(got.stats.cache_n, int64_t(p1.size()));
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(long_one.tokens.size(), 20u);
}

}  // namespace
}  // namespace bf
