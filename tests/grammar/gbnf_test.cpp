// GBNF parser (syntax, errors, limits), matcher on hand-checked strings, and the trie mask against a
// token-by-token reference.
#include <gtest/gtest.h>

#include <random>

#include "../common/error_of.h"
#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/vocab_trie.h"

namespace bf {
namespace {

std::shared_ptr<const Grammar> gram(const std::string& text) { return std::make_shared<Grammar>(parse_gbnf(text)); }

// Whole-string match: accepted byte by byte and the grammar may end there.
bool full_match(const std::shared_ptr<const Grammar>& g, const std::string& s) {
    GrammarMatcher m(g);
    return m.accept(s) && m.can_end();
}

std::string parse_error(const std::string& text) {
    return testing::error_of([&] { parse_gbnf(text); });
}

TEST(Gbnf, LiteralsAlternativesAndSequences) {
    auto g = gram("root ::= \"ab\" | \"c\" d  # comment\nd ::= \"x\" \"y\"\n");
    EXPECT_TRUE(full_match(g, "ab"));
    EXPECT_TRUE(full_match(g, "cxy"));
    EXPECT_FALSE(full_match(g, "a"));
    EXPECT_FALSE(full_match(g, "abx"));
    EXPECT_FALSE(full_match(g, "cx"));
    GrammarMatcher m(g);
    EXPECT_TRUE(m.accept("c"));
    EXPECT_FALSE(m.can_end());
    EXPECT_FALSE(m.accept("y"));  // refused: state unchanged
    EXPECT_TRUE(m.accept("xy"));
    EXPECT_TRUE(m.can_end());
}

TEST(Gbnf, CharClassesNegationRangesAndAny) {
    auto g = gram("root ::= [a-cx] [^0-9\\n] .");
    EXPECT_TRUE(full_match(g, "bz!"));
    EXPECT_TRUE(full_match(g, "x\xc3\xa9\xe2\x82\xac"));  // é then €: classes work on code points
    EXPECT_FALSE(full_match(g, "d!!"));
    EXPECT_FALSE(full_match(g, "a5!"));
    EXPECT_FALSE(full_match(g, "a\n!"));
    EXPECT_FALSE(full_match(g, "ab"));
}

TEST(Gbnf, Escapes) {
    auto g = gram("root ::= \"\\x41\\u00e9\\t\\\"\\\\\" [\\]\\-]");
    EXPECT_TRUE(full_match(g, "A\xc3\xa9\t\"\\]"));
    EXPECT_TRUE(full_match(g, "A\xc3\xa9\t\"\\-"));
    EXPECT_FALSE(full_match(g, "A\xc3\xa9\t\"\\x"));
}

TEST(Gbnf, Repetitions) {
    auto g = gram("root ::= \"a\"* \"b\"+ \"c\"? d{2} e{1,3} f{2,}\nd ::= \"d\"\ne ::= \"e\"\nf ::= \"f\"");
    EXPECT_TRUE(full_match(g, "bddeff"));
    EXPECT_TRUE(full_match(g, "aaabbbcddeeefffff"));
    EXPECT_FALSE(full_match(g, "ddeff"));      // b+ needs one
    EXPECT_FALSE(full_match(g, "bdeff"));      // d{2}
    EXPECT_FALSE(full_match(g, "bddeeeeff"));  // e{1,3}
    EXPECT_FALSE(full_match(g, "bddef"));      // f{2,}
    auto lit = gram("root ::= \"ab\"{2} (\"x\" | \"yz\"){0,2}");
    EXPECT_TRUE(full_match(lit, "abab"));
    EXPECT_TRUE(full_match(lit, "ababyzx"));
    EXPECT_FALSE(full_match(lit, "aba"));
    EXPECT_FALSE(full_match(lit, "ababxxx"));
    auto upto = gram("root ::= [0-9]{,2}");
    EXPECT_TRUE(full_match(upto, ""));
    EXPECT_TRUE(full_match(upto, "42"));
    EXPECT_FALSE(full_match(upto, "421"));
}

TEST(Gbnf, GroupsSpanLinesAndRecursion) {
    auto g = gram("root ::= list\nlist ::= \"[\" (\n  item (\",\" item)*\n)? \"]\"\nitem ::= [0-9] | list\n");
    EXPECT_TRUE(full_match(g, "[]"));
    EXPECT_TRUE(full_match(g, "[1,[2,[]],3]"));
    EXPECT_FALSE(full_match(g, "[1,]"));
    EXPECT_FALSE(full_match(g, "[[1]"));
}

TEST(Gbnf, ClearErrors) {
    EXPECT_NE(parse_error("rot ::= \"a\"").find("no 'root' rule"), std::string::npos);
    EXPECT_NE(parse_error("root ::= foo").find("undefined rule 'foo' at line 1, column 10"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"abc").find("unterminated string"), std::string::npos);
    EXPECT_NE(parse_error("root ::= [abc").find("unterminated character class"), std::string::npos);
    EXPECT_NE(parse_error("root ::= [z-a]").find("end before its start"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
    EXPECT_NE(parse_error("root ::= (\"a\"").find("expected ')'"), std::string::npos);
    EXPECT_NE(parse_error("root \"a\"").find("expected '::='"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\"{3,1}").find("n < m"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"a\"{5000}").find("repetition count above"), std::string::npos);
    EXPECT_NE(parse_error("root ::= * \"a\"").find("expected the end of the line"), std::string::npos);
    EXPECT_NE(parse_error("root ::= root \"a\"").find("left-recursive"), std::string::npos);
    EXPECT_NE(parse_error("root ::= x\nx ::= \"a\"? root").find("left-recursive"), std::string::npos);
    EXPECT_NE(parse_error("root ::= \"\xff\"").find("invalid UTF-8"), std::string::npos);
}

TEST(Gbnf, Limits) {
    std::string deep =
        "root ::= " + std::string(kMaxGrammarNesting + 1, '(') + "\"a\"" + std::string(kMaxGrammarNesting + 1, ')');
    EXPECT_NE(parse_error(deep).find("nested deeper"), std::string::npos);
    std::string wide = "root ::=";
    for (int i = 0; i < 201; ++i) wide += " [a]{1000}";
    EXPECT_NE(parse_error(wide).find("elements after expanding"), std::string::npos);
    // Nested groups repeat by reference, not by copy: the grammar stays small, but it is so ambiguous that
    // the matcher's stack limit stops it with a clear error instead of exhausting memory.
    auto ambiguous = gram("root ::= ((\"a\"{0,1000}){0,1000}){0,1000}");
    try {
        full_match(ambiguous, "aaa");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("too ambiguous"), std::string::npos);
    }
    EXPECT_NE(parse_error("root ::= \"" + std::string(kMaxGrammarBytes, 'a') + "\"").find("longer than"),
              std::string::npos);
    // A long chain of rules is fine (the checks are iterative).
    std::string chain = "root ::= r0\n";
    for (int i = 0; i < 5000; ++i) chain += strfmt("r%d ::= r%d\n", i, i + 1);
    chain += "r5000 ::= \"z\"\n";
    EXPECT_TRUE(full_match(gram(chain), "z"));
}

TEST(Gbnf, HelperRuleNamesStepAroundTheGrammarsOwn) {
    // The repetition's helper rule used to be called root_2, which the grammar already uses: the parser
    // looped for ever (found by the grammar fuzz target).
    auto g = gram("root ::= root_2 \"b\"*\nroot_2 ::= \"a\"");
    EXPECT_TRUE(full_match(g, "a"));
    EXPECT_TRUE(full_match(g, "abbb"));
    EXPECT_FALSE(full_match(g, "b"));
    // Nor may a helper take a name the grammar defines after it.
    auto later = gram("root ::= \"b\"* root_1 root_2\nroot_1 ::= \"a\"\nroot_2 ::= \"c\"+");
    EXPECT_TRUE(full_match(later, "bbacc"));
    EXPECT_FALSE(full_match(later, "bb"));
}

TEST(Gbnf, PartialUtf8IsPrunedByTheClass) {
    auto g = gram("root ::= [a-z\\u00e0-\\u00ff]");
    GrammarMatcher m(g);
    GrammarState out;
    EXPECT_TRUE(m.step(m.state(), 0xc3, out));   // U+00C0..U+00FF: may become à..ÿ
    EXPECT_FALSE(m.step(m.state(), 0xe2, out));  // U+2000..: no class member
    EXPECT_FALSE(m.step(m.state(), 0x80, out));  // continuation without a lead
    EXPECT_FALSE(m.step(m.state(), 0xc0, out));  // overlong lead
}

TEST(Gbnf, PartialUtf8NeverHeadsForASurrogate) {
    // A negated class spans U+D800..U+DFFF numerically; ED A0 could only become a surrogate, so it must be
    // refused at once (it used to be kept, then no byte could follow: "the grammar allows no token").
    auto g = gram("root ::= [^\"]*");
    GrammarMatcher m(g);
    GrammarState ed, out;
    ASSERT_TRUE(m.step(m.state(), 0xed, ed));  // U+D000..U+D7FF are still possible
    EXPECT_TRUE(m.step(ed, 0x9f, out));        // U+D7C0..U+D7FF
    EXPECT_FALSE(m.step(ed, 0xa0, out));       // U+D800..: surrogates only
    EXPECT_FALSE(m.step(ed, 0xbf, out));
}

// Reference: each token checked on its own from the matcher state.
std::vector<uint8_t> reference_mask(const GrammarMatcher& m, const std::vector<std::string>& pieces,
                                    const std::vector<int32_t>& excluded) {
    std::vector<uint8_t> mask(pieces.size(), 0);
    for (size_t i = 0; i < pieces.size(); ++i) {
        if (pieces[i].empty() || std::find(excluded.begin(), excluded.end(), int32_t(i)) != excluded.end()) continue;
        GrammarMatcher copy = m;
        mask[i] = copy.accept(pieces[i]) ? 1 : 0;
    }
    return mask;
}

TEST(VocabTrie, MaskEqualsTokenByTokenCheck) {
    // Awkward vocabulary: shared prefixes, duplicates, empty pieces, UTF-8 split across tokens, raw bytes.
    std::vector<std::string> pieces = {"",     "a",  "ab",   "abc", "b",    "\"",   "\",",      "{\"",
                                       "1",    "12", "123x", " ",   "\xc3", "\xa9", "\xc3\xa9", "\xe2\x82",
                                       "\xac", "ab", "}",    "\n",  "\xff", "x"};
    std::mt19937 rng(7);
    const std::string alphabet = "ab{}\",:1x \xc3\xa9";
    for (int i = 0; i < 300; ++i) {
        std::string s;
        for (int k = int(rng() % 5) + 1; k > 0; --k) s += alphabet[rng() % alphabet.size()];
        pieces.push_back(s);
    }
    const std::vector<int32_t> excluded = {4};
    VocabTrie trie(pieces, excluded);
    auto g = gram(
        "root ::= \"{\" ws (pair (\",\" ws pair)*)? \"}\"\npair ::= \"\\\"\" [a-z\\u00e9]* \"\\\"\" \":\" ws [0-9]+\n"
        "ws ::= \" \"?");
    GrammarMatcher m(g);
    std::vector<uint8_t> mask;
    // Follow one accepted path and compare the masks at each step.
    for (const std::string step : {"{", " \"", "ab\xc3", "\xa9\"", ":1", "2", ", \"x\":", "3", "}"}) {
        const size_t n = trie.allowed(m, mask);
        const auto ref = reference_mask(m, pieces, excluded);
        EXPECT_EQ(mask, ref) << "before '" << step << "'";
        EXPECT_EQ(n, size_t(std::count(ref.begin(), ref.end(), 1)));
        ASSERT_TRUE(m.accept(step)) << step;
    }
    EXPECT_TRUE(m.can_end());
    EXPECT_EQ(trie.allowed(m, mask), 0u);
}

}  // namespace
}  // namespace bf

namespace bf {
namespace {

TEST(Gbnf, EmptyLastAlternativeBeforeTheNextRule) {
    auto g = std::make_shared<Grammar>(parse_gbnf("root ::= \"a\" opt\nopt ::= \"b\" | \nother ::= \"c\"\n"));
    GrammarMatcher m(g);
    EXPECT_TRUE(m.accept("a"));
    EXPECT_TRUE(m.can_end());
    EXPECT_TRUE(m.accept("b"));
    EXPECT_FALSE(m.accept("c"));
}

}  // namespace
}  // namespace bf
