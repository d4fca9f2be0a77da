// Converting to q4_0 / q4_k_s / q4_k_m / q5_k_s / q5_k_m / q6_k: the types the mixes choose (written out
// per tensor for the f32 twin's 8 layers), file bytes equal to quantizing the f32 rows in memory, quantize
// equal to convert, fallbacks on narrow fixtures, importance, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "convert/convert.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "kernels/quant.h"
#include "test_util.h"

namespace bf {
namespace {

using namespace convert_test;

const std::string kTwin = std::string(BF_SOURCE_DIR) + "/models/sambay-math-f32twin";
std::string fixture(const std::string& name) { return std::string(BF_SOURCE_DIR) + "/tests/fixtures/" + name; }

// Converts `input` to `outtype` (a CLI name) once per process and returns the path.
std::string converted(const std::string& input, const std::string& outtype,
                      const std::map<std::string, std::vector<float>>* importance = nullptr,
                      const std::string& tag = "") {
    const std::string out =
        temp_dir() + "/" + std::filesystem::path(input).filename().string() + "_" + outtype + tag + ".gguf";
    if (!std::filesystem::exists(out)) {
        ConvertOptions o;
        o.input = input;
        o.output = out;
        parse_outtype(outtype, o);
        o.importance = importance;
        o.progress = false;
        convert(o);
    }
    return out;
}

std::map<std::string, std::string> types_of(const GgufFile& g) {
    std::map<std::string, std::string> t;
    for (const auto& ti : g.tensors()) t[ti.name] = dtype_name(ti.dtype());
    return t;
}

// The twin: 8 layers (0, 2 Mamba; 4 Mamba + memory; 1, 3 sliding-window attention; 5 global attention,
// owner of the shared K/V; 6 GMU; 7 cross attention), hidden 256, dt_rank 16, tied embedding.
// llama.cpp's "more bits" layers of 8 are 0, 3, 6, 7.
TEST(ConvertKQuant, MixesChooseTheDocumentedTypes) {
    struct Expect {
        const char* outtype;
        uint32_t file_type;
        const char* base;
        std::map<std::string, std::string> special;  // tensors that differ from `base`
    };
    const std::map<std::string, std::string> always = {
        {"token_embd.weight", "q6_k"},  // tied: the head
        {"blk.0.ssm_x.weight", "q8_0"},
        {"blk.2.ssm_x.weight", "q8_0"},
        {"blk.4.ssm_x.weight", "q8_0"},
        // dt_proj is 16 wide: q8_0 does not fit, f16 does
        {"blk.0.ssm_dt.weight", "f16"},
        {"blk.2.ssm_dt.weight", "f16"},
        {"blk.4.ssm_dt.weight", "f16"},
    };
    const Expect cases[] = {
        {"q4_0", 2, "q4_0", {}},
        {"q6_k", 18, "q6_k", {}},
        {"q4_k_s", 14, "q4_k", {{"blk.0.ffn_down.weight", "q5_k"}, {"blk.5.attn_qkv.weight", "q5_k"}}},
        {"q4_k_m",
         15,
         "q4_k",
         {{"blk.0.ffn_down.weight", "q6_k"},
          {"blk.3.ffn_down.weight", "q6_k"},
          {"blk.6.ffn_down.weight", "q6_k"},
          {"blk.7.ffn_down.weight", "q6_k"},
          {"blk.1.attn_qkv.weight", "q5_k"},
          {"blk.3.attn_qkv.weight", "q5_k"},
          {"blk.5.attn_qkv.weight", "q6_k"}}},
        {"q4_k",
         15,
         "q4_k",  // = q4_k_m
         {{"blk.0.ffn_down.weight", "q6_k"},
          {"blk.3.ffn_down.weight", "q6_k"},
          {"blk.6.ffn_down.weight", "q6_k"},
          {"blk.7.ffn_down.weight", "q6_k"},
          {"blk.1.attn_qkv.weight", "q5_k"},
          {"blk.3.attn_qkv.weight", "q5_k"},
          {"blk.5.attn_qkv.weight", "q6_k"}}},
        {"q5_k_s", 16, "q5_k", {{"blk.5.attn_qkv.weight", "q6_k"}}},
        {"q5_k_m",
         17,
         "q5_k",
         {{"blk.0.ffn_down.weight", "q6_k"},
          {"blk.3.ffn_down.weight", "q6_k"},
          {"blk.6.ffn_down.weight", "q6_k"},
          {"blk.7.ffn_down.weight", "q6_k"},
          {"blk.1.attn_qkv.weight", "q6_k"},
          {"blk.3.attn_qkv.weight", "q6_k"},
          {"blk.5.attn_qkv.weight", "q6_k"}}},
    };
    for (const Expect& e : cases) {
        const GgufFile g = GgufFile::open(converted(kTwin, e.outtype));
        EXPECT_EQ(g.get_u32("general.file_type"), e.file_type) << e.outtype;
        int projections = 0;
        for (const auto& [name, type] : types_of(g)) {
            const GgufTensorInfo& t = g.tensor(name);
            if (t.ne.size() != 2 || name.find("conv1d") != std::string::npos ||
                name.find("ssm_a") != std::string::npos) {
                EXPECT_EQ(type, "f32") << e.outtype << " " << name;
                continue;
            }
            ++projections;
            std::string want = e.base;
            if (always.count(name)) want = always.at(name);
            if (e.special.count(name)) want = e.special.at(name);
            EXPECT_EQ(type, want) << e.outtype << " " << name;
        }
        EXPECT_EQ(projections, 1 + 3 * 4 + 4 * 2 + 2 + 8 * 2) << e.outtype;  // embd, Mamba, attention, GMU, MLPs
    }
}

// Every quantized tensor of the file holds exactly what quantizing the f32 file's rows in memory gives, so
// the file dequantizes to quantize -> dequantize of the source; and its error against f32 is within the
// format's bound. The twin and every fixture, each new outtype.
TEST(ConvertKQuant, FileTypeNamesRoundTrip) {
    // general.file_type back to the name the file was made with (bench's model column): every name its own number.
    for (const std::string name :
         {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k", "tq2_0", "i2_s"}) {
        ConvertOptions o;
        parse_outtype(name, o);
        EXPECT_EQ(file_type_name(file_type_of(o)), name);
    }
    EXPECT_EQ(file_type_name(12345), "");
}

TEST(ConvertKQuant, FileBytesEqualInMemoryQuantization) {
    for (const std::string& input : {kTwin, fixture("tiny8"), fixture("bf16_untied"), fixture("ternary256")}) {
        const GgufFile f32 = GgufFile::open(converted(input, "f32"));
        using Q = void (*)(const float*, void*, int64_t, const float*);
        const std::map<std::string, Q> quantizers = {{"q4_0", quantize_row_q4_0},
                                                     {"q4_k", quantize_row_q4_k},
                                                     {"q5_k", quantize_row_q5_k},
                                                     {"q6_k", quantize_row_q6_k}};
        const std::map<std::string, double> max_rel_rms = {
            {"q4_0", 0.1}, {"q4_k", 0.085}, {"q5_k", 0.045}, {"q6_k", 0.022}};
        for (const char* outtype : {"q4_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"}) {
            const GgufFile g = GgufFile::open(converted(input, outtype));
            EXPECT_EQ(g.tensors().size(), f32.tensors().size());
            std::set<std::string> seen;
            for (const auto& t : g.tensors()) {
                const std::string type = dtype_name(t.dtype());
                if (!quantizers.count(type)) continue;
                seen.insert(type);
                const GgufTensorInfo& src = f32.tensor(t.name);
                ASSERT_EQ(src.dtype(), DType::F32) << t.name;
                const int64_t cols = t.ne[0], rows = t.rows();
                const size_t row_bytes = row_nbytes(t.dtype(), cols);
                std::vector<uint8_t> q(row_bytes);
                std::vector<float> y(static_cast<size_t>(cols));
                double err = 0, ref = 0;
                for (int64_t r = 0; r < rows; ++r) {
                    const float* x = reinterpret_cast<const float*>(src.data) + r * cols;
                    quantizers.at(type)(x, q.data(), cols, nullptr);
                    ASSERT_EQ(std::memcmp(q.data(), t.data + size_t(r) * row_bytes, row_bytes), 0)
                        << outtype << " " << t.name << " row " << r;
                    switch (t.dtype()) {
                        case DType::Q4_0: dequantize_row_q4_0(t.data + size_t(r) * row_bytes, y.data(), cols); break;
                        case DType::Q4_K: dequantize_row_q4_k(t.data + size_t(r) * row_bytes, y.data(), cols); break;
                        case DType::Q5_K: dequantize_row_q5_k(t.data + size_t(r) * row_bytes, y.data(), cols); break;
                        default: dequantize_row_q6_k(t.data + size_t(r) * row_bytes, y.data(), cols); break;
                    }
                    for (int64_t i = 0; i < cols; ++i) {
                        err += std::pow(double(y[size_t(i)]) - x[i], 2);
                        ref += double(x[i]) * x[i];
                    }
                }
                EXPECT_LT(std::sqrt(err / ref), max_rel_rms.at(type)) << outtype << " " << t.name;
            }
            if (input == kTwin) {
                EXPECT_TRUE(seen.count(std::string(outtype).substr(0, 4))) << outtype;
            }
        }
    }
}

// `quantize` from the f32 file writes the same tensors as converting straight from the checkpoint.
TEST(ConvertKQuant, QuantizeEqualsConvert) {
    for (const char* outtype : {"q4_k_m", "q4_0"}) {
        const std::string out = temp_dir() + std::string("/requantized_") + outtype + ".gguf";
        ConvertOptions o;
        parse_outtype(outtype, o);
        o.progress = false;
        quantize_gguf(converted(kTwin, "f32"), out, o);
        const GgufFile a = GgufFile::open(out), b = GgufFile::open(converted(kTwin, outtype));
        EXPECT_EQ(a.get_u32("general.file_type"), b.get_u32("general.file_type"));
        ASSERT_EQ(a.tensors().size(), b.tensors().size());
        for (const auto& t : a.tensors()) {
            const GgufTensorInfo& u = b.tensor(t.name);
            ASSERT_EQ(t.type, u.type) << t.name;
            ASSERT_EQ(t.nbytes, u.nbytes) << t.name;
            EXPECT_EQ(std::memcmp(t.data, u.data, t.nbytes), 0) << outtype << " " << t.name;
        }
    }
}

// Narrow fixtures: rows of 32 or 64 do not fit 256-element K-quant blocks, so those tensors fall back to q8_0
// (and the 2-wide dt_proj of tiny8 to f16); Q4_0's 32-element blocks fit. Ternary bodies keep a q8_0 head
// unless --head-type asks for q6_k / q4_k.
TEST(ConvertKQuant, FallbacksAndHeadTypes) {
    {
        const auto t = types_of(GgufFile::open(converted(fixture("tiny8"), "q4_k_m")));
        EXPECT_EQ(t.at("blk.0.ssm_in.weight"), "q8_0");
        EXPECT_EQ(t.at("blk.0.ffn_down.weight"), "q8_0");
        EXPECT_EQ(t.at("token_embd.weight"), "q8_0");
        EXPECT_EQ(t.at("blk.0.ssm_dt.weight"), "f16");
    }
    {
        const auto t = types_of(GgufFile::open(converted(fixture("tiny8"), "q4_0")));
        EXPECT_EQ(t.at("blk.0.ssm_in.weight"), "q4_0");
        EXPECT_EQ(t.at("blk.1.attn_qkv.weight"), "q4_0");
    }
    {
        const auto t = types_of(GgufFile::open(converted(fixture("bf16_untied"), "q6_k")));
        EXPECT_EQ(t.at("output.weight"), "q8_0");      // q6_k head, 64 wide
        EXPECT_EQ(t.at("token_embd.weight"), "q8_0");  // untied input table: the base type, 64 wide
        EXPECT_EQ(t.at("blk.0.ssm_x.weight"), "q8_0");
    }
    {
        const auto t = types_of(GgufFile::open(converted(fixture("ternary256"), "q4_k_m")));
        EXPECT_EQ(t.at("blk.0.ssm_in.weight"), "q4_k");
        EXPECT_EQ(t.at("token_embd.weight"), "q6_k");
    }
    for (const char* head : {"q6_k", "q4_k", "q4_0"}) {
        ConvertOptions o;
        o.input = fixture("ternary256");
        o.output = temp_dir() + "/ternary_head_" + head + ".gguf";
        o.outtype = DType::TQ2_0;
        o.head_type = dtype_from_name(head);
        o.progress = false;
        convert(o);
        const auto t = types_of(GgufFile::open(o.output));
        EXPECT_EQ(t.at("token_embd.weight"), head);
        EXPECT_EQ(t.at("blk.0.ssm_in.weight"), "tq2_0");
    }
    EXPECT_EQ(types_of(GgufFile::open(converted(fixture("ternary256"), "tq2_0"))).at("token_embd.weight"), "q8_0");
}

// Importance changes exactly the tensor it is given for, and the file holds what the quantizer gives with it.
TEST(ConvertKQuant, ImportanceReachesTheQuantizer) {
    const std::string name = "blk.0.ssm_in.weight";
    std::map<std::string, std::vector<float>> imp;
    imp[name].assign(256, 1.0f);
    for (size_t i = 0; i < 256; i += 8) imp[name][i] = 100.0f;
    const GgufFile with = GgufFile::open(converted(kTwin, "q4_k_m", &imp, "_imp"));
    const GgufFile without = GgufFile::open(converted(kTwin, "q4_k_m"));
    const GgufFile f32 = GgufFile::open(converted(kTwin, "f32"));
    for (const auto& t : with.tensors()) {
        const bool same = std::memcmp(t.data, without.tensor(t.name).data, t.nbytes) == 0;
        EXPECT_EQ(same, t.name != name) << t.name;
    }
    const GgufTensorInfo& t = with.tensor(name);
    const size_t row_bytes = row_nbytes(DType::Q4_K, 256);
    std::vector<uint8_t> q(row_bytes);
    for (int64_t r = 0; r < t.rows(); ++r) {
        quantize_row_q4_k(reinterpret_cast<const float*>(f32.tensor(name).data) + r * 256, q.data(), 256,
                          imp[name].data());
        ASSERT_EQ(std::memcmp(q.data(), t.data + size_t(r) * row_bytes, row_bytes), 0) << "row " << r;
    }
    imp[name].resize(100);
    EXPECT_THROW(
        {
            try {
                converted(kTwin, "q4_k_m", &imp, "_bad_imp");
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("importance for 'blk.0.ssm_in.weight' has 100 values"),
                          std::string::npos)
                    << e.what();
                throw;
            }
        },
        Error);
}

// The command line: outtype names, the fallback note, the requantization warning, NaN weights.
TEST(ConvertKQuant, CommandLine) {
    const std::string bin = BF_BINARY, dir = temp_dir();
    RunResult r = run(bin + " convert " + kTwin + " -o " + dir + "/x.gguf --outtype q4_k_x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("unknown type name 'q4_k_x'"), std::string::npos) << r.out;

    r = run(bin + " convert " + fixture("tiny8") + " -o " + dir + "/tiny_q4km.gguf --outtype Q4_K_M");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("blk.0.ssm_in.weight          q8_0   <- model.layers.0.attn.in_proj.weight  (q4_k needs "
                         "rows of a multiple of 256, not 32: q8_0)"),
              std::string::npos)
        << r.out;

    r = run(bin + " quantize " + dir + "/tiny_q4km.gguf " + dir + "/again.gguf q6_k -q");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("already holds quantized weights (q8_0);"), std::string::npos) << r.out;
    r = run(bin + " quantize " + converted(kTwin, "f32") + " " + dir + "/fresh.gguf q6_k -q");
    EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;

    // A NaN in one projection of an f32 file: a clear error naming the tensor and row, no output file.
    auto bytes = read_bytes(converted(kTwin, "f32"));
    {
        const GgufFile g = GgufFile::open(converted(kTwin, "f32"));
        const GgufTensorInfo& t = g.tensor("blk.2.ffn_gate_up.weight");
        const float nan = NAN;
        std::memcpy(&bytes[g.data_offset() + t.offset + 4 * (3 * 256 + 5)], &nan, 4);
    }
    write_bytes(dir + "/nan.gguf", bytes.data(), bytes.size());
    r = run(bin + " quantize " + dir + "/nan.gguf " + dir + "/nan_q4.gguf q4_k_m -q");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("tensor 'blk.2.ffn_gate_up.weight' row 3: quantize_row_q4_k: element 5 is not finite"),
              std::string::npos)
        << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir + "/nan_q4.gguf"));
}

}  // namespace
}  // namespace bf
