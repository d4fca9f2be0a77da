// Function calling without a model: request checks, the forcing grammar against call texts, the call parser
// (whole and streamed at every split), the history's calls and results, and the tool block in two templates.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

#include "grammar/matcher.h"
#include "server/protocol.h"

namespace bf {
namespace {

const json kWeather = {
    {"type", "function"},
    {"function",
     {{"name", "get_weather"},
      {"description", "Weather in a city"},
      {"parameters",
       {{"type", "object"},
        {"properties", {{"city", {{"type", "string"}, {"maxLength", 12}}}, {"unit", {{"enum", {"c", "f"}}}}}},
        {"required", {"city"}}}}}}};
const json kTime = {{"type", "function"}, {"function", {{"name", "get_time"}}}};

json body_with(json extra) {
    json b = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"tools", {kWeather, kTime}}};
    for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
    return b;
}

// The message of a 400, or "" when there was none.
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
        return e.what();
    }
    return "";
}

TEST(ToolRequest, ChoicesAndDefaults) {
    EXPECT_EQ(parse_tool_request(body_with({})).choice, ToolChoice::Auto);  // OpenAI's default with tools
    EXPECT_EQ(parse_tool_request({{"messages", json::array()}}).choice, ToolChoice::None);
    EXPECT_FALSE(parse_tool_request({{"tools", json::array()}, {"tool_choice", "auto"}}).active());
    EXPECT_FALSE(parse_tool_request(body_with({{"tool_choice", "none"}})).active());
    EXPECT_EQ(parse_tool_request(body_with({{"tool_choice", "required"}})).choice, ToolChoice::Required);
    const ToolRequest named =
        parse_tool_request(body_with({{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}}));
    EXPECT_EQ(named.choice, ToolChoice::Named);
    EXPECT_EQ(named.forced, "get_time");
    EXPECT_EQ(named.names(), (std::set<std::string>{"get_time", "get_weather"}));
    EXPECT_FALSE(parse_tool_request(body_with({{"tool_choice", "required"}, {"parallel_tool_calls", false}})).parallel);
}

TEST(ToolRequest, BadShapesAreRefusedByName) {
    auto err = [](json extra) { return error_of([&] { parse_tool_request(body_with(std::move(extra))); }); };
    EXPECT_NE(err({{"tools", "x"}}).find("'tools' must be an array"), std::string::npos);
    EXPECT_NE(err({{"tools", {{{"type", "code"}}}}}).find("tools[0].type"), std::string::npos);
    EXPECT_NE(
        err({{"tools", {{{"type", "function"}, {"function", {{"name", "a b"}}}}}}}).find("tools[0].function.name"),
        std::string::npos);
    EXPECT_NE(err({{"tools", {kTime, kTime}}}).find("'get_time' twice"), std::string::npos);
    EXPECT_NE(err({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"returns", 1}}}}}}})
                  .find("'tools[0].function.returns' is not implemented"),
              std::string::npos);
    EXPECT_NE(
        err({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "string"}}}}}}}}})
            .find("of type object"),
        std::string::npos);
    EXPECT_NE(err({{"tool_choice", "sometimes"}}).find("'tool_choice' must be"), std::string::npos);
    EXPECT_NE(err({{"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}).find("lacks"),
              std::string::npos);
    EXPECT_NE(err({{"tools", nullptr}, {"tool_choice", "required"}}).find("needs 'tools'"), std::string::npos);
    EXPECT_NE(err({{"parallel_tool_calls", false}}).find("only with 'tool_choice'"), std::string::npos);
    EXPECT_NE(err({{"parallel_tool_calls", 1}}).find("true or false"), std::string::npos);
}

TEST(ToolRequest, CompletionRequestCombinations) {
    EXPECT_NO_THROW(parse_body(body_with({{"parallel_tool_calls", true}}).dump(), Endpoint::ChatCompletions));
    EXPECT_EQ(parse_completion_request(body_with({}), true).grammar, nullptr);  // auto: the model decides
    EXPECT_NE(parse_completion_request(body_with({{"tool_choice", "required"}}), true).grammar, nullptr);
    EXPECT_NE(error_of([] {
                  parse_completion_request(body_with({{"response_format", {{"type", "json_object"}}}}), true);
              }).find("cannot be combined"),
              std::string::npos);
    // tool_choice none leaves a response_format alone.
    EXPECT_NE(parse_completion_request(
                  body_with({{"tool_choice", "none"}, {"response_format", {{"type", "json_object"}}}}), true)
                  .grammar,
              nullptr);
}

bool grammar_accepts(const std::shared_ptr<const Grammar>& g, const std::string& text) {
    GrammarMatcher m(g);
    return m.accept(text) && m.can_end();
}

TEST(ForcedCallGrammar, AcceptsValidCallsOnly) {
    const auto g = forced_call_grammar(parse_tool_request(body_with({{"tool_choice", "required"}})));
    ASSERT_NE(g, nullptr);
    const std::string w = R"({"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}})";
    const std::string t = R"({"name":"get_time","arguments":{}})";
    auto call = [](const std::string& list) { return "<|tool_call|>[" + list + "]<|/tool_call|>"; };
    EXPECT_TRUE(grammar_accepts(g, call(w)));
    EXPECT_TRUE(grammar_accepts(g, call(t)));
    EXPECT_TRUE(grammar_accepts(g, call(w + ", " + t)));
    EXPECT_TRUE(grammar_accepts(g, call(R"({"name": "get_weather", "arguments": {"city": "Oslo"}})")));
    EXPECT_FALSE(grammar_accepts(g, call(R"({"name": "get_wether", "arguments": {"city": "Oslo"}})")));
    EXPECT_FALSE(grammar_accepts(g, call(R"({"name": "get_weather", "arguments": {"unit": "c"}})")));  // required
    EXPECT_FALSE(grammar_accepts(g, call(R"({"name": "get_weather", "arguments": {"city": 3}})")));
    EXPECT_FALSE(grammar_accepts(g, call(R"({"name": "get_weather", "arguments": {"city": "Llanfairpwllgwyn"}})")));
    EXPECT_FALSE(grammar_accepts(g, call(R"({"name": "get_weather", "arguments": {"city": "a", "unit": "k"}})")));
    EXPECT_FALSE(grammar_accepts(g, call("")));
    EXPECT_FALSE(grammar_accepts(g, w));  // the markers are part of the answer
    std::string eight = t;
    for (int i = 1; i < kMaxForcedCalls; ++i) eight += "," + t;
    EXPECT_TRUE(grammar_accepts(g, call(eight)));
    EXPECT_FALSE(grammar_accepts(g, call(eight + "," + t)));  // more than kMaxForcedCalls

    const auto one = forced_call_grammar(
        parse_tool_request(body_with({{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}},
                                      {"parallel_tool_calls", false}})));
    EXPECT_TRUE(grammar_accepts(one, call(t)));
    EXPECT_FALSE(grammar_accepts(one, call(w)));  // not the named function
    EXPECT_FALSE(grammar_accepts(one, call(R"({"name": "get_time", "arguments": {"tz": 1}})")));  // no parameters
    EXPECT_FALSE(grammar_accepts(one, call(t + "," + t)));
    EXPECT_EQ(forced_call_grammar(parse_tool_request(body_with({}))), nullptr);
}

TEST(ForcedCallGrammar, UnsupportedSchemaIsA400NamingTheTool) {
    json bad = kTime;
    bad["function"]["parameters"] = {{"type", "object"}, {"properties", {{"x", {{"pattern", "a+"}}}}}};
    const std::string msg = error_of([&] {
        forced_call_grammar(parse_tool_request({{"tools", {kWeather, bad}}, {"tool_choice", "required"}}));
    });
    EXPECT_NE(msg.find("tools[1].function.parameters"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pattern"), std::string::npos) << msg;
}

// What a message becomes: its content and its calls as "name(arguments)".
struct Parsed {
    json content;
    std::vector<std::string> calls;
    bool operator==(const Parsed& o) const { return content == o.content && calls == o.calls; }
};

Parsed parse_whole(const std::string& text) {
    json m = {{"role", "assistant"}, {"content", text}};
    ToolRequest tr = parse_tool_request(body_with({}));
    const bool has = attach_tool_calls(m, tr);
    Parsed p{m["content"], {}};
    EXPECT_EQ(has, m.contains("tool_calls"));
    if (has)
        for (const json& c : m["tool_calls"]) {
            EXPECT_EQ(c["type"], "function");
            EXPECT_EQ(c["id"].get<std::string>().rfind("call_", 0), 0u);
            p.calls.push_back(c["function"]["name"].get<std::string>() + "(" +
                              c["function"]["arguments"].get<std::string>() + ")");
        }
    return p;
}

// The same text streamed in the given pieces, reassembled the way a client does.
Parsed parse_streamed(const std::vector<std::string>& pieces) {
    static const std::set<std::string> names = parse_tool_request(body_with({})).names();
    ToolCallStreamer s(names);
    std::vector<json> deltas;
    for (const auto& piece : pieces)
        for (json& d : s.push(piece)) deltas.push_back(std::move(d));
    for (json& d : s.flush()) deltas.push_back(std::move(d));
    std::string content;
    Parsed p;
    for (const json& d : deltas) {
        if (d.contains("content")) content += d["content"].get<std::string>();
        if (!d.contains("tool_calls")) continue;
        const json& c = d["tool_calls"][0];
        EXPECT_EQ(c["index"].get<size_t>(), p.calls.size());  // indices count the calls in order
        p.calls.push_back(c["function"]["name"].get<std::string>() + "(" +
                          c["function"]["arguments"].get<std::string>() + ")");
    }
    EXPECT_EQ(s.n_calls(), p.calls.size());
    p.content = p.calls.empty() || !content.empty() ? json(content) : json(nullptr);
    return p;
}

const char* const kOutputs[] = {
    "plain text with < and <| and <|tool but no call",
    R"(<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Oslo"}}]<|/tool_call|>)",
    R"(Let me check.<|tool_call|>[{"name":"get_time","arguments":{}}, {"name":"get_weather","arguments":{"city":"Rome","unit":"f"}}]<|/tool_call|>)",
    R"(<|tool_call|>{"name": "get_time", "arguments": {}}<|/tool_call|> and <|tool_call|>[{"name": "get_time", "arguments": {"tz": 1}}]<|/tool_call|>)",
    R"(<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Os)",                     // never closed
    R"(<|tool_call|>[{"name": "launch", "arguments": {}}]<|/tool_call|>)",                    // not offered
    R"(<|tool_call|>[{"name": "get_time", "arguments": "{}"}]<|/tool_call|>)",                // arguments a string
    R"(x<|tool_call|>[{"name": "get_time", "arguments": {}},]<|/tool_call|>y<|tool_call|>)",  // bad JSON
    R"(<|tool_call|>[]<|/tool_call|>ends with <|tool_ca)",
};

TEST(ToolCallParser, WholeMessages) {
    EXPECT_EQ(parse_whole(kOutputs[0]), (Parsed{kOutputs[0], {}}));
    EXPECT_EQ(parse_whole(kOutputs[1]), (Parsed{nullptr, {R"(get_weather({"city":"Oslo"}))"}}));
    EXPECT_EQ(parse_whole(kOutputs[2]),
              (Parsed{"Let me check.", {"get_time({})", R"(get_weather({"city":"Rome","unit":"f"}))"}}));
    EXPECT_EQ(parse_whole(kOutputs[3]), (Parsed{" and ", {"get_time({})", R"(get_time({"tz":1}))"}}));
    for (int i : {4, 5, 6, 7, 8}) EXPECT_EQ(parse_whole(kOutputs[i]), (Parsed{kOutputs[i], {}})) << kOutputs[i];
}

TEST(ToolCallParser, StreamedAtEverySplitEqualsWhole) {
    for (const char* text : kOutputs) {
        const std::string s = text;
        Parsed whole = parse_whole(s);
        if (whole.calls.empty()) whole.content = s;
        for (size_t a = 0; a <= s.size(); ++a)
            for (size_t b = a; b <= s.size(); b += 3)
                ASSERT_EQ(parse_streamed({s.substr(0, a), s.substr(a, b - a), s.substr(b)}), whole)
                    << s << " split at " << a << ", " << b;
        std::vector<std::string> bytes;
        for (char c : s) bytes.push_back(std::string(1, c));
        EXPECT_EQ(parse_streamed(bytes), whole) << s;
    }
}

TEST(ToolCallParser, TextBeforeACallIsNotHeldBack) {
    ToolCallStreamer s({"get_time"});
    const auto d = s.push("Sure <|tool");  // the tail that may begin the marker waits
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0]["content"], "Sure ");
    const auto e = s.push("box|> done");  // it did not
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0]["content"], "<|toolbox|> done");
}

TEST(ToolHistory, AssistantCallsAndToolResultsAreRendered) {
    const json body = {{"messages",
                        {{{"role", "user"}, {"content", "weather?"}},
                         {{"role", "assistant"},
                          {"content", nullptr},
                          {"tool_calls",
                           {{{"id", "call_1"},
                             {"type", "function"},
                             {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Oslo"})"}}}}}}},
                         {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "12 C"}}}}};
    const auto msgs = parse_messages(body);
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[1].role, "assistant");
    EXPECT_EQ(msgs[1].content,
              R"(<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Oslo"}}]<|/tool_call|>)");
    EXPECT_EQ(msgs[2].role, kToolResultRole);
    EXPECT_EQ(msgs[2].content, "12 C");
    const std::string prompt = render_chat(builtin_template("phi4-mini"), msgs, true, "", "");
    EXPECT_NE(prompt.find("<|tool_response|>12 C<|end|><|assistant|>"), std::string::npos) << prompt;

    json bad = body;
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city:";
    EXPECT_NE(error_of([&] { parse_messages(bad); }).find("messages[1].tool_calls[0].function.arguments"),
              std::string::npos);
    bad = body;
    bad["messages"][1]["tool_calls"][0]["function"].erase("name");
    EXPECT_NE(error_of([&] { parse_messages(bad); }).find("function.name"), std::string::npos);
    json empty = body;  // an empty list is no calls
    empty["messages"][1]["content"] = "ok";
    empty["messages"][1]["tool_calls"] = json::array();
    EXPECT_EQ(parse_messages(empty)[1].content, "ok");
    bad = body;
    bad["messages"][1]["tool_calls"] = "call";
    EXPECT_NE(error_of([&] { parse_messages(bad); }).find("non-empty array"), std::string::npos);
    bad = body;
    bad["messages"][2]["tool_call_id"] = 7;
    EXPECT_NE(error_of([&] { parse_messages(bad); }).find("tool_call_id"), std::string::npos);
}

TEST(ToolRendering, TemplateBranchAndFallbackWriteTheSameBlock) {
    const ToolRequest tr = parse_tool_request(body_with({}));
    const std::string defs = tool_definitions_json(tr);
    EXPECT_EQ(json::parse(defs).size(), 2u);
    EXPECT_EQ(defs.rfind(R"([{"name": "get_weather", "description": "Weather in a city", "parameters": {)", 0), 0u);
    const std::vector<ChatMessage> msgs = {{"system", "Be brief.", std::nullopt}, {"user", "hi", std::nullopt}};
    auto with = [&](const std::string& tmpl, const std::vector<ChatMessage>& m, const ToolRequest& t) {
        return render_with_tools([&](const auto& x) { return render_chat(builtin_template(tmpl), x, true, "", ""); }, m,
                                 t);
    };
    // Phi-4-mini's template has a tools branch; ChatML has none, so the block goes into the content.
    EXPECT_EQ(with("phi4-mini", msgs, tr),
              "<|system|>Be brief.<|tool|>" + defs + "<|/tool|><|end|><|user|>hi<|end|><|assistant|>");
    EXPECT_EQ(with("chatml", msgs, tr).rfind("<|im_start|>system\nBe brief.<|tool|>" + defs + "<|/tool|><|im_end|>", 0),
              0u);
    // No system message: the model card's line is added; tool_choice none renders no tools.
    EXPECT_EQ(with("phi4-mini", {msgs[1]}, tr).rfind(std::string("<|system|>") + kDefaultToolSystem + "<|tool|>", 0),
              0u);
    const ToolRequest none = parse_tool_request(body_with({{"tool_choice", "none"}}));
    EXPECT_EQ(with("phi4-mini", msgs, none), "<|system|>Be brief.<|end|><|user|>hi<|end|><|assistant|>");
}

}  // namespace
}  // namespace bf
