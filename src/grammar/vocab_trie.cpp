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

size_t VocabTrie::walk(const GrammarMatcher& m, uint32_t node, size_t depth, std::vector<GrammarState>& levels,
                       std::vector<uint8_t>& mask) const {
    size_t n = 0;
    const Node& nd = nodes_[node];
    for (uint32_t e = nd.edge_begin; e < nd.edge_end; ++e) {
        if (!m.step(levels[depth], edge_byte_[e], levels[depth + 1])) continue;  // the whole subtree is refused
        const Node& child = nodes_[edge_node_[e]];
        for (uint32_t t = child.tok_begin; t < child.tok_end; ++t) mask[size_t(toks_[t])] = 1;
        n += child.tok_end - child.tok_begin;
        n += walk(m, edge_node_[e], depth + 1, levels, mask);
    }
    return n;
}

size_t VocabTrie::allowed(const GrammarMatcher& m, std::vector<uint8_t>& mask) const {
    mask.assign(n_vocab_, 0);
    if (nodes_.empty()) return 0;
    std::vector<GrammarState> levels(max_len_ + 1);
    levels[0] = m.state();
    return walk(m, 0, 0, levels, mask);
}

}  // namespace bf
