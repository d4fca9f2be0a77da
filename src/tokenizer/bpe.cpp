// The hot path of encode(): regex pre-tokenization (PCRE2 JIT) and byte-level BPE merging of each
// pre-token, with a cache for frequent pre-tokens.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <climits>
#include <queue>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace bf {

void PairTable::init(size_t n_entries) {
    size_t cap = 16;
    while (cap < n_entries * 2) cap <<= 1;
    slots_.assign(cap, Entry{});
    mask_ = cap - 1;
}

bool PairTable::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
    const uint64_t key = pack(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
        Entry& e = slots_[i];
        if (e.key == key) return false;
        if (e.key == kEmpty) {
            e = Entry{key, rank, merged};
            return true;
        }
    }
}

void StringIdTable::init(const std::vector<std::string>* keys, size_t n_entries) {
    keys_ = keys;
    size_t cap = 16;
    while (cap < n_entries * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
}

bool StringIdTable::insert(int32_t id) {
    const std::string& s = (*keys_)[id];
    const uint64_t h = hash(s);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        Slot& e = slots_[i];
        if (e.id < 0) {
            e = Slot{h, id};
            return true;
        }
        if (e.hash == h && (*keys_)[e.id] == s) return false;
    }
}

namespace {

constexpr size_t kCacheMaxWord = 64;  // longer pre-tokens are rare; not worth caching
constexpr size_t kCacheMaxEntries = 1 << 17;
constexpr size_t kHeapThreshold = 128;  // above this many bytes, use the O(n log n) merge loop

// Per-thread PCRE2 match state: one JIT stack large enough for long whitespace/punctuation runs.
struct MatchScratch {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* mc = nullptr;
    pcre2_jit_stack* js = nullptr;
    MatchScratch() {
        md = pcre2_match_data_create(1, nullptr);  // the whole match is all we read
        mc = pcre2_match_context_create(nullptr);
        js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (mc && js) pcre2_jit_stack_assign(mc, nullptr, js);
        if (!md || !mc) fail("tokenizer: out of memory creating PCRE2 match data");
    }
    ~MatchScratch() {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        pcre2_jit_stack_free(js);
    }
};

MatchScratch& scratch() {
    thread_local MatchScratch s;
    return s;
}

}  // namespace

void Tokenizer::Impl::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    const size_t n = word.size();
    if (n <= kHeapThreshold) {
        // tiktoken-style loop: ranks[i] is the rank of pair (parts[i], parts[i+1]); each step merges
        // the lowest (leftmost on ties) and refreshes only the two neighbouring pairs.
        int32_t parts[kHeapThreshold];
        int32_t ranks[kHeapThreshold];
        int32_t merged[kHeapThreshold];
        size_t m = n;
        for (size_t i = 0; i < n; ++i) parts[i] = byte_id[static_cast<uint8_t>(word[i])];
        auto refresh = [&](size_t i) {
            const PairTable::Entry* e = pairs.find(parts[i], parts[i + 1]);
            ranks[i] = e ? e->rank : INT_MAX;
            merged[i] = e ? e->merged : -1;
        };
        for (size_t i = 0; i + 1 < m; ++i) refresh(i);
        while (m > 1) {
            size_t best = 0;
            for (size_t i = 1; i + 1 < m; ++i)
                if (ranks[i] < ranks[best]) best = i;
            if (ranks[best] == INT_MAX) break;
            parts[best] = merged[best];
            for (size_t i = best + 1; i + 1 < m; ++i) {
                parts[i] = parts[i + 1];
                ranks[i] = ranks[i + 1];
                merged[i] = merged[i + 1];
            }
            --m;
            if (best + 1 < m) refresh(best);
            if (best > 0) refresh(best - 1);
        }
        out.insert(out.end(), parts, parts + m);
        return;
    }
    // Long words: doubly linked list + min-heap keyed (rank, position) with lazy invalidation.
    std::vector<int32_t> id(n), prev(n), next(n);
    for (size_t i = 0; i < n; ++i) {
        id[i] = byte_id[static_cast<uint8_t>(word[i])];
        prev[i] = static_cast<int32_t>(i) - 1;
        next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    }
    struct Cand {
        int32_t rank, pos, left_id, right_id;
        bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto push = [&](int32_t pos) {
        if (pos < 0 || next[pos] < 0) return;
        if (const PairTable::Entry* e = pairs.find(id[pos], id[next[pos]]))
            heap.push({e->rank, pos, id[pos], id[next[pos]]});
    };
    for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
    while (!heap.empty()) {
        const Cand c = heap.top();
        heap.pop();
        const int32_t r = next[c.pos];
        // Stale if either side changed since the candidate was pushed (a dead node has id -1).
        if (id[c.pos] != c.left_id || r < 0 || id[r] != c.right_id) continue;
        id[c.pos] = pairs.find(c.left_id, c.right_id)->merged;
        id[r] = -1;
        next[c.pos] = next[r];
        if (next[r] >= 0) prev[next[r]] = c.pos;
        push(prev[c.pos]);
        push(c.pos);
    }
    for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
}

void Tokenizer::Impl::bpe(std::string_view word, std::vector<int32_t>& out) const {
    if (word.size() == 1) {
        out.push_back(byte_id[static_cast<uint8_t>(word[0])]);
        return;
    }
    if (data.ignore_merges) {
        if (const int32_t id = vocab.find(word); id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (word.size() > kCacheMaxWord) {
        merge_word(word, out);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(cache_mu);
        if (auto it = cache.find(word); it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    merge_word(word, out);
    std::lock_guard<std::mutex> lock(cache_mu);
    if (cache.size() >= kCacheMaxEntries) cache.clear();
    cache.emplace(std::string(word), std::vector<int32_t>(out.begin() + start, out.end()));
}

void Tokenizer::Impl::encode_run(std::string_view run, std::vector<int32_t>& out) const {
    MatchScratch& s = scratch();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(run.data());
    const size_t n = run.size();
    size_t gap = 0;     // start of text not yet emitted (Split "Isolated" keeps unmatched gaps)
    size_t search = 0;  // where the next match attempt starts
    while (search < n) {
        int rc = jit ? pcre2_jit_match(re, subject, n, search, PCRE2_NO_UTF_CHECK, s.md, s.mc)
                     : pcre2_match(re, subject, n, search, PCRE2_NO_UTF_CHECK, s.md, s.mc);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // pathological input: retry with the interpreter
            rc = pcre2_match(re, subject, n, search, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.md, s.mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) fail(strfmt("tokenizer: pre-tokenizer regex failed (PCRE2 error %d)", rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
        const size_t ms = ov[0], me = ov[1];
        if (me == ms) {  // empty match: produces no piece; step one character
            const size_t len = unicode::utf8_valid_len(run, ms);
            search = ms + (len ? len : 1);
            continue;
        }
        if (ms > gap) bpe(run.substr(gap, ms - gap), out);
        bpe(run.substr(ms, me - ms), out);
        gap = search = me;
    }
    if (gap < n) bpe(run.substr(gap), out);
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    size_t i = 0;
    const size_t n = text.size();
    while (i < n) {
        size_t j = i;
        while (j < n) {
            const uint8_t c = static_cast<uint8_t>(text[j]);
            if (c < 0x80) {
                ++j;
                continue;
            }
            const size_t len = unicode::utf8_valid_len(text, j);
            if (len == 0) break;
            j += len;
        }
        if (j > i) encode_run(text.substr(i, j - i), out);
        if (j < n) {  // an invalid byte is a pre-token of its own
            out.push_back(byte_id[static_cast<uint8_t>(text[j])]);
            ++j;
        }
        i = j;
    }
}

}  // namespace bf
