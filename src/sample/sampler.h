// Token sampling from logits with llama.cpp's defaults and order: repetition/frequency/presence
// penalties, top-k, top-p, min-p, temperature, then a draw from a seeded RNG (or greedy argmax).
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace bf {

struct SamplerParams {
    static constexpr uint64_t kRandomSeed = 0xFFFFFFFFu;  // as llama.cpp: pick a seed at random
    float temp = 0.8f;                                    // <= 0: greedy (argmax after penalties)
    int32_t top_k = 40;                                   // <= 0: off
    float top_p = 0.95f;                                  // >= 1: off
    float min_p = 0.05f;                                  // <= 0: off
    float repeat_penalty = 1.0f;                          // 1: off
    int32_t repeat_last_n = 64;                           // penalties look at this many last accepted tokens; 0: off
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    uint64_t seed = kRandomSeed;
};

class Sampler {
public:
    // Throws bf::Error for invalid parameters (n_vocab <= 0, negative repeat_last_n, NaN values,
    // repeat_penalty <= 0, min_p > 1). The engine maps llama.cpp's repeat_last_n = -1 to the context size.
    Sampler(const SamplerParams& params, int32_t n_vocab);

    // logits has n_vocab entries. NaN logits count as -inf; if every logit is -inf, returns the lowest id.
    // With `allowed` (n_vocab flags, e.g. a grammar's mask; at least one set), tokens not allowed are set to
    // -inf before penalties, top-k/p, min-p and temperature, and the result is always an allowed token.
    int32_t sample(const float* logits, const uint8_t* allowed = nullptr);
    // Records a token as generated or prompted (feeds the penalties). Throws bf::Error if out of range.
    void accept(int32_t token);
    // Forgets accepted tokens and restarts the RNG from the seed.
    void reset();

    // For tests and diagnostics: applies the penalties of the current history to logits in place:
    // l = l > 0 ? l / repeat_penalty : l * repeat_penalty; l -= frequency * count + presence * (count > 0).
    void apply_penalties(std::span<float> logits) const;
    uint64_t seed() const { return seed_; }

private:
    struct Cand {
        float logit;
        int32_t id;
    };
    double uniform();
    int32_t
    sample_work();  // the chain on work_  // [0, 1) from the 64-bit Mersenne twister, the same on every platform

    SamplerParams p_;
    int32_t n_vocab_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::deque<int32_t> history_;
    std::vector<Cand> cand_;
    std::vector<float> work_;
};

}  // namespace bf
