// libFuzzer entry for the BPE encoder on arbitrary bytes, with the twin model's tokenizer (merges, added
// tokens): decode(encode(x)) must equal x without special-token parsing; with it, x less whitespace only
// (rstrip/lstrip tokens such as <|system|> absorb adjacent whitespace, as in HF); streaming decode must
// equal whole decode (tokenizer.h promises these for any byte string).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

static const bf::Tokenizer& tokenizer() {
    static const bf::Tokenizer t = [] {
        const char* path = std::getenv("BF_FUZZ_TOKENIZER");  // run.sh: the twin model's tokenizer.json
        std::ifstream f(path ? path : "models/sambay-math-f32twin/tokenizer.json", std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return bf::Tokenizer::from_hf_json(ss.str());
    }();
    return t;
}

// True if `got` is `want` with zero or more whitespace bytes deleted.
static bool equal_but_whitespace(const std::string& want, const std::string& got) {
    size_t i = 0;
    for (char c : got) {
        while (i < want.size() && want[i] != c && std::isspace(static_cast<unsigned char>(want[i]))) ++i;
        if (i == want.size() || want[i] != c) return false;
        ++i;
    }
    for (; i < want.size(); ++i)
        if (!std::isspace(static_cast<unsigned char>(want[i]))) return false;
    return true;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const bf::Tokenizer& t = tokenizer();
    const std::string text(reinterpret_cast<const char*>(data), size);
    for (bool special : {false, true}) {
        const auto ids = t.encode(text, special);
        const std::string back = t.decode(ids);
        if (special ? !equal_but_whitespace(text, back) : back != text) {
            std::fprintf(stderr, "round trip changed the text (parse_special=%d)\n", int(special));
            std::abort();
        }
        bf::StreamDecoder sd(t);
        std::string streamed;
        for (int32_t id : ids) streamed += sd.push(id);
        streamed += sd.flush();
        if (streamed != back) {
            std::fprintf(stderr, "streaming decode differs from decode\n");
            std::abort();
        }
    }
    return 0;
}
