// logprobs / top_logprobs in chat and text completions: values against a log-softmax of the model's own
// logits computed here with a direct forward pass, OpenAI's shapes, streaming = non-streaming, bad values.
#include <gtest/gtest.h>

#include <cmath>

#include "../common/log_softmax.h"
#include "model/sambay.h"
#include "server_fixture.h"

namespace bf {
namespace {

using namespace bf::testing;

// log-softmax of the logits after `prompt`, computed in double here, independent of the server.
std::vector<double> reference_logprobs(const std::vector<int32_t>& prompt) {
    const Model m = Model::load(model_path());
    SequenceState st = SequenceState::create(m.config, 256);
    Workspace ws;
    std::vector<float> logits(size_t(m.config.n_vocab));
    forward(m, st, prompt, LogitsFor::LastToken, ws, logits.data());
    return log_softmax(logits);
}

class ServerLogprobs : public ::testing::Test {
protected:
    static void SetUpTestSuite() { s_ = new Running(options(2, 256)); }
    static void TearDownTestSuite() { delete s_; }
    static Running* s_;
};
Running* ServerLogprobs::s_ = nullptr;

TEST_F(ServerLogprobs, TextCompletionMatchesTheModelsDistribution) {
    const std::vector<int32_t> prompt = {72, 101, 108, 108, 111, 44, 32};  // token ids: "Hello, "
    const json r =
        s_->ok("/v1/completions",
               {{"prompt", prompt}, {"max_tokens", 5}, {"temperature", 0}, {"ignore_eos", true}, {"logprobs", 3}});
    const json& lp = r["choices"][0]["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), 5u);
    ASSERT_EQ(lp["token_logprobs"].size(), 5u);
    ASSERT_EQ(lp["top_logprobs"].size(), 5u);
    ASSERT_EQ(lp["text_offset"].size(), 5u);
    // The first token against the reference: its logprob and the three best.
    const std::vector<double> ref = reference_logprobs(prompt);
    std::vector<int32_t> order(ref.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int32_t(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ref[a] > ref[b]; });
    EXPECT_NEAR(lp["token_logprobs"][0].get<double>(), ref[order[0]], 1e-4);  // greedy: the most likely
    // The three best, keyed by their text (pieces of invalid UTF-8 serialize alike: the likelier one stays).
    const auto detok = [&](int32_t id) {
        return s_->ok("/detokenize", {{"tokens", {id}}})["content"].get<std::string>();
    };
    json want = json::object();
    for (int k = 0; k < 3; ++k)
        if (!want.contains(detok(order[size_t(k)]))) want[detok(order[size_t(k)])] = ref[order[size_t(k)]];
    const json& got = lp["top_logprobs"][0];
    ASSERT_EQ(got.size(), want.size()) << got.dump() << " vs " << want.dump();
    for (auto it = want.begin(); it != want.end(); ++it) {
        ASSERT_TRUE(got.contains(it.key())) << it.key();
        EXPECT_NEAR(got[it.key()].get<double>(), it.value().get<double>(), 1e-4);
    }
    // text_offset: the byte offset of each token's text in the completion (a piece shown as U+FFFD is one
    // raw byte of a longer character, so only the others' lengths are known here).
    EXPECT_EQ(lp["text_offset"][0], 0);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
        if (i == 0) continue;
        const std::string prev = lp["tokens"][i - 1].get<std::string>();
        const size_t step = lp["text_offset"][i].get<size_t>() - lp["text_offset"][i - 1].get<size_t>();
        if (prev.find("\xEF\xBF\xBD") == std::string::npos)
            EXPECT_EQ(step, prev.size()) << i;
        else
            EXPECT_GE(step, 1u);
    }
}

TEST_F(ServerLogprobs, ChatShapeAndStreamingEqualsNonStreaming) {
    json body = chat_body("logprobs please", 6);
    body["ignore_eos"] = true;
    body["logprobs"] = true;
    body["top_logprobs"] = 2;
    const json r = s_->ok("/v1/chat/completions", body);
    const json& content = r["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), 6u);
    for (const auto& e : content) {
        ASSERT_TRUE(e["token"].is_string());
        ASSERT_TRUE(e["bytes"].is_array());
        EXPECT_LE(e["logprob"].get<double>(), 0.0);
        ASSERT_EQ(e["top_logprobs"].size(), 2u);
        EXPECT_GE(e["top_logprobs"][0]["logprob"].get<double>(), e["top_logprobs"][1]["logprob"].get<double>());
        EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);  // greedy
        EXPECT_NEAR(e["top_logprobs"][0]["logprob"].get<double>(), e["logprob"].get<double>(), 1e-6);
        EXPECT_TRUE(e["top_logprobs"][0]["bytes"].is_array());
    }
    body["stream"] = true;
    httplib::Client c("127.0.0.1", s_->port);
    c.set_read_timeout(120, 0);
    auto sr = c.Post("/v1/chat/completions", body.dump(), "application/json");
    ASSERT_TRUE(sr);
    const SseResult sse = parse_sse(sr->body);
    ASSERT_TRUE(sse.done) << sse.error;
    json streamed = json::array();
    for (const auto& ch : sse.chunks)
        if (!ch["choices"].empty() && ch["choices"][0]["logprobs"].is_object())
            for (const auto& e : ch["choices"][0]["logprobs"]["content"]) streamed.push_back(e);
    EXPECT_EQ(streamed, content);
    // Without logprobs the field is null.
    EXPECT_TRUE(s_->ok("/v1/chat/completions", chat_body("no logprobs", 2))["choices"][0]["logprobs"].is_null());
}

TEST_F(ServerLogprobs, BadValuesAre400) {
    auto status = [&](const std::string& path, json body) { return s_->post(path, body)->status; };
    json chat = chat_body("x", 2);
    chat["logprobs"] = true;
    chat["top_logprobs"] = 21;
    EXPECT_EQ(status("/v1/chat/completions", chat), 400);
    chat["top_logprobs"] = -1;
    EXPECT_EQ(status("/v1/chat/completions", chat), 400);
    chat.erase("logprobs");
    chat["top_logprobs"] = 2;
    EXPECT_EQ(status("/v1/chat/completions", chat), 400);  // top_logprobs needs logprobs: true
    EXPECT_EQ(status("/v1/completions", {{"prompt", "x"}, {"logprobs", true}}), 400);
    EXPECT_EQ(status("/v1/completions", {{"prompt", "x"}, {"logprobs", 99}}), 400);
}

}  // namespace
}  // namespace bf
