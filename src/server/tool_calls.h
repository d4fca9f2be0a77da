// OpenAI function calling in Phi-4-mini's format: `tools` / `tool_choice` checked, the tool definitions and past
// calls and results written into the conversation, the grammar that forces a call, and the model's
// <|tool_call|>[...]<|/tool_call|> output parsed back into `tool_calls` (whole, or streamed as deltas).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "tokenizer/chat_template.h"

namespace bf {

// Phi-4-mini's special tokens (ids 200023..200027 in its vocabulary); as text, so that any tokenizer spells them.
inline constexpr std::string_view kToolsOpen = "<|tool|>", kToolsClose = "<|/tool|>";
inline constexpr std::string_view kToolCallOpen = "<|tool_call|>", kToolCallClose = "<|/tool_call|>";
// A `role: tool` message is rendered with this role, so Phi's templates write `<|tool_response|>RESULT<|end|>`.
inline constexpr const char* kToolResultRole = "tool_response";
// The system line when tools are offered and the conversation has none (Phi-4-mini-instruct's model card).
inline constexpr const char* kDefaultToolSystem = "You are a helpful assistant with some tools.";

constexpr size_t kMaxTools = 128;
constexpr int kMaxForcedCalls = 8;  // calls a forced (grammar) answer may hold when parallel calls are allowed

enum class ToolChoice { None, Auto, Required, Named };

// The validated `tools`, `tool_choice` and `parallel_tool_calls` of a chat request.
struct ToolRequest {
    struct Tool {
        std::string name, description;
        nlohmann::json parameters;  // a JSON Schema object; null when not given (no parameters)
    };
    std::vector<Tool> tools;
    ToolChoice choice = ToolChoice::None;
    std::string forced;    // ToolChoice::Named: the function
    bool parallel = true;  // false: a forced answer holds exactly one call
    // Tools are rendered into the prompt and calls parsed from the output (not for tool_choice "none").
    bool active() const { return !tools.empty() && choice != ToolChoice::None; }
    std::set<std::string> names() const;
};

// Throws ApiError 400 naming the field for a wrong shape or an unsupported combination.
ToolRequest parse_tool_request(const nlohmann::json& body);

// The grammar that forces a call list (tool_choice required or a named function); null for none / auto.
// Throws ApiError 400 when a tool's parameters use JSON Schema the grammar converter does not support.
std::shared_ptr<const Grammar> forced_call_grammar(const ToolRequest& tr);

// The definitions as the <|tool|> block carries them: [{"name","description","parameters"}, ...].
std::string tool_definitions_json(const ToolRequest& tr);

// The template text of an assistant message's OpenAI `tool_calls` (what the model writes):
// <|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|>. Throws ApiError 400 naming `where`.
std::string tool_calls_text(const nlohmann::json& tool_calls, const std::string& where);

// Renders the conversation with the tool definitions in its (first) system message, added with
// kDefaultToolSystem when there is none: through the template's own tools branch (message['tools'], as
// Phi-4-mini-instruct's template has) when the rendered prompt shows the definitions, otherwise by appending
// <|tool|>DEFINITIONS<|/tool|> to the system message's content, which is what that branch writes.
std::string render_with_tools(const std::function<std::string(const std::vector<ChatMessage>&)>& render,
                              std::vector<ChatMessage> messages, const ToolRequest& tr);

// Splits generated content into text and tool calls as it streams. A <|tool_call|> block whose body is a JSON
// list (or one object) of {"name": an offered tool, "arguments": object} becomes calls; any other block, or
// one never closed, stays text. Text that may begin the open marker is held back until it is decided.
class ToolCallStreamer {
public:
    explicit ToolCallStreamer(std::set<std::string> names) : names_(std::move(names)) {}
    // Chat deltas: {"content": text} and {"tool_calls": [{"index","id","type","function":{"name","arguments"}}]}.
    std::vector<nlohmann::json> push(std::string_view text);
    std::vector<nlohmann::json> flush();
    // Passes other deltas (reasoning) through and sends {"content"} ones through push().
    std::vector<nlohmann::json> route(const std::vector<nlohmann::json>& deltas);
    size_t n_calls() const { return n_calls_; }

private:
    void emit_text(std::string_view s, std::vector<nlohmann::json>& out);
    void close_block(std::string_view body, std::vector<nlohmann::json>& out);

    std::set<std::string> names_;
    std::string pending_;  // outside a block: a possible start of the marker; inside: the block's body so far
    bool inside_ = false;
    size_t n_calls_ = 0;
};

// Whole-response form: moves the calls out of message["content"] into message["tool_calls"] (content becomes
// null when nothing else is left). Returns whether there were calls (finish_reason "tool_calls").
bool attach_tool_calls(nlohmann::json& message, const ToolRequest& tr);

}  // namespace bf
