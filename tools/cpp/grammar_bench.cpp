// grammar_bench: the cost of the grammar mask per generated token at a real vocabulary. Builds the vocabulary
// trie once, then follows a JSON document token by token, timing the mask before each token three ways (the
// plain reference walk, the memoized walk, the memoized walk with a request's mask cache), per kind of state.
// Usage: grammar_bench TOKENIZER.json [SCHEMA.json DOCUMENT.json]   (default: json_object and a built-in document)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "grammar/json_schema.h"
#include "grammar/vocab_trie.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string slurp(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) bf::fail(std::string("cannot read ") + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

const char* kDocument = R"({"name": "Ada Lovelace", "born": 1815, "fields": ["mathematics", "computing"],
 "notes": {"first program": true, "engine": "Analytical Engine", "ratio": 0.5}, "children": 3})";

// Where a JSON text ends: inside a string, inside a number, or between tokens (structure, literals, spaces).
enum Kind { kInString, kInNumber, kBetween, kKinds };
const char* const kKindNames[kKinds] = {"inside a string", "inside a number", "between tokens"};

Kind kind_after(std::string_view text) {
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (escaped)
            escaped = false;
        else if (in_string && c == '\\')
            escaped = true;
        else if (c == '"')
            in_string = !in_string;
    }
    if (in_string) return kInString;
    const char last = text.empty() ? ' ' : text.back();
    return (last >= '0' && last <= '9') || last == '.' || last == '-' ? kInNumber : kBetween;
}

struct Costs {
    std::vector<double> ms[3];  // reference walk, memoized walk, memoized walk with the cache
    size_t allowed = 0;
};

void print_costs(const char* what, const Costs& c) {
    const size_t n = c.ms[0].size();
    if (n == 0) return;
    std::printf("%-16s %4zu tokens, %7.0f allowed on average; mask ms mean/median/max:", what, n,
                double(c.allowed) / double(n));
    const char* const names[3] = {"reference", "memoized", "cached"};
    for (int way = 0; way < 3; ++way) {
        std::vector<double> v = c.ms[way];
        std::sort(v.begin(), v.end());
        double sum = 0;
        for (double t : v) sum += t;
        std::printf("  %s %.3f/%.3f/%.3f", names[way], sum / double(n), v[n / 2], v.back());
    }
    std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc != 2 && argc != 4) {
            std::fprintf(stderr, "usage: %s TOKENIZER.json [SCHEMA.json DOCUMENT.json]\n", argv[0]);
            return 2;
        }
        const bf::Tokenizer tok = bf::Tokenizer::from_hf_json(slurp(argv[1]));
        const std::string gbnf =
            argc == 4 ? bf::json_schema_to_gbnf(nlohmann::json::parse(slurp(argv[2]))) : bf::json_object_gbnf();
        const std::string doc = argc == 4 ? slurp(argv[3]) : kDocument;
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> pieces(size_t(tok.n_vocab()));
        for (int32_t i = 0; i < tok.n_vocab(); ++i) pieces[size_t(i)] = tok.token_to_piece(i);
        const bf::VocabTrie trie(pieces, {tok.eos_id()});
        const double build_ms = ms_since(t0);
        bf::GrammarMatcher m(std::make_shared<const bf::Grammar>(bf::parse_gbnf(gbnf)));
        bf::MaskCache cache;
        std::vector<uint8_t> mask[3];
        Costs kinds[kKinds], all;
        std::string text;
        for (int32_t id : tok.encode(doc, false)) {
            Costs& k = kinds[kind_after(text)];
            size_t n = 0;
            for (int way = 0; way < 3; ++way) {
                t0 = std::chrono::steady_clock::now();
                n = way == 0   ? trie.allowed_reference(m, mask[0])
                    : way == 1 ? trie.allowed(m, mask[1])
                               : trie.allowed(m, mask[2], cache);
                const double ms = ms_since(t0);
                k.ms[way].push_back(ms);
                all.ms[way].push_back(ms);
            }
            if (mask[1] != mask[0] || mask[2] != mask[0]) bf::fail("internal: the masks disagree with the reference");
            k.allowed += n;
            all.allowed += n;
            if (!mask[0][size_t(id)]) bf::fail("the document leaves the grammar at token " + std::to_string(id));
            const std::string piece = tok.token_to_piece(id);
            if (!m.accept(piece)) bf::fail("internal: the matcher refused an allowed token");
            text += piece;
        }
        if (all.ms[0].empty()) bf::fail("the document is empty");
        std::printf("vocabulary %d tokens, trie %zu nodes, built in %.1f ms\n", tok.n_vocab(), trie.n_nodes(),
                    build_ms);
        for (int k = 0; k < kKinds; ++k) print_costs(kKindNames[k], kinds[k]);
        print_costs("all", all);
        std::printf("document complete: %s\n", m.can_end() ? "yes" : "no");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "grammar_bench: %s\n", e.what());
        return 1;
    }
}
