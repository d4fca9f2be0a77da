// Test helper: validates a JSON value against the JSON Schema subset bitflash converts (grammar/json_schema.h),
// written from the JSON Schema definitions independently of the converter. Returns "" or the first violation.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace bf::testing {

inline std::string schema_violation(const nlohmann::json& v, const nlohmann::json& s, const nlohmann::json& root,
                                    const std::string& at = "$") {
    using json = nlohmann::json;
    if (s.is_boolean()) return s.get<bool>() ? "" : at + ": schema false";
    if (s.contains("$ref")) {
        const std::string r = s["$ref"].get<std::string>();
        const size_t slash = r.rfind('/');
        const std::string section = r.substr(2, slash - 2), name = r.substr(slash + 1);
        return schema_violation(v, root[section][name], root, at);
    }
    if (s.contains("const") && v != s["const"]) return at + ": not the const " + s["const"].dump();
    if (s.contains("enum")) {
        bool found = false;
        for (const auto& e : s["enum"]) found = found || e == v;
        if (!found) return at + ": not in the enum";
    }
    for (const char* key : {"anyOf", "oneOf"})
        if (s.contains(key)) {
            int ok = 0;
            for (const auto& sub : s[key]) ok += schema_violation(v, sub, root, at).empty();
            if (ok == 0 || (std::string(key) == "oneOf" && ok != 1))
                return at + ": " + key + " matched " + std::to_string(ok);
        }
    if (s.contains("type")) {
        const json types = s["type"].is_array() ? s["type"] : json::array({s["type"]});
        bool ok = false;
        for (const auto& t : types) {
            const std::string n = t.get<std::string>();
            ok = ok || (n == "object" && v.is_object()) || (n == "array" && v.is_array()) ||
                 (n == "string" && v.is_string()) || (n == "number" && v.is_number()) ||
                 (n == "integer" && v.is_number_integer()) || (n == "boolean" && v.is_boolean()) ||
                 (n == "null" && v.is_null());
        }
        if (!ok) return at + ": wrong type " + std::string(v.type_name());
    }
    if (v.is_object()) {
        if (s.contains("required"))
            for (const auto& r : s["required"])
                if (!v.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
        for (const auto& [k, x] : v.items()) {
            if (s.contains("properties") && s["properties"].contains(k)) {
                std::string e = schema_violation(x, s["properties"][k], root, at + "." + k);
                if (!e.empty()) return e;
            } else if (s.value("additionalProperties", json(true)) == json(false)) {
                return at + ": extra property " + k;
            }
        }
    }
    if (v.is_array()) {
        if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return at + ": too few items";
        if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return at + ": too many items";
        if (s.contains("items"))
            for (size_t i = 0; i < v.size(); ++i) {
                std::string e = schema_violation(v[i], s["items"], root, at + "[" + std::to_string(i) + "]");
                if (!e.empty()) return e;
            }
    }
    if (v.is_string()) {
        size_t n = 0;  // code points
        for (unsigned char c : v.get<std::string>()) n += (c & 0xC0) != 0x80;
        if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return at + ": string too short";
        if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return at + ": string too long";
    }
    return "";
}

}  // namespace bf::testing
