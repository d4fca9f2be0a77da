// grammar_bench: the cost of the grammar mask per generated token at a real vocabulary. Builds the vocabulary
// trie once, then follows a JSON document token by token, timing the mask before each token.
// Usage: grammar_bench TOKENIZER.json [SCHEMA.json DOCUMENT.json]   (default: json_object and a built-in document)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

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
        std::vector<uint8_t> mask;
        std::vector<double> times;
        size_t allowed_sum = 0;
        for (int32_t id : tok.encode(doc, false)) {
            t0 = std::chrono::steady_clock::now();
            allowed_sum += trie.allowed(m, mask);
            times.push_back(ms_since(t0));
            if (!mask[size_t(id)]) bf::fail("the document leaves the grammar at token " + std::to_string(id));
            if (!m.accept(tok.token_to_piece(id))) bf::fail("internal: the matcher refused an allowed token");
        }
        if (times.empty()) bf::fail("the document is empty");
        std::vector<double> sorted = times;
        std::sort(sorted.begin(), sorted.end());
        double sum = 0;
        for (double t : times) sum += t;
        std::printf("vocabulary %d tokens, trie %zu nodes, built in %.1f ms\n", tok.n_vocab(), trie.n_nodes(),
                    build_ms);
        std::printf(
            "%zu tokens: mask per token mean %.3f ms, median %.3f ms, max %.3f ms; %.0f tokens allowed on average\n",
            times.size(), sum / double(times.size()), sorted[sorted.size() / 2], sorted.back(),
            double(allowed_sum) / double(times.size()));
        std::printf("document complete: %s\n", m.can_end() ? "yes" : "no");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "grammar_bench: %s\n", e.what());
        return 1;
    }
}
