// Request validation and response pieces of the server, without sockets or a model.
#include <gtest/gtest.h>

#include "server/protocol.h"

namespace bf {
namespace {

int status_of(const std::string& body, bool chat = true) {
    try {
        parse_completion_request(parse_body(body), chat);
    } catch (const ApiError& e) {
        return e.status();
    }
    return 200;
}

TEST(ServerProtocol, RejectsBadRequests) {
    EXPECT_EQ(status_of("{"), 400);
    EXPECT_EQ(status_of("[1,2]"), 400);
    EXPECT_EQ(status_of("{}"), 400);
    EXPECT_EQ(status_of(R"({"messages": "hi"})"), 400);
    EXPECT_EQ(status_of(R"({"messages": []})"), 400);
    EXPECT_EQ(status_of(R"({"messages": [{"role": "wizard", "content": "x"}]})"), 400);
    EXPECT_EQ(status_of(R"({"messages": [{"role": "user", "content": 5}]})"), 400);
    EXPECT_EQ(status_of(R"({"messages": [{"role": "user"}]})"), 400);
    const std::string ok = R"({"messages": [{"role": "user", "content": "x"}])";
    EXPECT_EQ(status_of(ok + "}"), 200);
    EXPECT_EQ(status_of(ok + R"(, "max_tokens": -5})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "max_tokens": 0})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "max_tokens": 1.5})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "max_tokens": "10"})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "temperature": "hot"})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "temperature": -1})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "top_p": 1.5})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "top_k": -1})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "stop": 5})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "stop": ["a", 5]})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "seed": -7})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "n": 2})"), 400);
    EXPECT_EQ(status_of(ok + R"(, "stream": "yes"})"), 400);
    EXPECT_EQ(status_of(std::string("{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\"}]}")), 400);
    EXPECT_EQ(status_of(R"({"prompt": 5})", false), 400);
    EXPECT_EQ(status_of(R"({"prompt": "x"})", false), 200);
}

TEST(ServerProtocol, ReadsSamplingFields) {
    const auto r = parse_completion_request(
        parse_body(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                       "temperature": 0.5, "top_p": 0.9, "top_k": 7, "min_p": 0.1, "repeat_penalty": 1.1,
                       "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42, "max_completion_tokens": 1000000000000,
                       "stop": ["x", ""], "stream": true, "stream_options": {"include_usage": true}})"),
        true);
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].content, "ab");
    EXPECT_FLOAT_EQ(r.sampler.temp, 0.5f);
    EXPECT_FLOAT_EQ(r.sampler.top_p, 0.9f);
    EXPECT_EQ(r.sampler.top_k, 7);
    EXPECT_FLOAT_EQ(r.sampler.min_p, 0.1f);
    EXPECT_FLOAT_EQ(r.sampler.repeat_penalty, 1.1f);
    EXPECT_FLOAT_EQ(r.sampler.presence_penalty, 0.2f);
    EXPECT_FLOAT_EQ(r.sampler.frequency_penalty, 0.3f);
    EXPECT_EQ(r.sampler.seed, 42u);
    EXPECT_EQ(r.max_tokens, 1000000000000LL);  // clamped to the context by the server
    EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
    const auto s = parse_completion_request(parse_body(R"({"prompt": "p", "stop": "q"})"), false);
    EXPECT_EQ(s.prompt, "p");
    EXPECT_EQ(s.stop, std::vector<std::string>{"q"});
    EXPECT_EQ(s.max_tokens, -1);
}

TEST(ServerProtocol, SplitsReasoningFromContent) {
    ChatDeltaSplitter sp;
    std::string content, reasoning;
    for (const char* piece : {"<th", "ink>let me", " think</thi", "nk>The answer", " is 4."}) {
        for (const auto& d : sp.push(piece)) {
            if (d.contains("content")) content += d["content"].get<std::string>();
            if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
        }
    }
    for (const auto& d : sp.flush())
        if (d.contains("content")) content += d["content"].get<std::string>();
    EXPECT_EQ(reasoning, "let me think");
    EXPECT_EQ(content, "The answer is 4.");
    const json m = chat_message_json("<think>hmm</think>42");
    EXPECT_EQ(m["content"], "42");
    EXPECT_EQ(m["reasoning_content"], "hmm");
    EXPECT_FALSE(chat_message_json("plain").contains("reasoning_content"));
}

TEST(ServerProtocol, ErrorJsonAndInvalidUtf8Output) {
    const json e = error_json(401, "Invalid API Key");
    EXPECT_EQ(e["error"]["code"], 401);
    EXPECT_EQ(e["error"]["type"], "authentication_error");
    EXPECT_EQ(e["error"]["message"], "Invalid API Key");
    // Raw bytes from a byte-level model must still give valid JSON.
    const std::string s = dump_json(json{{"content", std::string("a\xff" "b")}});
    EXPECT_EQ(json::parse(s)["content"], "a\xEF\xBF\xBD" "b");
}

}  // namespace
}  // namespace bf
