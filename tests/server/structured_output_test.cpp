// Structured output on a random tiny model: the engine under a JSON Schema grammar, and the server's
// response_format / json_schema / grammar fields. Every finished output must parse and validate (the validator
// in tests/common is written independently of the converter).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../common/json_schema_check.h"
#include "engine/batcher.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "server_fixture.h"

namespace bf {
namespace {

using namespace bf::testing;

// Bounded strings and lists so that a random model finishes well within max_tokens.
const json& person_schema() {
    static const json s = json::parse(R"({
      "type": "object",
      "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 6},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", 3, null]}, "minItems": 1, "maxItems": 3},
        "kind": {"anyOf": [{"type": "null"}, {"const": "x"}, {"type": "boolean"}]},
        "child": {"$ref": "#/$defs/node"}
      },
      "required": ["name", "age", "tags"],
      "additionalProperties": false,
      "$defs": {"node": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"],
                         "additionalProperties": false}}
    })");
    return s;
}

TEST(StructuredOutput, RandomModelOutputValidatesAgainstTheSchema) {
    auto lm = load_served_model(model_path(), "");
    BatcherOptions o;
    o.n_ctx = 1024;
    Batcher b(*lm, o);
    const auto grammar = std::make_shared<const Grammar>(parse_gbnf(json_schema_to_gbnf(person_schema())));
    int optional_seen = 0;
    for (uint64_t seed = 1; seed <= 12; ++seed) {
        GenRequest r;
        r.prompt = lm->tok.encode("<|user|>Describe someone.<|end|><|assistant|>", true);
        r.sampler.seed = seed;
        r.sampler.temp = 1.0f;
        r.sampler.top_k = 0;
        r.sampler.top_p = 1.0f;
        r.sampler.min_p = 0.0f;
        r.max_tokens = 900;
        r.grammar = grammar;
        std::string text;
        const GenOutcome g = generate_one(b, std::move(r), [&](const std::string& s) {
            text += s;
            return true;
        });
        ASSERT_EQ(g.stop, StopReason::EndOfGeneration) << "seed " << seed << ": " << g.error << "\n" << text;
        json v;
        ASSERT_NO_THROW(v = json::parse(text)) << "seed " << seed << ": " << text;
        EXPECT_EQ(schema_violation(v, person_schema(), person_schema()), "") << text;
        optional_seen += v.contains("score") + v.contains("kind") + v.contains("child");
    }
    EXPECT_GT(optional_seen, 0);  // the optional properties are reachable, not only the required ones
}

// A grammar the matcher refuses at its start (too ambiguous) ends the request with that error and frees
// the slot, instead of leaving it generating unconstrained.
TEST(StructuredOutput, GrammarRefusedAtItsStartFreesTheSlot) {
    auto lm = load_served_model(model_path(), "");
    Batcher b(*lm, BatcherOptions{});
    GenRequest r;
    r.prompt = lm->tok.encode("hi", true);
    r.max_tokens = 4;
    r.grammar = std::make_shared<const Grammar>(parse_gbnf("root ::= ((\"a\"{0,1000}){0,1000}){0,1000}"));
    const int free_before = b.free_slots();
    EXPECT_THROW(generate_one(b, r, nullptr), Error);
    EXPECT_EQ(b.free_slots(), free_before);
    EXPECT_TRUE(b.idle());
}

TEST(StructuredOutput, NothingAllowedStopsWithAClearError) {
    auto lm = load_served_model(model_path(), "");
    Batcher b(*lm, BatcherOptions{});
    GenRequest r;
    r.prompt = lm->tok.encode("hi", true);
    r.grammar =
        std::make_shared<const Grammar>(parse_gbnf("root ::= \"a\" [^\\x00-\\U0010FFFF]"));  // "a", then no character
    std::string text;
    try {
        generate_one(b, r, [&](const std::string& piece) { return text += piece, true; });
        ADD_FAILURE() << "generate_one returned although the grammar allows no token after \"a\"";
    } catch (const Error& e) {  // generate_one turns StopReason::Error into an exception
        EXPECT_NE(std::string(e.what()).find("the grammar allows no token"), std::string::npos) << e.what();
    }
    EXPECT_EQ(text, "a");  // "a" was generated, then nothing was allowed
    r.ignore_eos = true;
    EXPECT_THROW(b.check(r), Error);
}

// The shared server fixture (server_fixture.h) with two slots and room for long structured replies.
class StructuredServer : public ::testing::Test {
protected:
    static void SetUpTestSuite() { s_ = new Running(options(2, 1024)); }
    static void TearDownTestSuite() {
        delete s_;
        s_ = nullptr;
    }
    static httplib::Result post(const std::string& path, const json& body) { return s_->post(path, body); }
    static json chat(json extra) {
        json body = {{"messages", {{{"role", "user"}, {"content", "JSON please"}}}},
                     {"max_tokens", 900},
                     {"temperature", 1.0},
                     {"top_k", 0},
                     {"top_p", 1.0},
                     {"min_p", 0.0},
                     {"seed", 11}};
        body.update(extra);
        return s_->ok("/v1/chat/completions", body);
    }
    static Running* s_;
};
Running* StructuredServer::s_ = nullptr;

TEST_F(StructuredServer, ResponseFormatJsonSchemaAndJsonSchemaField) {
    for (const json& extra :
         {json{{"response_format",
                {{"type", "json_schema"},
                 {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", person_schema()}}}}}},
          json{{"json_schema", person_schema()}}}) {
        const json r = chat(extra);
        const json& choice = r["choices"][0];
        ASSERT_EQ(choice["finish_reason"], "stop") << r.dump();
        const std::string content = choice["message"]["content"].get<std::string>();
        json v;
        ASSERT_NO_THROW(v = json::parse(content)) << content;
        EXPECT_EQ(schema_violation(v, person_schema(), person_schema()), "") << content;
    }
}

TEST_F(StructuredServer, JsonObjectOutputIsAValidPrefixOrAnObject) {
    const json r = chat({{"response_format", {{"type", "json_object"}}}, {"max_tokens", 48}});
    const json& choice = r["choices"][0];
    const std::string content = choice["message"]["content"].get<std::string>();
    GrammarMatcher m(std::make_shared<const Grammar>(parse_gbnf(json_object_gbnf())));
    EXPECT_TRUE(m.accept(content)) << content;
    if (choice["finish_reason"] == "stop")
        EXPECT_TRUE(json::parse(content).is_object()) << content;
    else
        EXPECT_EQ(choice["finish_reason"], "length");
}

TEST_F(StructuredServer, GrammarFieldOnCompletions) {
    auto r = post("/v1/completions", {{"prompt", "Answer:"},
                                      {"grammar", "root ::= (\"yes\" | \"no\") \" \" [0-9]{2}"},
                                      {"max_tokens", 20},
                                      {"seed", 3},
                                      {"temperature", 1.0}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    const std::string text = j["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    ASSERT_EQ(text.size(), text.rfind("yes", 0) == 0 ? 6u : 5u) << text;
    EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(text[text.size() - 1])) &&
                std::isdigit(static_cast<unsigned char>(text[text.size() - 2])))
        << text;
}

TEST_F(StructuredServer, StreamedDeltasFollowTheGrammar) {
    json body = {{"messages", {{{"role", "user"}, {"content", "x"}}}},
                 {"stream", true},
                 {"seed", 5},
                 {"temperature", 1.0},
                 {"grammar", "root ::= \"[\" [a-z]{3,5} \"]\""}};
    auto r = post("/v1/chat/completions", body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    std::string text;
    for (size_t pos = 0; (pos = r->body.find("data: {", pos)) != std::string::npos; ++pos) {
        const json c = json::parse(r->body.substr(pos + 6, r->body.find("\n\n", pos) - pos - 6));
        if (c["choices"].empty()) continue;
        text += c["choices"][0]["delta"].value("content", "");
    }
    EXPECT_GE(text.size(), 5u);
    EXPECT_LE(text.size(), 7u);
    EXPECT_EQ(text.front(), '[') << text;
    EXPECT_EQ(text.back(), ']') << text;
}

TEST_F(StructuredServer, BadConstraintsAre400WithTheReason) {
    auto expect_400 = [](const json& extra, const std::string& needle) {
        json body = {{"messages", {{{"role", "user"}, {"content", "x"}}}}};
        body.update(extra);
        auto r = post("/v1/chat/completions", body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << r->body;
        EXPECT_NE(r->body.find(needle), std::string::npos) << r->body;
    };
    expect_400({{"grammar", "root ::= nope"}}, "undefined rule 'nope'");
    expect_400({{"grammar", 5}}, "'grammar' must be a string");
    expect_400({{"json_schema", {{"type", "string"}, {"format", "date"}}}}, "keyword 'format' is not supported");
    expect_400({{"response_format", {{"type", "xml"}}}}, "must be text, json_object or json_schema");
    expect_400({{"response_format", {{"type", "json_schema"}}}}, "needs 'json_schema'");
    expect_400({{"response_format", "json"}}, "must be an object");
    expect_400({{"grammar", "root ::= \"a\""}, {"json_schema", {{"type", "null"}}}}, "only one of");
    expect_400({{"grammar", "root ::= \"a\""}, {"ignore_eos", true}}, "ignore_eos");
    expect_400({{"tools", {{{"type", "xml"}, {"function", {{"name", "f"}}}}}}}, "(the only tool type)");
    expect_400({{"tool_choice", "required"}}, "needs 'tools'");
    // response_format text and an empty grammar constrain nothing.
    auto ok = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}},
                                            {"max_tokens", 2},
                                            {"response_format", {{"type", "text"}}},
                                            {"grammar", ""}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
}

}  // namespace
}  // namespace bf
