#include "engine/batch_generate.h"

#include <algorithm>

#include "core/error.h"
#include "model/sambay.h"

namespace bf {

void generate_batch(const Model& m, std::vector<BatchJob>& jobs, const std::vector<int32_t>& eog, int64_t n_ctx,
                    int64_t n_predict, int parallel, const std::function<void(size_t)>& on_done, KvType kv_type) {
    if (parallel < 1) fail("parallel must be >= 1");
    for (const auto& j : jobs) {
        if (j.prompt.empty()) fail("a prompt is empty");
        if (int64_t(j.prompt.size()) >= n_ctx)
            fail(strfmt("a prompt of %zu tokens does not fit the context of %lld", j.prompt.size(), (long long)n_ctx));
    }
    const int64_t V = m.config.n_vocab;
    struct Slot {
        SequenceState state;
        size_t job = 0;
        bool busy = false, prefilled = false;
        int32_t next = 0;  // the token to feed at the next step
    };
    std::vector<Slot> slots;
    for (int i = 0; i < parallel; ++i) slots.push_back({SequenceState::create(m.config, n_ctx, kv_type), 0, false, false, 0});
    Workspace ws;
    std::vector<float> logits;
    size_t next_job = 0, finished = 0;
    std::vector<SeqChunk> chunks;
    std::vector<Slot*> order;
    while (finished < jobs.size()) {
        for (auto& s : slots)
            if (!s.busy && next_job < jobs.size()) {
                s.state.reset();
                s.job = next_job++;
                s.busy = true;
                s.prefilled = false;
            }
        chunks.clear();
        order.clear();
        for (auto& s : slots) {
            if (!s.busy) continue;
            if (s.prefilled)
                chunks.push_back({&s.state, std::span<const int32_t>(&s.next, 1)});
            else
                chunks.push_back({&s.state, jobs[s.job].prompt});
            order.push_back(&s);
        }
        logits.resize(chunks.size() * size_t(V));
        forward_batch(m, chunks, LogitsFor::LastToken, ws, logits.data());
        for (size_t k = 0; k < order.size(); ++k) {
            Slot& s = *order[k];
            s.prefilled = true;
            BatchJob& job = jobs[s.job];
            const float* row = logits.data() + k * size_t(V);
            const int32_t id = int32_t(std::max_element(row, row + V) - row);
            bool done = false;
            if (std::find(eog.begin(), eog.end(), id) != eog.end()) {
                job.stop = StopReason::EndOfGeneration;
                done = true;
            } else {
                job.output.push_back(id);
                s.next = id;
                if (n_predict >= 0 && int64_t(job.output.size()) >= n_predict) {
                    job.stop = StopReason::Length;
                    done = true;
                } else if (s.state.n_past >= n_ctx) {
                    job.stop = StopReason::ContextFull;
                    done = true;
                }
            }
            if (done) {
                s.busy = false;
                ++finished;
                if (on_done) on_done(s.job);
            }
        }
    }
}

}  // namespace bf
