// Sampler implementation (see sampler.h); the chain order follows llama.cpp's default:
// penalties -> top_k -> top_p -> min_p -> temperature -> dist.
#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"

namespace bf {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

Sampler::Sampler(const SamplerParams& params, int32_t n_vocab) : p_(params), n_vocab_(n_vocab) {
    if (n_vocab <= 0) fail(strfmt("sampler: n_vocab %d must be positive", n_vocab));
    for (auto [name, v] : {std::pair{"temp", p_.temp},
                           {"top_p", p_.top_p},
                           {"min_p", p_.min_p},
                           {"repeat_penalty", p_.repeat_penalty},
                           {"presence_penalty", p_.presence_penalty},
                           {"frequency_penalty", p_.frequency_penalty}})
        if (!std::isfinite(v)) fail(strfmt("sampler: %s is not a finite number", name));
    if (p_.repeat_penalty <= 0) fail(strfmt("sampler: repeat_penalty %g must be > 0", p_.repeat_penalty));
    if (p_.min_p > 1) fail(strfmt("sampler: min_p %g must be <= 1", p_.min_p));
    if (p_.repeat_last_n < 0) fail(strfmt("sampler: repeat_last_n %d must be >= 0", p_.repeat_last_n));
    seed_ = p_.seed == SamplerParams::kRandomSeed
                ? (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}()
                : p_.seed;
    rng_.seed(seed_);
    cand_.reserve(n_vocab);
}

void Sampler::reset() {
    history_.clear();
    rng_.seed(seed_);
}

void Sampler::accept(int32_t token) {
    if (token < 0 || token >= n_vocab_) fail(strfmt("sampler: token %d out of range [0, %d)", token, n_vocab_));
    if (p_.repeat_last_n == 0) return;
    history_.push_back(token);
    if (history_.size() > static_cast<size_t>(p_.repeat_last_n)) history_.pop_front();
}

void Sampler::apply_penalties(std::span<float> logits) const {
    if (history_.empty() || (p_.repeat_penalty == 1.0f && p_.frequency_penalty == 0.0f && p_.presence_penalty == 0.0f))
        return;
    std::unordered_map<int32_t, int> count;
    for (int32_t t : history_) ++count[t];
    for (auto [t, c] : count) {
        if (static_cast<size_t>(t) >= logits.size()) continue;
        float& l = logits[t];
        l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
        l -= static_cast<float>(c) * p_.frequency_penalty + p_.presence_penalty;
    }
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(const float* logits, const uint8_t* allowed) {
    work_.assign(logits, logits + n_vocab_);
    if (allowed)
        for (int32_t i = 0; i < n_vocab_; ++i)
            if (!allowed[i]) work_[i] = kNegInf;
    const int32_t id = sample_work();
    if (!allowed || allowed[id]) return id;
    // Every allowed logit was -inf (or NaN): the lowest allowed id, like the unmasked rule.
    const int32_t first = int32_t(std::find(allowed, allowed + n_vocab_, uint8_t(1)) - allowed);
    if (first == n_vocab_) fail("sampler: the mask allows no token");
    return first;
}

int32_t Sampler::sample_work() {
    for (float& l : work_)
        if (std::isnan(l)) l = kNegInf;  // NaN would break the orderings below
    apply_penalties(work_);

    if (p_.temp <= 0) {
        return static_cast<int32_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
    }

    // Descending by logit, ties by lower id, so results do not depend on the sort algorithm.
    const auto before = [](const Cand& a, const Cand& b) {
        return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
    };
    cand_.clear();
    for (int32_t i = 0; i < n_vocab_; ++i) cand_.push_back({work_[i], i});
    if (p_.top_k > 0 && p_.top_k < n_vocab_) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), before);
        cand_.resize(p_.top_k);
    } else {
        std::sort(cand_.begin(), cand_.end(), before);
    }
    if (cand_[0].logit == kNegInf) return cand_[0].id;

    // top_p on the softmax of the surviving candidates (temperature comes later, as in llama.cpp).
    if (p_.top_p < 1.0f) {
        const double max = cand_[0].logit;
        double sum = 0;
        for (const Cand& c : cand_) sum += std::exp(static_cast<double>(c.logit) - max);
        double cum = 0;
        size_t keep = cand_.size();
        for (size_t i = 0; i < cand_.size(); ++i) {
            cum += std::exp(static_cast<double>(cand_[i].logit) - max) / sum;
            if (cum >= p_.top_p) {
                keep = i + 1;
                break;
            }
        }
        cand_.resize(keep);
    }
    // min_p: keep p_i >= min_p * p_max, i.e. logit_i >= logit_max + log(min_p).
    if (p_.min_p > 0.0f) {
        const double cut = static_cast<double>(cand_[0].logit) + std::log(static_cast<double>(p_.min_p));
        size_t keep = 1;
        while (keep < cand_.size() && cand_[keep].logit >= cut) ++keep;
        cand_.resize(keep);
    }
    // Temperature, softmax and the draw.
    const double max = cand_[0].logit / static_cast<double>(p_.temp);
    double sum = 0;
    for (const Cand& c : cand_) sum += std::exp(c.logit / static_cast<double>(p_.temp) - max);
    const double u = uniform() * sum;
    double cum = 0;
    for (const Cand& c : cand_) {
        cum += std::exp(c.logit / static_cast<double>(p_.temp) - max);
        if (u < cum) return c.id;
    }
    return cand_.back().id;  // rounding left u at the very top
}

}  // namespace bf
