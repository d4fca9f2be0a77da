// The quantized shared K/V cache (-ctk q8_0 / q4_0) in the whole model: whole prompt, chunks of 3 and
// token by token give the same logits (they read the same quantized cache), and the logits stay within a
// measured distance of the float64 reference, which keeps K/V exact. ternary256 (head_dim 64) runs the
// SIMD kernels where the CPU has them; tiny8 and bf16_untied (head_dim 8) the scalar ones.
#include <gtest/gtest.h>

#include "fixture_util.h"

namespace bf {
namespace {

using namespace bf::testing;

struct KvCase {
    const char* fixture;
    KvType kv;
    double bound;  // max |diff| / max |logit| against the reference (f32 K/V)
};

class QuantizedKv : public ::testing::TestWithParam<KvCase> {};

TEST_P(QuantizedKv, ChunkingDoesNotMatterAndLogitsStayClose) {
    const KvCase c = GetParam();
    const Model m = Model::load(converted(c.fixture, DType::F32));
    const auto tokens = read_ids(fixture_dir(c.fixture) + "/tokens.txt");
    const auto want = read_f32(fixture_dir(c.fixture) + "/logits.f32");
    const auto whole = all_logits(m, tokens, 0, c.kv);
    for (size_t batch : {size_t(3), size_t(1)}) {
        const Diff d = compare(all_logits(m, tokens, batch, c.kv), whole);
        // Not bit-equal: f32 differences of ~1e-7 upstream (chunked scan/attention sums) can flip a code's
        // rounding; a wrong mask or block offset would show as ~1e-1.
        EXPECT_LT(d.rel(), 1e-3) << "batch " << batch << " vs whole prompt: " << d.max_abs;
    }
    const Diff d = compare(whole, want);
    EXPECT_LT(d.rel(), c.bound) << kv_type_name(c.kv) << ": max|diff| " << d.max_abs << " of scale " << d.scale;
    // A quantized cache that silently stayed f32 would be "too good": the quantization must be visible.
    EXPECT_GT(d.rel(), 1e-6) << "the " << kv_type_name(c.kv) << " cache did not change the logits at all";
}

// Measured (2026-11-28): q8_0 2.0-2.2e-3, q4_0 3.1-3.5e-2 of the logit scale; bounds ~2x (docs/TESTING.md).
INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizedKv,
                         ::testing::Values(KvCase{"tiny8", KvType::Q8_0, 5e-3}, KvCase{"tiny8", KvType::Q4_0, 7e-2},
                                           KvCase{"bf16_untied", KvType::Q8_0, 5e-3},
                                           KvCase{"bf16_untied", KvType::Q4_0, 7e-2},
                                           KvCase{"ternary256", KvType::Q8_0, 5e-3},
                                           KvCase{"ternary256", KvType::Q4_0, 7e-2}),
                         [](const ::testing::TestParamInfo<KvCase>& i) {
                             return std::string(i.param.fixture) + "_" + kv_type_name(i.param.kv);
                         });

}  // namespace
}  // namespace bf
