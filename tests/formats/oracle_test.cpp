// Cross-check GgufWriter output with an independent parser (npm @huggingface/gguf, tests/formats/oracle).
// Skipped when node or the oracle's node_modules are missing (install: npm ci --prefix tests/formats/oracle).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "test_util.h"

namespace bf {
namespace {

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

const std::string kOracleDir = std::string(BF_SOURCE_DIR) + "/tests/formats/oracle";

bool oracle_installed() {
    return std::filesystem::exists(kOracleDir + "/node_modules/@huggingface/gguf") && !run("command -v node").empty();
}

// The oracle's JSON dump of a GGUF file; an empty object (after a test failure) if it is not JSON.
nlohmann::json oracle_dump(const std::string& path) {
    const std::string out = run("node '" + kOracleDir + "/dump.mjs' '" + path + "' 2>&1");
    try {
        return nlohmann::json::parse(out);
    } catch (const std::exception&) {
        ADD_FAILURE() << "oracle output is not JSON: " << out;
        return nlohmann::json::object();
    }
}

TEST(GgufOracle, HuggingFaceParserReadsWriterOutput) {
    if (!oracle_installed()) GTEST_SKIP() << "oracle not installed (npm ci --prefix tests/formats/oracle)";
    test::TempDir tmp;
    const std::string path = tmp.file("o.gguf");
    {
        GgufWriter w(path);
        w.add_kv("general.architecture", GgufValue::string("phi4flash"));
        w.add_kv("general.alignment", GgufValue::u32(64));
        w.add_kv("v.u8", GgufValue::u8(200));
        w.add_kv("v.i8", GgufValue::i8(-100));
        w.add_kv("v.u16", GgufValue::u16(60000));
        w.add_kv("v.i16", GgufValue::i16(-30000));
        w.add_kv("v.u32", GgufValue::u32(4000000000u));
        w.add_kv("v.i32", GgufValue::i32(-2000000000));
        w.add_kv("v.u64", GgufValue::u64(18446744073709551615ull));
        w.add_kv("v.i64", GgufValue::i64(-9000000000000000000ll));
        w.add_kv("v.f32", GgufValue::f32(0.125f));
        w.add_kv("v.f64", GgufValue::f64(-2.5e100));
        w.add_kv("v.bool", GgufValue::boolean(true));
        w.add_kv("v.str", GgufValue::string("h\xc3\xa9 \"q\""));
        w.add_kv("v.strs", GgufValue::str_array({"!", "Ġ Ġ", ""}));
        w.add_kv("v.i32s", GgufValue::i32_array({1, -2, 3}));
        w.add_kv("v.f32s", GgufValue::f32_array({0.5f, -1.0f}));
        w.add_tensor("token_embd.weight", DType::F16, {8, 3});
        w.add_tensor("blk.0.attn_q.weight", DType::Q8_0, {64, 2});
        w.add_tensor("blk.0.ffn_up.weight", DType::TQ2_0, {256, 2});
        w.add_tensor("output_norm.weight", DType::F32, {8});
        w.begin_data();
        std::vector<uint8_t> zeros(1024, 0);
        for (size_t n : {48u, 136u, 132u, 32u}) w.write_tensor_data(zeros.data(), n);
        w.finish();
    }
    nlohmann::json j = oracle_dump(path);
    if (j.empty()) return;
    EXPECT_EQ(j["version"], 3);
    EXPECT_EQ(j["tensor_count"], "4");
    EXPECT_EQ(j["kv_count"], "17");
    const auto& kv = j["kvs"];
    auto type_of = [&](const char* k) { return kv[k]["type"].get<int>(); };
    EXPECT_EQ(kv["general.architecture"]["value"], "phi4flash");
    EXPECT_EQ(kv["general.alignment"]["value"], 64);
    EXPECT_EQ(type_of("v.u8"), 0);
    EXPECT_EQ(kv["v.u8"]["value"], 200);
    EXPECT_EQ(type_of("v.i8"), 1);
    EXPECT_EQ(kv["v.i8"]["value"], -100);
    EXPECT_EQ(kv["v.u16"]["value"], 60000);
    EXPECT_EQ(kv["v.i16"]["value"], -30000);
    EXPECT_EQ(type_of("v.u32"), 4);
    EXPECT_EQ(kv["v.u32"]["value"], 4000000000u);
    EXPECT_EQ(kv["v.i32"]["value"], -2000000000);
    EXPECT_EQ(type_of("v.u64"), 10);
    EXPECT_EQ(kv["v.u64"]["value"], "18446744073709551615");
    EXPECT_EQ(kv["v.i64"]["value"], "-9000000000000000000");
    EXPECT_EQ(type_of("v.f32"), 6);
    EXPECT_EQ(kv["v.f32"]["value"], 0.125);
    EXPECT_EQ(type_of("v.f64"), 12);
    EXPECT_EQ(kv["v.f64"]["value"], -2.5e100);
    EXPECT_EQ(kv["v.bool"]["value"], true);
    EXPECT_EQ(kv["v.str"]["value"], "h\xc3\xa9 \"q\"");
    EXPECT_EQ(type_of("v.strs"), 9);
    EXPECT_EQ(kv["v.strs"]["subType"], 8);
    EXPECT_EQ(kv["v.strs"]["value"], (std::vector<std::string>{"!", "Ġ Ġ", ""}));
    EXPECT_EQ(kv["v.i32s"]["value"], (std::vector<int>{1, -2, 3}));
    EXPECT_EQ(kv["v.f32s"]["value"], (std::vector<double>{0.5, -1.0}));

    const GgufFile g = GgufFile::open(path);
    ASSERT_EQ(j["tensors"].size(), 4u);
    EXPECT_EQ(j["data_offset"], std::to_string(g.data_offset()));
    for (size_t k = 0; k < 4; ++k) {
        const auto& t = j["tensors"][k];
        const auto& mine = g.tensors()[k];
        EXPECT_EQ(t["name"], mine.name);
        EXPECT_EQ(t["dtype"], mine.type);
        EXPECT_EQ(t["offset"], std::to_string(mine.offset));
        std::vector<std::string> shape;
        for (int64_t x : mine.ne) shape.push_back(std::to_string(x));
        EXPECT_EQ(t["shape"], shape);
    }
    // Offsets the oracle reports must follow the 64-byte alignment rule independently.
    EXPECT_EQ(j["tensors"][1]["offset"], "64");
    EXPECT_EQ(j["tensors"][2]["offset"], "256");
    EXPECT_EQ(j["tensors"][3]["offset"], "448");
}

// ggml's 4- to 6-bit types: the oracle parses a file holding them, and the offsets it reads are the ones
// worked out here by hand from ggml's block sizes (18 B / 32; 144, 176, 210 B / 256).
TEST(GgufOracle, HuggingFaceParserReadsLowBitTypes) {
    if (!oracle_installed()) GTEST_SKIP() << "oracle not installed (npm ci --prefix tests/formats/oracle)";
    test::TempDir tmp;
    const std::string path = tmp.file("lowbit.gguf");
    const std::pair<const char*, DType> tensors[] = {{"a.q4_0", DType::Q4_0},
                                                     {"b.q4_k", DType::Q4_K},
                                                     {"c.q5_k", DType::Q5_K},
                                                     {"d.q6_k", DType::Q6_K},
                                                     {"e.f32", DType::F32}};
    {
        GgufWriter w(path);
        w.add_kv("general.architecture", GgufValue::string("phi4flash"));
        for (const auto& [name, type] : tensors) w.add_tensor(name, type, {512, 3});
        w.begin_data();
        for (const auto& [name, type] : tensors) {
            std::vector<uint8_t> bytes(tensor_nbytes(type, 512, 3), 0);
            w.write_tensor_data(bytes.data(), bytes.size());
        }
        w.finish();
    }
    nlohmann::json j = oracle_dump(path);
    if (j.empty()) return;
    ASSERT_EQ(j["tensors"].size(), 5u);
    // 3 rows of 512: q4_0 3·16·18 = 864, q4_k 3·2·144 = 864, q5_k 3·2·176 = 1056, q6_k 3·2·210 = 1260 (+20 to
    // the 32-byte alignment).
    const char* offsets[] = {"0", "864", "1728", "2784", "4064"};
    for (size_t k = 0; k < 5; ++k) {
        EXPECT_EQ(j["tensors"][k]["name"], tensors[k].first);
        EXPECT_EQ(j["tensors"][k]["dtype"], uint32_t(tensors[k].second)) << tensors[k].first;
        EXPECT_EQ(j["tensors"][k]["offset"], offsets[k]) << tensors[k].first;
    }
    const GgufFile g = GgufFile::open(path);
    for (size_t k = 0; k < 5; ++k) EXPECT_EQ(j["tensors"][k]["offset"], std::to_string(g.tensors()[k].offset));
}

}  // namespace
}  // namespace bf
