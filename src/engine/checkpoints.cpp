// Checkpoint choice and eviction for one slot (engine/checkpoints.h).
#include "engine/checkpoints.h"

#include <algorithm>

namespace bf {

size_t reusable_prefix(const std::vector<int32_t>& seen, bool has_logits, std::span<const int32_t> prompt) {
    if (seen.empty() || seen.size() > prompt.size()) return 0;
    if (!std::equal(seen.begin(), seen.end(), prompt.begin())) return 0;
    if (seen.size() == prompt.size() && !has_logits) return 0;
    return seen.size();
}

size_t StateCheckpoint::bytes() const {
    return state.bytes() + tokens.size() * sizeof(int32_t) + logits.size() * sizeof(float);
}

size_t CheckpointStore::bytes() const {
    size_t n = 0;
    for (const auto& c : cps_) n += c.bytes();
    return n;
}

const StateCheckpoint* CheckpointStore::longest_prefix(std::span<const int32_t> prompt) {
    StateCheckpoint* best = nullptr;
    size_t best_n = 0;
    for (auto& c : cps_) {
        const size_t n = reusable_prefix(c.tokens, !c.logits.empty(), prompt);
        if (n > best_n) {
            best = &c;
            best_n = n;
        }
    }
    if (best) best->last_used = ++clock_;
    return best;
}

const StateCheckpoint* CheckpointStore::newest() const {
    const StateCheckpoint* n = nullptr;
    for (const auto& c : cps_)
        if (!n || c.last_used > n->last_used) n = &c;
    return n;
}

bool CheckpointStore::add(StateCheckpoint cp) {
    if (max_count_ <= 0 || cp.bytes() > max_bytes_) return false;
    cps_.erase(
        std::remove_if(cps_.begin(), cps_.end(), [&](const StateCheckpoint& c) { return c.tokens == cp.tokens; }),
        cps_.end());
    cp.last_used = ++clock_;
    cps_.push_back(std::move(cp));
    size_t total = bytes();
    while (int(cps_.size()) > max_count_ || total > max_bytes_) {
        auto lru = std::min_element(cps_.begin(), cps_.end(), [](const StateCheckpoint& a, const StateCheckpoint& b) {
            return a.last_used < b.last_used;
        });
        total -= lru->bytes();
        cps_.erase(lru);
    }
    return true;
}

}  // namespace bf
