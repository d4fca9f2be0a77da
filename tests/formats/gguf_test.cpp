// GGUF reader/writer tests: hand-built bytes as the oracle, writer->reader round trips, sizes per dtype,
// chunked streaming writes, and the writer's refusals.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "../common/error_of.h"
#include "test_util.h"

namespace bf {
namespace {

using test::Bytes;
using test::TempDir;
using testing::error_of;

TEST(GgufReader, ReadsHandBuiltFile) {
    const auto bytes = test::small_gguf();
    const GgufFile g = GgufFile::from_memory(bytes);
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(g.alignment(), 32u);
    EXPECT_EQ(g.file_size(), bytes.size());
    ASSERT_EQ(g.kvs().size(), 2u);
    EXPECT_EQ(g.kvs()[0].key, "general.architecture");
    EXPECT_EQ(g.kvs()[1].key, "answer");
    EXPECT_EQ(g.get_string("general.architecture"), "test");
    EXPECT_EQ(g.get_u32("answer"), 42u);
    ASSERT_EQ(g.tensors().size(), 2u);
    const auto& a = g.tensor("a");
    EXPECT_EQ(a.dtype(), DType::F32);
    EXPECT_EQ(a.ne, (std::vector<int64_t>{4, 2}));
    EXPECT_EQ(a.rows(), 2);
    EXPECT_EQ(a.nbytes, 32u);
    EXPECT_EQ(a.offset, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % 32, 0u);
    for (int k = 0; k < 8; ++k) EXPECT_EQ(reinterpret_cast<const float*>(a.data)[k], float(k));
    const auto& b = g.tensor("b");
    EXPECT_EQ(b.dtype(), DType::F16);
    EXPECT_EQ(b.nbytes, 16u);
    EXPECT_EQ(b.data, a.data + 32);
    EXPECT_EQ(reinterpret_cast<const uint16_t*>(b.data)[7], 0x3c00);
    EXPECT_EQ(g.find_tensor("c"), nullptr);
    EXPECT_NE(error_of([&] { g.tensor("nope"); }).find("'nope'"), std::string::npos);
}

TEST(GgufWriter, MatchesHandBuiltBytes) {
    TempDir dir;
    const std::string path = dir.file("w.gguf");
    {
        GgufWriter w(path);
        w.add_kv("general.architecture", GgufValue::string("test"));
        w.add_kv("answer", GgufValue::u32(42));
        w.add_tensor("a", DType::F32, {4, 2});
        w.add_tensor("b", DType::F16, {8});
        w.begin_data();
        std::vector<float> a(8);
        for (int k = 0; k < 8; ++k) a[k] = float(k);
        w.write_tensor_data(a.data(), 32);
        std::vector<uint16_t> b(8, 0x3c00);
        w.write_tensor_data(b.data(), 16);
        w.finish();
    }
    auto got = test::read_file(path);
    auto want = test::small_gguf();
    // The writer pads every tensor, including the last one, to the alignment.
    want.resize(want.size() + 16, 0);
    EXPECT_EQ(got, want);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    // And the mmap path reads it.
    const GgufFile g = GgufFile::open(path);
    EXPECT_EQ(g.get_u32("answer"), 42u);
    EXPECT_EQ(reinterpret_cast<const float*>(g.tensor("a").data)[5], 5.0f);
}

GgufValue nested_value() {
    // [[1, 2], [], [[ "x" ], [ "y", "z" ]]] is not expressible (elements must share a type), so nest
    // arrays of arrays whose inner element types differ per element, three levels deep.
    GgufValue inner_strs =
        GgufValue::array(GgufType::ARRAY, {GgufValue::str_array({"x"}), GgufValue::str_array({"y", "z"})});
    return GgufValue::array(GgufType::ARRAY,
                            {GgufValue::i32_array({1, 2}), GgufValue::f32_array({}), inner_strs,
                             GgufValue::array(GgufType::ARRAY, {GgufValue::array(GgufType::ARRAY, {})})});
}

std::vector<GgufKv> all_value_kinds() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<GgufKv> kv = {
        {"t.u8", GgufValue::u8(255)},
        {"t.i8", GgufValue::i8(-128)},
        {"t.u16", GgufValue::u16(65535)},
        {"t.i16", GgufValue::i16(-32768)},
        {"t.u32", GgufValue::u32(0xffffffffu)},
        {"t.i32", GgufValue::i32(std::numeric_limits<int32_t>::min())},
        {"t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max())},
        {"t.i64", GgufValue::i64(std::numeric_limits<int64_t>::min())},
        {"t.f32", GgufValue::f32(-1.5e-38f)},
        {"t.f32nan", GgufValue::f32(nan)},
        {"t.f64", GgufValue::f64(3.141592653589793)},
        {"t.bool0", GgufValue::boolean(false)},
        {"t.bool1", GgufValue::boolean(true)},
        {"t.str", GgufValue::string("h\xc3\xa9llo")},
        {"t.str_empty", GgufValue::string("")},
        {"t.str_nul", GgufValue::string(std::string("a\0b", 3))},
        {"t.a_str", GgufValue::str_array({"", "Ġ Ġ", "x"})},
        {"t.a_i32", GgufValue::i32_array({-1, 0, 2147483647})},
        {"t.a_u32", GgufValue::u32_array({0, 4000000000u})},
        {"t.a_i64", GgufValue::i64_array({std::numeric_limits<int64_t>::min(), 7})},
        {"t.a_u8", GgufValue::u8_array({0, 255})},
        {"t.a_f32", GgufValue::f32_array({0.25f, -2.0f})},
        {"t.a_f64", GgufValue::f64_array({1e300, -0.0})},
        {"t.a_bool", GgufValue::array(GgufType::BOOL, {GgufValue::boolean(true), GgufValue::boolean(false)})},
        {"t.a_u64", GgufValue::array(GgufType::U64, {GgufValue::u64(std::numeric_limits<uint64_t>::max())})},
        {"t.a_i8", GgufValue::array(GgufType::I8, {GgufValue::i8(-5)})},
        {"t.a_u16", GgufValue::array(GgufType::U16, {GgufValue::u16(65535)})},
        {"t.a_i16", GgufValue::array(GgufType::I16, {GgufValue::i16(-32768)})},
        {"t.a_empty", GgufValue::i32_array({})},
        {"t.nested", nested_value()},
    };
    return kv;
}

TEST(GgufRoundTrip, EveryValueType) {
    TempDir dir;
    const std::string path = dir.file("kv.gguf");
    const auto kvs = all_value_kinds();
    {
        GgufWriter w(path);
        for (const auto& kv : kvs) w.add_kv(kv.key, kv.value);
        w.finish();  // metadata only, no tensors
    }
    const GgufFile g = GgufFile::open(path);
    ASSERT_EQ(g.kvs().size(), kvs.size());
    for (size_t k = 0; k < kvs.size(); ++k) {
        EXPECT_EQ(g.kvs()[k].key, kvs[k].key);
        EXPECT_TRUE(g.kvs()[k].value == kvs[k].value) << kvs[k].key;
    }
    EXPECT_EQ(g.get("t.u64").as_u64(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(g.get("t.i64").as_i64(), std::numeric_limits<int64_t>::min());
    EXPECT_TRUE(std::isnan(g.get_f32("t.f32nan")));
    EXPECT_EQ(g.get_string("t.str_nul").size(), 3u);
    EXPECT_EQ(g.get_str_array("t.a_str")[1], "Ġ Ġ");
    EXPECT_EQ(g.get("t.a_u32").as_u32_array()[1], 4000000000u);
    EXPECT_EQ(g.get("t.a_u64").at(0).as_u64(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(g.get("t.a_bool").at(0).as_bool(), true);
    EXPECT_EQ(g.get("t.a_i16").at(0).as_i32(), -32768);
    const GgufValue& n = g.get("t.nested");
    ASSERT_EQ(n.size(), 4u);
    EXPECT_EQ(n.at(0).as_i32_array(), (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(n.at(2).at(1).as_strs(), (std::vector<std::string>{"y", "z"}));
    EXPECT_EQ(n.at(3).at(0).size(), 0u);
}

TEST(GgufRoundTrip, NestedArrayBytesMatchSpec) {
    // Array of arrays: elements carry no type tag of their own.
    TempDir dir;
    const std::string path = dir.file("n.gguf");
    {
        GgufWriter w(path);
        w.add_kv("k", GgufValue::array(GgufType::ARRAY, {GgufValue::u8_array({7})}));
        w.finish();
    }
    Bytes want = test::gguf_header(0, 1);
    want.str("k").u32(9).u32(9).u64(1).u32(0).u64(1).u8(7).pad_to(32);
    EXPECT_EQ(test::read_file(path), want.b);
}

TEST(GgufGetters, ConvertOrNameTheKey) {
    TempDir dir;
    const std::string path = dir.file("g.gguf");
    {
        GgufWriter w(path);
        w.add_kv("small", GgufValue::u8(7));
        w.add_kv("big64", GgufValue::u64(uint64_t(1) << 40));
        w.add_kv("fits64", GgufValue::u64(131072));
        w.add_kv("neg", GgufValue::i32(-3));
        w.add_kv("pos_i64", GgufValue::i64(5));
        w.add_kv("d", GgufValue::f64(0.5));
        w.add_kv("s", GgufValue::string("x"));
        w.add_kv("ua", GgufValue::u32_array({1, 2, 3}));
        w.add_kv("ubig", GgufValue::u32_array({3000000000u}));
        w.finish();
    }
    const GgufFile g = GgufFile::open(path);
    EXPECT_EQ(g.get_u32("small"), 7u);
    EXPECT_EQ(g.get_u32("fits64"), 131072u);
    EXPECT_EQ(g.get_u32("pos_i64"), 5u);
    EXPECT_EQ(g.get_i32("neg"), -3);
    EXPECT_EQ(g.get_u64("big64"), uint64_t(1) << 40);
    EXPECT_EQ(g.get_f32("d"), 0.5f);
    EXPECT_EQ(g.get_u32_or("absent", 9u), 9u);
    EXPECT_EQ(g.get_f32_or("absent", 2.5f), 2.5f);
    EXPECT_EQ(g.get_bool_or("absent", true), true);
    EXPECT_EQ(g.get_i32_array("ua"), (std::vector<int32_t>{1, 2, 3}));
    for (const char* key : {"big64", "neg", "s"})
        EXPECT_NE(error_of([&] { g.get_u32(key); }).find(std::string("'") + key + "'"), std::string::npos) << key;
    EXPECT_NE(error_of([&] { g.get_u32("absent"); }).find("'absent'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_f32("small"); }).find("'small'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_string("small"); }).find("'small'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_bool("s"); }).find("'s'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_str_array("ua"); }).find("'ua'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_i32_array("ubig"); }).find("'ubig'"), std::string::npos);
    EXPECT_NE(error_of([&] { g.get_f32_array("ua"); }).find("'ua'"), std::string::npos);
    EXPECT_THROW(g.get_u32_or("s", 1), Error);  // present but wrong type is still an error
}

struct SizeCase {
    DType type;
    std::vector<int64_t> ne;
    size_t nbytes;  // from the ggml block tables, computed by hand
};

TEST(GgufRoundTrip, EveryDTypeSizeAndData) {
    const std::vector<SizeCase> cases = {
        {DType::F32, {3, 5}, 3 * 5 * 4},       {DType::F16, {7}, 7 * 2},
        {DType::BF16, {2, 3, 4}, 24 * 2},      {DType::Q8_0, {64, 3}, 2 * 34 * 3},
        {DType::TQ1_0, {512, 2}, 2 * 54 * 2},  {DType::TQ2_0, {256, 1, 2, 3}, 66 * 6},
        {DType::I2_S, {256, 3}, 768 / 4 + 32},
    };
    for (uint32_t align : {32u, 64u, 8u}) {
        TempDir dir;
        const std::string path = dir.file("t.gguf");
        std::mt19937 rng(align);
        std::vector<std::vector<uint8_t>> datas;
        {
            GgufWriter w(path);
            if (align != 32) w.add_kv("general.alignment", GgufValue::u32(align));
            for (size_t k = 0; k < cases.size(); ++k) w.add_tensor("t" + std::to_string(k), cases[k].type, cases[k].ne);
            w.begin_data();
            for (const auto& c : cases) {
                std::vector<uint8_t> d(c.nbytes);
                for (auto& x : d) x = uint8_t(rng());
                w.write_tensor_data(d.data(), d.size());
                datas.push_back(std::move(d));
            }
            w.finish();
        }
        const GgufFile g = GgufFile::open(path);
        EXPECT_EQ(g.alignment(), align);
        uint64_t expect_off = 0;
        for (size_t k = 0; k < cases.size(); ++k) {
            const auto& t = g.tensors()[k];
            EXPECT_EQ(t.type, uint32_t(cases[k].type));
            EXPECT_EQ(t.ne, cases[k].ne);
            EXPECT_EQ(t.nbytes, cases[k].nbytes) << dtype_name(cases[k].type);
            EXPECT_EQ(t.offset, expect_off);
            EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % align, 0u);
            EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.nbytes), datas[k]);
            expect_off = (t.offset + t.nbytes + align - 1) / align * align;
        }
        EXPECT_EQ((g.file_size() - g.data_offset()), expect_off);
    }
}

TEST(GgufWriter, ChunkedWrites) {
    TempDir dir;
    const std::string path = dir.file("c.gguf");
    std::mt19937 rng(7);
    std::vector<uint8_t> a(4 * 1000 * 3), b(2 * 999);
    for (auto& x : a) x = uint8_t(rng());
    for (auto& x : b) x = uint8_t(rng());
    {
        GgufWriter w(path);
        w.add_tensor("a", DType::F32, {1000, 3});
        w.add_tensor("b", DType::BF16, {999});
        w.begin_data();
        for (auto* v : {&a, &b}) {
            size_t pos = 0;
            while (pos < v->size()) {
                size_t n = std::min<size_t>(1 + rng() % 777, v->size() - pos);
                w.write_tensor_data(v->data() + pos, n);
                pos += n;
            }
        }
        EXPECT_EQ(w.current_tensor(), 2u);
        w.finish();
    }
    const GgufFile g = GgufFile::open(path);
    EXPECT_EQ(std::vector<uint8_t>(g.tensor("a").data, g.tensor("a").data + a.size()), a);
    EXPECT_EQ(std::vector<uint8_t>(g.tensor("b").data, g.tensor("b").data + b.size()), b);
}

TEST(GgufWriter, LargeChunkBypassesBuffer) {
    TempDir dir;
    const std::string path = dir.file("big.gguf");
    std::vector<float> a(3 << 20);  // 12 MB > the 4 MB write buffer
    for (size_t k = 0; k < a.size(); ++k) a[k] = float(k % 1000);
    {
        GgufWriter w(path);
        w.add_tensor("a", DType::F32, {int64_t(a.size())});
        w.begin_data();
        w.write_tensor_data(a.data(), 100);
        w.write_tensor_data(reinterpret_cast<uint8_t*>(a.data()) + 100, a.size() * 4 - 100);
        w.finish();
    }
    const GgufFile g = GgufFile::open(path);
    EXPECT_EQ(std::memcmp(g.tensor("a").data, a.data(), a.size() * 4), 0);
}

TEST(GgufWriter, Refusals) {
    TempDir dir;
    const std::string path = dir.file("r.gguf");
    {
        GgufWriter w(path);
        w.add_kv("k", GgufValue::u32(1));
        EXPECT_THROW(w.add_kv("k", GgufValue::u32(2)), Error);
        EXPECT_THROW(w.add_kv("", GgufValue::u32(2)), Error);
        EXPECT_THROW(w.add_kv(std::string(65536, 'k'), GgufValue::u32(2)), Error);
        EXPECT_THROW(w.add_kv("general.alignment", GgufValue::u32(24)), Error);
        EXPECT_THROW(w.add_kv("general.alignment", GgufValue::u32(4)), Error);
        EXPECT_THROW(w.add_kv("general.alignment", GgufValue::u64(32)), Error);
        GgufValue bad = GgufValue::str_array({"a"});
        bad.ints.push_back(1);  // data in the wrong storage would be silently dropped
        EXPECT_THROW(w.add_kv("bad", bad), Error);
        GgufValue deep = GgufValue::u8_array({1});
        for (int d = 0; d < kGgufMaxArrayDepth; ++d) deep = GgufValue::array(GgufType::ARRAY, {deep});
        EXPECT_THROW(w.add_kv("deep", deep), Error);
        EXPECT_THROW(GgufValue::array(GgufType::U8, {GgufValue::i8(1)}), Error);
        w.add_tensor("a", DType::Q8_0, {32});
        EXPECT_THROW(w.add_tensor("a", DType::F32, {1}), Error);
        EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {33}), Error);
        EXPECT_THROW(w.add_tensor("i2", DType::I2_S, {64}), Error);
        EXPECT_THROW(w.add_tensor("z", DType::F32, {0}), Error);
        EXPECT_THROW(w.add_tensor("d5", DType::F32, {1, 1, 1, 1, 1}), Error);
        EXPECT_THROW(w.add_tensor("d0", DType::F32, {}), Error);
        EXPECT_THROW(w.add_tensor(std::string(64, 'n'), DType::F32, {1}), Error);
        EXPECT_THROW(w.add_tensor("ovf", DType::F32, {int64_t(1) << 40, int64_t(1) << 30}), Error);
        EXPECT_THROW(w.add_tensor("t", DType(3), {32}), Error);
        EXPECT_THROW(w.write_tensor_data("x", 1), Error);  // before begin_data
        w.begin_data();
        EXPECT_THROW(w.add_kv("late", GgufValue::u32(1)), Error);
        EXPECT_THROW(w.add_tensor("late", DType::F32, {1}), Error);
        uint8_t buf[64] = {};
        EXPECT_THROW(w.write_tensor_data(buf, 35), Error);  // tensor a is 34 bytes
        w.write_tensor_data(buf, 30);
        const std::string msg = error_of([&] { w.finish(); });
        EXPECT_NE(msg.find("'a'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("30 of 34"), std::string::npos) << msg;
        EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
    }
    // A writer that never finished leaves nothing behind.
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    {
        GgufWriter w(path);
        w.add_tensor("a", DType::F32, {1});
        w.begin_data();
        float x = 1;
        w.write_tensor_data(&x, 4);
        EXPECT_THROW(w.write_tensor_data(&x, 4), Error);  // past the last tensor
        w.finish();
        EXPECT_THROW(w.finish(), Error);
    }
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_THROW(GgufWriter(dir.file("no/such/dir.gguf")), Error);
}

TEST(GgufReader, LargeStringArrayLoadsFast) {
    TempDir dir;
    const std::string path = dir.file("vocab.gguf");
    std::vector<std::string> tokens(200064);
    std::vector<int32_t> types(tokens.size());
    for (size_t k = 0; k < tokens.size(); ++k) {
        tokens[k] = "tok_" + std::to_string(k * 7919 % 1000003);
        types[k] = int32_t(k % 6) + 1;
    }
    {
        GgufWriter w(path);
        w.add_kv("tokenizer.ggml.tokens", GgufValue::str_array(tokens));
        w.add_kv("tokenizer.ggml.token_type", GgufValue::i32_array(types));
        w.add_kv("tokenizer.ggml.merges", GgufValue::str_array(std::vector<std::string>(199742, "Ġ Ġ")));
        w.finish();
    }
    const auto t0 = std::chrono::steady_clock::now();
    const GgufFile g = GgufFile::open(path);
    const auto& got = g.get_str_array("tokenizer.ggml.tokens");
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(got, tokens);
    EXPECT_EQ(g.get_i32_array("tokenizer.ggml.token_type"), types);
    EXPECT_EQ(g.get_str_array("tokenizer.ggml.merges").size(), 199742u);
    std::printf("[ info     ] 200k tokens + 200k types + 200k merges loaded in %.1f ms\n", ms);
    // No time bound: speed is never asserted in a test (the ctest timeout catches a hang).
}

TEST(GgufReader, OpenErrors) {
    TempDir dir;
    EXPECT_THROW(GgufFile::open(dir.file("missing.gguf")), Error);
    EXPECT_THROW(GgufFile::open(dir.path), Error);
    test::write_file(dir.file("empty.gguf"), {});
    EXPECT_THROW(GgufFile::open(dir.file("empty.gguf")), Error);
    test::write_file(dir.file("bad.gguf"), {'G', 'G', 'U', 'X', 3, 0, 0, 0});
    const std::string msg = error_of([&] { GgufFile::open(dir.file("bad.gguf")); });
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
    EXPECT_THROW(GgufFile::from_memory({}), Error);
}

TEST(GgufReader, MoveKeepsDataValid) {
    GgufFile a = GgufFile::from_memory(test::small_gguf());
    const uint8_t* p = a.tensor("a").data;
    GgufFile b = std::move(a);
    EXPECT_EQ(b.tensor("a").data, p);
    EXPECT_EQ(reinterpret_cast<const float*>(b.tensor("a").data)[3], 3.0f);
}

}  // namespace
}  // namespace bf
