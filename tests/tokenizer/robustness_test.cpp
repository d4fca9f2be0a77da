// Robustness: pathological pre-tokenizer inputs (long runs through the o200k regex), concurrent
// encode, and mutation fuzzing of the HF JSON reader and the chat template parser (bf::Error or
// success, never a crash; run under BF_SANITIZE=ON to catch memory errors).
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace bf {
namespace {

// Bytes-only vocabulary plus a few merges, with the o200k regex.
Tokenizer byte_tokenizer(const std::string& pre) {
    TokenizerData d;
    for (int b = 0; b < 256; ++b) {
        d.tokens.push_back(unicode::byte_level_encode(std::string(1, static_cast<char>(b))));
        d.token_type.push_back(kTokenNormal);
    }
    d.tokens.push_back(unicode::byte_level_encode("  "));
    d.token_type.push_back(kTokenNormal);
    d.merges.push_back(unicode::byte_level_encode(" ") + " " + unicode::byte_level_encode(" "));
    d.pre = pre;
    return Tokenizer::from_data(d);
}

TEST(TokenizerRobustness, LongRunsThroughTheO200kRegex) {
    const Tokenizer tok = byte_tokenizer("gpt-4o");
    const size_t n = 1 << 20;
    for (const std::string& unit : {std::string(" "), std::string("a"), std::string("A"), std::string("7"),
                                    std::string("!"), std::string("\n"), std::string(" \n"), std::string("\xc3\xa9"),
                                    std::string("\xe2\x80\x83"), std::string("'s"), std::string("\xf0\x9f\x99\x82")}) {
        std::string s;
        while (s.size() < n) s += unit;
        // No time bound (speed is never asserted): quadratic backtracking on 1 MB would hang, which the
        // ctest timeout catches.
        const std::vector<int32_t> ids = tok.encode(s, false);
        EXPECT_TRUE(tok.decode(ids) == s) << "unit " << unit;
    }
    // n spaces then "x": \s+(?!\S) takes n-1 spaces (paired by the merge: (n-2)/2 + 1 tokens) and
    // " x" is one pre-token of two byte tokens.
    EXPECT_EQ(tok.encode(std::string(n, ' ') + "x", false).size(), (n - 2) / 2 + 1 + 2);
}

TEST(TokenizerRobustness, ConcurrentEncodeAgrees) {
    const Tokenizer tok = byte_tokenizer("gpt-4o");
    std::mt19937 rng(3);
    std::vector<std::string> texts(64);
    for (std::string& t : texts) {
        t.resize(rng() % 2000);
        for (char& c : t) c = static_cast<char>(rng() % 3 ? ' ' + rng() % 90 : rng() % 256);
    }
    std::vector<std::vector<int32_t>> want;
    for (const std::string& t : texts) want.push_back(tok.encode(t, true));
    std::vector<int> bad(4, 0);
    std::vector<std::thread> th;
    for (int k = 0; k < 4; ++k)
        th.emplace_back([&, k] {
            for (int rep = 0; rep < 5; ++rep)
                for (size_t i = 0; i < texts.size(); ++i) bad[k] += tok.encode(texts[i], true) != want[i];
        });
    for (auto& t : th) t.join();
    for (int b : bad) EXPECT_EQ(b, 0);
}

std::string mutate(std::string s, std::mt19937& rng) {
    const int edits = 1 + rng() % 4;
    static const char kAlphabet[] = "{}[]%#-'\"|.,:()=! abc01\\\n";
    for (int e = 0; e < edits && !s.empty(); ++e) {
        const size_t at = rng() % s.size();
        switch (rng() % 3) {
            case 0: s.erase(at, 1 + rng() % 8); break;
            case 1: s.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]); break;
            default: s[at] = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
        }
    }
    return s;
}

TEST(TokenizerRobustness, ChatTemplateMutations) {
    std::mt19937 rng(17);
    const std::vector<ChatMessage> msgs = {{"system", "S", "[]"}, {"user", "Hi", {}}, {"assistant", "A", {}}};
    int ok = 0, errors = 0;
    for (const char* name : {"phi4-mini", "chatml"}) {
        const std::string base = builtin_template(name);
        for (int i = 0; i < 3000; ++i) {
            try {
                render_chat(mutate(base, rng), msgs, i % 2, "<s>", "</s>");
                ++ok;
            } catch (const Error&) {
                ++errors;
            }
        }
    }
    EXPECT_GT(ok, 0);
    EXPECT_GT(errors, 0);
}

TEST(TokenizerRobustness, HfJsonMutations) {
    std::string vocab;
    for (int b = 0; b < 256; ++b) {
        std::string key = unicode::byte_level_encode(std::string(1, static_cast<char>(b)));
        if (key == "\"" || key == "\\") key = "\\" + key;
        vocab += "\"" + key + "\":" + std::to_string(b) + ",";
    }
    const std::string base =
        R"({"added_tokens":[{"id":258,"content":"<|e|>","rstrip":true,"special":true}],"normalizer":null,)"
        R"("pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{L}+|\\s+"},)"
        R"("behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},)"
        R"("decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{)" +
        vocab + R"("ab":256,"abc":257},"merges":["a b",["ab","c"]]}})";
    const Tokenizer good = Tokenizer::from_hf_json(base);
    EXPECT_EQ(good.encode("abc <|e|>  ab", true), (std::vector<int32_t>{257, ' ', 258, 256}));
    // Removed + invert is accepted only for regexes that match every character.
    auto replaced = [](std::string s, const std::string& from, const std::string& to) {
        const size_t at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return at == std::string::npos ? s : s.replace(at, from.size(), to);
    };
    const std::string removed = replaced(base, R"("Isolated","invert":false)", R"("Removed","invert":true)");
    EXPECT_THROW(Tokenizer::from_hf_json(removed), Error);
    const std::string gpt2 =
        replaced(removed, R"(\\p{L}+|\\s+)",
                 R"('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+)");
    EXPECT_EQ(Tokenizer::from_hf_json(gpt2).encode("abc <|e|>  ab", true), (std::vector<int32_t>{257, ' ', 258, 256}));
    std::mt19937 rng(23);
    int ok = 0, errors = 0;
    for (int i = 0; i < 400; ++i) {
        try {
            const Tokenizer t = Tokenizer::from_hf_json(mutate(base, rng));
            const std::string s = "abc <|e|> x\xff";
            EXPECT_TRUE(t.decode(t.encode(s, false)) == s);
            ++ok;
        } catch (const Error&) {
            ++errors;
        }
    }
    EXPECT_GT(ok, 0);
    EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace bf
