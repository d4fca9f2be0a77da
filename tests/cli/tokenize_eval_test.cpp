// tokenize's llama-tokenize habits (-p, -f, --show-text, specials parsed as /tokenize does) and eval's
// flags (greedy only, -n = tokens per problem, -l = problems).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../common/chat_model.h"
#include "../common/cli_run.h"

namespace {

using bf::testing::bitflash;
using bf::testing::chat_model;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

// The byte tokenizer of chat_model(): byte b is token b, <|end|> is 258 (tests/common/byte_tokenizer.h).
std::string ids(std::initializer_list<int> v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
    return s + "\n";
}

TEST(Tokenize, PromptFileAndStdinAgreeAndSpecialsAreParsed) {
    const std::string want = ids({'h', 'i', 258});
    Result r = bitflash("tokenize -m " + chat_model() + " -p 'hi<|end|>'");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, want);
    EXPECT_EQ(bitflash("tokenize -m " + chat_model(), "hi<|end|>").out, want);
    std::ofstream(tmp() + "/text.txt") << "hi<|end|>";
    EXPECT_EQ(bitflash("tokenize -m " + chat_model() + " -f " + tmp() + "/text.txt").out, want);
    EXPECT_EQ(bitflash("tokenize -m " + chat_model() + " --special -p 'hi<|end|>'").out, want);
    r = bitflash("tokenize -m " + chat_model() + " --no-parse-special -p 'hi<|end|>'");
    EXPECT_EQ(r.out, ids({'h', 'i', '<', '|', 'e', 'n', 'd', '|', '>'}));
    EXPECT_EQ(bitflash("tokenize -m " + chat_model() + " -p '' ").out, "\n");  // empty -p is empty text
    EXPECT_EQ(bitflash("tokenize -m " + chat_model() + " -p a -f " + tmp() + "/text.txt").code, 1);
}

TEST(Tokenize, ShowTextIsOneTokenPerLine) {
    const Result r = bitflash("tokenize -m " + chat_model() + " --show-text -p 'h\xC3\xA9<|end|>'");
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    std::vector<std::string> got;
    for (std::string l; std::getline(lines, l);) got.push_back(l);
    ASSERT_EQ(got.size(), 4u) << r.out;
    EXPECT_EQ(got[0], "   104 -> 'h'");
    EXPECT_EQ(got[1], "   195 -> '\\xc3'");  // half a character: shown as its byte
    EXPECT_EQ(got[3], "   258 -> '<|end|>'");
}

TEST(Tokenize, DetokenizeEndsWithANewline) {
    const Result r = bitflash("detokenize -m " + chat_model(), "104 105 258");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "hi<|end|>\n");
    EXPECT_EQ(bitflash("detokenize -m " + chat_model(), "[104, 105]").out, "hi\n");  // llama-tokenize --ids
    const Result bad = bitflash("detokenize -m " + chat_model(), "104 99999");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("'99999'"), std::string::npos) << bad.err;
}

TEST(Eval, GreedyOnlyAndNIsTokensPerProblem) {
    const std::string data = tmp() + "/problems.jsonl";
    {
        std::ofstream f(data);
        for (int i = 0; i < 3; ++i)
            f << nlohmann::json{{"problem", "1 + " + std::to_string(i)}, {"answer", 1 + i}}.dump() << "\n";
    }
    const std::string out = tmp() + "/results.jsonl";
    const Result r = bitflash("eval -m " + chat_model() + " --data " + data + " -l 2 -n 5 -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("/2 = "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("greedy, -n 5"), std::string::npos) << r.out;
    std::istringstream rows(slurp(out));
    int n = 0;
    for (std::string l; std::getline(rows, l); ++n) EXPECT_LE(nlohmann::json::parse(l)["tokens"].get<int>(), 5) << l;
    EXPECT_EQ(n, 2);
    for (const char* flag : {"--temp 0.7", "--top-k 5", "-s 3", "--min-p 0.1"}) {
        const Result bad = bitflash("eval -m " + chat_model() + " --data " + data + " " + flag);
        EXPECT_EQ(bad.code, 1) << flag;
        EXPECT_NE(bad.err.find("eval decodes greedily"), std::string::npos) << bad.err;
    }
    const std::string help = bitflash("eval --help").out;
    // As run's help spells them (run --help lists each; eval --help none).
    const std::string run_help = bitflash("run --help").out;
    for (const char* absent : {"--temp T", "--top-p P", "--seed SEED", "--raw ", "--reasoning MODE", "--color "}) {
        EXPECT_NE(run_help.find(absent), std::string::npos) << absent;
        EXPECT_EQ(help.find(absent), std::string::npos) << absent << " listed in\n" << help;
    }
    EXPECT_NE(help.find("-n, --n-predict"), std::string::npos) << help;
}

}  // namespace
