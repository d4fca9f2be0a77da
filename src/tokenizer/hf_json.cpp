// Reads a HF tokenizer.json (byte-level BPE only) into TokenizerData, rejecting every feature the
// encoder does not implement with a message naming it.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace bf {

namespace {

using nlohmann::json;

constexpr int64_t kMaxId = int64_t{1} << 24;
constexpr int64_t kMaxIdGap = 65536;  // unused ids a vocabulary may leave (real ones: a handful)

const json& member(const json& obj, const char* key, const char* where) {
    if (!obj.is_object() || !obj.contains(key)) fail(strfmt("tokenizer.json: %s has no \"%s\"", where, key));
    return obj.at(key);
}

bool flag(const json& obj, const char* key, bool def) {
    if (!obj.contains(key) || obj.at(key).is_null()) return def;
    if (!obj.at(key).is_boolean()) fail(strfmt("tokenizer.json: \"%s\" is not a boolean", key));
    return obj.at(key).get<bool>();
}

std::string type_of(const json& obj, const char* where) {
    const json& t = member(obj, "type", where);
    if (!t.is_string()) fail(strfmt("tokenizer.json: %s.type is not a string", where));
    return t.get<std::string>();
}

void check_byte_level(const json& bl, bool want_regex, const char* where) {
    if (flag(bl, "add_prefix_space", false))
        fail(strfmt("tokenizer.json: %s ByteLevel add_prefix_space=true is not supported", where));
    if (flag(bl, "use_regex", true) != want_regex)
        fail(strfmt("tokenizer.json: %s ByteLevel use_regex=%s is not supported here", where,
                    want_regex ? "false" : "true"));
}

// Returns the split regex of the pre-tokenizer.
std::string read_pre_tokenizer(const json& pt) {
    if (pt.is_null()) fail("tokenizer.json: pre_tokenizer is null; a ByteLevel pre-tokenizer is required");
    const std::string type = type_of(pt, "pre_tokenizer");
    if (type == "ByteLevel") {
        check_byte_level(pt, true, "pre_tokenizer");
        return kRegexGpt2;
    }
    if (type != "Sequence")
        fail(
            strfmt("tokenizer.json: pre_tokenizer type \"%s\" is not supported (ByteLevel or Sequence[Split, "
                   "ByteLevel])",
                   type.c_str()));
    const json& seq = member(pt, "pretokenizers", "pre_tokenizer");
    if (!seq.is_array() || seq.size() != 2) fail("tokenizer.json: pre_tokenizer Sequence must be [Split, ByteLevel]");
    const json& split = seq[0];
    if (type_of(split, "pre_tokenizer[0]") != "Split")
        fail(strfmt("tokenizer.json: pre_tokenizer[0] type \"%s\" is not supported (Split)",
                    type_of(split, "pre_tokenizer[0]").c_str()));
    const json& pattern = member(split, "pattern", "Split");
    if (!pattern.is_object() || !pattern.contains("Regex") || !pattern.at("Regex").is_string())
        fail("tokenizer.json: Split pattern must be {\"Regex\": ...} (String patterns are not supported)");
    const std::string regex = pattern.at("Regex").get<std::string>();
    const json& behavior = member(split, "behavior", "Split");
    const bool invert = flag(split, "invert", false);
    // Some converters write Removed + invert (keep only the matches). With a regex that matches every
    // character, as the known ones do, that equals Isolated; for other regexes gaps would be dropped.
    const bool known = regex == kRegexO200k || regex == kRegexGpt2 || regex == kRegexLlama3;
    if (!(behavior == "Isolated" && !invert) && !(behavior == "Removed" && invert && known))
        fail(
            strfmt("tokenizer.json: Split behavior %s with invert=%s is not supported (Isolated; or Removed with "
                   "invert=true for a known regex)",
                   behavior.dump().c_str(), invert ? "true" : "false"));
    if (type_of(seq[1], "pre_tokenizer[1]") != "ByteLevel")
        fail(strfmt("tokenizer.json: pre_tokenizer[1] type \"%s\" is not supported (ByteLevel)",
                    type_of(seq[1], "pre_tokenizer[1]").c_str()));
    check_byte_level(seq[1], false, "pre_tokenizer[1]");
    return regex;
}

int32_t read_id(const json& v, const char* what) {
    if (!v.is_number_integer()) fail(strfmt("tokenizer.json: %s id is not an integer", what));
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= kMaxId)
        fail(strfmt("tokenizer.json: %s id %lld out of range [0, %lld)", what, static_cast<long long>(id),
                    static_cast<long long>(kMaxId)));
    return static_cast<int32_t>(id);
}

}  // namespace

Tokenizer Tokenizer::from_hf_json(std::string_view json_text) {
    json root;
    try {
        root = json::parse(json_text);
    } catch (const json::exception& e) {
        fail(strfmt("tokenizer.json: not valid JSON: %s", e.what()));
    }
    if (!root.is_object()) fail("tokenizer.json: top level is not an object");
    try {
        const json& model = member(root, "model", "top level");
        if (const std::string t = type_of(model, "model"); t != "BPE")
            fail(strfmt("tokenizer.json: model type \"%s\" is not supported (BPE)", t.c_str()));
        if (flag(model, "byte_fallback", false)) fail("tokenizer.json: BPE byte_fallback=true is not supported");
        if (model.contains("dropout") && !model.at("dropout").is_null())
            fail("tokenizer.json: BPE dropout is not supported");
        for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (model.contains(k) && !model.at(k).is_null() && model.at(k) != "")
                fail(strfmt("tokenizer.json: BPE %s is not supported", k));
        if (root.contains("normalizer") && !root.at("normalizer").is_null())
            fail(strfmt("tokenizer.json: normalizer %s is not supported",
                        type_of(root.at("normalizer"), "normalizer").c_str()));
        if (root.contains("decoder") && !root.at("decoder").is_null()) {
            const std::string t = type_of(root.at("decoder"), "decoder");
            if (t != "ByteLevel")
                fail(strfmt("tokenizer.json: decoder \"%s\" is not supported (ByteLevel)", t.c_str()));
        }

        TokenizerData d;
        d.pre_regex = read_pre_tokenizer(root.contains("pre_tokenizer") ? root.at("pre_tokenizer") : json());
        d.pre = d.pre_regex == kRegexO200k    ? "gpt-4o"
                : d.pre_regex == kRegexGpt2   ? "gpt2"
                : d.pre_regex == kRegexLlama3 ? "llama-bpe"
                                              : "bitflash-custom";
        d.ignore_merges = flag(model, "ignore_merges", false);

        const json& vocab = member(model, "vocab", "model");
        if (!vocab.is_object()) fail("tokenizer.json: model.vocab is not an object");
        const json empty = json::array();
        const json& added =
            root.contains("added_tokens") && !root.at("added_tokens").is_null() ? root.at("added_tokens") : empty;
        if (!added.is_array()) fail("tokenizer.json: added_tokens is not an array");

        int64_t max_id = -1;
        for (const auto& [text, id] : vocab.items()) max_id = std::max<int64_t>(max_id, read_id(id, "vocab"));
        for (const json& a : added)
            max_id = std::max<int64_t>(max_id, read_id(member(a, "id", "added token"), "added token"));
        if (max_id < 0) fail("tokenizer.json: empty vocabulary");
        // Tables are sized by the largest id, so a few entries with one id near kMaxId would cost gigabytes
        // (found by the fuzzer): ids may leave gaps, but not more than kMaxIdGap beyond the entry count.
        const int64_t entries = int64_t(vocab.size() + added.size());
        if (max_id >= entries + kMaxIdGap)
            fail(strfmt("tokenizer.json: id %lld with only %lld tokens (more than %lld unused ids)",
                        static_cast<long long>(max_id), static_cast<long long>(entries),
                        static_cast<long long>(kMaxIdGap)));

        const size_t n = static_cast<size_t>(max_id) + 1;
        d.tokens.assign(n, std::string());
        d.token_type.assign(n, kTokenUnused);
        for (const auto& [text, id] : vocab.items()) {
            const int32_t i = read_id(id, "vocab");
            if (d.token_type[i] != kTokenUnused) fail(strfmt("tokenizer.json: vocab id %d appears twice", i));
            d.tokens[i] = text;
            d.token_type[i] = kTokenNormal;
        }
        for (const json& a : added) {
            const int32_t i = read_id(a.at("id"), "added token");
            const json& content = member(a, "content", "added token");
            if (!content.is_string() || content.get<std::string>().empty())
                fail(strfmt("tokenizer.json: added token %d has no content", i));
            if (flag(a, "single_word", false))
                fail(strfmt("tokenizer.json: added token %d: single_word=true is not supported", i));
            d.tokens[i] = content.get<std::string>();
            d.token_type[i] = flag(a, "special", false) ? kTokenControl : kTokenUserDefined;
            if (flag(a, "lstrip", false)) d.lstrip_ids.push_back(i);
            if (flag(a, "rstrip", false)) d.rstrip_ids.push_back(i);
        }
        for (size_t i = 0; i < n; ++i)
            if (d.token_type[i] == kTokenUnused) d.tokens[i] = strfmt("[PAD%zu]", i);  // llama.cpp's filler

        const json& merges = member(model, "merges", "model");
        if (!merges.is_array()) fail("tokenizer.json: model.merges is not an array");
        d.merges.reserve(merges.size());
        for (size_t r = 0; r < merges.size(); ++r) {
            const json& m = merges[r];
            if (m.is_string()) {
                d.merges.push_back(m.get<std::string>());
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                const std::string a = m[0].get<std::string>(), b = m[1].get<std::string>();
                if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
                    fail(strfmt("tokenizer.json: merge %zu has a part containing a space", r));
                d.merges.push_back(a + " " + b);
            } else {
                fail(strfmt("tokenizer.json: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", r));
            }
        }
        return from_data(d);
    } catch (const json::exception& e) {
        fail(strfmt("tokenizer.json: unexpected structure: %s", e.what()));
    }
}

}  // namespace bf
