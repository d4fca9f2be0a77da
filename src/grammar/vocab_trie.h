// The vocabulary as a prefix tree of token byte strings, built once per tokenizer, and the grammar mask:
// the tree is walked together with the matcher's state so a prefix shared by many tokens is checked once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "grammar/matcher.h"
#include "grammar/step_memo.h"

namespace bf {

class VocabTrie;

// Kept across the tokens of one request (one matcher, one trie): the memoized steps and the masks of the
// last states seen, so a state met again (inside a JSON string, between values) costs a copy, not a walk.
class MaskCache {
public:
    // Up to max_masks masks (n_vocab bytes each) and the memo's bounds (StepMemo: at most 8 MB by default).
    explicit MaskCache(size_t max_masks = 8, size_t max_states = 65536) : memo_(max_states), max_masks_(max_masks) {}

private:
    friend class VocabTrie;
    struct Entry {
        uint32_t state = 0;
        size_t n = 0;
        uint64_t used = 0;
        std::vector<uint8_t> mask;
    };
    StepMemo memo_;
    const VocabTrie* trie_ = nullptr;
    const Grammar* grammar_ = nullptr;
    std::vector<Entry> entries_;
    size_t max_masks_;
    uint64_t clock_ = 0;
};

class VocabTrie {
public:
    // pieces[id] = the bytes token id decodes to. Ids in `excluded` (end-of-generation tokens, which the
    // caller allows when the grammar can end) and empty pieces are left out.
    VocabTrie(const std::vector<std::string>& pieces, const std::vector<int32_t>& excluded);

    // mask[id] = 1 for every token whose bytes the grammar accepts from m's state, else 0 (mask is resized
    // to the number of pieces). Returns how many are allowed. Throws bf::Error if the grammar explodes.
    size_t allowed(const GrammarMatcher& m, std::vector<uint8_t>& mask) const;
    // The same mask, reusing `cache` (which must serve only m's grammar and this trie).
    size_t allowed(const GrammarMatcher& m, std::vector<uint8_t>& mask, MaskCache& cache) const;
    // The same mask by the plain walk that steps the matcher at every edge (the tests' reference).
    size_t allowed_reference(const GrammarMatcher& m, std::vector<uint8_t>& mask) const;

    size_t n_nodes() const { return nodes_.size(); }
    size_t n_vocab() const { return n_vocab_; }

private:
    struct Node {
        uint32_t edge_begin = 0, edge_end = 0;  // children in edge_byte_/edge_node_
        uint32_t tok_begin = 0, tok_end = 0;    // tokens whose bytes end here, in toks_
    };
    uint32_t build(const std::vector<std::string>& pieces, const std::vector<int32_t>& order, size_t lo, size_t hi,
                   size_t depth);
    size_t mark(uint32_t node, std::vector<uint8_t>& mask) const;
    size_t walk(const GrammarMatcher& m, uint32_t node, size_t depth, std::vector<GrammarState>& levels,
                std::vector<uint8_t>& mask) const;
    size_t walk_memo(const GrammarMatcher& m, StepMemo& memo, uint32_t node, uint32_t state, size_t depth,
                     std::vector<GrammarState>& levels, std::vector<uint8_t>& mask) const;

    std::vector<Node> nodes_;
    std::vector<uint8_t> edge_byte_;
    std::vector<uint32_t> edge_node_;
    std::vector<int32_t> toks_;
    size_t n_vocab_ = 0, max_len_ = 0;
};

}  // namespace bf
