// Greedy generation for many prompts at once (`eval`): the batcher with `parallel` greedy slots; a finished
// sequence's slot goes to the next prompt.
#pragma once
#include <functional>
#include <vector>

#include "engine/batcher.h"

namespace bf {

struct BatchJob {
    std::vector<int32_t> prompt;
    std::vector<int32_t> output;  // generated tokens, without the end-of-generation token
    StopReason stop = StopReason::Length;
};

// on_done(i) is called as job i finishes (in completion order). Whole prompts go in one step each.
void generate_batch(const Model& m, std::vector<BatchJob>& jobs, const std::vector<int32_t>& eog, int64_t n_ctx,
                    int64_t n_predict, int parallel, const std::function<void(size_t)>& on_done,
                    KvType kv_type = KvType::F32);

}  // namespace bf
