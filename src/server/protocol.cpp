// Request validation and response JSON for the OpenAI-compatible endpoints (llama-server field names).
#include "server/protocol.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "server/structured_output.h"

namespace bf {

std::string ApiError::default_type(int status) {
    switch (status) {
        case 401: return "authentication_error";
        case 404: return "not_found_error";
        case 501: return "not_supported_error";
        case 503: return "unavailable_error";
        default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json error_json(int status, const std::string& message, const std::string& type) {
    return {{"error",
             {{"code", status}, {"message", message}, {"type", type.empty() ? ApiError::default_type(status) : type}}}};
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* endpoint_path(Endpoint ep) {
    switch (ep) {
        case Endpoint::ChatCompletions: return "/v1/chat/completions";
        case Endpoint::Completions: return "/v1/completions";
        case Endpoint::Tokenize: return "/tokenize";
        case Endpoint::Detokenize: return "/detokenize";
        case Endpoint::ApplyTemplate: return "/apply-template";
        case Endpoint::SlotAction: return "/slots/{id}";
    }
    return "?";
}

namespace {

using FieldSet = std::set<std::string, std::less<>>;

// The request fields each endpoint implements: the one place that says so. A field not listed is refused
// with a 400 naming it, so a client never believes a setting took effect when it did not. To implement a
// field: read it where its endpoint parses its body, then add it here with an allow(...) line.
const std::map<Endpoint, FieldSet>& field_table() {
    static const std::map<Endpoint, FieldSet> table = [] {
        std::map<Endpoint, FieldSet> t;
        auto allow = [&t](std::initializer_list<Endpoint> eps, std::initializer_list<const char*> names) {
            for (Endpoint e : eps) t[e].insert(names.begin(), names.end());
        };
        constexpr Endpoint chat = Endpoint::ChatCompletions, text = Endpoint::Completions;
        // Accepted and ignored on purpose: `model` (one model is served; OpenAI clients always name one, and
        // llama-server ignores it too), `user` (OpenAI's end-user id for abuse monitoring: nothing to do here).
        allow({chat, text}, {"model", "user"});
        allow({chat, text}, {"stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "n_predict",
                             "stop", "ignore_eos"});
        allow({chat, text}, {"temperature", "top_p", "top_k", "min_p", "seed", "repeat_penalty", "repeat_last_n",
                             "presence_penalty", "frequency_penalty"});
        allow({chat, text}, {"grammar", "json_schema", "response_format"});  // server/structured_output.cpp
        allow({chat}, {"tools", "tool_choice", "parallel_tool_calls"});      // server/tool_calls.cpp
        allow({chat, Endpoint::ApplyTemplate}, {"messages"});
        allow({text}, {"prompt"});
        allow({Endpoint::Tokenize}, {"content", "add_special", "parse_special", "with_pieces"});
        allow({Endpoint::Detokenize}, {"tokens"});
        allow({chat}, {"logprobs", "top_logprobs"});  // OpenAI's: a bool and a count
        allow({text}, {"logprobs"});                  // OpenAI's completions: a count
        allow({Endpoint::SlotAction}, {"filename"});  // server/slot_routes.cpp
        return t;
    }();
    return table;
}

// 400 naming every field of `obj` outside `allowed` (`where` prefixes nested names). A null value means
// "not given" (as everywhere in this API), so it is never refused.
void refuse_unknown_fields(const json& obj, const FieldSet& allowed, const std::string& where, const char* path) {
    std::string names;
    size_t n = 0;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (it->is_null() || allowed.count(it.key())) continue;
        if (++n > 8) continue;  // the message names the first few
        names += (names.empty() ? "'" : ", '") + where + it.key().substr(0, 64) + "'";
    }
    if (n == 0) return;
    throw ApiError(400, strfmt("%s does not implement the request field%s %s%s", path, n > 1 ? "s" : "", names.c_str(),
                               n > 8 ? strfmt(" (and %zu more)", n - 8).c_str() : ""));
}

}  // namespace

json parse_body(const std::string& body, Endpoint ep) {
    if (body.empty())
        throw ApiError(400, "the request has no body: send a JSON object (Content-Type: application/json)");
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
    refuse_unknown_fields(j, field_table().at(ep), "", endpoint_path(ep));
    return j;
}

namespace {

[[noreturn]] void bad(const std::string& msg) { throw ApiError(400, msg); }

const json* field(const json& body, const char* key) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return nullptr;  // null means "not given", as in OpenAI's SDKs
    return &*it;
}

std::optional<double> get_number(const json& body, const char* key, double lo, double hi) {
    const json* v = field(body, key);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(strfmt("'%s' must be a number", key));
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi) bad(strfmt("'%s' must be between %g and %g", key, lo, hi));
    return d;
}

// Integers: JSON integers, or floats with an integral value (1e3). Huge unsigned values saturate.
std::optional<int64_t> get_int(const json& body, const char* key) {
    const json* v = field(body, key);
    if (!v) return std::nullopt;
    if (v->is_number_unsigned()) {
        const uint64_t u = v->get<uint64_t>();
        return u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max() : int64_t(u);
    }
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (std::isfinite(d) && d == std::floor(d)) {
            if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
            if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
            return int64_t(d);
        }
    }
    bad(strfmt("'%s' must be an integer", key));
}

}  // namespace

std::string get_string(const json& body, const char* key, bool required) {
    const json* v = field(body, key);
    if (!v) {
        if (required) bad(strfmt("'%s' is required", key));
        return {};
    }
    if (!v->is_string()) bad(strfmt("'%s' must be a string", key));
    std::string s = v->get<std::string>();
    if (!is_valid_utf8(s)) bad(strfmt("'%s' is not valid UTF-8", key));
    return s;
}

std::optional<bool> get_bool(const json& body, const char* key) {
    const json* v = field(body, key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad(strfmt("'%s' must be true or false", key));
    return v->get<bool>();
}

std::vector<int32_t> get_token_list(const json& body, const char* key, int64_t n_vocab) {
    const json* v = field(body, key);
    if (!v) bad(strfmt("'%s' is required", key));
    if (!v->is_array()) bad(strfmt("'%s' must be an array of token ids", key));
    std::vector<int32_t> out;
    out.reserve(std::min<size_t>(v->size(), 1 << 20));
    for (const auto& t : *v) {
        if (!t.is_number_integer()) bad(strfmt("'%s' must contain only integer token ids", key));
        // Unsigned ids beyond int64 exist in JSON: compare each kind in its own type, and name the id
        // exactly as it was sent.
        const bool in_range = t.is_number_unsigned() ? t.get<uint64_t>() < uint64_t(n_vocab)
                                                     : t.get<int64_t>() >= 0 && t.get<int64_t>() < n_vocab;
        if (!in_range)
            bad(strfmt("token id %s in '%s' is out of range [0, %lld)", t.dump().c_str(), key, (long long)n_vocab));
        out.push_back(int32_t(t.get<int64_t>()));
    }
    return out;
}

std::vector<ChatMessage> parse_messages(const json& body) {
    const json* v = field(body, "messages");
    if (!v) bad("'messages' is required");
    if (!v->is_array()) bad("'messages' must be an array");
    if (v->empty()) bad("'messages' must not be empty");
    if (v->size() > kMaxMessages) bad(strfmt("'messages' has more than %zu entries", kMaxMessages));
    std::vector<ChatMessage> out;
    for (size_t i = 0; i < v->size(); ++i) {
        const json& m = (*v)[i];
        if (!m.is_object()) bad(strfmt("messages[%zu] must be an object", i));
        auto role_it = m.find("role");
        if (role_it == m.end() || !role_it->is_string()) bad(strfmt("messages[%zu].role must be a string", i));
        const std::string role = role_it->get<std::string>();
        if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer")
            bad(strfmt("messages[%zu].role '%s' is not one of system, developer, user, assistant, tool", i,
                       is_valid_utf8(role) ? role.substr(0, 64).c_str() : "?"));
        std::string content;
        auto c = m.find("content");
        const json* calls = role == "assistant" && m.contains("tool_calls") ? &m["tool_calls"] : nullptr;
        const bool has_calls = calls && !calls->is_null() && *calls != json::array();  // [] as some clients send
        if (c == m.end() || c->is_null()) {
            if (role != "assistant") bad(strfmt("messages[%zu].content is required", i));
        } else if (c->is_string()) {
            content = c->get<std::string>();
        } else if (c->is_array()) {  // [{"type":"text","text":"..."}]
            for (const auto& part : *c) {
                if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
                    !part["text"].is_string())
                    bad(strfmt("messages[%zu].content parts must be {\"type\": \"text\", \"text\": string}", i));
                content += part["text"].get<std::string>();
            }
        } else {
            bad(strfmt("messages[%zu].content must be a string or an array of text parts", i));
        }
        if (!is_valid_utf8(content)) bad(strfmt("messages[%zu].content is not valid UTF-8", i));
        if (role == "tool") {  // tool_call_id: checked; Phi's format has no ids (results follow the calls' order)
            if (auto id = m.find("tool_call_id"); id != m.end() && !id->is_null() && !id->is_string())
                bad(strfmt("messages[%zu].tool_call_id must be a string", i));
        }
        if (has_calls) content += tool_calls_text(*calls, strfmt("messages[%zu]", i));
        const std::string template_role = role == "developer" ? "system" : role == "tool" ? kToolResultRole : role;
        out.push_back({template_role, std::move(content), std::nullopt});
    }
    return out;
}

CompletionRequest parse_completion_request(const json& body, bool chat) {
    CompletionRequest r;
    r.chat = chat;
    if (chat) {
        r.messages = parse_messages(body);
    } else {
        const json* p = field(body, "prompt");
        if (!p) bad("'prompt' is required");
        if (p->is_string()) {
            r.prompt = get_string(body, "prompt", true);
        } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
            r.prompt = (*p)[0].get<std::string>();
            if (!is_valid_utf8(r.prompt)) bad("'prompt' is not valid UTF-8");
        } else if (p->is_array()) {
            r.prompt_tokens = get_token_list(body, "prompt", std::numeric_limits<int32_t>::max());
        } else {
            bad("'prompt' must be a string or an array of token ids");
        }
    }
    if (auto n = get_int(body, "n"); n && *n != 1) bad("only 'n' = 1 is supported");
    auto top_count = [&](const char* key) -> int {
        const auto v = get_int(body, key);
        if (v && (*v < 0 || *v > kMaxTopLogprobs)) bad(strfmt("'%s' must be between 0 and %d", key, kMaxTopLogprobs));
        return v ? int(*v) : -1;
    };
    if (chat) {  // OpenAI: logprobs (bool) turns them on, top_logprobs asks for alternatives
        const int top = top_count("top_logprobs");
        const bool on = get_bool(body, "logprobs").value_or(false);
        if (top >= 0 && !on) bad("'top_logprobs' needs 'logprobs': true");
        r.n_logprobs = on ? std::max(top, 0) : -1;
    } else {
        r.n_logprobs = top_count("logprobs");
    }
    r.stream = get_bool(body, "stream").value_or(false);
    r.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
    if (const json* so = field(body, "stream_options")) {
        if (!so->is_object()) bad("'stream_options' must be an object");
        const Endpoint ep = chat ? Endpoint::ChatCompletions : Endpoint::Completions;
        refuse_unknown_fields(*so, {"include_usage"}, "stream_options.", endpoint_path(ep));
        r.include_usage = get_bool(*so, "include_usage").value_or(false);
    }
    SamplerParams& s = r.sampler;
    if (auto v = get_number(body, "temperature", 0, 1e6)) s.temp = float(*v);
    if (auto v = get_number(body, "top_p", 0, 1)) s.top_p = float(*v);
    if (auto v = get_number(body, "min_p", 0, 1)) s.min_p = float(*v);
    if (auto v = get_number(body, "repeat_penalty", 1e-6, 1e6)) s.repeat_penalty = float(*v);
    if (auto v = get_number(body, "presence_penalty", -1e6, 1e6)) s.presence_penalty = float(*v);
    if (auto v = get_number(body, "frequency_penalty", -1e6, 1e6)) s.frequency_penalty = float(*v);
    if (auto v = get_int(body, "top_k")) {
        if (*v < 0) bad("'top_k' must be >= 0 (0 = off)");
        s.top_k = int32_t(std::min<int64_t>(*v, std::numeric_limits<int32_t>::max()));
    }
    if (auto v = get_int(body, "repeat_last_n")) {
        if (*v < -1) bad("'repeat_last_n' must be >= -1 (-1 = the context size)");
        s.repeat_last_n =
            int32_t(std::min<int64_t>(*v, std::numeric_limits<int32_t>::max()));  // -1 mapped by the server
    }
    if (const json* v = field(body, "seed")) {
        if (v->is_number_unsigned()) {
            s.seed = v->get<uint64_t>();
        } else if (v->is_number_integer() && v->get<int64_t>() == -1) {
            s.seed = SamplerParams::kRandomSeed;
        } else {
            bad("'seed' must be a non-negative integer (or -1 for a random seed)");
        }
    }
    // max_completion_tokens is OpenAI's current name, max_tokens the older one, n_predict llama.cpp's.
    for (const char* key : {"n_predict", "max_tokens", "max_completion_tokens"})
        if (auto v = get_int(body, key)) {
            if (*v == -1) {
                r.max_tokens = -1;
            } else if (*v < 1) {
                bad(strfmt("'%s' must be >= 1 (or -1 for no limit), got %lld", key, (long long)*v));
            } else {
                r.max_tokens = *v;  // the context end bounds it anyway
            }
        }
    if (const json* v = field(body, "stop")) {
        auto add = [&](const json& x) {
            if (!x.is_string()) bad("'stop' must be a string or an array of strings");
            std::string t = x.get<std::string>();
            if (t.size() > kMaxStopLength) bad(strfmt("a 'stop' string is longer than %zu bytes", kMaxStopLength));
            if (!t.empty()) r.stop.push_back(std::move(t));
        };
        if (v->is_array()) {
            if (v->size() > kMaxStopStrings) bad(strfmt("'stop' has more than %zu strings", kMaxStopStrings));
            for (const auto& x : *v) add(x);
        } else {
            add(*v);
        }
    }
    if (chat) r.tools = parse_tool_request(body);
    r.grammar = parse_output_constraint(body);
    if (r.tools.active() && r.grammar)
        bad("'tools' cannot be combined with 'grammar', 'json_schema' or a 'response_format' other than text");
    if (!r.grammar) r.grammar = forced_call_grammar(r.tools);
    if (r.grammar && r.ignore_eos) bad("'ignore_eos' cannot be combined with a grammar or schema (it ends the output)");
    return r;
}

const char* finish_reason_name(FinishReason r, bool tool_calls) {
    return tool_calls ? "tool_calls" : r == FinishReason::Length ? "length" : "stop";
}

json usage_json(const GenTimings& t) {
    const int64_t prompt = t.prompt_n + t.cache_n;
    return {{"prompt_tokens", prompt}, {"completion_tokens", t.predicted_n}, {"total_tokens", prompt + t.predicted_n}};
}

json timings_json(const GenTimings& t) {
    auto per_tok = [](double ms, int64_t n) { return n > 0 ? ms / double(n) : 0.0; };
    auto per_s = [](double ms, int64_t n) { return ms > 0 ? 1e3 * double(n) / ms : 0.0; };
    return {{"cache_n", t.cache_n},
            {"prompt_n", t.prompt_n},
            {"prompt_ms", t.prompt_ms},
            {"prompt_per_token_ms", per_tok(t.prompt_ms, t.prompt_n)},
            {"prompt_per_second", per_s(t.prompt_ms, t.prompt_n)},
            {"predicted_n", t.predicted_n},
            {"predicted_ms", t.predicted_ms},
            {"predicted_per_token_ms", per_tok(t.predicted_ms, t.predicted_n)},
            {"predicted_per_second", per_s(t.predicted_ms, t.predicted_n)}};
}

std::vector<json> ChatDeltaSplitter::deltas(const std::vector<TextSegment>& segs) {
    std::vector<json> out;
    for (const auto& g : segs)
        if (!g.text.empty()) out.push_back({{g.reasoning ? "reasoning_content" : "content", g.text}});
    return out;
}

json chat_message_json(const std::string& text) {
    ThinkSplitter split;
    std::string content, reasoning;
    auto take = [&](const std::vector<TextSegment>& segs) {
        for (const auto& g : segs) (g.reasoning ? reasoning : content) += g.text;
    };
    take(split.push(text));
    take(split.flush());
    json m = {{"role", "assistant"}, {"content", content}};
    if (!reasoning.empty()) m["reasoning_content"] = reasoning;
    return m;
}

bool is_valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (size_t k = 1; k < n; ++k) {
            const unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

}  // namespace bf
