// evaluate_chunk on the fixtures (scored rows = the whole-sequence logits of the chunk, any batch size),
// imatrix sums against layer-norm inputs recomputed here from the taps, and the legacy imatrix file.
#include <gtest/gtest.h>

#include <set>

#include "convert/imatrix.h"
#include "core/error.h"
#include "engine/imatrix.h"
#include "engine/perplexity.h"
#include "fixture_util.h"
#include "model/tensor_names.h"

namespace bf::testing {
namespace {

TEST(Perplexity, ScoredRowsAreTheChunksOwnLogits) {
    for (const char* name : {"tiny8", "bf16_untied"}) {
        const Model m = Model::load(converted(name, DType::F32));
        const std::vector<int32_t> tokens = read_ids(fixture_dir(name) + "/tokens.txt");
        const int64_t V = m.config.n_vocab;
        const ChunkPlan plan = plan_chunks(int64_t(tokens.size()), 8, -1);
        ASSERT_EQ(plan.n_chunk, int64_t(tokens.size()) / 8);
        SequenceState st = SequenceState::create(m.config, plan.n_ctx);
        Workspace ws;
        for (int64_t c = 0; c < plan.n_chunk; ++c) {
            const std::vector<int32_t> chunk(tokens.begin() + c * 8, tokens.begin() + (c + 1) * 8);
            const std::vector<float> want = all_logits(m, chunk, 0);  // this chunk alone, from an empty state
            for (int64_t batch : {0, 1, 3}) {
                std::vector<int64_t> seen;
                evaluate_chunk(m, st, ws, chunk, plan, batch, [&](int64_t j, const float* logits) {
                    seen.push_back(j);
                    const std::vector<float> got(logits, logits + V),
                        row(want.begin() + j * V, want.begin() + (j + 1) * V);
                    EXPECT_LT(compare(got, row).rel(), 1e-5)
                        << name << " chunk " << c << " batch " << batch << " j " << j;
                });
                EXPECT_EQ(seen, (std::vector<int64_t>{4, 5, 6})) << name;  // second half, last excluded
            }
        }
    }
}

// Layer norm in double, written from architecture.md §4.2.
std::vector<double> layer_norm_ref(const float* x, const LayerNormWeights& w, double eps, int64_t d) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[i] / double(d);
    for (int64_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean) / double(d);
    std::vector<double> y(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) y[size_t(i)] = (x[i] - mean) / std::sqrt(var + eps) * w.weight[i] + w.bias[i];
    return y;
}

TEST(Imatrix, SumsOfSquaredInputsMatchRecomputedLayerInputs) {
    for (const char* name : {"tiny8", "bf16_untied"}) {
        const Model m = Model::load(converted(name, DType::F32));
        const ModelConfig& c = m.config;
        const std::vector<int32_t> tokens = read_ids(fixture_dir(name) + "/tokens.txt");
        const int64_t T = int64_t(tokens.size()), d = c.d_model;
        std::map<std::string, std::vector<float>> taps;  // "embed", "mixerN", "outN"
        Workspace ws;
        ImatrixCollector collect(m, /*process_output=*/true);
        collect.attach(ws);
        ws.tap = [&](const char* tap, int64_t layer, const float* data, int64_t rows, int64_t cols) {
            taps[std::string(tap) + (layer >= 0 ? std::to_string(layer) : "")].assign(data, data + rows * cols);
        };
        SequenceState st = SequenceState::create(c, T);
        std::vector<float> logits(size_t(T * c.n_vocab));
        forward(m, st, tokens, LogitsFor::AllTokens, ws, logits.data());

        std::set<std::string> want_names, got_names;
        for (const TensorSpec& s : tensor_specs(c))
            if (s.role == TensorRole::Projection || s.role == TensorRole::Output) want_names.insert(s.gguf);
        for (const auto& [n, s] : collect.stats()) {
            got_names.insert(n);
            EXPECT_EQ(s.rows, T) << n;
        }
        EXPECT_EQ(got_names, want_names) << name;  // every product, the untied head included

        auto check = [&](const std::string& tensor, const std::vector<float>& x_in, const LayerNormWeights& ln) {
            const auto it = collect.stats().find(tensor);
            ASSERT_NE(it, collect.stats().end()) << tensor;
            std::vector<double> want(static_cast<size_t>(d));
            for (int64_t t = 0; t < T; ++t) {
                const std::vector<double> a = layer_norm_ref(x_in.data() + t * d, ln, c.norm_eps, d);
                for (int64_t j = 0; j < d; ++j) want[size_t(j)] += a[size_t(j)] * a[size_t(j)];
            }
            for (int64_t j = 0; j < d; ++j)
                EXPECT_NEAR(it->second.sum_sq[size_t(j)], want[size_t(j)], 1e-4 * want[size_t(j)] + 1e-6)
                    << tensor << " col " << j;
        };
        for (int64_t l = 0; l < c.n_layer; ++l) {
            const LayerWeights& L = m.layers[size_t(l)];
            const std::string b = "blk." + std::to_string(l) + ".";
            const std::vector<float>& x_in = l == 0 ? taps["embed"] : taps["out" + std::to_string(l - 1)];
            const std::string first = L.kind == LayerKind::Mamba || L.kind == LayerKind::MambaMemory ? "ssm_in"
                                      : L.kind == LayerKind::Gmu                                     ? "gmu_in"
                                      : L.kind == LayerKind::CrossAttn                               ? "attn_q"
                                                                                                     : "attn_qkv";
            check(b + first + ".weight", x_in, L.attn_norm);
            std::vector<float> mid = x_in;  // x + mixer: the MLP's residual input
            const std::vector<float>& mix = taps["mixer" + std::to_string(l)];
            for (size_t i = 0; i < mid.size(); ++i) mid[i] += mix[i];
            check(b + "ffn_gate_up.weight", mid, L.ffn_norm);
        }
        if (!c.tied_embeddings) check("output.weight", taps["out" + std::to_string(c.n_layer - 1)], m.output_norm);
    }
}

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void put(std::string& s, int32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put(std::string& s, float v) { s.append(reinterpret_cast<const char*>(&v), 4); }

TEST(ImatrixFile, LegacyLayoutRoundTripAndMalformedFiles) {
    const std::string path = temp_dir() + "/imatrix.dat";
    std::map<std::string, ImatrixEntry> entries;
    entries["blk.1.ffn_down.weight"] = {{0.5f, 2.0f, 0.0f}, 1030};  // ncall = ceil(1030/512) = 3
    entries["blk.0.attn_qkv.weight"] = {{1.25f, 4.0f}, 512};        // ncall 1
    entries["blk.2.unused.weight"] = {{}, 0};                       // no data: skipped
    save_imatrix(path, entries, 512, 2, "calib.txt");
    // llama.cpp's legacy layout, byte by byte: sorted names, values = mean · ncall, chunks, dataset
    std::string want;
    put(want, 2);
    put(want, 21), want += "blk.0.attn_qkv.weight", put(want, 1), put(want, 2), put(want, 1.25f), put(want, 4.0f);
    put(want, 21), want += "blk.1.ffn_down.weight", put(want, 3), put(want, 3), put(want, 1.5f), put(want, 6.0f),
        put(want, 0.0f);
    put(want, 2), put(want, 9), want += "calib.txt";
    const std::string good = slurp(path);
    ASSERT_EQ(good, want);

    const auto loaded = load_imatrix(path);
    ASSERT_EQ(loaded.size(), 2u);
    EXPECT_EQ(loaded.at("blk.1.ffn_down.weight"), (std::vector<float>{0.5f, 2.0f, 0.0f}));
    EXPECT_EQ(loaded.at("blk.0.attn_qkv.weight"), (std::vector<float>{1.25f, 4.0f}));

    // Every cut is refused, except the two valid ends (older files stop after the entries or the chunk count).
    const size_t entries_end = good.size() - 4 - 4 - 9;
    for (size_t n = 0; n < good.size(); ++n) {
        std::ofstream(path, std::ios::binary) << good.substr(0, n);
        if (n == entries_end || n == entries_end + 4)
            EXPECT_EQ(load_imatrix(path).size(), 2u) << n;
        else
            EXPECT_THROW(load_imatrix(path), Error) << "cut at " << n;
    }
    auto rejects = [&](size_t off, const std::string& bytes, const char* why) {
        std::string b = good;
        b.replace(off, bytes.size(), bytes);
        std::ofstream(path, std::ios::binary) << b;
        EXPECT_THROW(load_imatrix(path), Error) << why;
    };
    auto i32 = [](int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    auto f32 = [](float v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    rejects(0, i32(0), "no entries");
    rejects(0, i32(0x7fffffff), "huge entry count");
    rejects(0, i32(-1), "negative entry count");
    rejects(4, i32(0), "empty name");
    rejects(4, i32(1 << 30), "huge name");
    rejects(29, i32(0), "ncall 0");
    rejects(33, i32(0x7fffffff), "huge value count");
    rejects(37, f32(-1.0f), "negative value");
    rejects(37, f32(NAN), "NaN value");
    rejects(good.size() - 13, i32(100), "dataset length beyond the end");
    rejects(8, "blk.1.ffn_down.weight", "a name twice");
    EXPECT_THROW(load_imatrix(path + ".absent"), Error);
}

}  // namespace
}  // namespace bf::testing
