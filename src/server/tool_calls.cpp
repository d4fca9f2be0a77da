// Function calling: request checks, Phi-4-mini's tool block and call text, the forcing grammar, output parsing.
#include "server/tool_calls.h"

#include <algorithm>
#include <random>

#include "grammar/json_schema.h"
#include "server/protocol.h"

namespace bf {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw ApiError(400, msg); }

const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;  // null means "not given", as everywhere
}

void refuse_other_keys(const json& obj, std::initializer_list<const char*> allowed, const std::string& where) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (it->is_null() || std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return it.key() == a; }))
            continue;
        bad("'" + where + "." + (is_valid_utf8(it.key()) ? it.key().substr(0, 64) : std::string("?")) +
            "' is not implemented");
    }
}

// OpenAI's rule for function names.
bool valid_name(const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

// JSON with Python's json.dumps separators (", " and ": "), the spelling in Phi-4-mini's examples.
std::string spaced_json(const json& v) {
    std::string out;
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it)
            out += (out.empty() ? "" : ", ") + json(it.key()).dump() + ": " + spaced_json(*it);
        return "{" + out + "}";
    }
    if (v.is_array()) {
        for (const auto& x : v) out += (out.empty() ? "" : ", ") + spaced_json(x);
        return "[" + out + "]";
    }
    return v.dump();
}

std::string new_call_id() {
    thread_local std::mt19937_64 rng(std::random_device{}());
    static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string id = "call_";
    for (int i = 0; i < 24; ++i) id += kAlnum[rng() % (sizeof(kAlnum) - 1)];
    return id;
}

ToolRequest::Tool parse_tool(const json& t, size_t i) {
    const std::string where = strfmt("tools[%zu]", i);
    if (!t.is_object()) bad("'" + where + "' must be an object {\"type\": \"function\", \"function\": {...}}");
    refuse_other_keys(t, {"type", "function"}, where);
    const json* type = member(t, "type");
    if (!type || *type != "function") bad("'" + where + ".type' must be \"function\" (the only tool type)");
    const json* f = member(t, "function");
    if (!f || !f->is_object()) bad("'" + where + ".function' must be an object");
    refuse_other_keys(*f, {"name", "description", "parameters", "strict"}, where + ".function");
    ToolRequest::Tool tool;
    const json* name = member(*f, "name");
    if (!name || !name->is_string() || !valid_name(name->get<std::string>()))
        bad("'" + where + ".function.name' must be 1..64 of a-z, A-Z, 0-9, _ and -");
    tool.name = name->get<std::string>();
    if (const json* d = member(*f, "description")) {
        if (!d->is_string()) bad("'" + where + ".function.description' must be a string");
        tool.description = d->get<std::string>();
    }
    if (const json* p = member(*f, "parameters")) {
        // The call's arguments are a JSON object, so its schema must describe one.
        if (!p->is_object() || (p->contains("type") && (*p)["type"] != "object"))
            bad("'" + where + ".function.parameters' must be a JSON Schema of type object");
        tool.parameters = *p;
    }
    if (const json* s = member(*f, "strict"); s && !s->is_boolean())  // forced calls always follow the schema
        bad("'" + where + ".function.strict' must be true or false");
    return tool;
}

}  // namespace

std::set<std::string> ToolRequest::names() const {
    std::set<std::string> out;
    for (const Tool& t : tools) out.insert(t.name);
    return out;
}

ToolRequest parse_tool_request(const json& body) {
    ToolRequest tr;
    if (const json* tools = member(body, "tools")) {
        if (!tools->is_array()) bad("'tools' must be an array of {\"type\": \"function\", \"function\": {...}}");
        if (tools->size() > kMaxTools) bad(strfmt("'tools' has more than %zu entries", kMaxTools));
        for (size_t i = 0; i < tools->size(); ++i) {
            tr.tools.push_back(parse_tool((*tools)[i], i));
            for (size_t k = 0; k + 1 < tr.tools.size(); ++k)
                if (tr.tools[k].name == tr.tools.back().name)
                    bad("'tools' names the function '" + tr.tools.back().name + "' twice");
        }
    }
    tr.choice = tr.tools.empty() ? ToolChoice::None : ToolChoice::Auto;  // OpenAI's defaults
    if (const json* c = member(body, "tool_choice")) {
        if (*c == "none") {
            tr.choice = ToolChoice::None;
        } else if (*c == "auto") {
            tr.choice = ToolChoice::Auto;
        } else if (*c == "required") {
            tr.choice = ToolChoice::Required;
        } else if (c->is_object()) {
            refuse_other_keys(*c, {"type", "function"}, "tool_choice");
            const json* f = member(*c, "function");
            const json* name = f && f->is_object() ? member(*f, "name") : nullptr;
            if (member(*c, "type") == nullptr || (*c)["type"] != "function" || !name || !name->is_string())
                bad("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                    "\"function\": {\"name\": ...}}");
            refuse_other_keys(*f, {"name"}, "tool_choice.function");
            tr.choice = ToolChoice::Named;
            tr.forced = name->get<std::string>();
            if (!tr.names().count(tr.forced))
                bad("'tool_choice' names the function '" +
                    (is_valid_utf8(tr.forced) ? tr.forced.substr(0, 64) : std::string("?")) + "', which 'tools' lacks");
        } else {
            bad("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}");
        }
        if (tr.choice == ToolChoice::Required && tr.tools.empty()) bad("'tool_choice' \"required\" needs 'tools'");
    }
    if (const json* p = member(body, "parallel_tool_calls")) {
        if (!p->is_boolean()) bad("'parallel_tool_calls' must be true or false");
        tr.parallel = p->get<bool>();
        // Only a forced answer's grammar can hold the model to one call; with "auto" it is free.
        if (!tr.parallel && tr.choice == ToolChoice::Auto)
            bad("'parallel_tool_calls': false is supported only with 'tool_choice' \"required\" or a named function");
    }
    return tr;
}

std::shared_ptr<const Grammar> forced_call_grammar(const ToolRequest& tr) {
    if (tr.choice != ToolChoice::Required && tr.choice != ToolChoice::Named) return nullptr;
    std::set<std::string> seen;  // each line once: the JSON primitives come with every tool's rules
    std::string rules, alts;
    for (size_t i = 0; i < tr.tools.size(); ++i) {
        const ToolRequest::Tool& t = tr.tools[i];
        if (tr.choice == ToolChoice::Named && t.name != tr.forced) continue;
        const std::string prefix = strfmt("tool%zu-", i);
        std::string gbnf = prefix + "root ::= \"{\" tc-ws \"}\" tc-ws\n";  // no parameters: no arguments
        try {
            if (!t.parameters.is_null()) gbnf = json_schema_to_gbnf(t.parameters, prefix);
        } catch (const Error& e) {
            bad(strfmt("'tools[%zu].function.parameters': %s", i, e.what()));
        }
        for (size_t at = 0; at < gbnf.size();) {
            const size_t nl = std::min(gbnf.find('\n', at), gbnf.size());
            const std::string line = gbnf.substr(at, nl - at);
            if (!line.empty() && seen.insert(line).second) rules += line + "\n";
            at = nl + 1;
        }
        alts += (alts.empty() ? "" : " | ") + prefix + "call";
        rules += prefix + "call ::= " + gbnf_literal(json(t.name).dump()) +
                 " tc-ws \",\" tc-ws \"\\\"arguments\\\"\" tc-ws \":\" tc-ws " + prefix + "root\n";
    }
    const std::string more = tr.parallel ? strfmt(" (\",\" tc-ws tc-call){0,%d}", kMaxForcedCalls - 1) : "";
    const std::string top = "root ::= " + gbnf_literal(std::string(kToolCallOpen)) + " \"[\" tc-ws tc-call" + more +
                            " \"]\" " + gbnf_literal(std::string(kToolCallClose)) + "\n" +
                            "tc-call ::= \"{\" tc-ws \"\\\"name\\\"\" tc-ws \":\" tc-ws (" + alts + ") \"}\" tc-ws\n" +
                            "tc-ws ::= \" \"?\n";
    try {
        return std::make_shared<const Grammar>(parse_gbnf(top + rules));
    } catch (const Error& e) {
        bad(std::string("'tools': the call grammar failed: ") + e.what());
    }
}

std::string tool_definitions_json(const ToolRequest& tr) {
    std::string out;
    for (const ToolRequest::Tool& t : tr.tools) {
        std::string one = "\"name\": " + json(t.name).dump();
        if (!t.description.empty()) one += ", \"description\": " + json(t.description).dump();
        if (!t.parameters.is_null()) one += ", \"parameters\": " + spaced_json(t.parameters);
        out += (out.empty() ? "{" : ", {") + one + "}";
    }
    return "[" + out + "]";
}

std::string tool_calls_text(const json& calls, const std::string& where) {
    if (!calls.is_array() || calls.empty()) bad("'" + where + ".tool_calls' must be a non-empty array");
    std::string list;
    for (size_t i = 0; i < calls.size(); ++i) {
        const std::string w = strfmt("%s.tool_calls[%zu]", where.c_str(), i);
        const json& c = calls[i];
        if (!c.is_object()) bad("'" + w + "' must be an object");
        refuse_other_keys(c, {"id", "type", "function", "index"}, w);
        if (const json* t = member(c, "type"); t && *t != "function") bad("'" + w + ".type' must be \"function\"");
        const json* f = member(c, "function");
        const json* name = f && f->is_object() ? member(*f, "name") : nullptr;
        if (!name || !name->is_string() || name->get<std::string>().empty())
            bad("'" + w + ".function.name' must be a non-empty string");
        json args = json::object();
        if (const json* a = member(*f, "arguments")) {
            if (a->is_string()) {  // OpenAI's shape: the arguments as JSON text
                args = json::parse(a->get<std::string>(), nullptr, false);
                if (args.is_discarded()) bad("'" + w + ".function.arguments' is not valid JSON");
            } else {
                args = *a;
            }
        }
        list += (list.empty() ? "{" : ", {") + std::string("\"name\": ") + name->dump() +
                ", \"arguments\": " + spaced_json(args) + "}";
    }
    return std::string(kToolCallOpen) + "[" + list + "]" + std::string(kToolCallClose);
}

std::string render_with_tools(const std::function<std::string(const std::vector<ChatMessage>&)>& render,
                              std::vector<ChatMessage> messages, const ToolRequest& tr) {
    if (!tr.active()) return render(messages);
    const std::string defs = tool_definitions_json(tr);
    auto sys = std::find_if(messages.begin(), messages.end(), [](const ChatMessage& m) { return m.role == "system"; });
    if (sys == messages.end()) sys = messages.insert(messages.begin(), {"system", kDefaultToolSystem, std::nullopt});
    sys->tools = defs;
    std::string out = render(messages);
    if (out.find(std::string(kToolsOpen) + defs) != std::string::npos) return out;
    // The template has no tools branch: write what Phi-4-mini-instruct's branch writes.
    sys->tools.reset();
    sys->content += std::string(kToolsOpen) + defs + std::string(kToolsClose);
    return render(messages);
}

void ToolCallStreamer::emit_text(std::string_view s, std::vector<json>& out) {
    if (s.empty()) return;
    if (!out.empty() && out.back().contains("content"))  // one delta per push, not one per piece
        out.back()["content"] = out.back()["content"].get<std::string>() + std::string(s);
    else
        out.push_back({{"content", std::string(s)}});
}

void ToolCallStreamer::close_block(std::string_view body, std::vector<json>& out) {
    json v = json::parse(body, nullptr, false);
    if (v.is_object()) v = json::array({v});
    bool ok = v.is_array() && !v.empty();
    for (size_t i = 0; ok && i < v.size(); ++i) {
        const json& c = v[i];
        ok = c.is_object() && c.size() == 2 && c.contains("name") && c["name"].is_string() &&
             names_.count(c["name"].get<std::string>()) && c.contains("arguments") && c["arguments"].is_object();
    }
    if (!ok) {  // not a call list: the model's text, as written
        emit_text(std::string(kToolCallOpen) + std::string(body) + std::string(kToolCallClose), out);
        return;
    }
    for (const json& c : v)
        out.push_back({{"tool_calls",
                        json::array({{{"index", n_calls_++},
                                      {"id", new_call_id()},
                                      {"type", "function"},
                                      {"function", {{"name", c["name"]}, {"arguments", c["arguments"].dump()}}}}})}});
}

std::vector<json> ToolCallStreamer::push(std::string_view text) {
    std::vector<json> out;
    pending_ += text;
    for (;;) {
        if (inside_) {
            const size_t q = pending_.find(kToolCallClose);
            if (q == std::string::npos) break;
            close_block(std::string_view(pending_).substr(0, q), out);
            pending_.erase(0, q + kToolCallClose.size());
            inside_ = false;
            continue;
        }
        const size_t p = pending_.find(kToolCallOpen);
        if (p != std::string::npos) {
            emit_text(std::string_view(pending_).substr(0, p), out);
            pending_.erase(0, p + kToolCallOpen.size());
            inside_ = true;
            continue;
        }
        // Hold back the longest tail that could still grow into the open marker.
        size_t keep = std::min(pending_.size(), kToolCallOpen.size() - 1);
        while (keep > 0 && std::string_view(pending_).substr(pending_.size() - keep) != kToolCallOpen.substr(0, keep))
            --keep;
        emit_text(std::string_view(pending_).substr(0, pending_.size() - keep), out);
        pending_.erase(0, pending_.size() - keep);
        break;
    }
    return out;
}

std::vector<json> ToolCallStreamer::flush() {
    std::vector<json> out;
    emit_text((inside_ ? std::string(kToolCallOpen) : std::string()) + pending_, out);  // an unclosed block is text
    pending_.clear();
    inside_ = false;
    return out;
}

std::vector<json> ToolCallStreamer::route(const std::vector<json>& deltas) {
    std::vector<json> out;
    for (const json& d : deltas) {
        if (!d.contains("content")) {
            out.push_back(d);
            continue;
        }
        for (json& x : push(d["content"].get<std::string>())) out.push_back(std::move(x));
    }
    return out;
}

bool attach_tool_calls(json& message, const ToolRequest& tr) {
    if (!tr.active() || !message.contains("content") || !message["content"].is_string()) return false;
    ToolCallStreamer s(tr.names());
    std::vector<json> deltas = s.push(message["content"].get<std::string>());
    for (json& d : s.flush()) deltas.push_back(std::move(d));
    std::string text;
    json calls = json::array();
    for (json& d : deltas) {
        if (d.contains("content")) {
            text += d["content"].get<std::string>();
            continue;
        }
        for (json& c : d["tool_calls"]) {
            c.erase("index");  // a whole message lists its calls without stream indices
            calls.push_back(std::move(c));
        }
    }
    if (calls.empty()) return false;
    message["content"] = text.empty() ? json(nullptr) : json(text);
    message["tool_calls"] = std::move(calls);
    return true;
}

}  // namespace bf
