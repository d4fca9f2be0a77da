// Unit tests of the byte-level BPE tokenizer on a tiny hand-made vocabulary, where every expected id
// sequence is worked out by hand in the comments.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace bf {
namespace {

// GPT-2 byte -> unicode mapping, written out here independently of src/tokenizer/unicode.cpp.
std::string byte_char(int b) {
    static int table[256];
    static bool init = false;
    if (!init) {
        int extra = 0;
        for (int i = 0; i < 256; ++i) {
            const bool keep = (i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || (i >= 0xae);
            table[i] = keep ? i : 256 + extra++;
        }
        init = true;
    }
    const int cp = table[b];
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

// ids 0..255 = bytes in byte order; then the merged tokens in merge order.
struct Tiny {
    TokenizerData d;
    int32_t add(const std::string& left, const std::string& right) {
        d.merges.push_back(left + " " + right);
        d.tokens.push_back(left + right);
        d.token_type.push_back(kTokenNormal);
        return static_cast<int32_t>(d.tokens.size() - 1);
    }
    int32_t add_special(const std::string& text, int32_t type) {
        d.tokens.push_back(text);
        d.token_type.push_back(type);
        return static_cast<int32_t>(d.tokens.size() - 1);
    }
    Tiny() {
        for (int b = 0; b < 256; ++b) {
            d.tokens.push_back(byte_char(b));
            d.token_type.push_back(kTokenNormal);
        }
        d.pre = "gpt2";
    }
};

TEST(Tokenizer, MergesInPriorityOrder) {
    Tiny t;
    const int32_t he = t.add("h", "e");               // 256
    const int32_t ll = t.add("l", "l");               // 257
    const int32_t hell = t.add("he", "ll");           // 258
    const int32_t hello = t.add("hell", "o");         // 259
    const int32_t sp_w = t.add(byte_char(' '), "w");  // 260 "Ġw"
    const Tokenizer tok = Tokenizer::from_data(t.d);
    EXPECT_EQ(tok.encode("hello", false), (std::vector<int32_t>{hello}));
    EXPECT_EQ(tok.encode("hel", false), (std::vector<int32_t>{he, 'l'}));
    EXPECT_EQ(tok.encode("hell", false), (std::vector<int32_t>{hell}));
    // gpt2 regex: "hello", " world" are two pre-tokens; " w" merges, the rest stays bytes.
    EXPECT_EQ(tok.encode("hello world", false), (std::vector<int32_t>{hello, sp_w, 'o', 'r', 'l', 'd'}));
    (void)ll;
}

TEST(Tokenizer, LowestRankWinsAndTiesGoLeft) {
    Tiny t;
    const int32_t bc = t.add("b", "c");  // rank 0
    const int32_t ab = t.add("a", "b");  // rank 1
    const int32_t aa = t.add("a", "a");  // rank 2
    const Tokenizer tok = Tokenizer::from_data(t.d);
    EXPECT_EQ(tok.encode("abc", false), (std::vector<int32_t>{'a', bc}));
    EXPECT_EQ(tok.encode("ab", false), (std::vector<int32_t>{ab}));
    EXPECT_EQ(tok.encode("aaa", false), (std::vector<int32_t>{aa, 'a'}));
}

TEST(Tokenizer, LongWordsUseTheSameOrder) {
    Tiny t;
    t.add("a", "a");
    const int32_t a4 = t.add("aa", "aa");
    const Tokenizer tok = Tokenizer::from_data(t.d);
    // All (a,a) merges happen first, left to right, then (aa,aa): n/4 tokens of "aaaa" and a tail.
    for (size_t n : {8u, 100u, 129u, 300u, 1002u}) {
        std::vector<int32_t> want(n / 4, a4);
        if (n % 4 >= 2) want.push_back(256);
        if (n % 2) want.push_back('a');
        EXPECT_EQ(tok.encode(std::string(n, 'a'), false), want) << n;
    }
}

TEST(Tokenizer, InvalidUtf8IsOneTokenPerByteAndRoundTrips) {
    Tiny t;
    t.add("a", "b");
    const Tokenizer tok = Tokenizer::from_data(t.d);
    EXPECT_EQ(tok.encode("ab\xff"
                         "ab",
                         false),
              (std::vector<int32_t>{256, 0xff, 256}));
    // A truncated 3-byte sequence: two single bytes.
    EXPECT_EQ(tok.encode("\xe2\x82", false), (std::vector<int32_t>{0xe2, 0x82}));
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string s(rng() % 40, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 3 : rng() % 256);
        const std::vector<int32_t> ids = tok.encode(s, true);
        ASSERT_EQ(tok.decode(ids), s);
    }
}

TEST(Tokenizer, AddedTokensLongestMatchAndStrip) {
    Tiny t;
    const int32_t x = t.add_special("<x>", kTokenControl);
    const int32_t xy = t.add_special("<x>y", kTokenControl);
    const int32_t r = t.add_special("<r>", kTokenUserDefined);
    const int32_t l = t.add_special("<l>", kTokenControl);
    t.d.rstrip_ids = {r};
    t.d.lstrip_ids = {l};
    const Tokenizer tok = Tokenizer::from_data(t.d);
    EXPECT_EQ(tok.encode("<x>y", true), (std::vector<int32_t>{xy}));
    EXPECT_EQ(tok.encode("<x>z", true), (std::vector<int32_t>{x, 'z'}));
    // rstrip eats " \n\t" and the no-break space U+00A0 after <r>; lstrip eats whitespace before <l>.
    EXPECT_EQ(tok.encode("a<r> \n\t\xc2\xa0"
                         "b",
                         true),
              (std::vector<int32_t>{'a', r, 'b'}));
    EXPECT_EQ(tok.encode("a  <l> b", true), (std::vector<int32_t>{'a', l, ' ', 'b'}));
    // Without parse_special the text is plain: "<x>" = '<' 'x' '>'.
    EXPECT_EQ(tok.encode("<x>", false), (std::vector<int32_t>{'<', 'x', '>'}));
    EXPECT_TRUE(tok.is_special(x));
    EXPECT_FALSE(tok.is_special(r));
    EXPECT_FALSE(tok.is_special('a'));
    EXPECT_EQ(tok.token_to_piece(xy), "<x>y");
    EXPECT_EQ(tok.token_id("<r>"), r);
    EXPECT_EQ(tok.token_id("a"), 'a');
    EXPECT_EQ(tok.token_id("zz"), std::nullopt);
    EXPECT_EQ(tok.n_vocab(), 260);
    EXPECT_EQ(tok.decode(std::vector<int32_t>{'a', x, 'b'}), "a<x>b");
    EXPECT_THROW(tok.decode(std::vector<int32_t>{260}), Error);
    EXPECT_THROW(tok.decode(std::vector<int32_t>{-1}), Error);
}

TEST(Tokenizer, DataRoundTrip) {
    Tiny t;
    t.add("a", "b");
    t.add_special("<s>", kTokenControl);
    t.d.rstrip_ids = {257};
    t.d.bos_id = 257;
    const Tokenizer a = Tokenizer::from_data(t.d);
    const Tokenizer b = Tokenizer::from_data(a.to_data());
    EXPECT_EQ(b.encode("ab<s>  ab", true), (std::vector<int32_t>{256, 257, 256}));
    EXPECT_EQ(b.bos_id(), 257);
    EXPECT_EQ(b.eos_id(), -1);
}

TEST(Tokenizer, RejectsBadData) {
    Tiny t;
    TokenizerData d = t.d;
    d.merges = {"a"};
    EXPECT_THROW(Tokenizer::from_data(d), Error);
    d = t.d;
    d.merges = {"a q"};  // result "aq" not in the vocabulary
    EXPECT_THROW(Tokenizer::from_data(d), Error);
    d = t.d;
    d.tokens.resize(200);  // lacks bytes
    d.token_type.resize(200);
    EXPECT_THROW(Tokenizer::from_data(d), Error);
    d = t.d;
    d.pre = "nonesuch";
    EXPECT_THROW(Tokenizer::from_data(d), Error);
    d.pre_regex = "([a-z";
    try {
        Tokenizer::from_data(d);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos) << e.what();
    }
    d = t.d;
    d.bos_id = 999;
    EXPECT_THROW(Tokenizer::from_data(d), Error);
    d = t.d;
    d.rstrip_ids = {5};  // not an added token
    EXPECT_THROW(Tokenizer::from_data(d), Error);
}

TEST(Tokenizer, CustomRegexKeepsGaps) {
    Tiny t;
    t.d.pre_regex = "[0-9]+";  // Split Isolated: unmatched text is a pre-token too
    t.add("1", "2");
    t.add("a", "1");
    const Tokenizer tok = Tokenizer::from_data(t.d);
    // "a12": pieces "a" and "12"; the (a,1) merge would apply only inside one piece.
    EXPECT_EQ(tok.encode("a12", false), (std::vector<int32_t>{'a', 256}));
}

std::string hf_json(const std::string& merges, const std::string& extra = "") {
    std::string vocab;
    for (int b = 0; b < 256; ++b) {
        std::string key = byte_char(b);
        if (key == "\"" || key == "\\") key = "\\" + key;
        vocab += "\"" + key + "\":" + std::to_string(b) + ",";
    }
    vocab += "\"ab\":256,\"abc\":257";
    return R"({"added_tokens":[{"id":300,"content":"<|end|>","single_word":false,"lstrip":false,"rstrip":true,)"
           R"("normalized":false,"special":true}],"normalizer":null,)"
           R"("pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},)"
           R"("decoder":{"type":"ByteLevel"},)" +
           extra + R"("model":{"type":"BPE","dropout":null,"vocab":{)" + vocab + "},\"merges\":" + merges + "}}";
}

TEST(Tokenizer, HfJsonBothMergeForms) {
    const Tokenizer a = Tokenizer::from_hf_json(hf_json(R"(["a b","ab c"])"));
    const Tokenizer b = Tokenizer::from_hf_json(hf_json(R"([["a","b"],["ab","c"]])"));
    for (const Tokenizer* t : {&a, &b}) {
        EXPECT_EQ(t->encode("abc<|end|> \nab", true), (std::vector<int32_t>{257, 300, 256}));
        EXPECT_EQ(t->n_vocab(), 301);  // ids 258..299 are holes
        EXPECT_EQ(t->token_to_piece(280), "");
        EXPECT_TRUE(t->is_special(300));
    }
    const TokenizerData d = a.to_data();
    EXPECT_EQ(d.token_type[280], kTokenUnused);
    EXPECT_EQ(d.token_type[300], kTokenControl);
    EXPECT_EQ(d.rstrip_ids, (std::vector<int32_t>{300}));
    EXPECT_EQ(d.pre, "gpt2");
}

TEST(Tokenizer, HfJsonRejectsUnsupported) {
    auto msg = [](const std::string& j) -> std::string {
        try {
            Tokenizer::from_hf_json(j);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(msg("{not json").find("JSON"), std::string::npos);
    std::string j = hf_json(R"(["a b"])");
    std::string wp = j;
    wp.replace(wp.find("\"BPE\""), 5, "\"WordPiece\"");
    EXPECT_NE(msg(wp).find("WordPiece"), std::string::npos);
    std::string norm = j;
    norm.replace(norm.find("\"normalizer\":null"), 17, R"("normalizer":{"type":"NFC"})");
    EXPECT_NE(msg(norm).find("NFC"), std::string::npos);
    std::string dec = j;
    dec.replace(dec.find(R"({"type":"ByteLevel"})"), 20, R"({"type":"Metaspace"})");
    EXPECT_NE(msg(dec).find("Metaspace"), std::string::npos);
    EXPECT_NE(msg(hf_json("[\"a b\", 5]")).find("merge 1"), std::string::npos);
    EXPECT_NE(msg(hf_json("[\"a z\"]")).find("merge 0"), std::string::npos);
    std::string big = j;
    big.replace(big.find("\"id\":300"), 8, "\"id\":99999999999");
    EXPECT_NE(msg(big).find("out of range"), std::string::npos);
    // An id within range but far past the entry count (the fuzzer's 2.4 GB allocation) is refused by name.
    std::string sparse = j;
    sparse.replace(sparse.find("\"id\":300"), 8, "\"id\":16000000");
    EXPECT_NE(msg(sparse).find("unused ids"), std::string::npos) << msg(sparse);
    std::string gap = j;  // a modest gap is fine
    gap.replace(gap.find("\"id\":300"), 8, "\"id\":3000");
    EXPECT_EQ(msg(gap), "");
}

TEST(StreamDecoder, HoldsPartialCharacters) {
    Tiny t;
    const Tokenizer tok = Tokenizer::from_data(t.d);
    StreamDecoder sd(tok);
    // U+1F600 = F0 9F 98 80, one byte token at a time.
    EXPECT_EQ(sd.push(0xF0), "");
    EXPECT_EQ(sd.push(0x9F), "");
    EXPECT_EQ(sd.push(0x98), "");
    EXPECT_EQ(sd.push(0x80), "\xF0\x9F\x98\x80");
    EXPECT_EQ(sd.push('a'), "a");
    // A byte that can never start a character passes through at once.
    EXPECT_EQ(sd.push(0xFF), "\xFF");
    // An impossible continuation: E0 then 80 (overlong) -> both bytes released.
    EXPECT_EQ(sd.push(0xE0), "");
    EXPECT_EQ(sd.push(0x80), "\xE0\x80");
    EXPECT_EQ(sd.push(0xE2), "");
    EXPECT_EQ(sd.flush(), "\xE2");
    EXPECT_EQ(sd.flush(), "");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
    Tiny t;
    const Tokenizer tok = Tokenizer::from_data(t.d);
    std::mt19937 rng(11);
    for (int i = 0; i < 500; ++i) {
        std::vector<int32_t> ids(rng() % 30);
        for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 256);
        StreamDecoder sd(tok);
        std::string got;
        for (int32_t id : ids) got += sd.push(id);
        got += sd.flush();
        ASSERT_EQ(got, tok.decode(ids));
    }
}

}  // namespace
}  // namespace bf
