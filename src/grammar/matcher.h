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

// The stacks are stored back to back (stack i is elems[begin(i), ends[i])) so that stepping a state reuses
// its buffers instead of allocating one vector per stack per byte.
struct GrammarState {
    std::vector<uint32_t> elems;  // positions in Grammar::elems; each stack's top (last) is a Chars element
    std::vector<uint32_t> ends;   // one per stack, distinct stacks only; an empty stack = complete
    uint32_t partial = 0;         // bits of a UTF-8 character begun but not finished
    uint8_t need = 0;             // its continuation bytes still to come
    uint32_t min_cp = 0;          // smallest code point its length may encode (overlong forms are refused)

    size_t n_stacks() const { return ends.size(); }
    uint32_t begin(size_t i) const { return i ? ends[i - 1] : 0; }
    bool empty_stack(size_t i) const { return begin(i) == ends[i]; }
    uint32_t top(size_t i) const { return elems[ends[i] - 1]; }
    bool operator==(const GrammarState&) const = default;
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
    // Expands seed_ (a stack whose top may be a rule reference) into `out`, skipping duplicates.
    void expand_seed(GrammarState& out) const;
    void add_unique(GrammarState& out, const std::vector<uint32_t>& st) const;
    void accept_cp(const GrammarState& in, uint32_t cp, GrammarState& out) const;
    bool partial_viable(const GrammarState& s) const;

    std::shared_ptr<const Grammar> g_;
    GrammarState st_;
    // Scratch for the steps (a matcher is used by one thread at a time).
    mutable std::vector<uint32_t> seed_, cur_, work_elems_, work_ends_;
};

}  // namespace bf
