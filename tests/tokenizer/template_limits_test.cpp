// Chat templates as untrusted programs: each render limit stops a hostile template quickly with an error
// naming the limit, while real templates over long conversations stay far inside every limit.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "core/error.h"
#include "jinja/render.h"
#include "tokenizer/chat_template.h"

namespace bf {
namespace {

// The error text of rendering src with the given limits, or "ok" with the output length.
std::string outcome(const std::string& src, const jinja::Limits& lim = {}) {
    try {
        return "ok " + std::to_string(jinja::render(jinja::parse_template(src), {}, lim).size());
    } catch (const Error& e) {
        return e.what();
    }
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string nested_loops(int levels) {  // the issue's example: ten nested loops over a 10-element list
    std::string s;
    for (int k = 0; k < levels; ++k) s += "{% for x" + std::to_string(k) + " in [0,1,2,3,4,5,6,7,8,9] %}";
    s += "x";
    for (int k = 0; k < levels; ++k) s += "{% endfor %}";
    return s;
}

std::string doubling(int times) {  // the issue's other example: a string doubled 40 times
    std::string s = "{% set a = 'ab' %}";
    for (int k = 0; k < times; ++k) s += "{% set a = a ~ a %}";
    return s + "{{ a }}";
}

// The outcome and the seconds it took.
std::pair<std::string, double> timed(const std::string& src) {
    const auto t0 = std::chrono::steady_clock::now();
    std::string r = outcome(src);
    return {r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

TEST(TemplateLimits, IssueExamplesFailWithTheLimitNamed) {
    const auto [loops, loop_s] = timed(nested_loops(10));
    EXPECT_TRUE(has(loops, "max_loop_iterations")) << loops;
    EXPECT_TRUE(has(loops, "chat template: error at offset")) << loops;
    const auto [dbl, dbl_s] = timed(doubling(40));
    EXPECT_TRUE(has(dbl, "max_output_bytes")) << dbl;
    // Correctness bound, not a speed figure: "hangs" means hours; a minute under sanitizers is generous.
    EXPECT_LT(loop_s, 60.0);
    EXPECT_LT(dbl_s, 60.0);
    // The same templates at sizes within the limits still render in full.
    EXPECT_EQ(outcome(nested_loops(3)), "ok 1000");
    EXPECT_EQ(outcome(doubling(10)), "ok 2048");
}

TEST(TemplateLimits, EachLimitStopsAtItsValue) {
    jinja::Limits lim;
    lim.max_loop_iterations = 100;
    EXPECT_EQ(
        outcome("{% for a in [1,2,3,4,5,6,7,8,9,10] %}{% for b in [1,2,3,4,5,6,7,8,9] %}{% endfor %}{% endfor %}", lim),
        "ok 0");  // 10 + 90 iterations
    EXPECT_TRUE(has(
        outcome("{% for a in [1,2,3,4,5,6,7,8,9,10] %}{% for b in [1,2,3,4,5,6,7,8,9,10] %}{% endfor %}{% endfor %}",
                lim),
        "limit of 100 loop iterations"));
    // A loop over a long string is refused before its items are built.
    EXPECT_TRUE(has(outcome("{% set s = 'abcdefghij' %}{% set s = s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s %}"
                            "{% for c in s %}{% endfor %}",
                            lim),
                    "max_loop_iterations"));

    lim = {};
    lim.max_steps = 50;
    EXPECT_EQ(outcome("{{ 1 + 2 }}", lim), "ok 1");
    EXPECT_TRUE(has(outcome("{% for a in [1,2,3,4,5,6,7,8,9,10] %}{{ a + a + a }}{% endfor %}", lim), "max_steps"));

    lim = {};
    lim.max_output_bytes = 100;
    EXPECT_EQ(outcome(std::string(100, 'x'), lim), "ok 100");
    EXPECT_TRUE(has(outcome(std::string(101, 'x'), lim), "limit of 100 bytes of output"));
    EXPECT_TRUE(
        has(outcome("{% set a = '" + std::string(60, 'y') + "' %}{% set b = a + a %}", lim), "bytes in one value"));
    EXPECT_TRUE(has(outcome("{% set a = [1,2,3] %}{% set a = a + a %}", lim), "bytes in one value"));

    lim = {};
    lim.max_bytes_built = 1000;
    EXPECT_TRUE(has(outcome("{% set a = '" + std::string(100, 'y') +
                                "' %}{% for k in [1,2,3,4,5,6,7,8,9,10] %}"
                                "{% set b = a ~ a %}{% endfor %}",
                            lim),
                    "max_bytes_built"));

    lim = {};
    lim.max_depth = 20;
    std::string deep = "{% set a = 1 %}";
    for (int k = 0; k < 25; ++k) deep += "{% set a = [a] %}";
    EXPECT_TRUE(has(outcome(deep, lim), "levels of nested lists")) << outcome(deep, lim);
    std::string blocks;
    for (int k = 0; k < 25; ++k) blocks += "{% if true %}";
    for (int k = 0; k < 25; ++k) blocks += "{% endif %}";
    EXPECT_TRUE(has(outcome(blocks, lim), "nesting depth"));
}

TEST(TemplateLimits, LongOperatorChainsAreRefusedAtParse) {
    // Left-associative chains nest one tree level per operator; unbounded they overflow the stack.
    std::string chain = "{{ 1";
    for (int k = 0; k < 100000; ++k) chain += " + 1";
    EXPECT_TRUE(has(outcome(chain + " }}"), "nested too deeply"));
    std::string filters = "{{ 'a'";
    for (int k = 0; k < 100000; ++k) filters += "|trim";
    EXPECT_TRUE(has(outcome(filters + " }}"), "nested too deeply"));
    std::string lists = "{% set a = 1 %}";  // each list literal is shallow, but nests the value it holds
    for (int k = 0; k < 5000; ++k) lists += "{% set a = [a] %}";
    EXPECT_TRUE(has(outcome(lists + "{{ a }}"), "levels of nested lists"));
    std::string ok = "{{ 1";
    for (int k = 0; k < 150; ++k) ok += " + 1";
    EXPECT_EQ(outcome(ok + " }}"), "ok 3");
}

TEST(TemplateLimits, IntegerOverflowIsAnError) {
    EXPECT_TRUE(has(outcome("{{ 9000000000000000000 + 9000000000000000000 }}"), "integer overflow"));
    EXPECT_TRUE(has(outcome("{{ 4000000000 * 4000000000 }}"), "integer overflow"));
    EXPECT_TRUE(has(outcome("{{ (0 - 9000000000000000000 - 223372036854775808) // (0 - 1) }}"), "integer overflow"));
    EXPECT_TRUE(has(outcome("{{ -(0 - 9000000000000000000 - 223372036854775808) }}"), "integer overflow"));
    EXPECT_EQ(outcome("{{ 7 // 2 }}{{ 7 % 3 }}"), "ok 2");
}

TEST(TemplateLimits, ErrorMessagesStayShort) {
    const std::string e = outcome("{% set a = '" + std::string(100000, 'z') + "' %}{{ a - 1 }}");
    EXPECT_TRUE(has(e, "a string of 100000 bytes")) << e.substr(0, 200);
    EXPECT_LT(e.size(), 300u);
}

TEST(TemplateLimits, RealTemplateOverLongConversationIsWithinLimits) {
    // 2,000 messages of 500 bytes (more than the model's context) through the Phi-4 template pass with
    // the limits cut to a tenth.
    std::vector<ChatMessage> msgs;
    for (int k = 0; k < 2000; ++k) msgs.push_back({k % 2 ? "assistant" : "user", std::string(500, 'a' + k % 26), {}});
    jinja::Array arr;
    for (const ChatMessage& m : msgs)
        arr.push_back(jinja::Value::object(
            {{"role", jinja::Value::string(m.role)}, {"content", jinja::Value::string(m.content)}}));
    jinja::Limits tenth;
    tenth.max_steps /= 10;
    tenth.max_loop_iterations /= 10;
    tenth.max_output_bytes /= 10;
    tenth.max_bytes_built /= 10;
    const std::string out = jinja::render(
        jinja::parse_template(builtin_template("phi4-mini")),
        {{"messages", jinja::Value::array(std::move(arr))}, {"add_generation_prompt", jinja::Value::boolean(true)}},
        tenth);
    EXPECT_EQ(out, render_chat(builtin_template("phi4-mini"), msgs, true, "", ""));
    EXPECT_GT(out.size(), 2000u * 500u);
}

}  // namespace
}  // namespace bf
