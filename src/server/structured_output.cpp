// grammar / json_schema / response_format -> GBNF -> Grammar, with the errors as HTTP 400s.
#include "server/structured_output.h"

#include "grammar/json_schema.h"
#include "server/protocol.h"

namespace bf {

namespace {

// GBNF text for the request, or "" when unconstrained. `source` names the field for messages.
std::string constraint_gbnf(const json& body, std::string& source) {
    std::vector<std::string> given;
    std::string gbnf;
    if (auto it = body.find("grammar"); it != body.end() && !it->is_null()) {
        if (!it->is_string()) throw ApiError(400, "'grammar' must be a string (GBNF)");
        given.push_back(source = "grammar");
        gbnf = it->get<std::string>();
        if (gbnf.empty()) given.pop_back();  // llama-server sends "" for "none"
    }
    if (auto it = body.find("json_schema"); it != body.end() && !it->is_null()) {
        if (!it->is_object() && !it->is_boolean()) throw ApiError(400, "'json_schema' must be a JSON Schema object");
        given.push_back(source = "json_schema");
        gbnf = json_schema_to_gbnf(*it);
    }
    if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
        const json& rf = *it;
        if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
            throw ApiError(400, "'response_format' must be an object with a string 'type'");
        const std::string type = rf["type"].get<std::string>();
        source = "response_format";
        if (type == "json_object") {
            given.push_back(source);
            // llama-server's extension: {"type": "json_object", "schema": {...}}
            gbnf = rf.contains("schema") ? json_schema_to_gbnf(rf["schema"]) : json_object_gbnf();
        } else if (type == "json_schema") {
            given.push_back(source);
            const json* schema = rf.contains("schema") ? &rf["schema"] : nullptr;
            if (!schema && rf.contains("json_schema") && rf["json_schema"].is_object() &&
                rf["json_schema"].contains("schema"))
                schema = &rf["json_schema"]["schema"];
            if (!schema)
                throw ApiError(400, "'response_format' of type json_schema needs 'json_schema': {'schema': {...}}");
            gbnf = json_schema_to_gbnf(*schema);
        } else if (type != "text") {
            throw ApiError(400, "'response_format.type' must be text, json_object or json_schema, not '" +
                                    (is_valid_utf8(type) ? type.substr(0, 32) : std::string("?")) + "'");
        }
    }
    if (given.size() > 1) throw ApiError(400, "give only one of 'grammar', 'json_schema' and 'response_format'");
    return given.empty() ? std::string() : gbnf;
}

}  // namespace

std::shared_ptr<const Grammar> parse_output_constraint(const json& body) {
    std::string source = "grammar";
    try {
        const std::string gbnf = constraint_gbnf(body, source);
        if (gbnf.empty()) return nullptr;
        return std::make_shared<const Grammar>(parse_gbnf(gbnf));
    } catch (const ApiError&) {
        throw;
    } catch (const Error& e) {
        throw ApiError(400, "'" + source + "': " + e.what());
    }
}

}  // namespace bf
