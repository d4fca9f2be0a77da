// Requests the engine tests build again and again: a greedy (or seeded) request that ignores end-of-
// generation ids, and token runs of visible characters (ids < 90 of the char tokenizer).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/batcher.h"

namespace bf::testing {

// temp 0: greedy; otherwise sampled at `temp` with a fixed seed.
inline GenRequest greedy_request(const std::vector<int32_t>& prompt, int64_t max_tokens, float temp = 0) {
    GenRequest r;
    r.prompt = prompt;
    r.sampler.temp = temp;
    r.sampler.seed = 1234;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
}

// n ids (i * mul + add) % 90: a run of visible characters that does not repeat quickly.
inline std::vector<int32_t> id_run(int n, int mul, int add) {
    std::vector<int32_t> v;
    for (int i = 0; i < n; ++i) v.push_back(int32_t((i * mul + add) % 90));
    return v;
}

}  // namespace bf::testing
