// A compiled GBNF grammar (llama.cpp's grammar syntax): rules flattened into one element array that the
// matcher (grammar/matcher.h) walks with pushdown stacks. parse_gbnf() reads untrusted text.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bf {

// Limits on untrusted grammars (beyond them parse_gbnf throws bf::Error naming the limit).
constexpr size_t kMaxGrammarBytes = 256 * 1024;
constexpr size_t kMaxGrammarElements = 200000;  // after repetitions are expanded
constexpr int kMaxGrammarNesting = 64;          // nested groups
constexpr int kMaxGrammarRepeat = 1000;         // the m and n of {m,n}

struct GrammarElem {
    enum Kind : uint8_t { End, Chars, Ref };
    Kind kind = End;
    bool negate = false;  // Chars: matches code points in none of the ranges ('.' = negated, no ranges)
    uint32_t rule = 0;    // Ref: the rule's index
    uint32_t ranges_begin = 0, ranges_end = 0;  // Chars: [begin, end) in Grammar::ranges
};

// Every alternative of every rule is a run of elements in `elems` closed by an End element.
struct Grammar {
    std::vector<GrammarElem> elems;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive code point ranges
    std::vector<std::vector<uint32_t>> rule_alts;       // per rule: the start of each alternative in elems
    std::vector<std::string> rule_names;
    uint32_t root = 0;

    bool chars_match(const GrammarElem& e, uint32_t cp) const;
    // Whether some code point in [lo, hi] may match (exact for plain classes, may say yes for negated ones).
    bool chars_may_match(const GrammarElem& e, uint32_t lo, uint32_t hi) const;
};

// Parses GBNF text whose start rule is `root`. Throws bf::Error with the line and column of the problem:
// syntax errors, undefined or duplicate rules, left recursion (which the matcher could not expand) and
// the limits above.
Grammar parse_gbnf(std::string_view text);

// Throws bf::Error if a rule can reach itself without consuming a character (parse_gbnf calls it).
void check_no_left_recursion(const Grammar& g);

// A GBNF string literal (with the quotes) that matches exactly the bytes of `s` (which is UTF-8).
std::string gbnf_literal(std::string_view s);

}  // namespace bf
