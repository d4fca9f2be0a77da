// The generation loop: prompt -> (sample, stream, feed) until an end-of-generation token, the token
// limit or the context end. Reports llama.cpp-style timings.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/session.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace bf {

struct Timings {
    double prompt_ms = 0, gen_ms = 0, sample_ms = 0;
    int64_t n_prompt = 0, n_gen = 0;
};

enum class StopReason { EndOfGeneration, Length, ContextFull, Callback };

struct GenerateResult {
    std::vector<int32_t> tokens;  // generated, without the end-of-generation token
    StopReason stop = StopReason::Length;
    int32_t end_token = -1;  // the end-of-generation token that stopped it (not fed to the session)
    Timings timings;
};

// on_token gets each generated token's text (complete UTF-8 characters only) and may return false
// to stop. n_predict < 0: until end of generation or context end.
GenerateResult generate(Session& s, Sampler& sampler, const Tokenizer& tok, const std::vector<int32_t>& eog,
                        const std::vector<int32_t>& prompt, int64_t n_predict,
                        const std::function<bool(const std::string&)>& on_token);

std::string format_timings(const Timings& t, double load_ms);

}  // namespace bf
