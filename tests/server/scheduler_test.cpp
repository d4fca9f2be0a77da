// The server's scheduler without HTTP: greedy output against the float64 reference, every stop rule
// (stop strings across tokens, end of generation, token limit, full context), the slot choice (longest
// reusable prefix, else least recently used), a prompt split across steps by the batch budget, and a
// slot cancelled in the middle of its prompt being reused correctly.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "../common/gen_fixture.h"
#include "engine/threads.h"
#include "server/scheduler.h"

namespace bf {
namespace {

using namespace bf::testing;

const int kOneThread = (set_engine_threads(1), 0);

std::unique_ptr<ServedModel> served(const std::vector<int32_t>& eog = {}) {
    const std::string path = converted_f32("bf16_untied");
    Model m = Model::load(path);
    Tokenizer tok = char_tokenizer();
    return std::unique_ptr<ServedModel>(new ServedModel{std::move(m), std::move(tok), eog, "", path});
}

const std::vector<int32_t>& ref_prompt() {
    static const auto p = read_ids(fixture_dir("bf16_untied") + "/greedy_prompt.txt");
    return p;
}
const std::vector<int32_t>& ref_greedy() {
    static const auto g = read_ids(fixture_dir("bf16_untied") + "/greedy32.txt");
    return g;
}
std::vector<int32_t> head(const std::vector<int32_t>& v, size_t n) { return {v.begin(), v.begin() + long(n)}; }

struct Reply {
    std::string text, error;
    FinishReason finish = FinishReason::None;
    GenTimings t;
};

GenParams greedy_params(std::vector<int32_t> prompt, int64_t max_tokens) {
    GenParams p;
    p.prompt = std::move(prompt);
    p.sampler.temp = 0;
    p.max_tokens = max_tokens;
    return p;
}

// Generous: only catches a hang, never a slow machine.
Reply wait(GenStream& gs) {
    Reply r;
    GenEvent ev;
    for (int waited = 0; waited < 600; ++waited) {
        if (!gs.next(ev, std::chrono::milliseconds(1000))) continue;
        if (!ev.done) {
            r.text += ev.text;
            continue;
        }
        r.finish = ev.finish;
        r.t = ev.timings;
        r.error = ev.error;
        return r;
    }
    r.error = "no reply within 600 s";
    return r;
}

Reply ask(Scheduler& s, GenParams p) { return wait(*s.submit(std::move(p))); }

SchedulerOptions opts(int slots, int64_t ctx, int64_t batch = 512) {
    SchedulerOptions o;
    o.n_slots = slots;
    o.n_ctx = ctx;
    o.batch = batch;
    return o;
}

TEST(Scheduler, GreedyMatchesReference) {
    auto m = served();
    Scheduler s(*m, opts(2, 256));
    const Reply r = ask(s, greedy_params(ref_prompt(), 32));
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.text, m->tok.decode(ref_greedy()));
    EXPECT_EQ(r.finish, FinishReason::Length);
    EXPECT_EQ(r.t.predicted_n, 32);
    EXPECT_EQ(r.t.prompt_n, int64_t(ref_prompt().size()));
}

TEST(Scheduler, StopStringSpanningTokens) {
    auto m = served();
    Scheduler s(*m, opts(1, 256));
    const std::string all = m->tok.decode(ref_greedy());  // one character per token
    const std::string stop = all.substr(4, 3);
    const std::string want = all.substr(0, all.find(stop));
    GenParams p = greedy_params(ref_prompt(), 32);
    p.stop = {"never there", stop};
    const Reply r = ask(s, p);
    EXPECT_EQ(r.text, want);
    EXPECT_EQ(r.finish, FinishReason::Stop);
}

TEST(Scheduler, EndOfGenerationId) {
    const auto& g = ref_greedy();
    size_t k = 2;
    while (std::find(g.begin(), g.begin() + long(k), g[k]) != g.begin() + long(k)) ++k;
    auto m = served({g[k]});
    Scheduler s(*m, opts(1, 256));
    Reply r = ask(s, greedy_params(ref_prompt(), 32));
    EXPECT_EQ(r.text, m->tok.decode(head(g, k)));
    EXPECT_EQ(r.finish, FinishReason::Stop);
    EXPECT_EQ(r.t.predicted_n, int64_t(k));
    GenParams p = greedy_params(ref_prompt(), 32);
    p.ignore_eos = true;
    r = ask(s, p);
    EXPECT_EQ(r.text, m->tok.decode(g));
    EXPECT_EQ(r.finish, FinishReason::Length);
}

TEST(Scheduler, MaxTokensAndFullContext) {
    auto m = served();
    Scheduler a(*m, opts(1, 256));
    Reply r = ask(a, greedy_params(ref_prompt(), 5));
    EXPECT_EQ(r.text, m->tok.decode(head(ref_greedy(), 5)));
    EXPECT_EQ(r.finish, FinishReason::Length);
    Scheduler b(*m, opts(1, int64_t(ref_prompt().size()) + 7));
    r = ask(b, greedy_params(ref_prompt(), -1));
    // 7 generated tokens fill the context; the 8th is sampled from the last logits but cannot be fed.
    EXPECT_EQ(r.text, m->tok.decode(head(ref_greedy(), 8)));
    EXPECT_EQ(r.finish, FinishReason::Length);
    EXPECT_EQ(r.t.predicted_n, 8);
}

TEST(Scheduler, SlotChoiceLongestPrefixElseLeastRecentlyUsed) {
    auto m = served();
    SchedulerOptions o = opts(2, 256);
    o.ctx_checkpoints = 0;  // the slots' own states only (checkpoints: BatcherCheckpoints.*, ServerCheckpoints.*)
    Scheduler s(*m, o);
    const std::vector<int32_t> P = ref_prompt(), Q = {3, 1, 4, 1, 5, 9, 2, 6}, Z = {7, 7, 7, 8};
    // A slot keeps what its state has seen: the prompt and every generated token but the last.
    auto extend = [&](const std::vector<int32_t>& prompt, const std::string& reply) {
        std::vector<int32_t> v = prompt;
        for (size_t i = 0; i + 1 < reply.size(); ++i) v.push_back(*m->tok.token_id(std::string(1, reply[i])));
        v.push_back(11);
        return v;
    };
    const Reply p1 = ask(s, greedy_params(P, 4));  // slot A
    const Reply q1 = ask(s, greedy_params(Q, 4));  // slot B, the least recently used
    ASSERT_EQ(p1.text.size(), 4u);
    ASSERT_EQ(q1.text.size(), 4u);
    EXPECT_EQ(q1.t.cache_n, 0);
    Reply r = ask(s, greedy_params(extend(P, p1.text), 2));  // A again, its state reused
    EXPECT_EQ(r.t.cache_n, int64_t(P.size()) + 3);
    r = ask(s, greedy_params(extend(Q, q1.text), 2));  // B was not overwritten
    EXPECT_EQ(r.t.cache_n, int64_t(Q.size()) + 3);
    r = ask(s, greedy_params(Z, 2));  // replaces A, now the least recently used
    EXPECT_EQ(r.t.cache_n, 0);
    r = ask(s, greedy_params(extend(P, p1.text), 2));
    EXPECT_EQ(r.t.cache_n, 0);
}

TEST(Scheduler, PromptSplitAcrossStepsByTheBatchBudget) {
    auto m = served();
    ASSERT_EQ(ref_prompt().size(), 6u);
    Scheduler s(*m, opts(1, 256, 4));
    const Reply r = ask(s, greedy_params(ref_prompt(), 3));
    EXPECT_EQ(r.text, m->tok.decode(head(ref_greedy(), 3)));
    // 4 + 2 prompt tokens, then two decode steps (the third token is never fed).
    EXPECT_EQ(s.steps(), 4);
}

TEST(Scheduler, SlotCancelledMidPromptIsReused) {
    auto m = served();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 400; ++i) prompt.push_back(int32_t((i * 37 + 11) % 90));
    GenParams p = greedy_params(prompt, 8);
    p.ignore_eos = true;
    Scheduler fresh(*m, opts(1, 512, 1));
    const Reply want = ask(fresh, p);
    ASSERT_EQ(want.t.predicted_n, 8);

    Scheduler s(*m, opts(1, 512, 1));  // one prompt token per step: the cancel lands inside the prompt
    auto gs = s.submit(p);
    while (s.steps() < 10) std::this_thread::yield();
    gs->cancel();
    const Reply cancelled = wait(*gs);
    EXPECT_EQ(cancelled.error, "cancelled");
    const Reply again = ask(s, p);
    EXPECT_GT(again.t.cache_n, 0);
    EXPECT_LT(again.t.cache_n, int64_t(prompt.size()));
    EXPECT_EQ(again.t.cache_n + again.t.prompt_n, int64_t(prompt.size()));
    EXPECT_EQ(again.t.predicted_n, 8);
    EXPECT_EQ(again.text, want.text);
}

// The done-when of issue #15: a stop string, an end-of-generation id and a full context end a reply the same
// way through `run` (generate_one on a one-slot batcher, as cmd_run.cpp does) and through the server.
TEST(SameRules, RunAndServerStopAlike) {
    const auto& g = ref_greedy();
    size_t k = 2;
    while (std::find(g.begin(), g.begin() + long(k), g[k]) != g.begin() + long(k)) ++k;
    const std::string all = char_tokenizer().decode(g);
    struct Case {
        const char* name;
        std::vector<int32_t> eog;
        std::string stop;
        int64_t n_ctx;
        StopReason run_stop;
        FinishReason server_finish;
        std::string want;
    };
    const int64_t tight = int64_t(ref_prompt().size()) + 7;
    const std::vector<Case> cases = {
        {"stop string",
         {},
         all.substr(5, 2),
         256,
         StopReason::StopString,
         FinishReason::Stop,
         all.substr(0, all.find(all.substr(5, 2)))},
        {"end of generation", {g[k]}, "", 256, StopReason::EndOfGeneration, FinishReason::Stop, all.substr(0, k)},
        {"full context", {}, "", tight, StopReason::ContextFull, FinishReason::Length, all.substr(0, 8)},
    };
    for (const Case& c : cases) {
        auto m = served(c.eog);
        GenParams p = greedy_params(ref_prompt(), 32);
        if (!c.stop.empty()) p.stop = {c.stop};
        BatcherOptions one;
        one.n_ctx = c.n_ctx;
        Batcher run_engine(*m, one);
        std::string run_text;
        const GenOutcome run = generate_one(run_engine, p, [&](const std::string& t) {
            run_text += t;
            return true;
        });
        Scheduler server(*m, opts(2, c.n_ctx));
        const Reply served_reply = ask(server, p);
        EXPECT_FALSE(c.want.empty()) << c.name;
        EXPECT_EQ(run_text, c.want) << c.name;
        EXPECT_EQ(run.stop, c.run_stop) << c.name;
        EXPECT_EQ(served_reply.text, c.want) << c.name;
        EXPECT_EQ(served_reply.finish, c.server_finish) << c.name;
        EXPECT_EQ(served_reply.t.predicted_n, int64_t(run.tokens.size())) << c.name;
    }
}

}  // namespace
}  // namespace bf
