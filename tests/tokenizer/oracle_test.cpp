// Exactness against OpenAI's o200k_base as run by the npm package `tiktoken`: run
// tests/tokenizer/oracle/run.sh OUTDIR, then set BF_TOKENIZER_ORACLE_DIR=OUTDIR.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace bf {
namespace {

std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Doc {
    std::string_view text;
    std::vector<int32_t> plain;
    bool has_all = false;
    std::vector<int32_t> all;
};

struct Oracle {
    std::string dir, corpus;
    std::vector<Doc> docs;
    nlohmann::json extras;
    std::unique_ptr<Tokenizer> tok;
};

// Loaded once for all tests of this file; nullptr (with a reason) when the data is absent.
Oracle* oracle(std::string* why) {
    static std::unique_ptr<Oracle> o;
    static std::string reason;
    static bool tried = false;
    if (!tried) {
        tried = true;
        const char* dir = std::getenv("BF_TOKENIZER_ORACLE_DIR");
        if (!dir || !*dir) {
            reason = "BF_TOKENIZER_ORACLE_DIR is not set; run tests/tokenizer/oracle/run.sh OUTDIR first";
        } else {
            auto p = std::make_unique<Oracle>();
            p->dir = dir;
            const std::string json = read_all(p->dir + "/tokenizer.json");
            p->corpus = read_all(p->dir + "/corpus.bin");
            const std::string ids = read_all(p->dir + "/ids.bin");
            const std::string extras = read_all(p->dir + "/extras.json");
            if (json.empty() || p->corpus.empty() || ids.empty() || extras.empty()) {
                reason = "BF_TOKENIZER_ORACLE_DIR=" + p->dir + " lacks tokenizer.json/corpus.bin/ids.bin/extras.json";
            } else {
                p->tok = std::make_unique<Tokenizer>(Tokenizer::from_hf_json(json));
                p->extras = nlohmann::json::parse(extras);
                size_t at = 0, text_at = 0;
                auto u32 = [&]() {
                    uint32_t v;
                    if (at + 4 > ids.size()) throw std::runtime_error("ids.bin truncated");
                    std::memcpy(&v, ids.data() + at, 4);
                    at += 4;
                    return v;
                };
                auto vec = [&](uint32_t n) {
                    std::vector<int32_t> v(n);
                    if (at + 4ull * n > ids.size()) throw std::runtime_error("ids.bin truncated");
                    std::memcpy(v.data(), ids.data() + at, 4ull * n);
                    at += 4ull * n;
                    return v;
                };
                const uint32_t n_docs = u32();
                for (uint32_t i = 0; i < n_docs; ++i) {
                    Doc d;
                    const uint32_t len = u32();
                    d.text = std::string_view(p->corpus).substr(text_at, len);
                    text_at += len;
                    d.plain = vec(u32());
                    const uint32_t n_all = u32();
                    d.has_all = n_all != 0xffffffffu;
                    if (d.has_all) d.all = vec(n_all);
                    p->docs.push_back(std::move(d));
                }
                o = std::move(p);
            }
        }
    }
    if (why) *why = reason;
    return o.get();
}

#define NEED_ORACLE(o)                                                                    \
    std::string why_;                                                                     \
    Oracle* o = oracle(&why_);                                                            \
    if (!o) {                                                                             \
        std::fprintf(stderr, "\n*** TOKENIZER ORACLE SKIPPED: %s ***\n\n", why_.c_str()); \
        GTEST_SKIP() << why_;                                                             \
    }

std::string show(const std::vector<int32_t>& v, size_t from, size_t n) {
    std::string s;
    for (size_t i = from; i < v.size() && i < from + n; ++i) s += std::to_string(v[i]) + " ";
    return s;
}

void compare(const char* what, size_t doc, std::string_view text, const std::vector<int32_t>& want,
             const std::vector<int32_t>& got, size_t* mismatches, int* shown) {
    if (want == got) return;
    ++*mismatches;
    if ((*shown)++ >= 5) return;
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    ADD_FAILURE() << what << ": doc " << doc << " (" << text.size() << " bytes) differs at id " << i
                  << "\n  tiktoken: " << show(want, i, 8) << "\n  bitflash: " << show(got, i, 8)
                  << "\n  text: " << text.substr(0, 120);
}

TEST(TokenizerOracle, CorpusIdsMatchTiktoken) {
    NEED_ORACLE(o);
    size_t bytes = 0, ids = 0, bad_plain = 0, bad_all = 0, n_all = 0;
    int shown = 0;
    for (size_t i = 0; i < o->docs.size(); ++i) {
        const Doc& d = o->docs[i];
        bytes += d.text.size();
        ids += d.plain.size();
        compare("plain", i, d.text, d.plain, o->tok->encode(d.text, false), &bad_plain, &shown);
        if (d.has_all) {
            ++n_all;
            compare("with specials", i, d.text, d.all, o->tok->encode(d.text, true), &bad_all, &shown);
        }
    }
    std::printf("oracle: %zu docs, %zu bytes, %zu ids; mismatching docs: plain %zu, with specials %zu of %zu\n",
                o->docs.size(), bytes, ids, bad_plain, bad_all, n_all);
    EXPECT_GE(bytes, 1000000u);
    EXPECT_EQ(bad_plain, 0u);
    EXPECT_EQ(bad_all, 0u);
}

TEST(TokenizerOracle, DecodeRoundTripsCorpus) {
    NEED_ORACLE(o);
    for (size_t i = 0; i < o->docs.size(); ++i) {
        const Doc& d = o->docs[i];
        // (Not with parse_special: rstrip tokens drop whitespace by design.)
        ASSERT_TRUE(o->tok->decode(o->tok->encode(d.text, false)) == d.text) << "doc " << i;
        ASSERT_TRUE(o->tok->decode(d.plain) == d.text) << "doc " << i;
    }
    // The whole corpus in one piece, with invalid bytes spliced in.
    std::string s = o->corpus;
    for (size_t k = 7; k < s.size(); k += 9973) s[k] = static_cast<char>(0x80 + k % 128);
    EXPECT_TRUE(o->tok->decode(o->tok->encode(s, false)) == s);
}

TEST(TokenizerOracle, KnownRenderings) {
    NEED_ORACLE(o);
    const Tokenizer& t = *o->tok;
    using V = std::vector<int32_t>;
    EXPECT_EQ(t.encode("Hello world", false), (V{13225, 2375}));
    EXPECT_EQ(t.encode("12345678", false), (V{7633, 19354, 4388}));
    EXPECT_EQ(t.encode("<|endoftext|>", true), (V{199999}));
    EXPECT_EQ(t.encode("<|endoftext|>", false), (V{27, 91, 419, 1440, 919, 91, 29}));
    EXPECT_EQ(t.encode("<|im_start|>", true), (V{27, 91, 321, 10949, 91, 29}));
    EXPECT_EQ(t.n_vocab(), 200029);
    EXPECT_EQ(t.token_id("<|user|>"), 200021);
    EXPECT_EQ(t.token_to_piece(0), "!");
    EXPECT_TRUE(t.is_special(200020));
    EXPECT_FALSE(t.is_special(200023));  // <|tool|> is special=false
    EXPECT_EQ(t.to_data().merges.size(), 199742u);
    EXPECT_EQ(t.to_data().pre, "gpt-4o");
}

TEST(TokenizerOracle, PhiAddedTokensWithRstrip) {
    NEED_ORACLE(o);
    const Tokenizer& t = *o->tok;
    auto tk = [&](const char* s) { return o->extras.at(s).get<std::vector<int32_t>>(); };
    auto cat = [](std::initializer_list<std::vector<int32_t>> parts) {
        std::vector<int32_t> v;
        for (const auto& p : parts) v.insert(v.end(), p.begin(), p.end());
        return v;
    };
    using V = std::vector<int32_t>;
    EXPECT_EQ(t.encode("<|user|>Hi<|end|><|assistant|>", true), cat({V{200021}, tk("Hi"), V{200020, 200019}}));
    // rstrip: whitespace after <|user|>, <|end|> is absorbed; none is absorbed before a token.
    EXPECT_EQ(t.encode("<|user|>  \n Hi <|end|>\n<|assistant|>", true),
              cat({V{200021}, tk("Hi"), tk(" "), V{200020, 200019}}));
    // <|endoftext|> has no rstrip: the newline after it stays.
    EXPECT_EQ(t.encode("<|endoftext|>\nx", true), cat({V{199999}, tk("\n"), tk("x")}));
    EXPECT_EQ(t.encode("<|system|>How are you?<|tool|>x<|/tool|><|end|>", true),
              cat({V{200022}, tk("How are you?"), V{200023}, tk("x"), V{200024, 200020}}));
    EXPECT_EQ(t.encode("Hello<|tag|> world", true), cat({tk("Hello"), V{200028}, tk("world")}));
}

TEST(TokenizerOracle, EncodeSpeed) {
    NEED_ORACLE(o);
    // Fresh tokenizer so the pre-token cache starts empty; single thread.
    const Tokenizer t = Tokenizer::from_data(o->tok->to_data());
    for (int pass = 0; pass < 2; ++pass) {
        size_t ids = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (const Doc& d : o->docs) ids += t.encode(d.text, false).size();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("bitflash encode, %s cache: %.2f MB in %.3f s = %.2f MB/s (%zu ids)\n", pass ? "warm" : "cold",
                    o->corpus.size() / 1e6, s, o->corpus.size() / 1e6 / s, ids);
    }
    std::printf("%s", read_all(o->dir + "/tiktoken_speed.txt").c_str());
}

}  // namespace
}  // namespace bf
