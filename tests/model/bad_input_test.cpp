// Bad checkpoints and GGUF files must give one clear bf::Error naming the problem, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <regex>

#include "../common/error_of.h"
#include "core/error.h"
#include "fixture_util.h"
#include "formats/gguf.h"

namespace bf {
namespace {

using namespace bf::testing;
namespace fs = std::filesystem;

// A copy of a fixture folder whose config.json is rewritten by `edit` (regex replace).
std::string edited_fixture(const std::string& name, const std::string& tag, const std::string& pattern,
                           const std::string& replacement) {
    const std::string dir = temp_dir() + "/bad_" + tag;
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(fixture_dir(name)))
        fs::copy(e.path(), dir + "/" + e.path().filename().string());
    std::ifstream in(dir + "/config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    const std::string edited = std::regex_replace(text, std::regex(pattern), replacement);
    EXPECT_NE(edited, text) << "pattern did not match: " << pattern;
    std::ofstream(dir + "/config.json") << edited;
    return dir;
}

std::string convert_error(const std::string& dir) {
    ConvertOptions o;
    o.input = dir;
    o.output = dir + "/out.gguf";
    o.progress = false;
    try {
        convert(o);
    } catch (const Error& e) {
        EXPECT_FALSE(fs::exists(o.output)) << "a failed conversion must not leave an output file";
        return e.what();
    }
    return "";
}

TEST(ConvertErrors, UnknownArchitecture) {
    const auto msg =
        convert_error(edited_fixture("tiny8", "arch", R"("model_type": "phi4flash")", R"("model_type": "llama")"));
    EXPECT_NE(msg.find("unsupported architecture model_type 'llama'"), std::string::npos) << msg;
}

TEST(ConvertErrors, LayersNotDivisibleByFour) {
    const auto msg =
        convert_error(edited_fixture("tiny8", "layers", R"("num_hidden_layers": 8)", R"("num_hidden_layers": 6)"));
    EXPECT_NE(msg.find("divisible by 4"), std::string::npos) << msg;
}

TEST(ConvertErrors, WrongShapeNamesTheTensor) {
    const auto msg =
        convert_error(edited_fixture("tiny8", "shape", R"("intermediate_size": 64)", R"("intermediate_size": 48)"));
    EXPECT_NE(msg.find("model.layers.0.mlp.fc1.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[128, 32]"), std::string::npos) << msg;
}

TEST(ConvertErrors, MissingTensor) {
    const auto msg = convert_error(
        edited_fixture("tiny8", "missing", R"("tie_word_embeddings": true)", R"("tie_word_embeddings": false)"));
    EXPECT_NE(msg.find("missing tensor 'lm_head.weight'"), std::string::npos) << msg;
}

TEST(ConvertErrors, ExtraTensor) {
    const auto msg = convert_error(
        edited_fixture("bf16_untied", "extra", R"("tie_word_embeddings": false)", R"("tie_word_embeddings": true)"));
    EXPECT_NE(msg.find("unexpected tensor 'lm_head.weight'"), std::string::npos) << msg;
}

TEST(ConvertErrors, BrokenJson) {
    const auto msg = convert_error(edited_fixture("tiny8", "json", R"(\})", ","));
    EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;
}

// A key of the wrong JSON type is a bf::Error naming the key (found by the `config` fuzz target: a number
// where a boolean belongs escaped as nlohmann's type_error).
TEST(ConvertErrors, WrongTypeOfKeyNamesTheKey) {
    auto msg = convert_error(
        edited_fixture("tiny8", "booltype", R"("tie_word_embeddings": true)", R"("tie_word_embeddings": 363)"));
    EXPECT_NE(msg.find("'tie_word_embeddings' must be true or false"), std::string::npos) << msg;
    msg = convert_error(edited_fixture("tiny8", "strtype", R"("model_type": "phi4flash")", R"("model_type": 7)"));
    EXPECT_NE(msg.find("'model_type' must be a string"), std::string::npos) << msg;
}

// Copies a good GGUF, letting `edit` drop or alter tensors on the way.
// With add_extra, one tensor no SambaY model has is appended.
std::string rewritten_gguf(const std::string& tag,
                           const std::function<bool(const GgufTensorInfo&, DType&, std::vector<int64_t>&)>& keep,
                           bool add_extra = false) {
    const GgufFile src = GgufFile::open(converted("tiny8", DType::F32));
    const std::string out = temp_dir() + "/rewritten_" + tag + ".gguf";
    GgufWriter w(out);
    for (const auto& kv : src.kvs())
        if (kv.key != "general.alignment") w.add_kv(kv.key, kv.value);
    struct Kept {
        const GgufTensorInfo* t;
        size_t nbytes;  // as declared in the new file
    };
    std::vector<Kept> kept;
    for (const auto& t : src.tensors()) {
        DType type = t.dtype();
        std::vector<int64_t> ne = t.ne;
        if (!keep(t, type, ne)) continue;
        w.add_tensor(t.name, type, ne);
        kept.push_back({&t, tensor_nbytes(type, ne[0], [&] {
                            int64_t r = 1;
                            for (size_t i = 1; i < ne.size(); ++i) r *= ne[i];
                            return r;
                        }())});
    }
    const std::vector<float> extra(4, 0.0f);
    if (add_extra) w.add_tensor("blk.0.extra.weight", DType::F32, {int64_t(extra.size())});
    w.begin_data();
    for (const auto& k : kept) {
        // The original bytes, cut or zero-padded to the (possibly changed) declared size.
        const size_t n = std::min(k.nbytes, k.t->nbytes);
        w.write_tensor_data(k.t->data, n);
        if (k.nbytes > n) {
            std::vector<uint8_t> zeros(k.nbytes - n);
            w.write_tensor_data(zeros.data(), zeros.size());
        }
    }
    if (add_extra) w.write_tensor_data(extra.data(), extra.size() * sizeof(float));
    w.finish();
    return out;
}

std::string load_error(const std::string& path) {
    return testing::error_of([&] { Model::load(path); });
}

TEST(LoadErrors, MissingTensor) {
    const auto p = rewritten_gguf("missing", [](const GgufTensorInfo& t, DType&, std::vector<int64_t>&) {
        return t.name != "blk.3.attn_qkv.weight";
    });
    EXPECT_NE(load_error(p).find("missing tensor 'blk.3.attn_qkv.weight'"), std::string::npos) << load_error(p);
}

TEST(LoadErrors, WrongShape) {
    const auto p = rewritten_gguf("shape", [](const GgufTensorInfo& t, DType&, std::vector<int64_t>& ne) {
        if (t.name == "blk.0.ssm_x.weight") ne[1] -= 1;
        return true;
    });
    EXPECT_NE(load_error(p).find("tensor 'blk.0.ssm_x.weight' has shape"), std::string::npos) << load_error(p);
}

TEST(LoadErrors, VectorOfWrongType) {
    const auto p = rewritten_gguf("type", [](const GgufTensorInfo& t, DType& type, std::vector<int64_t>&) {
        if (t.name == "blk.0.ssm_d") type = DType::F16;
        return true;
    });
    EXPECT_NE(load_error(p).find("'blk.0.ssm_d' must be f32"), std::string::npos) << load_error(p);
}

TEST(LoadErrors, ExtraTensor) {
    const auto keep_all = [](const GgufTensorInfo&, DType&, std::vector<int64_t>&) { return true; };
    EXPECT_EQ(load_error(rewritten_gguf("copy", keep_all)), "");  // the unmodified copy loads
    const auto p = rewritten_gguf("extra_tensor", keep_all, true);
    EXPECT_NE(load_error(p).find("unexpected tensor 'blk.0.extra.weight'"), std::string::npos) << load_error(p);
}

TEST(LoadErrors, ForeignArchitecture) {
    const auto p = rewritten_gguf("extra", [](const GgufTensorInfo&, DType&, std::vector<int64_t>&) { return true; });
    EXPECT_EQ(load_error(p), "");  // the unmodified copy loads
    GgufFile f = GgufFile::open(p);
    const std::string out = temp_dir() + "/extra2.gguf";
    GgufWriter w(out);
    for (const auto& kv : f.kvs())
        w.add_kv(kv.key, kv.key == "general.architecture" ? GgufValue::string("llama") : kv.value);
    w.begin_data();
    w.finish();
    EXPECT_NE(load_error(out).find("unsupported architecture 'llama'"), std::string::npos) << load_error(out);
}

TEST(RunErrors, TokenOutOfRangeAndContextFull) {
    const Model m = Model::load(converted("tiny8", DType::F32));
    SequenceState st = SequenceState::create(m.config, 4);
    Workspace ws;
    std::vector<float> logits(size_t(m.config.n_vocab));
    const std::vector<int32_t> bad = {1, 64};
    EXPECT_THROW(forward(m, st, bad, LogitsFor::LastToken, ws, logits.data()), Error);
    EXPECT_EQ(st.n_past, 0);
    const std::vector<int32_t> five = {1, 2, 3, 4, 5};
    EXPECT_THROW(forward(m, st, five, LogitsFor::LastToken, ws, logits.data()), Error);
    const std::vector<int32_t> four = {1, 2, 3, 4};
    forward(m, st, four, LogitsFor::LastToken, ws, logits.data());
    EXPECT_EQ(st.n_past, 4);
}

}  // namespace
}  // namespace bf
