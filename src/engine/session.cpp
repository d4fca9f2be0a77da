// A single sequence fed token by token or in chunks (bench, perplexity), with save/restore.
#include "engine/session.h"

#include "core/error.h"

namespace bf {

Session::Session(const Model& m, int64_t n_ctx, int64_t prefill_chunk, KvType kv_type)
    : model_(m),
      state_(SequenceState::create(m.config, n_ctx, kv_type)),
      logits_(size_t(m.config.n_vocab)),
      chunk_(prefill_chunk > 0 ? prefill_chunk : 512) {}

const std::vector<float>& Session::feed(std::span<const int32_t> tokens) {
    if (state_.n_past + int64_t(tokens.size()) > state_.n_ctx)
        fail(strfmt("the prompt does not fit: %lld tokens in context + %zu new > context size %lld (raise -c)",
                    (long long)state_.n_past, tokens.size(), (long long)state_.n_ctx));
    for (size_t i = 0; i < tokens.size(); i += size_t(chunk_)) {
        const size_t n = std::min(tokens.size() - i, size_t(chunk_));
        forward(model_, state_, tokens.subspan(i, n), LogitsFor::LastToken, ws_, logits_.data());
        tokens_.insert(tokens_.end(), tokens.begin() + long(i), tokens.begin() + long(i + n));
    }
    return logits_;
}

void Session::reset() {
    state_.reset();
    tokens_.clear();
}

void Session::restore(const Checkpoint& c) {
    state_ = c.state;
    tokens_ = c.tokens;
    logits_ = c.logits;
}

}  // namespace bf
