// JSON Schema -> GBNF (the subset structured-output clients use), and the generic JSON grammar that
// `response_format: {"type": "json_object"}` stands for.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace bf {

constexpr int kMaxSchemaDepth = 64;  // nested subschemas ($ref cycles are fine: they become rule references)

// Supported: type (object, array, string, number, integer, boolean, null, or a list of them), properties,
// required, additionalProperties (false; true only without properties), items, minItems/maxItems,
// minLength/maxLength, enum, const, anyOf/oneOf, $ref to #/$defs/... or #/definitions/..., and the
// annotations title/description/default/examples/$schema/$id/$comment. Any other keyword throws bf::Error
// naming it. Properties come out in the order the JSON object holds them; optional ones may be left out.
// rule_prefix (letters, digits, '-') starts every rule name, the start rule's too (PREFIXroot), except the
// shared JSON primitives (ws, string, number, ...), whose text is always the same: several schemas' rules can
// then be combined in one grammar (server/tool_calls.cpp) by keeping one copy of each primitive's line.
std::string json_schema_to_gbnf(const nlohmann::json& schema, const std::string& rule_prefix = "");

// Any JSON value whose top level is an object (as OpenAI's json_object mode).
std::string json_object_gbnf();

}  // namespace bf
