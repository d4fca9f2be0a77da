// Chat template rendering against renderings written out by hand from the Phi-4-mini model card /
// tokenizer_config.json template and the ChatML format.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace bf {
namespace {

const std::string kEos = "<|endoftext|>";

std::string phi(const std::vector<ChatMessage>& m, bool gen = true) {
    return render_chat(builtin_template("phi4-mini"), m, gen, kEos, kEos);
}

TEST(ChatTemplate, PhiOneUserTurn) { EXPECT_EQ(phi({{"user", "Hi", {}}}), "<|user|>Hi<|end|><|assistant|>"); }

TEST(ChatTemplate, PhiSystemAndUser) {
    EXPECT_EQ(phi({{"system", "Your name is Phi, an AI math expert developed by Microsoft.", {}},
                   {"user", "How to solve 3*x^2+4*x+5=1?", {}}}),
              "<|system|>Your name is Phi, an AI math expert developed by Microsoft.<|end|>"
              "<|user|>How to solve 3*x^2+4*x+5=1?<|end|><|assistant|>");
}

TEST(ChatTemplate, PhiTwoTurns) {
    EXPECT_EQ(phi({{"user", "Hi", {}}, {"assistant", "Hello!", {}}, {"user", "2+2?", {}}}),
              "<|user|>Hi<|end|><|assistant|>Hello!<|end|><|user|>2+2?<|end|><|assistant|>");
}

TEST(ChatTemplate, PhiSystemWithTools) {
    const std::string tools = R"([{"name": "get_weather", "parameters": {}}])";
    EXPECT_EQ(phi({{"system", "You are helpful.", tools}, {"user", "Weather?", {}}}),
              "<|system|>You are helpful.<|tool|>" + tools + "<|/tool|><|end|><|user|>Weather?<|end|><|assistant|>");
    // tools on a non-system message are ignored by this template
    EXPECT_EQ(phi({{"user", "x", tools}}), "<|user|>x<|end|><|assistant|>");
}

TEST(ChatTemplate, PhiNoGenerationPromptEndsWithEos) {
    EXPECT_EQ(phi({{"user", "Hi", {}}, {"assistant", "Yo", {}}}, false),
              "<|user|>Hi<|end|><|assistant|>Yo<|end|><|endoftext|>");
}

TEST(ChatTemplate, ChatMl) {
    const std::string t = builtin_template("chatml");
    EXPECT_EQ(render_chat(t, {{"system", "S", {}}, {"user", "Hi", {}}}, true, "", ""),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(render_chat(t, {{"user", "Hi", {}}}, false, "", ""), "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, UnknownBuiltinListsNames) {
    try {
        builtin_template("llama9");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("phi4-mini"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("chatml"), std::string::npos);
    }
}

std::string r(const std::string& t, const std::vector<ChatMessage>& m = {{"user", "Hi", {}}}, bool gen = false) {
    return render_chat(t, m, gen, "<s>", "</s>");
}

TEST(ChatTemplate, LanguageFeatures) {
    EXPECT_EQ(r("a{{ 'b' }}c"), "abc");
    EXPECT_EQ(r("{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m['content'] }}{% endfor %}"), "<s>user:Hi");
    EXPECT_EQ(r("{% for m in ['a','b','c'] %}{{ loop.index0 }}{{ m }}{% if loop.first %}F{% endif %}"
                "{% if loop.last %}L{% endif %}{{ loop.index }}{% endfor %}"),
              "0aF11b22cL3");
    EXPECT_EQ(r("{% set x = 'q' %}{% if x == 'p' %}1{% elif x != 'q' %}2{% else %}3{% endif %}"), "3");
    EXPECT_EQ(r("{% if 'b' in 'abc' and 'z' not in 'abc' %}y{% endif %}"), "y");
    EXPECT_EQ(r("{% if not (1 == 2) or false %}y{% endif %}"), "y");
    EXPECT_EQ(r("{% if nothing is defined %}d{% elif nothing is not defined %}u{% endif %}"), "u");
    EXPECT_EQ(r("{% if none is none %}n{% endif %}"), "n");
    EXPECT_EQ(r("{{ '  pad  ' | trim }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}{{ messages | length }}"), "pad|ABab1");
    EXPECT_EQ(r("{{ 'x' if add_generation_prompt else 'y' }}", {}, true), "x");
    EXPECT_EQ(r("{{ 1 + 2 * 3 }}{{ 'a' ~ 5 }}{{ \"dq\\n\" }}"), "7a5dq\n");
    EXPECT_EQ(r("{% for m in messages %}{% set c = m.content %}{% endfor %}[{{ c }}]"), "[]");  // loop scope
    EXPECT_EQ(r("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(r("{# comment #}{{ messages[0]['role'] }}{{ messages[-1].content }}"), "userHi");
}

TEST(ChatTemplate, WhitespaceControl) {
    EXPECT_EQ(r("a  {{- 'b' -}}  \n c"), "abc");
    EXPECT_EQ(r("a\n  {%- if true -%}\n  b\n{%- endif %}"), "ab");
    // trim_blocks + lstrip_blocks (HF's settings): block tags on their own line leave no trace.
    EXPECT_EQ(r("{% for m in messages %}\n  {% if true %}\n[{{ m.role }}]\n  {% endif %}\n{% endfor %}\nend"),
              "[user]\nend");
    EXPECT_EQ(r("x {% if true %}y{% endif %}"), "x y");
}

TEST(ChatTemplate, ErrorsCarryOffsets) {
    auto err = [](const std::string& t) -> std::string {
        try {
            r(t);
        } catch (const Error& e) {
            return e.what();
        }
        return "no error";
    };
    EXPECT_NE(err("ab{{ 'x' ").find("offset"), std::string::npos);
    EXPECT_NE(err("{% if true %}x").find("offset 0"), std::string::npos);
    EXPECT_NE(err("abc{% endif %}").find("offset 3"), std::string::npos);
    EXPECT_NE(err("{{ 1 + }}").find("offset 7"), std::string::npos);
    EXPECT_NE(err("{% while x %}").find("while"), std::string::npos);
    EXPECT_NE(err("{{ 'a' + 1 }}").find("offset 7"), std::string::npos);
    EXPECT_NE(err("{{ raise_exception('bad role') }}").find("bad role"), std::string::npos);
    EXPECT_NE(err("{{ x | nosuch }}").find("nosuch"), std::string::npos);
    EXPECT_NE(err(std::string(1000, '(')).find("no error"), std::string::npos);  // plain text
    EXPECT_NE(err("{{ " + std::string(1000, '(') + " }}").find("deeply"), std::string::npos);
}

}  // namespace
}  // namespace bf
