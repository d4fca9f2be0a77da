// `eval`'s many greedy sequences, as requests to one batcher.
#include "engine/batch_generate.h"

#include <limits>

#include "core/error.h"

namespace bf {

void generate_batch(const Model& m, std::vector<BatchJob>& jobs, const std::vector<int32_t>& eog, int64_t n_ctx,
                    int64_t n_predict, int parallel, const std::function<void(size_t)>& on_done, KvType kv_type) {
    if (parallel < 1) fail("parallel must be >= 1");
    for (const auto& j : jobs) {
        if (j.prompt.empty()) fail("a prompt is empty");
        if (int64_t(j.prompt.size()) >= n_ctx)
            fail(strfmt("a prompt of %zu tokens does not fit the context of %lld", j.prompt.size(), (long long)n_ctx));
    }
    BatcherOptions o;
    o.n_slots = parallel;
    o.n_ctx = n_ctx;
    o.kv_type = kv_type;
    o.batch = std::numeric_limits<int64_t>::max();  // admitted prompts go whole into the next step
    Batcher b(m, nullptr, eog, o);
    std::string error;  // the first failed sequence's, raised once the batcher is idle
    size_t next = 0;
    while (next < jobs.size() || !b.idle()) {
        while (next < jobs.size() && b.free_slots() > 0) {
            const size_t i = next++;
            GenRequest r;
            r.prompt = jobs[i].prompt;
            r.sampler.temp = 0;  // greedy
            r.max_tokens = n_predict;
            b.admit(std::move(r), {nullptr,
                                   [&jobs, &on_done, &error, i](GenOutcome& out) {
                                       if (out.stop == StopReason::Error && error.empty()) error = out.error;
                                       jobs[i].output.insert(jobs[i].output.end(), out.tokens.begin(),
                                                             out.tokens.end());
                                       jobs[i].stop = out.stop;
                                       if (on_done) on_done(i);
                                   },
                                   nullptr});
        }
        b.step();
    }
    if (!error.empty()) fail(error);
}

}  // namespace bf
