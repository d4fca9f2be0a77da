// Chunking, scoring and the perplexity / KL-divergence statistics of engine/perplexity.h.
#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace bf {

ChunkPlan plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks) {
    if (n_ctx < 3)
        fail(strfmt("the context size must be at least 3 (one scored token per chunk), not %lld", (long long)n_ctx));
    if (n_tokens < 2 * n_ctx)
        fail(strfmt("the text tokenizes to %lld tokens; a context of %lld needs at least %lld (two chunks)",
                    (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx)));
    ChunkPlan p;
    p.n_ctx = n_ctx;
    p.first = n_ctx / 2;
    p.n_chunk = n_tokens / n_ctx;
    if (max_chunks > 0) p.n_chunk = std::min(p.n_chunk, max_chunks);
    return p;
}

void evaluate_chunk(const Model& m, SequenceState& st, Workspace& ws, std::span<const int32_t> chunk,
                    const ChunkPlan& plan, int64_t batch,
                    const std::function<void(int64_t j, const float* logits)>& on_scored, LogitsFor context) {
    if (int64_t(chunk.size()) != plan.n_ctx) fail("evaluate_chunk: the chunk is not n_ctx tokens long");
    if (batch < 1) batch = plan.n_ctx;
    const int64_t n_vocab = m.config.n_vocab;
    std::vector<float> logits(size_t(std::min(batch, plan.n_ctx) * n_vocab));
    st.reset();
    for (int64_t i = 0; i < plan.first; i += batch) {  // context only: its logits are not used
        const int64_t n = std::min(batch, plan.first - i);
        forward(m, st, chunk.subspan(size_t(i), size_t(n)), context, ws, logits.data());
    }
    for (int64_t i = plan.first; i < plan.n_ctx; i += batch) {
        const int64_t n = std::min(batch, plan.n_ctx - i);
        forward(m, st, chunk.subspan(size_t(i), size_t(n)), LogitsFor::AllTokens, ws, logits.data());
        for (int64_t k = 0; k < n && i + k < plan.n_ctx - 1; ++k) on_scored(i + k, logits.data() + k * n_vocab);
    }
}

namespace {

// log Σ exp(v_i), stable.
template <class T>
double log_sum_exp(const T* v, int64_t n, double max) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(double(v[i]) - max);
    return max + std::log(s);
}

int32_t argmax_of(const float* v, int64_t n) { return int32_t(std::max_element(v, v + n) - v); }

// llama.cpp's mean and its standard error (zero below 11 samples).
std::pair<double, double> mean_and_error(double sum, double sum2, int64_t n) {
    if (n < 1) return {0, 0};
    const double f = sum / double(n), var = sum2 / double(n) - f * f;
    return {f, var > 0 && n > 10 ? std::sqrt(var / double(n - 1)) : 0.0};
}

}  // namespace

TokenLogProb token_logprob(const float* logits, int64_t n_vocab, int32_t target) {
    if (target < 0 || target >= n_vocab) fail(strfmt("token id %d is outside the vocabulary", target));
    const int32_t am = argmax_of(logits, n_vocab);
    return {double(logits[target]) - log_sum_exp(logits, n_vocab, logits[am]), am};
}

double PplStats::ppl() const { return n_ ? std::exp(sum_ / double(n_)) : 0.0; }

double PplStats::error() const {
    if (n_ < 2) return 0;
    const double mean = sum_ / double(n_), var = sum2_ / double(n_) - mean * mean;
    return var > 0 ? ppl() * std::sqrt(var / double(n_ - 1)) : 0.0;
}

void encode_base_row(const float* logits, int64_t n_vocab, int32_t target, uint8_t* row) {
    const TokenLogProb t = token_logprob(logits, n_vocab, target);
    const double lse = log_sum_exp(logits, n_vocab, logits[t.argmax]);
    const double top = double(logits[t.argmax]) - lse;
    const double lowest = double(*std::min_element(logits, logits + n_vocab)) - lse;
    const float lo = float(std::max(lowest, top - double(kLogProbRange)));
    const float step = float((top - double(lo)) / 65535.0);
    const float target_lp = float(t.logprob);
    std::memcpy(row, &lo, 4);
    std::memcpy(row + 4, &step, 4);
    std::memcpy(row + 8, &target_lp, 4);
    std::memcpy(row + 12, &t.argmax, 4);
    uint8_t* codes = row + 16;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double lp = double(logits[i]) - lse;
        double c = step > 0 ? std::nearbyint((lp - double(lo)) / double(step)) : 0.0;
        const uint16_t code = uint16_t(std::clamp(c, 0.0, 65535.0));
        std::memcpy(codes + 2 * i, &code, 2);
    }
}

double KldStats::add(const uint8_t* base_row, const float* logits, int64_t n_vocab, int32_t target) {
    float lo, step, target_lp;
    int32_t base_top;
    std::memcpy(&lo, base_row, 4);
    std::memcpy(&step, base_row + 4, 4);
    std::memcpy(&target_lp, base_row + 8, 4);
    std::memcpy(&base_top, base_row + 12, 4);
    if (!std::isfinite(lo) || !std::isfinite(step) || step < 0 || !(target_lp <= 0) || base_top < 0 ||
        base_top >= n_vocab)
        fail("the KL-divergence base file holds a malformed row");
    const TokenLogProb q = token_logprob(logits, n_vocab, target);
    const double lse_q = double(logits[target]) - q.logprob;
    const uint8_t* codes = base_row + 16;
    lq_.resize(size_t(n_vocab));
    std::vector<double>& lb = lq_;  // the decoded base log-probs, renormalised below
    double lb_max = -INFINITY;
    for (int64_t i = 0; i < n_vocab; ++i) {
        uint16_t c;
        std::memcpy(&c, codes + 2 * i, 2);
        lb[size_t(i)] = double(lo) + double(step) * c;
        lb_max = std::max(lb_max, lb[size_t(i)]);
    }
    const double norm = log_sum_exp(lb.data(), n_vocab, lb_max);
    double kld = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double lbi = lb[size_t(i)] - norm;
        kld += std::exp(lbi) * (lbi - (double(logits[i]) - lse_q));
    }
    kld = std::max(kld, 0.0);  // rounding of a vanishing sum
    const double nll = -q.logprob, nll_base = -double(target_lp);
    nll_ += nll, nll2_ += nll * nll;
    nll_base_ += nll_base, nll_base2_ += nll_base * nll_base, nll_cross_ += nll * nll_base;
    kld_ += kld, kld2_ += kld * kld;
    const double dp = std::exp(-nll) - std::exp(-nll_base);
    dp_ += dp, dp2_ += dp * dp, dp4_ += dp * dp * dp * dp;
    same_top_ += q.argmax == base_top;
    klds_.push_back(float(kld));
    return kld;
}

double percentile(const std::vector<float>& sorted, double fraction) {
    if (sorted.empty()) return 0;
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    const double p = fraction * double(sorted.size() - 1);
    const size_t i = size_t(p);
    const double w = p - double(i);
    return (1 - w) * sorted[i] + w * sorted[std::min(i + 1, sorted.size() - 1)];
}

KldSummary KldStats::summary() const {
    KldSummary s;
    const int64_t n = count();
    s.count = n;
    if (n == 0) return s;
    const auto lq = mean_and_error(nll_, nll2_, n), lb = mean_and_error(nll_base_, nll_base2_, n);
    s.ppl_q = std::exp(lq.first), s.ppl_q_err = s.ppl_q * lq.second;
    s.ppl_base = std::exp(lb.first), s.ppl_base_err = s.ppl_base * lb.second;
    // ln(PPL(Q)/PPL(base)) with the covariance of the two (paired) nll series, as llama.cpp
    const double cov = n < 10 ? 0.0 : (nll_cross_ / double(n) - lq.first * lb.first) / double(n - 1);
    s.ln_ratio = lq.first - lb.first;
    s.ln_ratio_err = std::sqrt(std::max(0.0, lq.second * lq.second + lb.second * lb.second - 2 * cov));
    const auto k = mean_and_error(kld_, kld2_, n);
    s.kld = k.first, s.kld_err = k.second;
    std::vector<float> sorted = klds_;
    std::sort(sorted.begin(), sorted.end());
    s.kld_max = sorted.back(), s.kld_min = sorted.front();
    s.kld_999 = percentile(sorted, 0.999), s.kld_99 = percentile(sorted, 0.99);
    s.kld_95 = percentile(sorted, 0.95), s.kld_90 = percentile(sorted, 0.90);
    const size_t h = sorted.size() / 2;
    s.kld_median = sorted.size() % 2 ? sorted[h] : 0.5 * (double(sorted[h - 1]) + sorted[h]);
    s.same_top = double(same_top_) / double(n);
    s.same_top_err = n > 1 ? std::sqrt(s.same_top * (1 - s.same_top) / double(n - 1)) : 0.0;
    const auto dp = mean_and_error(dp_, dp2_, n);
    s.mean_dp = dp.first, s.mean_dp_err = dp.second;
    const auto mse = mean_and_error(dp2_, dp4_, n);
    s.rms_dp = std::sqrt(mse.first);
    s.rms_dp_err = s.rms_dp > 0 ? 0.5 / s.rms_dp * mse.second : 0.0;
    return s;
}

}  // namespace bf
