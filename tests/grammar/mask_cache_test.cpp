// The memoized and cached grammar masks against the plain trie walk (VocabTrie::allowed_reference) on random
// walks through JSON grammars over a synthetic vocabulary of many thousands of tokens.
#include <gtest/gtest.h>

#include <random>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/step_memo.h"
#include "grammar/vocab_trie.h"

namespace bf {
namespace {

// Every single byte, then random strings of JSON punctuation, letters, digits, escapes, spaces and UTF-8
// (whole characters and lone pieces of them, so tokens split characters as byte-level BPE does).
std::vector<std::string> synthetic_vocab(size_t n, uint32_t seed) {
    std::vector<std::string> v;
    for (int b = 0; b < 256; ++b) v.push_back(std::string(1, char(b)));
    const std::vector<std::string> parts = {
        "{",  "}",    "[",    "]",   ",", ":", "\"",       "\\",       "\\\"", "\\n", "\\u00e9", " ",       "\n", "  ",
        "a",  "e",    "n",    "ame", "x", "Z", "true",     "ul",       "null", "0",   "1",       "9",       ".",  "-",
        "e+", "\xc3", "\xa9", "é",   "€", "😀", "\xf0\x9f", "\x98\x80", "\t",   "/",   "_",       "\xe2\x82"};
    std::mt19937 rng(seed);
    while (v.size() < n) {
        std::string s;
        for (int k = int(rng() % 6) + 1; k > 0; --k) s += parts[rng() % parts.size()];
        v.push_back(s);
    }
    return v;
}

void follow_and_compare(const std::string& gbnf, const VocabTrie& trie, const std::vector<std::string>& pieces,
                        MaskCache& cache, uint32_t seed, int steps) {
    GrammarMatcher m(std::make_shared<const Grammar>(parse_gbnf(gbnf)));
    std::mt19937 rng(seed);
    std::vector<uint8_t> ref, once, cached;
    std::vector<int32_t> ids;
    for (int step = 0; step < steps; ++step) {
        const size_t n_ref = trie.allowed_reference(m, ref);
        ASSERT_EQ(trie.allowed(m, once), n_ref) << "step " << step;
        ASSERT_EQ(once, ref) << "step " << step;
        ASSERT_EQ(trie.allowed(m, cached, cache), n_ref) << "step " << step;
        ASSERT_EQ(cached, ref) << "step " << step;
        ASSERT_EQ(size_t(std::count(ref.begin(), ref.end(), 1)), n_ref);
        ids.clear();
        for (size_t i = 0; i < ref.size(); ++i)
            if (ref[i]) ids.push_back(int32_t(i));
        if (ids.empty()) return;  // complete (only the end of generation is left)
        const std::string& piece = pieces[size_t(ids[rng() % ids.size()])];
        ASSERT_TRUE(m.accept(piece)) << "the mask allowed a piece the matcher refuses";
    }
}

const std::string kSchema = R"({"type": "object", "properties": {
    "name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}},
    "n": {"type": "integer"}, "kind": {"enum": ["a\"b", "é€", 3]},
    "sub": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": ["string", "null"]}}}},
    "required": ["name", "n"]})";

TEST(MaskCache, EqualsThePlainWalkOnRandomWalks) {
    const auto pieces = synthetic_vocab(6000, 11);
    const VocabTrie trie(pieces, {5, 70});
    ASSERT_GT(trie.n_nodes(), 6000u);
    const std::string grammars[] = {
        json_object_gbnf(), json_schema_to_gbnf(nlohmann::json::parse(kSchema)),
        "root ::= (word | num | \" \")+\nword ::= [a-zA-Z\\u00e0-\\u00ff]+ \"!\"?\nnum ::= [0-9]{1,3} (\".\" [0-9]+)?"};
    uint32_t seed = 1;
    for (const std::string& g : grammars)
        for (int walk = 0; walk < 3; ++walk) {
            SCOPED_TRACE(g.substr(0, 40) + " walk " + std::to_string(walk));
            MaskCache roomy;  // the defaults the batcher uses
            follow_and_compare(g, trie, pieces, roomy, ++seed, 30);
            // A tiny memo and one mask: the walk falls back to plain steps when the table fills up, and the
            // cache restarts between tokens.
            MaskCache cramped(1, 3);
            follow_and_compare(g, trie, pieces, cramped, seed, 30);
        }
}

TEST(MaskCache, OneCacheServesOneGrammarAtATime) {
    // A cache handed another matcher's grammar starts over instead of returning the old grammar's masks.
    const auto pieces = synthetic_vocab(1000, 3);
    const VocabTrie trie(pieces, {});
    GrammarMatcher digits(std::make_shared<const Grammar>(parse_gbnf("root ::= [0-9]+")));
    GrammarMatcher letters(std::make_shared<const Grammar>(parse_gbnf("root ::= [a-z]+")));
    MaskCache cache;
    std::vector<uint8_t> a, b, ref;
    trie.allowed(digits, a, cache);
    trie.allowed(letters, b, cache);
    trie.allowed_reference(letters, ref);
    EXPECT_EQ(b, ref);
    EXPECT_NE(a, b);
}

TEST(StepMemo, InternsEqualStatesOnceAndRespectsItsBound) {
    GrammarMatcher m(std::make_shared<const Grammar>(parse_gbnf("root ::= \"\\\"\" [^\"]* \"\\\"\"")));
    StepMemo memo(3);
    GrammarState spill;
    const uint32_t start = memo.intern(m.state());
    const uint32_t body = memo.next(m, start, '"', spill);
    ASSERT_LT(body, 3u);
    EXPECT_EQ(memo.next(m, body, 'a', spill), body);  // a string body loops on itself
    EXPECT_EQ(memo.next(m, start, 'a', spill), StepMemo::kRefused);
    const uint32_t half = memo.next(m, body, 0xc3, spill);  // a half-read character is a state of its own
    EXPECT_NE(half, body);
    ASSERT_LT(half, 3u);
    EXPECT_EQ(memo.next(m, half, 0xa9, spill), body);
    EXPECT_EQ(memo.n_states(), 3u);
    EXPECT_EQ(memo.next(m, body, '"', spill), StepMemo::kFull);  // no room: the step is left in spill
    EXPECT_TRUE(m.can_end(spill));
}

}  // namespace
}  // namespace bf
