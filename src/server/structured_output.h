// Request fields that constrain the output: llama-server's `grammar` (GBNF) and `json_schema`, and OpenAI's
// `response_format` ({type: text | json_object | json_schema}), turned into one compiled grammar.
#pragma once
#include <memory>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"

namespace bf {

// Null when the request does not constrain its output. Throws ApiError 400 naming the field for a wrong shape,
// more than one constraint, a GBNF syntax error or an unsupported JSON Schema keyword.
std::shared_ptr<const Grammar> parse_output_constraint(const nlohmann::json& body);

}  // namespace bf
