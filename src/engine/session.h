// One sequence fed directly, without sampling or stop rules: `bench` measures prefill and decode at fixed
// depths with it (generation itself goes through engine/batcher.h). Prefill goes in chunks (exact, §5);
// decode is a chunk of one token. Only logits of the last token are computed (§4.8).
#pragma once
#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "model/sambay.h"

namespace bf {

class Session {
public:
    Session(const Model& m, int64_t n_ctx, int64_t prefill_chunk = 512, KvType kv_type = KvType::F32);

    // Appends tokens; returns the logits after the last one ([n_vocab], valid until the next call).
    const std::vector<float>& feed(std::span<const int32_t> tokens);
    const std::vector<float>& logits() const { return logits_; }
    int64_t n_past() const { return state_.n_past; }
    int64_t n_ctx() const { return state_.n_ctx; }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    const Model& model() const { return model_; }
    void reset();
    size_t state_bytes() const { return state_.bytes(); }

    // Snapshot of the whole sequence state (for chat checkpoints at the end of a turn).
    struct Checkpoint {
        SequenceState state;
        std::vector<int32_t> tokens;
        std::vector<float> logits;
    };
    Checkpoint save() const { return {state_, tokens_, logits_}; }
    void restore(const Checkpoint& c);

private:
    const Model& model_;
    SequenceState state_;
    Workspace ws_;
    std::vector<float> logits_;
    std::vector<int32_t> tokens_;
    int64_t chunk_;
};

}  // namespace bf
