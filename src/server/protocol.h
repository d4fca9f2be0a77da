// OpenAI / llama-server JSON for `bitflash serve`: request validation (every bad field -> ApiError with an
// HTTP status) and response / SSE chunk building. No sockets, no model: unit-testable on its own.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/reasoning.h"
#include "grammar/grammar.h"
#include "sample/sampler.h"
#include "server/scheduler.h"
#include "server/tool_calls.h"
#include "tokenizer/chat_template.h"

namespace bf {

using json = nlohmann::json;

// An error answered with `status` and {"error":{"code","message","type"}}.
class ApiError : public Error {
public:
    ApiError(int status, const std::string& msg, std::string type = "")
        : Error(msg), status_(status), type_(type.empty() ? default_type(status) : std::move(type)) {}
    int status() const { return status_; }
    const std::string& type() const { return type_; }
    static std::string default_type(int status);

private:
    int status_;
    std::string type_;
};

json error_json(int status, const std::string& message, const std::string& type = "");
// Serializes with invalid UTF-8 (raw bytes of a byte-level model) replaced by U+FFFD, so output is valid JSON.
std::string dump_json(const json& j);

// The JSON endpoints. Each has its own list of request fields it implements (protocol.cpp, field_table()).
enum class Endpoint { ChatCompletions, Completions, Tokenize, Detokenize, ApplyTemplate, SlotAction };
const char* endpoint_path(Endpoint ep);

// Parses a request body as a JSON object whose fields `ep` all implements; ApiError 400 otherwise (an empty
// body, bad JSON, not an object, or fields bitflash does not implement, which the message names).
json parse_body(const std::string& body, Endpoint ep);

// Limits on request fields (beyond these: 400).
constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxStopLength = 1024;
constexpr size_t kMaxMessages = 4096;

// A validated /v1/chat/completions or /v1/completions request.
struct CompletionRequest {
    bool chat = true;
    std::vector<ChatMessage> messages;   // chat
    std::string prompt;                  // completions, as text...
    std::vector<int32_t> prompt_tokens;  // ...or as token ids
    bool stream = false, include_usage = false;
    SamplerParams sampler;
    // -1 = no limit (the context end still stops with "length"). Values above the context are clamped to it;
    // 0 and negatives other than -1 are rejected.
    int64_t max_tokens = -1;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    std::shared_ptr<const Grammar> grammar;  // grammar / json_schema / response_format (structured_output.h),
                                             // or the forced tool call (tool_calls.h)
    ToolRequest tools;                       // chat: tools, tool_choice, parallel_tool_calls
    // -1: no logprobs. Chat: `logprobs: true` and `top_logprobs` (0..20); completions: `logprobs` (0..20).
    int n_logprobs = -1;
};

CompletionRequest parse_completion_request(const json& body, bool chat);
std::vector<ChatMessage> parse_messages(const json& body);

// Field readers shared by the endpoints; each throws ApiError 400 naming the field.
std::string get_string(const json& body, const char* key, bool required);
std::optional<bool> get_bool(const json& body, const char* key);
std::vector<int32_t> get_token_list(const json& body, const char* key, int64_t n_vocab);

// "tool_calls" when the answer's calls were parsed (tool_calls.h), else "length" or "stop".
const char* finish_reason_name(FinishReason r, bool tool_calls = false);
json usage_json(const GenTimings& t);
json timings_json(const GenTimings& t);

// Streams generated text as chat deltas: <think>…</think> becomes {"reasoning_content"}, the rest {"content"}.
class ChatDeltaSplitter {
public:
    std::vector<json> push(const std::string& text) { return deltas(split_.push(text)); }
    std::vector<json> flush() { return deltas(split_.flush()); }

private:
    static std::vector<json> deltas(const std::vector<TextSegment>& segs);
    ThinkSplitter split_;
};

// Whole-response form: {content, reasoning_content (only when there was any)}.
json chat_message_json(const std::string& text);

// Checks UTF-8 validity (the JSON parser already rejects bad strings; this guards other paths).
bool is_valid_utf8(const std::string& s);

}  // namespace bf
