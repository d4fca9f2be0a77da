// Safetensors reader tests on hand-written files: single file, sharded folder with index.json, f32
// conversion of F32/F16/BF16 (expected values from hand-picked bit patterns), and malformed inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "formats/safetensors.h"
#include "../common/error_of.h"
#include "test_util.h"

namespace bf {
namespace {

using test::Bytes;
using test::TempDir;
using testing::error_of;

// Data: "w" F32 [2,3] = 0..5 (24 bytes @0), "b" BF16 [3,2] (12 bytes @24), "h" F16 [4] (8 bytes @36),
// "i" I8 [2] (2 bytes @44).
const char* kHeader = R"({"__metadata__":{"format":"pt"},)"
                      R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                      R"("b":{"dtype":"BF16","shape":[3,2],"data_offsets":[24,36]},)"
                      R"("h":{"dtype":"F16","shape":[4],"data_offsets":[36,44]},)"
                      R"("i":{"dtype":"I8","shape":[2],"data_offsets":[44,46]}})";

// bf16 bit patterns and their values: 0x3f80=1, 0xc000=-2, 0x4040=3, 0x3f00=0.5, 0x0000=0, 0xbf80=-1.
const uint16_t kBf16Bits[6] = {0x3f80, 0xc000, 0x4040, 0x3f00, 0x0000, 0xbf80};
const float kBf16Vals[6] = {1, -2, 3, 0.5f, 0, -1};
// f16: 0x3c00=1, 0xc000=-2, 0x3800=0.5, 0x0001=2^-24 (smallest subnormal).
const uint16_t kF16Bits[4] = {0x3c00, 0xc000, 0x3800, 0x0001};
const float kF16Vals[4] = {1, -2, 0.5f, 5.9604644775390625e-08f};

std::vector<uint8_t> data_section() {
    Bytes d;
    for (int k = 0; k < 6; ++k) d.f32(float(k));
    for (uint16_t x : kBf16Bits) d.put(x);
    for (uint16_t x : kF16Bits) d.put(x);
    d.u8(0x7f).u8(0x80);
    return d.b;
}

std::vector<uint8_t> small_safetensors() { return test::make_safetensors(kHeader, data_section()); }

TEST(Safetensors, SingleFile) {
    TempDir dir;
    const std::string path = dir.file("m.safetensors");
    test::write_file(path, small_safetensors());
    const SafetensorsSet s = SafetensorsSet::open(path);
    EXPECT_EQ(s.names(), (std::vector<std::string>{"b", "h", "i", "w"}));
    const StTensor& w = s.tensor("w");
    EXPECT_EQ(w.dtype, "F32");
    EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(w.rows(), 2);
    EXPECT_EQ(w.cols(), 3);
    EXPECT_EQ(w.numel(), 6);
    EXPECT_EQ(w.offset, 8 + std::string(kHeader).size());
    EXPECT_EQ(w.nbytes, 24u);
    float out[6];
    s.read_rows_f32(w, 0, 2, out);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(out[k], float(k));
    s.read_rows_f32(w, 1, 1, out);
    EXPECT_EQ(out[0], 3.0f);
    EXPECT_EQ(out[2], 5.0f);
    s.read_rows_f32(s.tensor("b"), 0, 3, out);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(out[k], kBf16Vals[k]);
    s.read_rows_f32(s.tensor("b"), 2, 1, out);
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], -1.0f);
    const StTensor& h = s.tensor("h");
    EXPECT_EQ(h.rows(), 4);
    EXPECT_EQ(h.cols(), 1);
    s.read_rows_f32(h, 0, 4, out);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(out[k], kF16Vals[k]);
    s.read_rows_f32(h, 4, 0, out);  // empty range at the end is fine

    EXPECT_NE(error_of([&] { s.read_rows_f32(s.tensor("i"), 0, 1, out); }).find("'i'"), std::string::npos);
    EXPECT_THROW(s.read_rows_f32(w, 1, 2, out), Error);
    EXPECT_THROW(s.read_rows_f32(w, -1, 1, out), Error);
    EXPECT_THROW(s.read_rows_f32(w, 3, 0, out), Error);
    EXPECT_THROW(s.read_rows_f32(w, 0, -1, out), Error);
    uint8_t raw[2];
    s.read_raw(s.tensor("i"), 0, 2, raw);
    EXPECT_EQ(raw[0], 0x7f);
    EXPECT_EQ(raw[1], 0x80);
    EXPECT_THROW(s.read_raw(s.tensor("i"), 1, 2, raw), Error);
    EXPECT_THROW(s.read_raw(s.tensor("i"), ~uint64_t(0), 2, raw), Error);
    EXPECT_EQ(s.find("missing"), nullptr);
    EXPECT_NE(error_of([&] { s.tensor("missing"); }).find("'missing'"), std::string::npos);
}

TEST(Safetensors, LargeBf16ReadCrossesChunks) {
    TempDir dir;
    const int64_t rows = 3, cols = 200000;  // 600k elements > the 256k staging chunk
    Bytes d;
    for (int64_t k = 0; k < rows * cols; ++k) d.put<uint16_t>(uint16_t(0x3f80 + (k % 64)));
    const std::string hdr = R"({"x":{"dtype":"BF16","shape":[3,200000],"data_offsets":[0,1200000]}})";
    test::write_file(dir.file("x.safetensors"), test::make_safetensors(hdr, d.b));
    const SafetensorsSet s = SafetensorsSet::open(dir.file("x.safetensors"));
    std::vector<float> out(size_t(rows * cols));
    s.read_rows_f32(s.tensor("x"), 0, rows, out.data());
    for (int64_t k = 0; k < rows * cols; k += 997) {
        // 0x3f80 + m has exponent 0 and mantissa m/128: value 1 + m/128.
        EXPECT_EQ(out[size_t(k)], 1.0f + float(k % 64) / 128.0f) << k;
    }
}

TEST(Safetensors, DirectoryWithSingleFile) {
    TempDir dir;
    test::write_file(dir.file("model.safetensors"), small_safetensors());
    const SafetensorsSet s = SafetensorsSet::open(dir.path);
    EXPECT_EQ(s.size(), 4u);
    TempDir empty;
    EXPECT_NE(error_of([&] { SafetensorsSet::open(empty.path); }).find("model.safetensors"), std::string::npos);
    EXPECT_THROW(SafetensorsSet::open(empty.file("nope.safetensors")), Error);
}

// Shard 1: "a" F32 [2] and "unlisted"; shard 2: "b" BF16 [1,2].
void write_shards(const TempDir& dir, const std::string& index) {
    Bytes d1;
    d1.f32(1.5f).f32(-4.0f).f32(9.0f);
    test::write_file(dir.file("model-00001-of-00002.safetensors"),
                     test::make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("unlisted":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                            d1.b));
    Bytes d2;
    d2.put<uint16_t>(0x4040).put<uint16_t>(0xc000);
    test::write_file(dir.file("model-00002-of-00002.safetensors"),
                     test::make_safetensors(R"({"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}})", d2.b));
    test::write_file(dir.file("model.safetensors.index.json"), std::vector<uint8_t>(index.begin(), index.end()));
}

TEST(Safetensors, ShardedFolder) {
    TempDir dir;
    write_shards(dir, R"({"metadata":{"total_size":12},"weight_map":{)"
                      R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
    const SafetensorsSet s = SafetensorsSet::open(dir.path);
    EXPECT_EQ(s.names(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(s.files().size(), 2u);
    EXPECT_NE(s.tensor("a").file, s.tensor("b").file);
    float out[2];
    s.read_rows_f32(s.tensor("a"), 0, 2, out);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[1], -4.0f);
    s.read_rows_f32(s.tensor("b"), 0, 1, out);
    EXPECT_EQ(out[0], 3.0f);
    EXPECT_EQ(out[1], -2.0f);
    SafetensorsSet moved = std::move(const_cast<SafetensorsSet&>(s));
    moved.read_rows_f32(moved.tensor("a"), 1, 1, out);
    EXPECT_EQ(out[0], -4.0f);
}

TEST(Safetensors, ShardErrorsNameTensorAndFile) {
    {
        TempDir dir;
        write_shards(
            dir, R"({"weight_map":{"a":"model-00001-of-00002.safetensors","z":"model-00003-of-00003.safetensors"}})");
        const std::string msg = error_of([&] { SafetensorsSet::open(dir.path); });
        EXPECT_NE(msg.find("'z'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("model-00003-of-00003.safetensors"), std::string::npos) << msg;
    }
    {
        TempDir dir;
        write_shards(
            dir, R"({"weight_map":{"a":"model-00001-of-00002.safetensors","q":"model-00002-of-00002.safetensors"}})");
        const std::string msg = error_of([&] { SafetensorsSet::open(dir.path); });
        EXPECT_NE(msg.find("'q'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
    }
    const char* bad_indexes[] = {
        R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})",
        R"({"weight_map":{"a":7}})",
        R"({"weight_map":[]})",
        R"({"nothing":{}})",
        R"({"weight_map":{"a":"model-00001-of-00002.safetensors")",
        R"([1,2])",
    };
    for (const char* idx : bad_indexes) {
        TempDir dir;
        write_shards(dir, idx);
        EXPECT_THROW(SafetensorsSet::open(dir.path), Error) << idx;
    }
}

struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* expect;
};

std::vector<Case> cases() {
    const std::vector<uint8_t> d8(8, 0);
    auto st = [&](const std::string& h) { return test::make_safetensors(h, d8); };
    std::vector<Case> c;
    c.push_back({"too short", {1, 0, 0}, "too short"});
    c.push_back({"header past end", Bytes().u64(100).raw("{}").b, "exceeds the file size"});
    c.push_back({"header > 100 MB", Bytes().u64(uint64_t(200) << 20).raw("{}").b, "100 MB"});
    c.push_back({"header 2^64-1", Bytes().u64(~uint64_t(0)).raw("{}").b, "header length"});
    c.push_back({"bad json", st(R"({"a":{"dtype":"F32",)"), "invalid JSON"});
    c.push_back({"not json", st("\xff\xfe"), "invalid JSON"});
    c.push_back({"top-level array", st("[]"), "not a JSON object"});
    c.push_back({"entry not object", st(R"({"a":3})"), "'a'"});
    c.push_back({"missing dtype", st(R"({"a":{"shape":[2],"data_offsets":[0,8]}})"), "dtype"});
    c.push_back(
        {"unknown dtype", st(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})"), "unknown dtype 'Q4'"});
    c.push_back({"missing shape", st(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})"), "shape"});
    c.push_back({"negative shape", st(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"), "shape"});
    c.push_back({"float shape", st(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})"), "shape"});
    c.push_back(
        {"huge shape", st(R"({"a":{"dtype":"F32","shape":[1152921504606846977],"data_offsets":[0,8]}})"), "shape"});
    c.push_back({"shape overflow",
                 st(R"({"a":{"dtype":"F32","shape":[1073741824,1073741824,1073741824],"data_offsets":[0,8]}})"),
                 "overflow"});
    c.push_back(
        {"rank 9", st(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})"), "dimensions"});
    c.push_back({"offsets missing", st(R"({"a":{"dtype":"F32","shape":[2]}})"), "data_offsets"});
    c.push_back(
        {"offsets 3 entries", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})"), "data_offsets"});
    c.push_back(
        {"offsets past end", st(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"), "data_offsets end"});
    c.push_back({"offsets huge", st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}})"),
                 "data_offsets begin"});
    c.push_back({"offsets reversed", st(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})"), "< begin"});
    c.push_back({"negative offset", st(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[-8,0]}})"), "data_offsets"});
    c.push_back({"size mismatch", st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"), "need 12"});
    c.push_back({"size mismatch bf16", st(R"({"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,4]}})"), "need 8"});
    c.push_back({"duplicate key",
                 st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})"),
                 "duplicate key 'a'"});
    c.push_back(
        {"deep metadata", st(R"({"__metadata__":)" + std::string(100, '[') + std::string(100, ']') + "}"), "nested"});
    {
        auto full = small_safetensors();
        full.pop_back();
        c.push_back({"last tensor short", full, "'i'"});
    }
    return c;
}

TEST(SafetensorsMalformed, TableOfBadInputs) {
    for (const auto& c : cases()) {
        test::MemFile f(c.bytes);
        const std::string msg = error_of([&] { SafetensorsSet::open(f.path); });
        EXPECT_FALSE(msg.empty()) << c.what << ": accepted";
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": message was: " << msg;
    }
}

TEST(SafetensorsMalformed, EveryTruncationThrows) {
    const auto full = small_safetensors();
    {
        test::MemFile f(full);
        ASSERT_NO_THROW(SafetensorsSet::open(f.path));
    }
    for (size_t n = 0; n < full.size(); ++n) {
        test::MemFile f(std::vector<uint8_t>(full.begin(), full.begin() + long(n)));
        EXPECT_THROW(SafetensorsSet::open(f.path), Error) << "prefix of " << n << " bytes";
    }
}

TEST(SafetensorsMalformed, AcceptedEdgeCases) {
    // Overlapping and zero-sized tensors and scalars are allowed; __metadata__ may be anything.
    Bytes d;
    d.f32(2.0f).f32(3.0f);
    const std::string hdr = R"({"__metadata__":[1,{"x":null}],)"
                            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                            R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]},)"
                            R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
    test::MemFile f(test::make_safetensors(hdr, d.b));
    const SafetensorsSet s = SafetensorsSet::open(f.path);
    float out[2] = {0, 0};
    s.read_rows_f32(s.tensor("b"), 0, 1, out);
    EXPECT_EQ(out[0], 3.0f);
    EXPECT_EQ(s.tensor("s").rows(), 1);
    EXPECT_EQ(s.tensor("s").cols(), 1);
    s.read_rows_f32(s.tensor("s"), 0, 1, out);
    EXPECT_EQ(out[0], 2.0f);
    EXPECT_EQ(s.tensor("e").numel(), 0);
    s.read_rows_f32(s.tensor("e"), 0, 0, out);
}

}  // namespace
}  // namespace bf
