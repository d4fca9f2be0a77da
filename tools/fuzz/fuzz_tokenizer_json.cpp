// libFuzzer entry for the tokenizer.json loader: any text must load or throw bf::Error; a loaded
// tokenizer must encode and decode a fixed text, and survive the GGUF-array round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

static volatile size_t g_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const bf::Tokenizer t =
            bf::Tokenizer::from_hf_json(std::string_view(reinterpret_cast<const char*>(data), size));
        const auto ids = t.encode("Hello <|end|> wörld 12\xff\n", true);
        g_sink = t.decode(ids).size() + size_t(t.n_vocab());
        const bf::Tokenizer back = bf::Tokenizer::from_data(t.to_data());
        g_sink = g_sink + back.encode("x y", false).size();
    } catch (const bf::Error&) {}
    return 0;
}
