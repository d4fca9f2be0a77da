// JSON Schema -> GBNF: the grammar accepts hand-checked valid documents and refuses invalid ones; unsupported
// keywords are refused by name.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "../common/error_of.h"
#include "core/error.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"

namespace bf {
namespace {

using json = nlohmann::json;

bool accepts(const std::string& gbnf, const std::string& text) {
    GrammarMatcher m(std::make_shared<Grammar>(parse_gbnf(gbnf)));
    return m.accept(text) && m.can_end();
}

bool schema_accepts(const json& schema, const std::string& text) { return accepts(json_schema_to_gbnf(schema), text); }

std::string refusal(const json& schema) {
    return testing::error_of([&] { json_schema_to_gbnf(schema); });
}

TEST(JsonSchema, Primitives) {
    EXPECT_TRUE(schema_accepts({{"type", "integer"}}, "-120"));
    EXPECT_FALSE(schema_accepts({{"type", "integer"}}, "012"));
    EXPECT_FALSE(schema_accepts({{"type", "integer"}}, "1.5"));
    EXPECT_TRUE(schema_accepts({{"type", "number"}}, "1.5e-3"));
    EXPECT_TRUE(schema_accepts({{"type", "number"}}, "0"));
    EXPECT_FALSE(schema_accepts({{"type", "number"}}, "1e"));
    EXPECT_TRUE(schema_accepts({{"type", "boolean"}}, "false"));
    EXPECT_TRUE(schema_accepts({{"type", "null"}}, "null "));
    EXPECT_TRUE(schema_accepts({{"type", "string"}}, "\"a\\\"b\\u00e9\xc3\xa9\""));
    EXPECT_FALSE(schema_accepts({{"type", "string"}}, "\"a\nb\""));     // raw control character
    EXPECT_FALSE(schema_accepts({{"type", "string"}}, "\"\\ud800\""));  // lone surrogate escape
    EXPECT_FALSE(schema_accepts({{"type", "string"}}, "\"\\x\""));
    EXPECT_TRUE(schema_accepts({{"type", {"string", "null"}}}, "null"));
    EXPECT_TRUE(schema_accepts({{"type", "string"}, {"minLength", 2}, {"maxLength", 3}}, "\"\xc3\xa9\\n\""));
    EXPECT_FALSE(schema_accepts({{"type", "string"}, {"minLength", 2}, {"maxLength", 3}}, "\"a\""));
    EXPECT_FALSE(schema_accepts({{"type", "string"}, {"minLength", 2}, {"maxLength", 3}}, "\"abcd\""));
}

TEST(JsonSchema, EnumConstAnyOf) {
    const json e = {{"enum", {"red", 3, nullptr, {{"a", 1}}}}};
    EXPECT_TRUE(schema_accepts(e, "\"red\""));
    EXPECT_TRUE(schema_accepts(e, "3"));
    EXPECT_TRUE(schema_accepts(e, "null"));
    EXPECT_TRUE(schema_accepts(e, "{\"a\":1}"));
    EXPECT_FALSE(schema_accepts(e, "\"blue\""));
    EXPECT_TRUE(schema_accepts({{"const", "x\"y"}}, "\"x\\\"y\""));
    const json any = {{"anyOf", {{{"type", "integer"}}, {{"type", "array"}, {"items", {{"type", "boolean"}}}}}}};
    EXPECT_TRUE(schema_accepts(any, "7"));
    EXPECT_TRUE(schema_accepts(any, "[true, false]"));
    EXPECT_FALSE(schema_accepts(any, "[1]"));
    EXPECT_TRUE(schema_accepts({{"oneOf", {{{"type", "null"}}, {{"type", "string"}}}}}, "\"s\""));
}

TEST(JsonSchema, ObjectsRequiredOptionalAndExtra) {
    const json s = {
        {"type", "object"},
        {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "string"}}}, {"c", {{"type", "boolean"}}}}},
        {"required", {"b"}},
        {"additionalProperties", false}};
    // nlohmann's json keeps keys sorted, so properties come as a, b, c.
    EXPECT_TRUE(schema_accepts(s, "{\"b\": \"x\"}"));
    EXPECT_TRUE(schema_accepts(s, "{ \"a\": 1, \"b\": \"x\", \"c\": true }"));
    EXPECT_TRUE(schema_accepts(s, "{\"b\":\"x\",\"c\":false}"));
    EXPECT_FALSE(schema_accepts(s, "{\"a\": 1}"));                // b is required
    EXPECT_FALSE(schema_accepts(s, "{\"b\": \"x\", \"d\": 1}"));  // no extra properties
    EXPECT_FALSE(schema_accepts(s, "{\"b\": 1}"));
    EXPECT_FALSE(schema_accepts(s, "{\"b\": \"x\",}"));
    const json none_required = {{"type", "object"},
                                {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "integer"}}}}}};
    for (const char* ok : {"{}", "{\"a\":1}", "{\"b\":2}", "{\"a\":1,\"b\":2}"})
        EXPECT_TRUE(schema_accepts(none_required, ok)) << ok;
    for (const char* bad : {"{,}", "{\"a\":1,}", "{,\"b\":2}", "{\"b\":2,\"a\":1}"})
        EXPECT_FALSE(schema_accepts(none_required, bad)) << bad;
    // No properties: any object.
    EXPECT_TRUE(schema_accepts({{"type", "object"}}, "{\"k\": [1, {\"z\": null}], \"j\": \"v\"}"));
    EXPECT_TRUE(accepts(json_object_gbnf(), "{}"));
    EXPECT_FALSE(accepts(json_object_gbnf(), "[]"));
}

TEST(JsonSchema, ArraysWithBounds) {
    const json s = {{"type", "array"}, {"items", {{"type", "integer"}}}, {"minItems", 1}, {"maxItems", 3}};
    EXPECT_FALSE(schema_accepts(s, "[]"));
    EXPECT_TRUE(schema_accepts(s, "[1]"));
    EXPECT_TRUE(schema_accepts(s, "[1, 2, 3]"));
    EXPECT_FALSE(schema_accepts(s, "[1, 2, 3, 4]"));
    EXPECT_FALSE(schema_accepts(s, "[\"a\"]"));
    EXPECT_TRUE(schema_accepts({{"type", "array"}}, "[]"));
    EXPECT_TRUE(schema_accepts({{"type", "array"}, {"maxItems", 0}}, "[ ]"));
    EXPECT_FALSE(schema_accepts({{"type", "array"}, {"maxItems", 0}}, "[1]"));
}

TEST(JsonSchema, RefsIncludingRecursion) {
    const json s = {
        {"$ref", "#/$defs/tree"},
        {"$defs",
         {{"tree",
           {{"type", "object"},
            {"properties",
             {{"v", {{"type", "integer"}}}, {"kids", {{"type", "array"}, {"items", {{"$ref", "#/$defs/tree"}}}}}}},
            {"required", {"v"}}}}}}};
    EXPECT_TRUE(schema_accepts(s, "{\"kids\": [{\"v\": 2}, {\"kids\": [], \"v\": 3}], \"v\": 1}"));
    EXPECT_FALSE(schema_accepts(s, "{\"kids\": [{}], \"v\": 1}"));
    const json old = {
        {"definitions", {{"n", {{"type", "null"}}}}}, {"type", "array"}, {"items", {{"$ref", "#/definitions/n"}}}};
    EXPECT_TRUE(schema_accepts(old, "[null,null]"));
}

TEST(JsonSchema, UnsupportedKeywordsAreRefusedByName) {
    EXPECT_NE(refusal({{"type", "string"}, {"pattern", "^a"}}).find("keyword 'pattern'"), std::string::npos);
    EXPECT_NE(refusal({{"type", "integer"}, {"minimum", 0}}).find("keyword 'minimum'"), std::string::npos);
    EXPECT_NE(refusal({{"allOf", json::array()}}).find("keyword 'allOf'"), std::string::npos);
    EXPECT_NE(refusal({{"type", "array"}, {"prefixItems", json::array()}}).find("keyword 'prefixItems'"),
              std::string::npos);
    EXPECT_NE(refusal({{"$ref", "http://x/y"}}).find("not supported"), std::string::npos);
    EXPECT_NE(refusal({{"$ref", "#/$defs/missing"}}).find("points to nothing"), std::string::npos);
    EXPECT_NE(
        refusal({{"type", "object"}, {"properties", {{"a", true}}}, {"additionalProperties", {{"type", "string"}}}})
            .find("additionalProperties"),
        std::string::npos);
    EXPECT_NE(refusal({{"type", "frob"}}).find("unknown type 'frob'"), std::string::npos);
    EXPECT_NE(refusal({{"type", "string"}, {"maxLength", 100000}}).find("'maxLength' above"), std::string::npos);
    EXPECT_NE(refusal({{"type", "object"}, {"properties", {{"a", true}}}, {"required", {"b"}}}).find("'b' is not in"),
              std::string::npos);
    json deep = {{"type", "integer"}};
    for (int i = 0; i < kMaxSchemaDepth + 2; ++i) deep = {{"type", "array"}, {"items", deep}};
    EXPECT_NE(refusal(deep).find("nested deeper"), std::string::npos);
    EXPECT_NE(refusal(json(false)).find("matches nothing"), std::string::npos);
    EXPECT_NE(refusal(json(3)).find("must be an object"), std::string::npos);
}

TEST(JsonSchema, AwkwardPropertyNamesMakeValidRuleNames) {
    const json s = {
        {"type", "object"},
        {"properties", {{"a b\"c", {{"type", "null"}}}, {"\xc3\xa9", {{"type", "null"}}}, {"", {{"type", "null"}}}}},
        {"required", {"a b\"c", "\xc3\xa9", ""}}};
    EXPECT_TRUE(schema_accepts(s, "{\"\": null, \"a b\\\"c\": null, \"\xc3\xa9\": null}"));
}

TEST(JsonSchema, PrefixedRulesOfTwoSchemasCombine) {
    // Every rule but the shared primitives carries the prefix, so two schemas' rules fit in one grammar once
    // each primitive's (identical) line is kept once.
    const json a = {{"$ref", "#/$defs/p"}, {"$defs", {{"p", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}}};
    const json b = {{"type", "object"}, {"properties", {{"p", {{"enum", {"x"}}}}}}, {"required", {"p"}}};
    const std::string ga = json_schema_to_gbnf(a, "a-"), gb = json_schema_to_gbnf(b, "b-");
    EXPECT_EQ(ga.rfind("a-root ::= ", 0), 0u) << ga;
    std::set<std::string> lines;
    std::string combined = "root ::= a-root | b-root\n";
    for (const std::string* g : {&ga, &gb})
        for (size_t at = 0, nl; at < g->size(); at = nl + 1) {
            nl = g->find('\n', at);
            const std::string line = g->substr(at, nl - at);
            const std::string name = line.substr(0, line.find(' '));
            const bool primitive =
                std::set<std::string>{"ws", "integral-part", "integer", "array", "object"}.count(name);
            EXPECT_TRUE(name.rfind(g == &ga ? "a-" : "b-", 0) == 0 || primitive) << line;
            if (lines.insert(line).second) combined += line + "\n";
        }
    EXPECT_TRUE(accepts(combined, "[1, 2]"));
    EXPECT_TRUE(accepts(combined, "{\"p\": \"x\"}"));
    EXPECT_FALSE(accepts(combined, "{\"p\": 1}"));
    EXPECT_EQ(json_schema_to_gbnf(b), json_schema_to_gbnf(b, ""));
}

}  // namespace
}  // namespace bf
