// The bitflash binary as a user runs it: exit codes, one-line errors, output files, run/chat/tokenize.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "../common/chat_model.h"
#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using bf::testing::bitflash;
using bf::testing::chat_model;
using bf::testing::fixture;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

int count_lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, NoArgumentsAndUnknownCommand) {
    EXPECT_EQ(bitflash("").code, 1);
    const Result r = bitflash("frobnicate");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
    EXPECT_EQ(bitflash("--help").code, 0);
}

TEST(Cli, ConvertErrorsAreOneLine) {
    Result r = bitflash("convert /nonexistent -o " + tmp() + "/x.gguf");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("bitflash convert: error: ", 0), 0u) << r.err;

    // A checkpoint whose safetensors is cut short.
    const std::string dir = tmp() + "/trunc";
    fs::create_directories(dir);
    fs::copy_file(fixture("tiny8") + "/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
    const std::string st = slurp(fixture("tiny8") + "/model.safetensors");
    std::ofstream(dir + "/model.safetensors", std::ios::binary) << st.substr(0, st.size() / 2);
    r = bitflash("convert " + dir + " -o " + tmp() + "/trunc.gguf -q");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(tmp() + "/trunc.gguf"));

    r = bitflash("convert " + fixture("tiny8") + " -o " + tmp() + "/x.gguf --outtype q4_1");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("unknown type name 'q4_1'"), std::string::npos) << r.err;
}

TEST(Cli, LogitsFileLayout) {
    const std::string gguf = tmp() + "/tiny8.gguf";
    ASSERT_EQ(bitflash("convert " + fixture("tiny8") + " -o " + gguf + " -q").code, 0);
    const std::string tokens = std::regex_replace(slurp(fixture("tiny8") + "/tokens.txt"), std::regex("\\s+$"), "");
    const std::string ids = std::regex_replace(tokens, std::regex(" "), ",");
    for (const char* batch : {"", " --batch 1", " --batch 5"}) {
        const Result r = bitflash("logits -m " + gguf + " --tokens " + ids + " -o " + tmp() + "/l.f32" + batch);
        ASSERT_EQ(r.code, 0) << r.err;
        const std::string got = slurp(tmp() + "/l.f32"), want = slurp(fixture("tiny8") + "/logits.f32");
        ASSERT_EQ(got.size(), want.size());
        const float* g = reinterpret_cast<const float*>(got.data());
        const float* w = reinterpret_cast<const float*>(want.data());
        for (size_t i = 0; i < want.size() / 4; ++i) EXPECT_NEAR(g[i], w[i], 1e-3) << "index " << i << batch;
    }
    const Result bad = bitflash("logits -m " + gguf + " --tokens 1,2,999 -o " + tmp() + "/l.f32");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("token id 999 is outside the vocabulary"), std::string::npos) << bad.err;
}

TEST(Cli, RunStreamsAndReportsTimings) {
    const Result r = bitflash("run -m " + chat_model() + " -p \"Solve x + 1 = 2\" -n 16 --temp 0 -ngl 99");
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_GT(r.out.size(), 1u);  // more than the closing newline
    EXPECT_NE(r.err.find("prompt eval time"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("eval time"), std::string::npos);
    // Greedy and seeded sampling are deterministic.
    EXPECT_EQ(bitflash("run -m " + chat_model() + " -p \"Solve x + 1 = 2\" -n 16 --temp 0").out, r.out);
    const std::string a = bitflash("run -m " + chat_model() + " -p hi -n 12 -s 7 --no-perf").out;
    ASSERT_GT(a.size(), 1u);  // more than the closing newline: never two empty replies compared
    EXPECT_EQ(bitflash("run -m " + chat_model() + " -p hi -n 12 -s 7 --no-perf").out, a);
}

TEST(Cli, RunRejectsBadInput) {
    Result r = bitflash("run -m " + chat_model() + " -p \"" + std::string(200, 'x') + "\" -c 64");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("raise -c"), std::string::npos) << r.err;

    std::ofstream(tmp() + "/bad.txt", std::ios::binary) << "caf\xC3(\xFF";
    r = bitflash("run -m " + chat_model() + " -f " + tmp() + "/bad.txt");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;

    r = bitflash("run -m " + chat_model() + " -p hi --chat-template nosuch");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;

    const std::string no_tok = tmp() + "/notok.gguf";
    ASSERT_EQ(bitflash("convert " + fixture("tiny8") + " -o " + no_tok + " -q").code, 0);
    r = bitflash("run -m " + no_tok + " -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("has no tokenizer"), std::string::npos) << r.err;

    r = bitflash("run -m " + tmp() + "/missing.gguf -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, QuantizedCacheFlags) {
    // A whole run with an int4 cache (this tiny model, head_dim 8, takes the scalar cache kernels).
    const Result r =
        bitflash("run -m " + chat_model() + " -p \"Solve x + 1 = 2\" -n 8 --temp 0 --no-perf -ctk q4_0 -ctv q4_0");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    Result bad = bitflash("run -m " + chat_model() + " -p hi -ctk q5_1 -ctv q5_1");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("unknown KV cache type 'q5_1'"), std::string::npos) << bad.err;
    bad = bitflash("bench -m " + chat_model() + " -p 0 -n 1 -r 1 -ctk q8_0 -ctv f32 --no-bandwidth");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("-ctk and -ctv must be the same type"), std::string::npos) << bad.err;
    EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
}

TEST(Cli, ChatKeepsStateAcrossTwoTurns) {
    const Result r = bitflash("chat -m " + chat_model() + " -n 6 --temp 0 --no-perf", "first question\nsecond one\n");
    ASSERT_EQ(r.code, 0) << r.err;
    std::smatch m;
    std::string err = r.err;
    std::vector<std::pair<int, int>> turns;  // (new, reused)
    while (std::regex_search(err, m, std::regex("prefill (\\d+) new tokens \\((\\d+) reused\\)"))) {
        turns.emplace_back(std::stoi(m[1]), std::stoi(m[2]));
        err = m.suffix();
    }
    ASSERT_EQ(turns.size(), 2u) << r.err;
    EXPECT_EQ(turns[0].second, 0);
    // Turn 2 reuses turn 1's prompt and reply and prefills only its own message.
    EXPECT_GE(turns[1].second, turns[0].first);
    EXPECT_LT(turns[1].first, int(std::string("<|user|>second one<|end|><|assistant|>").size()) + 8);
}

// Ctrl-C, history, /commands and Ctrl-D need a terminal: a Python pty session drives them.
TEST(Cli, ChatAndRunOnATerminal) {
    const std::string cmd = std::string("/usr/bin/python3 ") + BF_SOURCE_DIR + "/tests/cli/terminal_session.py " +
                            BF_BINARY + " " + chat_model();
    EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(Cli, TokenizeDetokenizeRoundTrip) {
    const std::string text = "Hello, wörld! 123 <|end|>";
    const Result ids = bitflash("tokenize -m " + chat_model() + " --special", text);
    ASSERT_EQ(ids.code, 0) << ids.err;
    EXPECT_NE(ids.out.find("258"), std::string::npos) << ids.out;  // <|end|> as one id
    const Result back = bitflash("detokenize -m " + chat_model(), ids.out);
    ASSERT_EQ(back.code, 0) << back.err;
    EXPECT_EQ(back.out, text + "\n");
}

}  // namespace

namespace {
// The prompt tokens `run` reports as prefilled ("prompt eval time = ... / N tokens").
int prefilled(const std::string& err) {
    std::smatch m;
    if (!std::regex_search(err, m, std::regex(R"(prompt eval time = +[0-9.]+ ms / +([0-9]+) tokens)"))) return -1;
    return std::stoi(m[1]);
}
}  // namespace

TEST(Cli, PromptCacheReusesTheSavedPromptState) {
    const std::string cache = tmp() + "/prompt.cache";
    fs::remove(cache);
    const std::string base = "run -m " + chat_model() + " --raw -n 6 -s 3 --temp 0.9 ";
    const std::string p1 = "-p \"The saved prompt\"", p2 = "-p \"The saved prompt, extended\"";
    const Result first = bitflash(base + p1 + " --prompt-cache " + cache);
    ASSERT_EQ(first.code, 0) << first.err;
    ASSERT_TRUE(fs::exists(cache));
    EXPECT_EQ(prefilled(first.err), 16);
    ASSERT_FALSE(first.out.empty());  // the comparisons below must compare generated text
    // The same prompt: all of it comes from the file (with its logits), and the output is the same.
    const Result again = bitflash(base + p1 + " --prompt-cache " + cache);
    EXPECT_EQ(prefilled(again.err), 0) << again.err;
    EXPECT_EQ(again.out, first.out);
    // A prompt extending it prefills only the rest, and generates what a run without the cache does.
    const Result plain = bitflash(base + p2);
    const Result ext = bitflash(base + p2 + " --prompt-cache " + cache);
    ASSERT_EQ(ext.code, 0) << ext.err;
    ASSERT_FALSE(plain.out.empty());
    EXPECT_EQ(prefilled(ext.err), 10) << ext.err;
    EXPECT_EQ(ext.out, plain.out);
    // A damaged cache is reported and skipped, never fatal.
    std::string bytes = slurp(cache);
    bytes[bytes.size() / 2] ^= 1;
    std::ofstream(cache, std::ios::binary) << bytes;
    const Result damaged = bitflash(base + p1 + " --prompt-cache " + cache);
    EXPECT_EQ(damaged.code, 0) << damaged.err;
    EXPECT_NE(damaged.err.find("not using the prompt cache"), std::string::npos) << damaged.err;
    EXPECT_EQ(damaged.out, first.out);
}
