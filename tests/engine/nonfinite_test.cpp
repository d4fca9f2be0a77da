// NaN in the weights: --check-tensors finds it at load naming the tensor; without the scan, generation
// stops with an error at the first NaN logit instead of sampling garbage (run, chat and eval alike).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "../common/error_of.h"
#include "../common/gen_fixture.h"
#include "core/error.h"
#include "engine/batch_generate.h"
#include "engine/batcher.h"
#include "formats/tensor_check.h"
#include "model/sambay.h"

namespace bf {
namespace {

using testing::converted_f32;
using testing::error_of;

// tiny8 in f32 with one element of `tensor` overwritten in the file by `value`.
std::string poisoned(const std::string& tensor, int64_t element, float value) {
    const std::string src = converted_f32("tiny8");
    const std::string dst = src + "." + tensor + ".poisoned.gguf";
    std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing);
    uint64_t at = 0;
    {
        const GgufFile f = GgufFile::open(src);
        at = f.data_offset() + f.tensor(tensor).offset + uint64_t(element) * 4;
    }
    std::fstream io(dst, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(std::streamoff(at));
    io.write(reinterpret_cast<const char*>(&value), 4);
    return dst;
}

TEST(NonFinite, CheckTensorsNamesThePoisonedTensor) {
    EXPECT_EQ(error_of([] { check_tensors_finite(GgufFile::open(converted_f32("tiny8"))); }), "");
    const std::string nan = poisoned("output_norm.weight", 5, std::numeric_limits<float>::quiet_NaN());
    const std::string e = error_of([&] { check_tensors_finite(GgufFile::open(nan)); });
    EXPECT_NE(e.find("'output_norm.weight'"), std::string::npos) << e;
    EXPECT_NE(e.find("element 5 is NaN"), std::string::npos) << e;
    const std::string inf = poisoned("output_norm.weight", 0, -std::numeric_limits<float>::infinity());
    EXPECT_NE(error_of([&] { check_tensors_finite(GgufFile::open(inf)); }).find("element 0 is -Inf"),
              std::string::npos);
}

TEST(NonFinite, GenerationStopsAtANaNLogit) {
    const std::string nan = poisoned("output_norm.weight", 5, std::numeric_limits<float>::quiet_NaN());
    const Model m = Model::load(nan);
    BatcherOptions o;
    o.n_ctx = 64;
    Batcher b(m, nullptr, {}, o);
    GenRequest req;
    req.prompt = {1, 2, 3};
    req.max_tokens = 4;
    const std::string e = error_of([&] { generate_one(b, std::move(req), nullptr); });
    EXPECT_NE(e.find("NaN logit"), std::string::npos) << e;
    EXPECT_NE(e.find("after 3 tokens"), std::string::npos) << e;

    std::vector<BatchJob> jobs(2);  // eval's batched path reports it too
    jobs[0].prompt = {1, 2};
    jobs[1].prompt = {4, 5, 6};
    EXPECT_NE(error_of([&] { generate_batch(m, jobs, {}, 64, 3, 2, nullptr, KvType::F32); }).find("NaN logit"),
              std::string::npos);

    // The same model without the poison generates normally: the guard does not fire on healthy logits.
    const Model ok = Model::load(converted_f32("tiny8"));
    Batcher b2(ok, nullptr, {}, o);
    GenRequest r2;
    r2.prompt = {1, 2, 3};
    r2.max_tokens = 4;
    r2.ignore_eos = true;
    EXPECT_EQ(generate_one(b2, std::move(r2), nullptr).tokens.size(), 4u);
}

}  // namespace
}  // namespace bf
