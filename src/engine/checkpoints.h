// Saved sequence states of one slot ("checkpoints", llama-server's --ctx-checkpoints): a compact copy of
// the state at the end of a prompt, its token list and the logits after it, so that a later prompt that
// extends those tokens restores the copy and prefills only the rest. Bounded by count and bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "model/state.h"

namespace bf {

// The one reuse rule: a state that has seen `seen` serves `prompt` when `seen` is a prefix of it; when they
// are equal the logits after the last token are needed (the first token is sampled from them). Returns the
// number of prompt tokens reused (0: none).
size_t reusable_prefix(const std::vector<int32_t>& seen, bool has_logits, std::span<const int32_t> prompt);

struct StateCheckpoint {
    std::vector<int32_t> tokens;  // what the state has seen
    SequenceState state;          // a copy holding only the used part of the shared K/V
    std::vector<float> logits;    // after the last token
    uint64_t last_used = 0;

    size_t bytes() const;
};

class CheckpointStore {
public:
    CheckpointStore(int max_count = 0, size_t max_bytes = 0) : max_count_(max_count), max_bytes_(max_bytes) {}

    // The checkpoint reusing the most of `prompt`, or null. Marks it used (eviction is least recently used).
    const StateCheckpoint* longest_prefix(std::span<const int32_t> prompt);
    // Adds a checkpoint (replacing one with the same tokens), then evicts the least recently used ones until
    // both bounds hold. Returns false (and keeps nothing new) when it alone exceeds a bound.
    bool add(StateCheckpoint cp);
    void clear() { cps_.clear(); }
    const StateCheckpoint* newest() const;  // the most recently added or used one, or null

    size_t size() const { return cps_.size(); }
    size_t bytes() const;
    const std::vector<StateCheckpoint>& all() const { return cps_; }

private:
    int max_count_;
    size_t max_bytes_;
    uint64_t clock_ = 0;
    std::vector<StateCheckpoint> cps_;
};

}  // namespace bf
