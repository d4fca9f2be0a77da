// Several sequences in one forward pass (the server's batched decode step) must give exactly what
// each sequence gives alone.
#include <gtest/gtest.h>

#include "core/error.h"
#include "fixture_util.h"

namespace bf {
namespace {

using namespace bf::testing;

TEST(ForwardBatch, MatchesSeparateSequences) {
    for (DType type : {DType::F32, DType::Q8_0}) {
        const Model m = Model::load(converted("bf16_untied", type));
        const int64_t V = m.config.n_vocab;
        const std::vector<std::vector<int32_t>> prompts = {{3, 14, 15, 92, 65, 35, 89, 79, 32, 38}, {2, 71, 82}, {8}};
        const std::vector<std::vector<int32_t>> steps = {{5, 1, 9}, {7, 7, 7}, {4, 60, 2}};

        // Alone: prompt, then the steps one token at a time; keep each step's logits.
        std::vector<std::vector<float>> alone;
        for (size_t s = 0; s < prompts.size(); ++s) {
            SequenceState st = SequenceState::create(m.config, 32);
            Workspace ws;
            std::vector<float> lg(static_cast<size_t>(V));
            forward(m, st, prompts[s], LogitsFor::LastToken, ws, lg.data());
            alone.push_back(lg);
            for (int32_t t : steps[s]) {
                forward(m, st, std::span<const int32_t>(&t, 1), LogitsFor::LastToken, ws, lg.data());
                alone.push_back(lg);
            }
        }
        // Together: one batched prefill of all prompts, then batched steps.
        std::vector<SequenceState> states;
        for (size_t s = 0; s < prompts.size(); ++s) states.push_back(SequenceState::create(m.config, 32));
        Workspace ws;
        std::vector<float> lg(prompts.size() * size_t(V));
        std::vector<SeqChunk> chunks;
        for (size_t s = 0; s < prompts.size(); ++s) chunks.push_back({&states[s], prompts[s]});
        forward_batch(m, chunks, LogitsFor::LastToken, ws, lg.data());
        const size_t per_seq = 1 + steps[0].size();
        for (size_t s = 0; s < prompts.size(); ++s) {
            const std::vector<float> got(lg.begin() + long(s * V), lg.begin() + long((s + 1) * V));
            if (type == DType::F32) {
                EXPECT_EQ(got, alone[s * per_seq]) << "f32 prefill of sequence " << s;
            } else {
                // Q8_0 sums in a different order for 1, 2-7 and 8+ tokens (three AVX-512 kernels, as
                // llama.cpp's differ by batch size): alone, the prompts here take all three paths.
                EXPECT_LT(compare(got, alone[s * per_seq]).rel(), 1e-5)
                    << dtype_name(type) << " prefill of sequence " << s;
            }
        }
        for (size_t k = 0; k < steps[0].size(); ++k) {
            chunks.clear();
            for (size_t s = 0; s < prompts.size(); ++s)
                chunks.push_back({&states[s], std::span<const int32_t>(&steps[s][k], 1)});
            forward_batch(m, chunks, LogitsFor::LastToken, ws, lg.data());
            for (size_t s = 0; s < prompts.size(); ++s) {
                const Diff d = compare(std::vector<float>(lg.begin() + long(s * V), lg.begin() + long((s + 1) * V)),
                                       alone[s * per_seq + 1 + k]);
                // Row-count-dependent blocking in the kernels may change float summation order slightly.
                EXPECT_LT(d.rel(), 1e-5) << dtype_name(type) << " step " << k << " sequence " << s;
            }
        }
    }
}

TEST(ForwardBatch, RejectsTheSameSequenceTwice) {
    const Model m = Model::load(converted("tiny8", DType::F32));
    SequenceState st = SequenceState::create(m.config, 8);
    Workspace ws;
    const int32_t t = 1;
    const std::vector<SeqChunk> chunks = {{&st, std::span<const int32_t>(&t, 1)},
                                          {&st, std::span<const int32_t>(&t, 1)}};
    std::vector<float> lg(2 * size_t(m.config.n_vocab));
    EXPECT_THROW(forward_batch(m, chunks, LogitsFor::LastToken, ws, lg.data()), Error);
    EXPECT_EQ(st.n_past, 0);
}

}  // namespace
}  // namespace bf

#include "engine/batch_generate.h"

namespace bf {
namespace {

using namespace bf::testing;

TEST(GenerateBatch, ContinuousBatchingEqualsOneByOne) {
    const Model m = Model::load(converted("ternary256", DType::TQ2_0));
    std::vector<BatchJob> jobs;
    const std::vector<std::vector<int32_t>> prompts = {
        {30, 18, 23, 38}, {1}, {5, 6, 7, 8, 9, 10, 11}, {60, 2}, {44, 45, 46}};
    for (const auto& p : prompts) jobs.push_back({p, {}, StopReason::Length});
    std::vector<size_t> order;
    // Two places for five jobs: later jobs join as earlier ones finish (different lengths, eog 7).
    generate_batch(m, jobs, {7}, 64, 12, 2, [&](size_t i) { order.push_back(i); });
    EXPECT_EQ(order.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        auto want = greedy(m, prompts[i], 12);
        auto end = std::find(want.begin(), want.end(), 7);
        const bool stopped = end != want.end();
        want.erase(end, want.end());
        EXPECT_EQ(jobs[i].output, want) << "job " << i;
        EXPECT_EQ(jobs[i].stop, stopped ? StopReason::EndOfGeneration : StopReason::Length) << "job " << i;
    }
}

}  // namespace
}  // namespace bf
