// Chat templates: the model's conversation rendered by the Jinja-subset interpreter (src/jinja/), and the
// built-in copies of the common templates.
#include "tokenizer/chat_template.h"

#include "core/error.h"
#include "jinja/render.h"

namespace bf {

std::string render_chat(const std::string& template_source, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token) {
    using namespace jinja;
    const std::vector<Node> nodes = parse_template(template_source);
    Array msgs;
    for (const ChatMessage& m : messages) {
        Object o{{"role", Value::string(m.role)}, {"content", Value::string(m.content)}};
        if (m.tools) o["tools"] = Value::string(*m.tools);
        msgs.push_back(Value::object(std::move(o)));
    }
    return render(nodes, Object{{"messages", Value::array(std::move(msgs))},
                                {"add_generation_prompt", Value::boolean(add_generation_prompt)},
                                {"bos_token", Value::string(bos_token)},
                                {"eos_token", Value::string(eos_token)}});
}

std::string builtin_template(const std::string& name) {
    if (name == "phi4-mini")
        return "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
               "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' "
               "+ message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
               "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
               "'<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";
    if (name == "chatml")
        return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}";
    fail(strfmt("unknown chat template \"%s\" (known: phi4-mini, chatml)", name.c_str()));
}

}  // namespace bf
