// Tokenizer construction from GGUF-style arrays, added/special-token matching, decode and streaming
// decode. The regex split and BPE merge loop live in bpe.cpp, the HF JSON reader in hf_json.cpp.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace bf {

const char* const kRegexO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kRegexGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kRegexLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

constexpr size_t kMaxVocab = size_t{1} << 24;

const char* regex_for_pre(const std::string& pre) {
    if (pre == "gpt-4o") return kRegexO200k;
    if (pre == "gpt2" || pre == "default" || pre.empty()) return kRegexGpt2;
    if (pre == "llama3" || pre == "llama-bpe") return kRegexLlama3;
    return nullptr;
}

}  // namespace

Tokenizer::Impl::~Impl() { pcre2_code_free(re); }

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_data(const TokenizerData& d) {
    const size_t n = d.tokens.size();
    if (n == 0) fail("tokenizer: empty token list");
    if (n > kMaxVocab) fail(strfmt("tokenizer: %zu tokens exceeds the limit %zu", n, kMaxVocab));
    if (!d.token_type.empty() && d.token_type.size() != n)
        fail(strfmt("tokenizer: %zu token types for %zu tokens", d.token_type.size(), n));
    for (auto [name, id] : {std::pair{"bos", d.bos_id}, {"eos", d.eos_id}, {"pad", d.pad_id}})
        if (id < -1 || id >= static_cast<int64_t>(n))
            fail(strfmt("tokenizer: %s id %d out of range [0, %zu)", name, id, n));

    auto impl = std::make_unique<Impl>();
    Impl& t = *impl;
    t.data = d;
    if (t.data.token_type.empty()) t.data.token_type.assign(n, kTokenNormal);
    t.piece.resize(n);
    t.special.assign(n, 0);
    t.vocab.init(&t.piece, n);

    std::vector<uint8_t> strip(n, 0);  // bit 0 lstrip, bit 1 rstrip
    for (auto [ids, bit, name] : {std::tuple{&d.lstrip_ids, 1, "lstrip"}, {&d.rstrip_ids, 2, "rstrip"}})
        for (int32_t id : *ids) {
            if (id < 0 || static_cast<size_t>(id) >= n)
                fail(strfmt("tokenizer: %s id %d out of range [0, %zu)", name, id, n));
            strip[id] |= bit;
        }

    std::string raw;
    for (size_t id = 0; id < n; ++id) {
        const std::string& s = d.tokens[id];
        const int32_t type = t.data.token_type[id];
        switch (type) {
            case kTokenNormal:
                if (!unicode::byte_level_decode(s, raw))
                    fail(strfmt("tokenizer: token %zu (\"%s\") is not byte-level encoded", id, s.c_str()));
                t.piece[id] = raw;
                t.vocab.insert(static_cast<int32_t>(id));  // first wins on duplicates
                break;
            case kTokenUnknown: t.piece[id] = unicode::byte_level_decode(s, raw) ? raw : s; break;
            case kTokenControl:
            case kTokenUserDefined: {
                if (s.empty()) fail(strfmt("tokenizer: added token %zu has empty text", id));
                t.piece[id] = s;
                t.special[id] = type == kTokenControl;
                t.added_by_text.emplace(s, static_cast<int32_t>(id));
                const Impl::Added a{s, static_cast<int32_t>(id), (strip[id] & 1) != 0, (strip[id] & 2) != 0};
                t.added_by_byte[static_cast<uint8_t>(s[0])].push_back(a);
                t.has_added = true;
                break;
            }
            case kTokenUnused: break;
            default: fail(strfmt("tokenizer: token %zu has unsupported token_type %d", id, type));
        }
        if (strip[id] && type != kTokenControl && type != kTokenUserDefined)
            fail(strfmt("tokenizer: lstrip/rstrip given for token %zu, which is not an added token", id));
    }
    for (auto& v : t.added_by_byte)
        std::stable_sort(v.begin(), v.end(),
                         [](const Impl::Added& a, const Impl::Added& b) { return a.text.size() > b.text.size(); });

    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        t.byte_id[b] = t.vocab.find(std::string_view(&c, 1));
        if (t.byte_id[b] < 0) fail(strfmt("tokenizer: vocabulary lacks the byte-level token for byte 0x%02X", b));
    }

    // Merges name tokens in byte-level form; concatenating two byte-level strings gives the byte-level
    // form of the concatenated bytes, so lookups need no decoding (this keeps loading fast).
    StringIdTable by_text;
    by_text.init(&t.data.tokens, n);
    for (size_t id = 0; id < n; ++id)
        if (t.data.token_type[id] == kTokenNormal) by_text.insert(static_cast<int32_t>(id));
    t.pairs.init(d.merges.size());
    std::string joined;
    for (size_t r = 0; r < d.merges.size(); ++r) {
        const std::string_view m = d.merges[r];
        const size_t sp = m.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == m.size() || m.find(' ', sp + 1) != std::string::npos)
            fail(strfmt("tokenizer: merge %zu (\"%s\") is not of the form \"left right\"", r, d.merges[r].c_str()));
        joined.assign(m.substr(0, sp));
        joined.append(m.substr(sp + 1));
        const int32_t l = by_text.find(m.substr(0, sp)), rr = by_text.find(m.substr(sp + 1)), mm = by_text.find(joined);
        if (l < 0 || rr < 0 || mm < 0)
            fail(strfmt("tokenizer: merge %zu (\"%s\") refers to a token not in the vocabulary", r,
                        d.merges[r].c_str()));
        if (r > static_cast<size_t>(INT32_MAX - 1)) fail("tokenizer: too many merges");
        t.pairs.insert(l, rr, static_cast<int32_t>(r), mm);
    }

    std::string pattern = d.pre_regex;
    if (pattern.empty()) {
        const char* known = regex_for_pre(d.pre);
        if (!known)
            fail(
                strfmt("tokenizer: unknown pre-tokenizer \"%s\" and no pre_regex given (known: gpt-4o, "
                       "gpt2, default, llama3, llama-bpe)",
                       d.pre.c_str()));
        pattern = known;
    }
    int err = 0;
    PCRE2_SIZE err_off = 0;
    t.re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                         &err_off, nullptr);
    if (!t.re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        fail(strfmt("tokenizer: pre-tokenizer regex does not compile at offset %zu: %s", static_cast<size_t>(err_off),
                    reinterpret_cast<const char*>(msg)));
    }
    t.jit = pcre2_jit_compile(t.re, PCRE2_JIT_COMPLETE) == 0;
    return Tokenizer(std::move(impl));
}

TokenizerData Tokenizer::to_data() const { return impl_->data; }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
    const Impl& t = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (!parse_special || !t.has_added) {
        t.encode_plain(text, out);
        return out;
    }
    const size_t n = text.size();
    size_t seg = 0;  // start of the plain text before the next match
    size_t pos = 0;
    while (pos < n) {
        const auto& cands = t.added_by_byte[static_cast<uint8_t>(text[pos])];
        const Impl::Added* hit = nullptr;
        for (const Impl::Added& a : cands)
            if (text.compare(pos, a.text.size(), a.text) == 0) {
                hit = &a;
                break;
            }
        if (!hit) {
            ++pos;
            continue;
        }
        size_t left = pos, right = pos + hit->text.size();
        if (hit->lstrip)  // absorb whitespace before the token, back to the previous match at most
            while (left > seg) {
                size_t k = left - 1;
                while (k > seg && (static_cast<uint8_t>(text[k]) & 0xC0) == 0x80 && left - k < 4) --k;
                uint32_t cp = 0;
                if (unicode::utf8_valid_len(text, k, &cp) != left - k || !unicode::is_white_space(cp)) break;
                left = k;
            }
        if (hit->rstrip)
            while (right < n) {
                uint32_t cp = 0;
                const size_t len = unicode::utf8_valid_len(text, right, &cp);
                if (len == 0 || !unicode::is_white_space(cp)) break;
                right += len;
            }
        t.encode_plain(text.substr(seg, left - seg), out);
        out.push_back(hit->id);
        seg = pos = right;
    }
    t.encode_plain(text.substr(seg), out);
    return out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
    if (id < 0 || id >= n_vocab()) fail(strfmt("tokenizer: token id %d out of range [0, %d)", id, n_vocab()));
    return impl_->piece[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string out;
    for (int32_t id : ids) {
        if (id < 0 || id >= n_vocab()) fail(strfmt("tokenizer: token id %d out of range [0, %d)", id, n_vocab()));
        out += impl_->piece[id];
    }
    return out;
}

bool Tokenizer::is_special(int32_t id) const { return id >= 0 && id < n_vocab() && impl_->special[id] != 0; }

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->piece.size()); }

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
    if (auto it = impl_->added_by_text.find(text); it != impl_->added_by_text.end()) return it->second;
    if (const int32_t id = impl_->vocab.find(text); id >= 0) return id;
    return std::nullopt;
}

int32_t Tokenizer::bos_id() const { return impl_->data.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->data.eos_id; }
int32_t Tokenizer::pad_id() const { return impl_->data.pad_id; }

std::string StreamDecoder::push(int32_t id) {
    pending_ += tok_.token_to_piece(id);
    size_t i = 0;
    while (i < pending_.size()) {
        if (const size_t len = unicode::utf8_valid_len(pending_, i)) {
            i += len;
        } else if (unicode::utf8_incomplete_len(pending_, i) > 0) {
            break;  // the rest of a character may come with the next token
        } else {
            ++i;  // can never become valid: pass the byte through
        }
    }
    std::string out = pending_.substr(0, i);
    pending_.erase(0, i);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace bf
