// VocabTrie: construction from the sorted token strings and the masked walk.
#include "grammar/vocab_trie.h"

#include <algorithm>

namespace bf {

VocabTrie::VocabTrie(const std::vector<std::string>& pieces, const std::vector<int32_t>& excluded)
    : n_vocab_(pieces.size()) {
    std::vector<uint8_t> skip(pieces.size(), 0);
    for (int32_t id : excluded)
        if (id >= 0 && size_t(id) < pieces.size()) skip[size_t(id)] = 1;
    std::vector<int32_t> order;
    for (size_t i = 0; i < pieces.size(); ++i)
        if (!skip[i] && !pieces[i].empty()) {
            order.push_back(int32_t(i));
            max_len_ = std::max(max_len_, pieces[i].size());
        }
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return pieces[size_t(a)] < pieces[size_t(b)]; });
    build(pieces, order, 0, order.size(), 0);
}

// order[lo, hi) share their first `depth` bytes; sorted, so those that end here come first and the rest group
// by their next byte. Recursion depth is bounded by the longest token.
uint32_t VocabTrie::build(const std::vector<std::string>& pieces, const std::vector<int32_t>& order, size_t lo,
                          size_t hi, size_t depth) {
    const uint32_t id = uint32_t(nodes_.size());
    nodes_.push_back({});
    const uint32_t tb = uint32_t(toks_.size());
    while (lo < hi && pieces[size_t(order[lo])].size() == depth) toks_.push_back(order[lo++]);
    nodes_[id].tok_begin = tb;
    nodes_[id].tok_end = uint32_t(toks_.size());
    std::vector<std::pair<size_t, size_t>> groups;
    for (size_t i = lo; i < hi;) {
        const char b = pieces[size_t(order[i])][depth];
        size_t j = i + 1;
        while (j < hi && pieces[size_t(order[j])][depth] == b) ++j;
        groups.push_back({i, j});
        i = j;
    }
    const uint32_t eb = uint32_t(edge_node_.size());
    edge_byte_.resize(eb + groups.size());
    edge_node_.resize(eb + groups.size());
    nodes_[id].edge_begin = eb;
    nodes_[id].edge_end = uint32_t(eb + groups.size());
    for (size_t k = 0; k < groups.size(); ++k) {
        edge_byte_[eb + k] = uint8_t(pieces[size_t(order[groups[k].first])][depth]);
        const uint32_t child = build(pieces, order, groups[k].first, groups[k].second, depth + 1);
        edge_node_[eb + k] = child;
    }
    return id;
}

size_t VocabTrie::mark(uint32_t node, std::vector<uint8_t>& mask) const {
    const Node& nd = nodes_[node];
    for (uint32_t t = nd.tok_begin; t < nd.tok_end; ++t) mask[size_t(toks_[t])] = 1;
    return nd.tok_end - nd.tok_begin;
}

size_t VocabTrie::walk(const GrammarMatcher& m, uint32_t node, size_t depth, std::vector<GrammarState>& levels,
                       std::vector<uint8_t>& mask) const {
    size_t n = 0;
    const Node& nd = nodes_[node];
    for (uint32_t e = nd.edge_begin; e < nd.edge_end; ++e) {
        if (!m.step(levels[depth], edge_byte_[e], levels[depth + 1])) continue;  // the whole subtree is refused
        n += mark(edge_node_[e], mask);
        n += walk(m, edge_node_[e], depth + 1, levels, mask);
    }
    return n;
}

// As walk, with the steps memoized: most nodes cost a table look-up. When the table fills up, the rest of a
// subtree is walked the plain way from the spilled state.
size_t VocabTrie::walk_memo(const GrammarMatcher& m, StepMemo& memo, uint32_t node, uint32_t state, size_t depth,
                            std::vector<GrammarState>& levels, std::vector<uint8_t>& mask) const {
    size_t n = 0;
    const Node& nd = nodes_[node];
    for (uint32_t e = nd.edge_begin; e < nd.edge_end; ++e) {
        const uint32_t to = memo.next(m, state, edge_byte_[e], levels[depth + 1]);
        if (to == StepMemo::kRefused) continue;
        n += mark(edge_node_[e], mask);
        n += to == StepMemo::kFull ? walk(m, edge_node_[e], depth + 1, levels, mask)
                                   : walk_memo(m, memo, edge_node_[e], to, depth + 1, levels, mask);
    }
    return n;
}

size_t VocabTrie::allowed_reference(const GrammarMatcher& m, std::vector<uint8_t>& mask) const {
    mask.assign(n_vocab_, 0);
    if (nodes_.empty()) return 0;
    std::vector<GrammarState> levels(max_len_ + 1);
    levels[0] = m.state();
    return walk(m, 0, 0, levels, mask);
}

size_t VocabTrie::allowed(const GrammarMatcher& m, std::vector<uint8_t>& mask) const {
    MaskCache once(0);
    return allowed(m, mask, once);
}

size_t VocabTrie::allowed(const GrammarMatcher& m, std::vector<uint8_t>& mask, MaskCache& cache) const {
    if (cache.trie_ != this || cache.grammar_ != &m.grammar()) {  // a cache for another request: start over
        cache.memo_.clear();
        cache.entries_.clear();
        cache.trie_ = this;
        cache.grammar_ = &m.grammar();
    }
    if (cache.memo_.full()) {  // ids are about to change: the masks keyed by them go too
        cache.memo_.clear();
        cache.entries_.clear();
    }
    const uint32_t state = cache.memo_.intern(m.state());
    for (auto& en : cache.entries_)
        if (en.state == state) {
            en.used = ++cache.clock_;
            mask = en.mask;
            return en.n;
        }
    mask.assign(n_vocab_, 0);
    if (nodes_.empty()) return 0;
    std::vector<GrammarState> levels(max_len_ + 1);
    levels[0] = m.state();
    const size_t n = walk_memo(m, cache.memo_, 0, state, 0, levels, mask);
    if (cache.max_masks_ == 0) return n;
    if (cache.entries_.size() < cache.max_masks_) cache.entries_.emplace_back();
    auto lru = std::min_element(cache.entries_.begin(), cache.entries_.end(),
                                [](const auto& a, const auto& b) { return a.used < b.used; });
    lru->state = state;
    lru->n = n;
    lru->used = ++cache.clock_;
    lru->mask = mask;
    return n;
}

}  // namespace bf
