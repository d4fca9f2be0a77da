// What a llama.cpp user types: -cnv/-st, -ctk alone, -c 0, --chat-template-file, --log-disable, help and
// --version, "did you mean" for a mistyped flag.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "../common/chat_model.h"
#include "../common/cli_run.h"

namespace {

using bf::testing::bitflash;
using bf::testing::chat_model;
using bf::testing::Result;
using bf::testing::tmp;

int count(const std::string& s, const std::string& what) {
    int n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

TEST(LlamaHabits, HelpAndVersionOnStdout) {
    Result r = bitflash("--help");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("commands:"), std::string::npos);
    EXPECT_TRUE(r.err.empty()) << r.err;
    r = bitflash("help run");
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out.rfind("usage: bitflash run", 0), 0u) << r.out;
    EXPECT_EQ(bitflash("run --help").out, r.out);
    r = bitflash("help");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("tokenize"), std::string::npos);
    r = bitflash("--version");
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out.rfind("bitflash commit ", 0), 0u) << r.out;
}

TEST(LlamaHabits, MistypedNamesGetASuggestion) {
    Result r = bitflash("run -m " + chat_model() + " -p hi --ctx_size 64");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("unknown option '--ctx_size' (did you mean '--ctx-size'?)"), std::string::npos) << r.err;
    r = bitflash("run -p hi --temperature 0");
    EXPECT_NE(r.err.find("(did you mean '--temp'?)"), std::string::npos) << r.err;
    r = bitflash("run -p hi --no-such-thing");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;  // nothing close: no guess
    r = bitflash("chta");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("(did you mean 'chat'?)"), std::string::npos) << r.err;
}

TEST(LlamaHabits, OneCacheTypeFlagSetsTheSharedCache) {
    const std::string run = "run -m " + chat_model() + " -p \"Solve x + 1 = 2\" -n 12 --temp 0 --no-perf ";
    const Result both = bitflash(run + "-ctk q4_0 -ctv q4_0");
    ASSERT_EQ(both.code, 0) << both.err;
    ASSERT_GT(both.out.size(), 1u);
    const Result k_only = bitflash(run + "-ctk q4_0"), v_only = bitflash(run + "-ctv q4_0");
    ASSERT_EQ(k_only.code, 0) << k_only.err;
    ASSERT_EQ(v_only.code, 0) << v_only.err;
    EXPECT_EQ(k_only.out, both.out);
    EXPECT_EQ(v_only.out, both.out);
    // f16 (llama.cpp's default) is accepted and runs as f32, saying so.
    const Result f16 = bitflash(run + "-ctk f16 -ctv f16"), f32 = bitflash(run + "-ctk f32");
    ASSERT_EQ(f16.code, 0) << f16.err;
    EXPECT_EQ(f16.out, f32.out);
    EXPECT_NE(f16.err.find("f16 runs as f32"), std::string::npos) << f16.err;
    const Result bad = bitflash(run + "-ctk q8_0 -ctv q4_0");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("must be the same type"), std::string::npos) << bad.err;
}

TEST(LlamaHabits, ContextZeroIsTheModels) {
    // The test model's context is 4096 tokens (max_position_embeddings); a byte tokenizer makes a
    // 3000-character prompt ~3000 tokens.
    const std::string long_prompt = " -p \"" + std::string(3000, 'x') + "\" -n 2 --no-perf";
    EXPECT_EQ(bitflash("run -m " + chat_model() + long_prompt + " -c 1024").code, 1);
    const Result r = bitflash("run -m " + chat_model() + long_prompt + " -c 0");
    EXPECT_EQ(r.code, 0) << r.err;
    const Result too_long = bitflash("run -m " + chat_model() + " -p \"" + std::string(5000, 'x') + "\" -c 0");
    EXPECT_EQ(too_long.code, 1);
    EXPECT_NE(too_long.err.find("the context is 4096"), std::string::npos) << too_long.err;
}

TEST(LlamaHabits, ChatTemplateFileAndJinja) {
    const std::string file = tmp() + "/content_only.jinja";
    std::ofstream(file) << "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    const std::string run = "run -m " + chat_model() + " -p hi -n 2 --temp 0 --verbose-prompt --no-perf";
    Result r = bitflash(run + " --chat-template-file " + file + " --jinja");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("prompt: 2 tokens: 104 105\n"), std::string::npos) << r.err;  // just "hi"
    r = bitflash(run);
    EXPECT_EQ(r.err.find("prompt: 2 tokens"), std::string::npos) << r.err;  // the model's own template
    r = bitflash(run + " --chat-template-file " + tmp() + "/missing.jinja");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("is not a readable file"), std::string::npos) << r.err;
    r = bitflash(run + " --chat-template-file " + file + " --chat-template chatml");
    EXPECT_EQ(r.code, 1);
}

TEST(LlamaHabits, ConversationFlags) {
    const std::string opts = " -n 4 --temp 0 --no-perf";
    // run -cnv: -p is the first turn, stdin the next ones, the state kept between them.
    Result r = bitflash("run -m " + chat_model() + " -p first -cnv" + opts, "second\n");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "chat: prefill"), 2) << r.err;
    const size_t second = r.err.find("chat: prefill", r.err.find("chat: prefill") + 1);
    ASSERT_NE(second, std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("(0 reused)", second), std::string::npos) << r.err;
    r = bitflash("run -m " + chat_model() + " -p first -i -st" + opts, "second\n");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "chat: prefill"), 1) << r.err;
    r = bitflash("chat -m " + chat_model() + " -st" + opts, "one\ntwo\n");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "chat: prefill"), 1) << r.err;
    EXPECT_EQ(bitflash("chat -m " + chat_model() + " -no-cnv" + opts).code, 1);
    EXPECT_EQ(bitflash("run -m " + chat_model() + " -p hi -cnv -no-cnv" + opts).code, 1);
    // Commands and //: answered by chat, or sent with one '/' less.
    r = bitflash("chat -m " + chat_model() + opts, "/help\n/nope\n//slash\n");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("/reset"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("unknown command '/nope'"), std::string::npos) << r.err;
    EXPECT_EQ(count(r.err, "chat: prefill"), 1) << r.err;
}

TEST(LlamaHabits, LogDisableAndMlock) {
    Result r = bitflash("run -m " + chat_model() + " -p hi -n 4 --temp 0 --log-disable --mlock");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find("prompt eval time"), std::string::npos) << r.err;
    // Nothing on stderr but, where `ulimit -l` forbids locking, the --mlock warning.
    EXPECT_TRUE(r.err.empty() || (r.err.rfind("warning: --mlock failed", 0) == 0 && count(r.err, "\n") == 1)) << r.err;
    r = bitflash("chat -m " + chat_model() + " -n 4 --temp 0 --log-disable", "hello\n");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
}

}  // namespace
