// The engine against the float64 reference (tools/reference) on the committed random checkpoints:
// whole prompt, chunks of 3 and token by token, for every weight type, plus greedy continuations.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "fixture_util.h"

namespace bf {
namespace {

using namespace bf::testing;

struct Case {
    const char* fixture;
    DType type;
    double bound;  // max |diff| / max |logit| allowed (docs/TESTING.md explains each)
    size_t greedy_len = 32;
};

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
    return std::string(i.param.fixture) + "_" + dtype_name(i.param.type);
}

class ReferenceLogits : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceLogits, PrefillChunksAndDecodeMatch) {
    const Case c = GetParam();
    const Model m = Model::load(converted(c.fixture, c.type));
    const auto tokens = read_ids(fixture_dir(c.fixture) + "/tokens.txt");
    const auto want = read_f32(fixture_dir(c.fixture) + "/logits.f32");
    ASSERT_EQ(want.size(), tokens.size() * size_t(m.config.n_vocab));
    for (size_t batch : {size_t(0), size_t(3), size_t(1)}) {
        const auto got = all_logits(m, tokens, batch);
        const Diff d = compare(got, want);
        EXPECT_LT(d.rel(), c.bound) << "batch " << batch << ": max|diff| " << d.max_abs << " of scale " << d.scale;
        for (size_t t = 0; t < tokens.size(); ++t)
            EXPECT_EQ(argmax(got.data() + t * m.config.n_vocab, m.config.n_vocab),
                      argmax(want.data() + t * m.config.n_vocab, m.config.n_vocab))
                << "batch " << batch << " position " << t;
    }
}

TEST_P(ReferenceLogits, GreedyContinuationMatches) {
    const Case c = GetParam();
    const Model m = Model::load(converted(c.fixture, c.type));
    const auto prompt = read_ids(fixture_dir(c.fixture) + "/greedy_prompt.txt");
    const auto want = read_ids(fixture_dir(c.fixture) + "/greedy32.txt");
    ASSERT_EQ(want.size(), 32u);
    const auto got = greedy(m, prompt, 32);
    EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + long(c.greedy_len)),
              std::vector<int32_t>(want.begin(), want.begin() + long(c.greedy_len)));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ReferenceLogits,
    ::testing::Values(Case{"tiny8", DType::F32, 1e-4}, Case{"bf16_untied", DType::F32, 1e-4},
                      Case{"ternary256", DType::F32, 1e-4}, Case{"tiny8", DType::F16, 5e-3},
                      Case{"bf16_untied", DType::F16, 5e-3}, Case{"ternary256", DType::F16, 5e-3},
                      Case{"tiny8", DType::BF16, 3e-2}, Case{"bf16_untied", DType::BF16, 1e-4},
                      Case{"ternary256", DType::BF16, 1e-4}, Case{"tiny8", DType::Q8_0, 8e-2},
                      // The reference's greedy path on bf16_untied meets a top-2 gap of 0.29 at step 28,
                      // below q8_0's measured logit error there (0.47): only 28 steps can be required.
                      Case{"bf16_untied", DType::Q8_0, 8e-2, 28}, Case{"ternary256", DType::Q8_0, 8e-2}),
    case_name);

// Ternary weights (BitNet b1.58 absmean) with per-token int8 activations, against the reference's
// simulation of exactly that quantization (tools/reference --ternary). The head stays f32 here so
// that only the ternary path is measured; the default q8_0 head is checked by the CLI tests.
class TernaryLogits : public ::testing::TestWithParam<DType> {};

TEST_P(TernaryLogits, MatchReferenceSimulation) {
    const DType type = GetParam();
    const Model m = Model::load(converted("ternary256", type, DType::F32));
    const auto tokens = read_ids(fixture_dir("ternary256") + "/tokens.txt");
    // I2_S keeps gamma in f32; TQ2_0 stores it as an f16 block scale, which the reference can round alike.
    const auto want = read_f32(fixture_dir("ternary256") +
                               (type == DType::I2_S ? "/logits_ternary.f32" : "/logits_ternary_gf16.f32"));
    const double bound = 1e-4;
    for (size_t batch : {size_t(0), size_t(1), size_t(5)}) {
        const Diff d = compare(all_logits(m, tokens, batch), want);
        EXPECT_LT(d.rel(), bound) << "batch " << batch << ": max|diff| " << d.max_abs << " of scale " << d.scale;
    }
    EXPECT_EQ(greedy(m, read_ids(fixture_dir("ternary256") + "/greedy_prompt.txt"), 32),
              read_ids(fixture_dir("ternary256") + "/greedy32_ternary.txt"));
}

INSTANTIATE_TEST_SUITE_P(Formats, TernaryLogits, ::testing::Values(DType::TQ2_0, DType::I2_S),
                         [](const auto& i) { return std::string(dtype_name(i.param)); });

}  // namespace
}  // namespace bf
