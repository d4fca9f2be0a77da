// Perplexity and KL divergence measured the way llama-perplexity does: non-overlapping chunks, each
// from an empty state, only the second half scored; the statistics and their errors are llama.cpp's.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/sambay.h"

namespace bf {

// The token stream cut into n_chunk chunks of n_ctx tokens. In each chunk the logits at positions
// j in [first, n_ctx − 1) predict token j + 1 and are scored: n_scored() tokens per chunk.
struct ChunkPlan {
    int64_t n_ctx = 0, n_chunk = 0, first = 0;
    int64_t n_scored() const { return n_ctx - 1 - first; }
};

// llama-perplexity's rules: first = n_ctx/2, n_chunk = n_tokens / n_ctx (at most max_chunks when > 0),
// and the text must hold at least 2·n_ctx tokens. Throws bf::Error naming the shortfall.
ChunkPlan plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks);

// Runs one chunk (plan.n_ctx tokens) from an empty state in forward passes of at most `batch` tokens (0: all)
// and calls on_scored(j, logits) for every scored position j. By default the unscored first half asks
// only for the last token's logits, which skips the cross-decoder for it (exact, §4.8); AllTokens runs
// every layer on every token (imatrix needs every input). Only `batch` logits rows are ever held.
void evaluate_chunk(const Model& m, SequenceState& st, Workspace& ws, std::span<const int32_t> chunk,
                    const ChunkPlan& plan, int64_t batch,
                    const std::function<void(int64_t j, const float* logits)>& on_scored,
                    LogitsFor context = LogitsFor::LastToken);

// log softmax(logits)[target] in double precision, with the row's argmax (first of equal maxima).
struct TokenLogProb {
    double logprob = 0;
    int32_t argmax = 0;
};
TokenLogProb token_logprob(const float* logits, int64_t n_vocab, int32_t target);

// Running perplexity over negative log-likelihoods. error(): llama.cpp's PPL · sqrt(Var(nll) / (n − 1)).
class PplStats {
public:
    void add(double nll) { sum_ += nll, sum2_ += nll * nll, ++n_; }
    int64_t count() const { return n_; }
    double ppl() const;
    double error() const;

private:
    double sum_ = 0, sum2_ = 0;
    int64_t n_ = 0;
};

// One scored position of the base model, compressed (docs/formats.md, "KL-divergence base file"):
// log p_i ≈ lo + step · code_i with 16-bit codes over [max − kLogProbRange, max]; lower ones clamp to lo.
// The target's exact log-probability and the exact argmax are kept beside the codes.
inline constexpr float kLogProbRange = 24.0f;
inline int64_t base_row_bytes(int64_t n_vocab) { return 16 + 2 * n_vocab; }
void encode_base_row(const float* logits, int64_t n_vocab, int32_t target, uint8_t* row);

struct KldSummary {
    int64_t count = 0;
    double ppl_q = 0, ppl_q_err = 0, ppl_base = 0, ppl_base_err = 0, ln_ratio = 0, ln_ratio_err = 0;
    double kld = 0, kld_err = 0, kld_max = 0, kld_999 = 0, kld_99 = 0, kld_95 = 0, kld_90 = 0, kld_median = 0,
           kld_min = 0;
    double same_top = 0, same_top_err = 0, rms_dp = 0, rms_dp_err = 0, mean_dp = 0, mean_dp_err = 0;
};

// KL(base ‖ Q) per scored token, summed with llama.cpp's statistics. The base row's decoded
// log-probabilities are renormalised first, so each token's KLD is that of a proper distribution (>= 0).
class KldStats {
public:
    // Returns this token's KLD.
    double add(const uint8_t* base_row, const float* logits, int64_t n_vocab, int32_t target);
    KldSummary summary() const;
    int64_t count() const { return int64_t(klds_.size()); }

private:
    double nll_ = 0, nll2_ = 0, nll_base_ = 0, nll_base2_ = 0, nll_cross_ = 0, kld_ = 0, kld2_ = 0;
    double dp_ = 0, dp2_ = 0, dp4_ = 0;
    int64_t same_top_ = 0;
    std::vector<float> klds_;
    std::vector<double> lq_;  // scratch: log softmax of the logits
};

// llama.cpp's percentile: linear interpolation at fraction·(n − 1) of the sorted values.
double percentile(const std::vector<float>& sorted, double fraction);

}  // namespace bf
