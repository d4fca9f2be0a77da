// Function calling through the in-process server on a random model: forced calls whose arguments validate
// (with the test's own schema checker), the stream reassembled = the whole answer, and a round trip with results.
#include <gtest/gtest.h>

#include "../common/json_schema_check.h"
#include "server_fixture.h"

namespace bf {
namespace {

using namespace bf::testing;

const json& weather_schema() {
    static const json s = {{"type", "object"},
                           {"properties",
                            {{"city", {{"type", "string"}, {"maxLength", 12}}},
                             {"unit", {{"enum", {"celsius", "fahrenheit"}}}},
                             {"days", {{"type", "integer"}}}}},
                           {"required", {"city", "unit"}},
                           {"additionalProperties", false}};
    return s;
}

json tools() {
    return {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", weather_schema()}}}},
            {{"type", "function"}, {"function", {{"name", "get_time"}}}}};
}

json request(uint64_t seed, json extra = json::object()) {
    json b = {{"messages", {{{"role", "user"}, {"content", "Weather in Oslo?"}}}},
              {"tools", tools()},
              {"tool_choice", "required"},
              {"max_tokens", 3000},  // more than 8 calls of at most ~350 bytes: the grammar ends first
              {"temperature", 1.0},
              {"top_k", 0},
              {"top_p", 1.0},
              {"min_p", 0.0},
              {"seed", seed}};
    b.update(extra);
    return b;
}

// "name(arguments)" per call, after checking the call's shape and its arguments against the schema.
std::vector<std::string> checked_calls(const json& calls) {
    std::vector<std::string> out;
    for (const json& c : calls) {
        EXPECT_EQ(c["type"], "function");
        EXPECT_EQ(c["id"].get<std::string>().rfind("call_", 0), 0u);
        const std::string name = c["function"]["name"], text = c["function"]["arguments"];
        const json args = json::parse(text);  // throws (fails the test) on bad JSON
        if (name == "get_weather")
            EXPECT_EQ(schema_violation(args, weather_schema(), weather_schema()), "") << text;
        else
            EXPECT_TRUE(name == "get_time" && args == json::object()) << name << text;  // no parameters: {}
        out.push_back(name + "(" + text + ")");
    }
    return out;
}

class ToolServer : public ::testing::Test {
protected:
    static void SetUpTestSuite() { s_ = new Running(options(2, 4096)); }
    static void TearDownTestSuite() { delete s_; }
    static Running* s_;
};
Running* ToolServer::s_ = nullptr;

TEST_F(ToolServer, ForcedCallsValidateAndStreamAsTheWholeAnswer) {
    for (uint64_t seed : {1, 2, 3}) {
        const json r = s_->ok("/v1/chat/completions", request(seed));
        const json& choice = r["choices"][0];
        ASSERT_EQ(choice["finish_reason"], "tool_calls") << r.dump();
        EXPECT_TRUE(choice["message"]["content"].is_null()) << r.dump();
        const std::vector<std::string> whole = checked_calls(choice["message"]["tool_calls"]);
        ASSERT_FALSE(whole.empty());

        auto res = s_->post("/v1/chat/completions", request(seed, {{"stream", true}}));
        ASSERT_TRUE(res);
        const SseResult sse = parse_sse(res->body);
        ASSERT_TRUE(sse.done && sse.error.empty()) << sse.error;
        json calls = json::array();
        std::string content, finish;
        for (const json& c : sse.chunks) {
            const json& d = c["choices"][0]["delta"];
            content += d.value("content", "");
            for (const json& tc : d.value("tool_calls", json::array())) {
                EXPECT_EQ(tc["index"].get<size_t>(), calls.size());  // one delta per call, in order
                calls.push_back(tc);
            }
            if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
        }
        EXPECT_EQ(content, "");
        EXPECT_EQ(finish, "tool_calls");
        EXPECT_EQ(checked_calls(calls), whole) << "seed " << seed;
    }
}

TEST_F(ToolServer, NamedSingleCallThenResultsBackForAnAnswer) {
    const json first =
        s_->ok("/v1/chat/completions",
               request(4, {{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}},
                           {"parallel_tool_calls", false}}));
    const json& msg = first["choices"][0]["message"];
    ASSERT_EQ(msg["tool_calls"].size(), 1u) << first.dump();
    EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
    checked_calls(msg["tool_calls"]);

    json body = request(5, {{"tool_choice", "auto"}, {"max_tokens", 8}, {"temperature", 0}});
    body["messages"].push_back(msg);
    body["messages"].push_back(
        {{"role", "tool"}, {"tool_call_id", msg["tool_calls"][0]["id"]}, {"content", "{\"temp\": 12}"}});
    const json r = s_->ok("/v1/chat/completions", body);
    EXPECT_NE(r["choices"][0]["finish_reason"], "tool_calls");
    EXPECT_FALSE(r["choices"][0]["message"].contains("tool_calls"));
    // The first prompt is rendered unchanged inside the history: its checkpoint serves this turn.
    EXPECT_GE(r["timings"]["cache_n"].get<int64_t>(), first["usage"]["prompt_tokens"].get<int64_t>());

    const json t = s_->ok("/apply-template", {{"messages", body["messages"]}});
    const std::string prompt = t["prompt"];
    EXPECT_NE(prompt.find("<|tool_response|>{\"temp\": 12}<|end|>"), std::string::npos) << prompt;
}

TEST_F(ToolServer, RefusalsAre400) {
    for (const json& extra : {json{{"tool_choice", "always"}}, json{{"response_format", {{"type", "json_object"}}}},
                              json{{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"x", 1}}}}}}}}) {
        auto r = s_->post("/v1/chat/completions", request(1, extra));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << extra.dump() << " " << r->body;
    }
}

}  // namespace
}  // namespace bf
