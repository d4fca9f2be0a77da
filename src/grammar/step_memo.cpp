// StepMemo: interning states by hash and filling transition rows on demand.
#include "grammar/step_memo.h"

#include <algorithm>

namespace bf {

StepMemo::StepMemo(size_t max_states, size_t max_bytes) : max_states_(max_states), max_bytes_(max_bytes) {}

void StepMemo::clear() {
    states_.clear();
    row_.clear();
    trans_.clear();
    index_.clear();
    bytes_ = 0;
}

uint64_t StepMemo::hash(const GrammarState& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&h](uint64_t v) { h = (h ^ v) * 0x100000001b3ull; };
    for (uint32_t e : s.elems) mix(e);
    for (uint32_t e : s.ends) mix(uint64_t(e) << 32);
    if (s.need) mix(s.partial), mix(s.need), mix(s.min_cp);
    return h;
}

// partial and min_cp mean something only while a character is half-read (step leaves them stale after one).
static bool same(const GrammarState& a, const GrammarState& b) {
    return a.need == b.need && (a.need == 0 || (a.partial == b.partial && a.min_cp == b.min_cp)) && a.ends == b.ends &&
           a.elems == b.elems;
}

uint32_t StepMemo::find(const GrammarState& s, uint64_t h) const {
    for (auto [it, end] = index_.equal_range(h); it != end; ++it)
        if (same(states_[it->second], s)) return it->second;
    return kUnknown;
}

uint32_t StepMemo::intern(const GrammarState& s) {
    const uint64_t h = hash(s);
    if (const uint32_t id = find(s, h); id != kUnknown) return id;
    if (full()) return kFull;
    const uint32_t id = uint32_t(states_.size());
    states_.push_back(s);
    row_.push_back(uint32_t(trans_.size()));
    trans_.resize(trans_.size() + (s.need ? 64 : 256), kUnknown);
    bytes_ += sizeof(uint32_t) * ((s.need ? 64 : 256) + s.elems.size() + s.ends.size()) + 96;  // 96: bookkeeping
    index_.emplace(h, id);
    return id;
}

uint32_t StepMemo::next(const GrammarMatcher& m, uint32_t id, uint8_t b, GrammarState& spill) {
    size_t at = row_[id] + b;
    if (states_[id].need) {
        if ((b & 0xc0) != 0x80) return kRefused;  // as step: a half-read character takes continuation bytes only
        at = row_[id] + (b & 0x3fu);
    }
    if (trans_[at] != kUnknown) return trans_[at];
    if (!m.step(states_[id], b, spill)) return trans_[at] = kRefused;
    const uint32_t to = intern(spill);  // may grow trans_: indexed again below
    if (to != kFull) trans_[at] = to;
    return to;
}

}  // namespace bf
