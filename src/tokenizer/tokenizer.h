// Byte-level BPE tokenizer (GPT-2 / o200k family, Phi-4-mini): loading from HF tokenizer.json or from
// GGUF-style arrays, encode with added/special tokens, decode, streaming decode. Opens no files.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bf {

// llama.cpp's token_type numbering as stored in GGUF (tokenizer.ggml.token_type).
enum TokenType : int32_t {
    kTokenNormal = 1,
    kTokenUnknown = 2,
    kTokenControl = 3,      // special added token: matched only with parse_special
    kTokenUserDefined = 4,  // non-special added token: also matched only with parse_special
    kTokenUnused = 5,       // hole in the id space (llama.cpp writes "[PAD<id>]"); never produced
};

// Pre-tokenizer regexes known by name (GGUF tokenizer.ggml.pre).
extern const char* const kRegexO200k;   // "gpt-4o": OpenAI o200k_base pat_str, verbatim
extern const char* const kRegexGpt2;    // "gpt2" / "default": HF ByteLevel(use_regex=true)
extern const char* const kRegexLlama3;  // "llama3" / "llama-bpe"

// What a GGUF stores (tokenizer.ggml.model = "gpt2"). tokens are in byte-level unicode form
// (space = "Ġ") for normal tokens and verbatim text for added tokens (types 3 and 4).
struct TokenizerData {
    std::vector<std::string> tokens;
    std::vector<int32_t> token_type;                // same length as tokens; TokenType values
    std::vector<std::string> merges;                // "left right", highest priority first
    std::string pre;                                // tokenizer.ggml.pre, e.g. "gpt-4o"
    int32_t bos_id = -1, eos_id = -1, pad_id = -1;  // -1 = none
    std::vector<int32_t> rstrip_ids, lstrip_ids;    // bitflash.tokenizer.rstrip_ids / lstrip_ids
    std::string pre_regex;                          // bitflash.tokenizer.pre_regex; empty = look up `pre`
    bool ignore_merges = false;                     // HF BPE ignore_merges: a pre-token found whole in the vocab wins
};

class Tokenizer {
public:
    // HF tokenizer.json (model.type "BPE", ByteLevel pre-tokenizer/decoder). Throws bf::Error naming
    // the unsupported or malformed field. bos/eos/pad are left at -1 (they live in other files).
    static Tokenizer from_hf_json(std::string_view json_text);
    static Tokenizer from_data(const TokenizerData& data);
    TokenizerData to_data() const;

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // parse_special: added-token text becomes its id (leftmost-longest match; rstrip/lstrip absorb
    // adjacent whitespace as HF does). Otherwise everything is plain text.
    // Invalid UTF-8: the input is cut into maximal valid UTF-8 runs and single invalid bytes; each
    // run goes through the regex, each invalid byte is a pre-token of its own (its byte-level token),
    // so decode(encode(x)) == x for any byte string.
    std::vector<int32_t> encode(std::string_view text, bool parse_special) const;
    // Concatenated raw bytes; special tokens as their text. Throws bf::Error for ids out of range.
    std::string decode(std::span<const int32_t> ids) const;
    std::string token_to_piece(int32_t id) const;
    bool is_special(int32_t id) const;  // control tokens (HF "special": true)
    int32_t n_vocab() const;
    // Id whose text is exactly `text` (added-token content, or the raw bytes of a normal token).
    std::optional<int32_t> token_id(std::string_view text) const;
    int32_t bos_id() const;
    int32_t eos_id() const;
    int32_t pad_id() const;

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Streams decoded text token by token without splitting a UTF-8 character. Bytes that can never form
// a valid character are passed through raw, so the concatenation of all push() results and flush()
// equals decode() of the same ids.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
    std::string push(int32_t id);
    std::string flush();

private:
    const Tokenizer& tok_;
    std::string pending_;
};

}  // namespace bf
