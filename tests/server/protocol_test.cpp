// Request validation and response pieces of the server, without sockets or a model.
#include <gtest/gtest.h>

#include "server/protocol.h"

namespace bf {
namespace {

int status_of(const std::string& body, bool chat = true) {
    try {
        parse_completion_request(parse_body(body, chat ? Endpoint::ChatCompletions : Endpoint::Completions), chat);
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

// The ApiError message of parsing `body` for `ep`, or "" when it is accepted.
std::string refusal(const std::string& body, Endpoint ep) {
    try {
        const json j = parse_body(body, ep);
        if (ep == Endpoint::ChatCompletions || ep == Endpoint::Completions)
            parse_completion_request(j, ep == Endpoint::ChatCompletions);
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
        return e.what();
    }
    return "";
}

TEST(ServerProtocol, RefusesFieldsItDoesNotImplement) {
    const std::string msgs = R"("messages": [{"role": "user", "content": "x"}])";
    const Endpoint chat = Endpoint::ChatCompletions, text = Endpoint::Completions;
    // Every field the endpoints implement, at once, with valid values: all accepted.
    const std::string sampling =
        R"("model": "m", "user": "u", "stream": true, "stream_options": {"include_usage": true}, "n": 1, "max_tokens": 5,
           "max_completion_tokens": 5, "n_predict": 5, "stop": "s", "ignore_eos": false, "temperature": 0.5,
           "top_p": 0.9, "top_k": 4, "min_p": 0.1, "seed": 3, "repeat_penalty": 1.1, "repeat_last_n": 8,
           "presence_penalty": 0.1, "frequency_penalty": 0.1)";
    EXPECT_EQ(refusal("{" + msgs + ", " + sampling + "}", chat), "");
    EXPECT_EQ(refusal(R"({"prompt": "p", )" + sampling + "}", text), "");
    EXPECT_EQ(refusal(R"({"content": "x", "add_special": true, "parse_special": false, "with_pieces": true})",
                      Endpoint::Tokenize),
              "");
    EXPECT_EQ(refusal(R"({"tokens": [1]})", Endpoint::Detokenize), "");
    EXPECT_EQ(refusal("{" + msgs + "}", Endpoint::ApplyTemplate), "");
    // null means "not given", for any field.
    EXPECT_EQ(refusal("{" + msgs + R"(, "logit_bias": null})", chat), "");

    // Unknown fields are named, sorted, each endpoint with its own list.
    EXPECT_EQ(refusal("{" + msgs + R"(, "logit_bias": {}, "foo": 1})", chat),
              "/v1/chat/completions does not implement the request fields 'foo', 'logit_bias'");
    EXPECT_EQ(refusal(R"({"prompt": "p", "messages": []})", text),
              "/v1/completions does not implement the request field 'messages'");
    EXPECT_EQ(refusal("{" + msgs + R"(, "prompt": "p"})", chat),
              "/v1/chat/completions does not implement the request field 'prompt'");
    EXPECT_EQ(refusal(R"({"content": "x", "tokens": [1]})", Endpoint::Tokenize),
              "/tokenize does not implement the request field 'tokens'");
    EXPECT_EQ(refusal(R"({"tokens": [1], "content": "x"})", Endpoint::Detokenize),
              "/detokenize does not implement the request field 'content'");
    EXPECT_EQ(refusal("{" + msgs + R"(, "temperature": 1})", Endpoint::ApplyTemplate),
              "/apply-template does not implement the request field 'temperature'");
    EXPECT_EQ(refusal("{" + msgs + R"(, "stream_options": {"include_usage": true, "chunk_size": 2}})", chat),
              "/v1/chat/completions does not implement the request field 'stream_options.chunk_size'");
    // Many unknown fields: the first eight are named, the rest counted.
    std::string many = "{" + msgs;
    for (char c = 'a'; c <= 'l'; ++c) many += strfmt(R"(, "%c": 1)", c);
    EXPECT_EQ(refusal(many + "}", chat),
              "/v1/chat/completions does not implement the request fields 'a', 'b', 'c', "
              "'d', 'e', 'f', 'g', 'h' (and 4 more)");
}

TEST(ServerProtocol, EmptyBodyIsNamed) {
    EXPECT_NE(refusal("", Endpoint::ChatCompletions).find("the request has no body"), std::string::npos);
    EXPECT_NE(refusal("", Endpoint::Detokenize).find("the request has no body"), std::string::npos);
    EXPECT_NE(refusal(" ", Endpoint::Tokenize).find("not valid JSON"), std::string::npos);
}

TEST(ServerProtocol, ReadsSamplingFields) {
    const auto r = parse_completion_request(
        parse_body(
            R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                       "temperature": 0.5, "top_p": 0.9, "top_k": 7, "min_p": 0.1, "repeat_penalty": 1.1,
                       "presence_penalty": 0.2, "frequency_penalty": 0.3, "seed": 42, "max_completion_tokens": 1000000000000,
                       "stop": ["x", ""], "stream": true, "stream_options": {"include_usage": true}})",
            Endpoint::ChatCompletions),
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
    const auto s =
        parse_completion_request(parse_body(R"({"prompt": "p", "stop": "q"})", Endpoint::Completions), false);
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
    const std::string s = dump_json(json{{"content", std::string("a\xff"
                                                                 "b")}});
    EXPECT_EQ(json::parse(s)["content"],
              "a\xEF\xBF\xBD"
              "b");
}

}  // namespace
}  // namespace bf
