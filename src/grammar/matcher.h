// Matching bytes against a Grammar: a set of pushdown stacks (each a path through the rules, its top the
// next character class to match) plus a partial UTF-8 character, advanced one byte at a time.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace bf {

// Guards against grammars that explode (each throws bf::Error when exceeded).
constexpr size_t kMaxGrammarStacks = 2048;
constexpr size_t kMaxGrammarStackDepth = 4096;

struct GrammarState {
    std::vector<std::vector<uint32_t>> stacks;  // sorted, unique; tops are Chars elements; empty = complete
    uint32_t partial = 0;  // bits of a UTF-8 character begun but not finished
    uint8_t need = 0;      // its continuation bytes still to come
    uint32_t min_cp = 0;   // smallest code point its length may encode (overlong forms are refused)
};

class GrammarMatcher {
public:
    explicit GrammarMatcher(std::shared_ptr<const Grammar> g);

    const GrammarState& state() const { return st_; }
    const Grammar& grammar() const { return *g_; }
    // Advances over `bytes`; false (state unchanged) if the grammar cannot continue with them.
    bool accept(std::string_view bytes);
    // The grammar is complete here (no character half-read and some stack empty).
    bool can_end() const { return can_end(st_); }
    bool can_end(const GrammarState& s) const;

    // One byte from `in` into `out` (reused as a buffer); false if the byte is refused.
    bool step(const GrammarState& in, uint8_t byte, GrammarState& out) const;

private:
    using Stack = std::vector<uint32_t>;
    void expand(Stack s, std::vector<Stack>& out) const;
    void accept_cp(const GrammarState& in, uint32_t cp, GrammarState& out) const;
    bool partial_viable(const GrammarState& s) const;

    std::shared_ptr<const Grammar> g_;
    GrammarState st_;
};

}  // namespace bf
