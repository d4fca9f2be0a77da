// libFuzzer entry for the grammar path: the first byte picks GBNF text or a JSON Schema (-> GBNF), the text up
// to a line "----" is the grammar, the bytes after it are fed to the matcher. Beyond "no crash": a converted
// schema parses (or hits a stated limit), after each accepted byte the memoized and cached token masks equal
// the plain trie walk and every allowed piece is accepted, and a refused byte changes neither state nor mask.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "grammar/json_schema.h"
#include "grammar/vocab_trie.h"

namespace {

[[noreturn]] void die(const char* what, const std::string& detail) {
    std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
    std::abort();
}

// Every byte alone (tokens that split characters) and pieces a JSON grammar meets.
const std::vector<std::string>& vocab() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> p;
        for (int b = 0; b < 256; ++b) p.push_back(std::string(1, char(b)));
        for (const char* s :
             {"{\"",      "\":",          "\",",     "\"}",  " \"", "true", "false", "null",      "12",
              "-0.5e+3",  "\\n",          "\\u00e9", "abc",  "é",   "€",    "😀",     "\xc3",      "\xa9",
              "\xe2\x82", "\xf0\x9f\x98", "  ",      "\n\n", "[{",  "}]",   "a1",    "\"a\\\"b\""})
            p.push_back(s);
        return p;
    }();
    return v;
}

bool is_limit(const std::string& msg) {
    for (const char* m : {"longer than", "more than", "deeper than", "left-recursive"})
        if (msg.find(m) != std::string::npos) return true;
    return false;
}

// Returns the plain walk's mask.
std::vector<uint8_t> check_masks(const bf::VocabTrie& trie, const bf::GrammarMatcher& m, bf::MaskCache& cache) {
    std::vector<uint8_t> ref, once, cached;
    const size_t n = trie.allowed_reference(m, ref);
    if (trie.allowed(m, once) != n || once != ref) die("memoized mask differs from the plain walk", "");
    if (trie.allowed(m, cached, cache) != n || cached != ref) die("cached mask differs from the plain walk", "");
    int checked = 0;
    for (size_t i = 0; i < ref.size() && checked < 8; ++i)
        if (ref[i]) {
            bf::GrammarMatcher copy = m;
            if (!copy.accept(vocab()[i])) die("the mask allows a piece the matcher refuses", vocab()[i]);
            ++checked;
        }
    return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool schema = data[0] & 1;
    const std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
    const size_t cut = in.find("\n----\n");
    const std::string text = in.substr(0, cut);
    const std::string feed = cut == std::string::npos ? "" : in.substr(cut + 6, 64);
    std::string gbnf = text;
    if (schema) {
        const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) return 0;
        try {
            gbnf = bf::json_schema_to_gbnf(j);
        } catch (const bf::Error&) {
            return 0;
        }
    }
    std::shared_ptr<const bf::Grammar> g;
    try {
        g = std::make_shared<const bf::Grammar>(bf::parse_gbnf(gbnf));
    } catch (const bf::Error& e) {
        if (schema && !is_limit(e.what()))
            die("a converted schema does not parse", std::string(e.what()) + "\n" + gbnf);
        return 0;
    }
    static const bf::VocabTrie trie(vocab(), {});
    try {
        bf::GrammarMatcher m(g);
        bf::MaskCache cache(2, 16);  // small, so that evictions and the memo's fallback run too
        std::vector<uint8_t> last = check_masks(trie, m, cache), again;
        for (char c : feed) {
            const bf::GrammarState before = m.state();
            if (m.accept(std::string(1, c))) {
                last = check_masks(trie, m, cache);
                continue;
            }
            // A refused byte must leave the state as it was, so the three masks would only be recomputed
            // unchanged (most fed bytes are refused); checked here: the same state, the same cached mask.
            if (!(m.state() == before)) die("a refused byte changed the state", "");
            const size_t n = size_t(std::count_if(last.begin(), last.end(), [](uint8_t v) { return v != 0; }));
            if (trie.allowed(m, again, cache) != n || again != last) die("a refused byte changed the mask", "");
        }
    } catch (const bf::Error&) {  // a grammar too ambiguous at some point
    }
    return 0;
}
