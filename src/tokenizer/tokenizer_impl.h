// Internal state of bf::Tokenizer, shared by tokenizer.cpp (encode/decode) and bpe.cpp (merges).
// Not part of the public API.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

struct pcre2_real_code_8;

namespace bf {

// Open-addressing map (left id, right id) -> (merge rank, merged id): the hot lookup of BPE.
class PairTable {
public:
    struct Entry {
        uint64_t key = kEmpty;
        int32_t rank = 0;
        int32_t merged = 0;
    };
    static constexpr uint64_t kEmpty = ~0ull;
    void init(size_t n_entries);
    // Returns false if the pair is already present (the earlier, higher-priority merge is kept).
    bool insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
    const Entry* find(int32_t left, int32_t right) const {
        const uint64_t key = pack(left, right);
        for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
            const Entry& e = slots_[i];
            if (e.key == key) return &e;
            if (e.key == kEmpty) return nullptr;
        }
    }

private:
    static uint64_t pack(int32_t l, int32_t r) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
    }
    static size_t hash(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        return static_cast<size_t>(k);
    }
    std::vector<Entry> slots_;
    size_t mask_ = 0;
};

// Open-addressing map from a string to an id, where the strings live elsewhere (ids index `keys`);
// stores the full hash per slot, so a probe touches the string only on a likely hit. Much faster to
// build and query than std::unordered_map for 200k-entry vocabularies.
class StringIdTable {
public:
    void init(const std::vector<std::string>* keys, size_t n_entries);
    // Returns false (and keeps the old id) if the string is already present.
    bool insert(int32_t id);
    int32_t find(std::string_view s) const {  // -1 if absent
        if (slots_.empty()) return -1;
        const uint64_t h = hash(s);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& e = slots_[i];
            if (e.id < 0) return -1;
            if (e.hash == h && (*keys_)[e.id] == s) return e.id;
        }
    }
    static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

private:
    struct Slot {
        uint64_t hash = 0;
        int32_t id = -1;
    };
    const std::vector<std::string>* keys_ = nullptr;
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Tokenizer::Impl {
    TokenizerData data;              // as loaded, for to_data()
    std::vector<std::string> piece;  // raw bytes (normal) or text (added) per id; "" for unused
    std::vector<uint8_t> special;    // 1 for control tokens
    StringIdTable vocab;             // raw bytes of normal tokens (in `piece`) -> id
    StringMap added_by_text;         // added-token content -> id
    std::array<int32_t, 256> byte_id{};
    PairTable pairs;

    struct Added {
        std::string text;
        int32_t id;
        bool lstrip, rstrip;
    };
    // Candidates by first byte, longest first, so the first hit is the longest match.
    std::array<std::vector<Added>, 256> added_by_byte;
    bool has_added = false;

    pcre2_real_code_8* re = nullptr;
    bool jit = false;

    // Pre-token -> ids cache; bounded, cleared when full. Guarded for concurrent encode() calls.
    mutable std::mutex cache_mu;
    mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;

    ~Impl();
    // BPE of one pre-token (raw bytes), appended to out.
    void bpe(std::string_view word, std::vector<int32_t>& out) const;
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;
    // Regex split + BPE of text that contains no added tokens to match.
    void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
    void encode_run(std::string_view run, std::vector<int32_t>& out) const;
};

}  // namespace bf
