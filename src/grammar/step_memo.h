// Matcher steps memoized over interned grammar states: a lazily built automaton, so a byte step from a state
// already seen is one table look-up instead of copying and re-expanding every parse stack.
#pragma once
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "grammar/matcher.h"

namespace bf {

class StepMemo {
public:
    static constexpr uint32_t kRefused = 0xffffffffu;  // the byte is refused from that state
    static constexpr uint32_t kFull = 0xfffffffeu;     // the table is full: the caller steps on its own

    // Bounds memory: a state costs a transition row (1 KB; 256 bytes while a character is half-read, as only
    // continuation bytes can follow) plus its stacks. Byte-level vocabularies split many characters, so a
    // JSON string body alone meets thousands of half-read states.
    explicit StepMemo(size_t max_states = 65536, size_t max_bytes = size_t(8) << 20);

    // The id of `s`, interning it; kFull when there is no room.
    uint32_t intern(const GrammarState& s);
    const GrammarState& state(uint32_t id) const { return states_[id]; }
    // The state after byte b from state `id` (stepping with m the first time): its id, kRefused, or kFull
    // with the stepped state left in `spill`. m must match the grammar the states come from.
    uint32_t next(const GrammarMatcher& m, uint32_t id, uint8_t b, GrammarState& spill);

    size_t n_states() const { return states_.size(); }
    bool full() const { return states_.size() >= max_states_ || bytes_ >= max_bytes_; }
    void clear();

private:
    static constexpr uint32_t kUnknown = 0xfffffffdu;  // transition not computed yet
    static uint64_t hash(const GrammarState& s);
    uint32_t find(const GrammarState& s, uint64_t h) const;

    size_t max_states_, max_bytes_, bytes_ = 0;
    std::deque<GrammarState> states_;  // a deque: references stay valid while states are added
    std::vector<uint32_t> row_;        // per state: where its transitions start in trans_
    std::vector<uint32_t> trans_;
    std::unordered_multimap<uint64_t, uint32_t> index_;
};

}  // namespace bf
