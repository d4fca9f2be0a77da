// Chat templates: a small Jinja-subset interpreter for the templates shipped in tokenizer_config.json
// (Phi-4-mini family, ChatML and similar simple ones), plus built-in copies of the common ones.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace bf {

struct ChatMessage {
    std::string role, content;
    std::optional<std::string> tools;  // exposed as message['tools'] only when set
};

// Renders with HF's settings (trim_blocks and lstrip_blocks on). Variables: messages,
// add_generation_prompt, bos_token, eos_token. Supported: text, {{ }}, {% for/if/elif/else/set %},
// {# #}, '-' whitespace control, string/int/bool/none literals, lists, + - * / % ~, comparisons,
// in / not in, is [not] none/defined/undefined/string/number, and/or/not, x if c else y, subscripts,
// attributes, loop.index/index0/first/last/length, filters trim/upper/lower/length/string, and
// raise_exception(msg). Syntax and evaluation errors throw bf::Error with the byte offset.
std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token);

// "phi4-mini" (Phi-4-mini-instruct / -flash-reasoning tokenizer_config.json) or "chatml".
// Throws bf::Error listing the known names.
std::string builtin_template(const std::string& name);

}  // namespace bf
