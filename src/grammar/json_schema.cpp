// JSON Schema -> GBNF: one rule per subschema, shared rules for the JSON primitives.
#include "grammar/json_schema.h"

#include <map>
#include <set>

#include "core/error.h"
#include "grammar/grammar.h"

namespace bf {

namespace {

using json = nlohmann::json;

// JSON's primitives; every value rule ends with `ws`, so separators need no space handling of their own.
// Whitespace and number lengths are bounded so that a sampler cannot wander forever inside one token class,
// and exponents so that every number fits a double.
const std::map<std::string, std::string>& primitives() {
    static const std::map<std::string, std::string> p = {
        {"ws", "| \" \" | \"\\n\" [ \\t]{0,20}"},
        // \u escapes outside the surrogates (strict parsers refuse a lone one); other characters go as UTF-8.
        {"char",
         "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | "
         "[dD] [0-7] [0-9a-fA-F]{2}))"},
        {"string", "\"\\\"\" char* \"\\\"\" ws"},
        {"integral-part", "[0] | [1-9] [0-9]{0,15}"},
        {"integer", "\"-\"? integral-part ws"},
        {"number", "\"-\"? integral-part (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})? ws"},
        {"boolean", "(\"true\" | \"false\") ws"},
        {"null", "\"null\" ws"},
        {"value", "object | array | string | number | boolean | null"},
        {"object", "\"{\" ws (string \":\" ws value (\",\" ws string \":\" ws value)*)? \"}\" ws"},
        {"array", "\"[\" ws (value (\",\" ws value)*)? \"]\" ws"},
    };
    return p;
}

class Converter {
public:
    Converter(const json& root, const std::string& prefix) : root_(root), prefix_(prefix) {}

    std::string run() {
        const std::string top = prefix_ + "root";
        rules_[top] = "";
        rules_[top] = visit(root_, top, 0);
        std::string out = top + " ::= " + rules_[top] + "\n";
        for (const auto& [name, body] : rules_)
            if (name != top) out += name + " ::= " + body + "\n";
        return out;
    }

private:
    const json& root_;
    const std::string prefix_;  // of every rule name but the primitives' (every hint derives from the root's)
    std::map<std::string, std::string> rules_;
    std::map<std::string, std::string> refs_;  // "$ref" target -> rule name

    // Makes sure a primitive rule (and what it uses) is defined; returns its name.
    std::string prim(const std::string& name) {
        if (rules_.count(name)) return name;
        rules_[name] = primitives().at(name);
        static const std::map<std::string, std::vector<std::string>> uses = {
            {"string", {"char", "ws"}},
            {"integer", {"integral-part", "ws"}},
            {"number", {"integral-part", "ws"}},
            {"boolean", {"ws"}},
            {"null", {"ws"}},
            {"value", {"object", "array", "string", "number", "boolean", "null"}},
            {"object", {"ws", "string", "value"}},
            {"array", {"ws", "value"}}};
        if (auto it = uses.find(name); it != uses.end())
            for (const auto& u : it->second) prim(u);
        return name;
    }

    // A fresh rule name from a hint (property names may hold anything).
    std::string new_name(const std::string& hint) {
        std::string base;
        for (char c : hint) base += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
        if (base.empty()) base = "r";
        std::string name = base;
        for (int i = 1; rules_.count(name) || primitives().count(name); ++i) name = base + "-" + std::to_string(i);
        rules_[name] = "";  // reserved
        return name;
    }

    std::string define(const std::string& hint, const std::string& body) {
        const std::string name = new_name(hint);
        rules_[name] = body;
        return name;
    }

    static int64_t count(const json& s, const char* key, int64_t dflt) {
        auto it = s.find(key);
        if (it == s.end()) return dflt;
        if (!it->is_number_integer() || it->get<int64_t>() < 0)
            fail(strfmt("json_schema: '%s' must be a non-negative integer", key));
        const int64_t v = it->get<int64_t>();
        if (v > kMaxGrammarRepeat) fail(strfmt("json_schema: '%s' above %d is not supported", key, kMaxGrammarRepeat));
        return v;
    }

    static std::string bounds(int64_t lo, int64_t hi) {
        return hi < 0 ? strfmt("{%lld,}", (long long)lo) : strfmt("{%lld,%lld}", (long long)lo, (long long)hi);
    }

    static std::string literal(const json& v) { return gbnf_literal(v.dump(-1, ' ', false)) + " ws"; }

    std::string visit(const json& s, const std::string& hint, int depth) {
        if (depth > kMaxSchemaDepth) fail(strfmt("json_schema: nested deeper than %d", kMaxSchemaDepth));
        if (s.is_boolean()) {
            if (!s.get<bool>()) fail("json_schema: the schema 'false' matches nothing");
            return prim("value");
        }
        if (!s.is_object()) fail("json_schema: a schema must be an object or a boolean");
        static const std::set<std::string> known = {"type",      "properties",  "required", "additionalProperties",
                                                    "items",     "enum",        "const",    "anyOf",
                                                    "oneOf",     "minItems",    "maxItems", "minLength",
                                                    "maxLength", "$ref",        "$defs",    "definitions",
                                                    "title",     "description", "default",  "examples",
                                                    "$schema",   "$id",         "$comment"};
        for (const auto& [k, v] : s.items())
            if (!known.count(k)) fail("json_schema: keyword '" + k + "' is not supported");
        if (s.contains("$ref")) return ref(s["$ref"], depth);
        if (s.contains("const")) {
            prim("ws");
            return define(hint, literal(s["const"]));
        }
        if (s.contains("enum")) {
            const json& e = s["enum"];
            if (!e.is_array() || e.empty()) fail("json_schema: 'enum' must be a non-empty array");
            std::string body;
            for (const auto& v : e) body += (body.empty() ? "" : " | ") + gbnf_literal(v.dump(-1, ' ', false));
            prim("ws");
            return define(hint, "(" + body + ") ws");
        }
        for (const char* key : {"anyOf", "oneOf"})
            if (s.contains(key)) {
                const json& list = s[key];
                if (!list.is_array() || list.empty()) fail(strfmt("json_schema: '%s' must be a non-empty array", key));
                std::string body;
                for (size_t i = 0; i < list.size(); ++i)
                    body += (i ? " | " : "") + visit(list[i], hint + "-" + std::to_string(i), depth + 1);
                return define(hint, body);
            }
        if (!s.contains("type")) return s.contains("properties") ? object(s, hint, depth) : prim("value");
        const json& t = s["type"];
        if (t.is_string()) return typed(s, t.get<std::string>(), hint, depth);
        if (!t.is_array() || t.empty()) fail("json_schema: 'type' must be a string or a non-empty array of strings");
        std::string body;
        for (const auto& one : t) {
            if (!one.is_string()) fail("json_schema: 'type' must be a string or a non-empty array of strings");
            body += (body.empty() ? "" : " | ") +
                    typed(s, one.get<std::string>(), hint + "-" + one.get<std::string>(), depth);
        }
        return define(hint, body);
    }

    std::string typed(const json& s, const std::string& type, const std::string& hint, int depth) {
        if (type == "object") return object(s, hint, depth);
        if (type == "array") return array(s, hint, depth);
        if (type == "string") {
            if (!s.contains("minLength") && !s.contains("maxLength")) return prim("string");
            prim("string");
            return define(
                hint, "\"\\\"\" char" + bounds(count(s, "minLength", 0), count(s, "maxLength", -1)) + " \"\\\"\" ws");
        }
        if (type == "number" || type == "integer" || type == "boolean" || type == "null") return prim(type);
        fail("json_schema: unknown type '" + type + "'");
    }

    std::string ref(const json& r, int depth) {
        if (!r.is_string()) fail("json_schema: '$ref' must be a string");
        const std::string target = r.get<std::string>();
        if (auto it = refs_.find(target); it != refs_.end()) return it->second;
        std::string key;
        for (const char* prefix : {"#/$defs/", "#/definitions/"})
            if (target.rfind(prefix, 0) == 0) key = prefix;
        if (key.empty())
            fail("json_schema: '$ref' \"" + target + "\" is not supported (only #/$defs/... and #/definitions/...)");
        const std::string section = key.substr(2, key.size() - 3), name = target.substr(key.size());
        if (!root_.is_object() || !root_.contains(section) || !root_[section].is_object() ||
            !root_[section].contains(name))
            fail("json_schema: '$ref' \"" + target + "\" points to nothing");
        const std::string rule = new_name(prefix_ + "def-" + name);
        refs_[target] = rule;  // before visiting, so that recursive schemas refer to the rule
        rules_[rule] = visit(root_[section][name], rule + "-body", depth + 1);
        return rule;
    }

    std::string object(const json& s, const std::string& hint, int depth) {
        const json* props = s.contains("properties") ? &s["properties"] : nullptr;
        if (props && !props->is_object()) fail("json_schema: 'properties' must be an object");
        if (s.contains("additionalProperties")) {
            const json& a = s["additionalProperties"];
            if (!a.is_boolean() || (a.get<bool>() && props && !props->empty()))
                fail(
                    "json_schema: 'additionalProperties' other than false (or true without 'properties') is not "
                    "supported");
        }
        if (!props || props->empty()) return prim("object");
        std::set<std::string> required;
        if (s.contains("required")) {
            if (!s["required"].is_array()) fail("json_schema: 'required' must be an array of strings");
            for (const auto& r : s["required"]) {
                if (!r.is_string()) fail("json_schema: 'required' must be an array of strings");
                if (!props->contains(r.get<std::string>()))
                    fail("json_schema: required property '" + r.get<std::string>() + "' is not in 'properties'");
                required.insert(r.get<std::string>());
            }
        }
        prim("ws");
        std::vector<std::string> kvs;  // "key": value rules, in the object's order
        std::vector<bool> req;
        for (const auto& [k, v] : props->items()) {
            kvs.push_back(define(hint + "-" + k + "-kv", gbnf_literal(json(k).dump(-1, ' ', false)) + " ws \":\" ws " +
                                                             visit(v, hint + "-" + k, depth + 1)));
            req.push_back(required.count(k) > 0);
        }
        // From property i on: first_i when nothing is written yet (no comma), rest_i after a property.
        // Required properties must appear, optional ones may; always in the object's order.
        std::string first = "", rest = "";
        for (size_t i = kvs.size(); i-- > 0;) {
            first = define(hint + "-first", req[i] ? kvs[i] + " " + rest : kvs[i] + " " + rest + " | " + first);
            if (i > 0)
                rest = define(hint + "-rest",
                              req[i] ? "\",\" ws " + kvs[i] + " " + rest : "(\",\" ws " + kvs[i] + ")? " + rest);
        }
        const std::string body = "\"{\" ws " + first + " ";
        return define(hint, body + "\"}\" ws");
    }

    std::string array(const json& s, const std::string& hint, int depth) {
        const std::string item = s.contains("items") ? visit(s["items"], hint + "-item", depth + 1) : prim("value");
        const int64_t lo = count(s, "minItems", 0), hi = count(s, "maxItems", -1);
        if (hi >= 0 && hi < lo) fail("json_schema: 'maxItems' is below 'minItems'");
        prim("ws");
        if (hi == 0) return define(hint, "\"[\" ws \"]\" ws");
        const std::string more = "(\",\" ws " + item + ")" + bounds(lo > 0 ? lo - 1 : 0, hi < 0 ? -1 : hi - 1);
        const std::string list = item + " " + more;
        return define(hint, "\"[\" ws " + (lo > 0 ? list : "(" + list + ")?") + " \"]\" ws");
    }
};

}  // namespace

std::string json_schema_to_gbnf(const nlohmann::json& schema, const std::string& rule_prefix) {
    return Converter(schema, rule_prefix).run();
}

std::string json_object_gbnf() { return json_schema_to_gbnf(json{{"type", "object"}}); }

}  // namespace bf
