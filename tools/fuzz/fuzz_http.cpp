// libFuzzer entry for the server's request path without sockets: body -> JSON -> validated completion
// request (chat or not, by the first byte) -> a Sampler built from its parameters drawing a few tokens.
// Anything must end in a request or an ApiError/bf::Error; sampled ids must be in range.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "sample/sampler.h"
#include "server/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool chat = data[0] & 1;
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const bf::json j = bf::parse_body(body, chat ? bf::Endpoint::ChatCompletions : bf::Endpoint::Completions);
        bf::CompletionRequest r = bf::parse_completion_request(j, chat);
        if (r.sampler.repeat_last_n < 0) r.sampler.repeat_last_n = 64;  // the server maps -1 to the context
        constexpr int32_t kVocab = 37;
        bf::Sampler s(r.sampler, kVocab);
        std::vector<float> logits(kVocab);
        for (int32_t k = 0; k < kVocab; ++k) logits[k] = float((k * 7919) % 23) * 0.25f - 2.0f;
        for (int32_t id : r.prompt_tokens)
            if (id >= 0 && id < kVocab) s.accept(id);
        for (int step = 0; step < 4; ++step) {
            const int32_t id = s.sample(logits.data());
            if (id < 0 || id >= kVocab) {
                std::fprintf(stderr, "sampled id %d out of range\n", id);
                std::abort();
            }
            s.accept(id);
        }
        (void)bf::get_token_list(j, "tokens", kVocab);
    } catch (const bf::Error&) {}
    return 0;
}
