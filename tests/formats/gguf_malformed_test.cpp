// Malformed GGUF inputs, built byte by byte: each must raise bf::Error with a message naming the problem.
#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace bf {
namespace {

using test::Bytes;

struct TInfo {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
};

// A file with no kvs, the given tensor infos and data_bytes of data after 32-byte padding.
std::vector<uint8_t> tensor_file(const std::vector<TInfo>& infos, size_t data_bytes) {
    Bytes b = test::gguf_header(infos.size(), 0);
    for (const auto& t : infos) test::tensor_info(b, t.name, t.ne, t.type, t.offset);
    b.pad_to(32);
    b.b.resize(b.b.size() + data_bytes, 0);
    return b.b;
}

// A file with one kv whose type and value bytes are given raw.
std::vector<uint8_t> kv_file(const std::string& key, uint32_t type, const Bytes& value) {
    Bytes b = test::gguf_header(0, 1);
    b.str(key).u32(type).raw(value.b);
    return b.b;
}

struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    const char* expect;  // substring of the error message
};

std::vector<Case> cases() {
    std::vector<Case> c;
    auto bad_magic = test::small_gguf();
    bad_magic[3] = 'X';
    c.push_back({"wrong magic", bad_magic, "magic"});
    c.push_back({"short magic", {'G', 'G'}, "magic"});
    c.push_back({"version 1", test::gguf_header(0, 0, 1).b, "version 1"});
    c.push_back({"version 4", test::gguf_header(0, 0, 4).b, "version 4"});
    c.push_back({"big-endian", test::gguf_header(0, 0, 0x03000000u).b, "big-endian"});
    c.push_back({"huge kv count", test::gguf_header(0, uint64_t(1) << 60).b, "kv count"});
    c.push_back({"huge tensor count", test::gguf_header(uint64_t(1) << 60, 0).b, "tensor count"});
    c.push_back({"max kv count", test::gguf_header(0, ~uint64_t(0)).b, "kv count"});
    {
        Bytes b = test::gguf_header(0, 1);
        b.u64(uint64_t(1) << 62).u32(4).u32(0);
        c.push_back({"huge key length", b.b, "key length"});
    }
    {
        Bytes b = test::gguf_header(0, 1);
        b.str(std::string(70000, 'k')).u32(4).u32(1);
        c.push_back({"key too long", b.b, "exceeds the maximum 65535"});
    }
    c.push_back({"huge string value", kv_file("k", 8, Bytes().u64(~uint64_t(0)).raw("abc")), "'k'"});
    c.push_back({"string past end", kv_file("k", 8, Bytes().u64(4).raw("abc")), "truncated"});
    c.push_back({"huge array count", kv_file("k", 9, Bytes().u32(4).u64(uint64_t(1) << 61).u32(1)), "cannot fit"});
    c.push_back({"huge string array", kv_file("k", 9, Bytes().u32(8).u64(~uint64_t(0) / 2)), "cannot fit"});
    c.push_back({"array string past end", kv_file("k", 9, Bytes().u32(8).u64(1).u64(100).raw("ab")), "truncated"});
    {
        Bytes v;
        for (int d = 0; d < 4; ++d) v.u32(9).u64(1);  // 5 nested arrays in all
        v.u32(0).u64(0);
        c.push_back({"arrays nested too deep", kv_file("k", 9, v), "nested deeper"});
    }
    c.push_back({"unknown value type", kv_file("k", 13, Bytes().u32(0)), "unknown value type 13"});
    c.push_back({"unknown array type", kv_file("k", 9, Bytes().u32(77).u64(0)), "element type 77"});
    c.push_back({"bool 2", kv_file("k", 7, Bytes().u8(2)), "bool"});
    c.push_back({"bool array 5", kv_file("k", 9, Bytes().u32(7).u64(1).u8(5)), "bool"});
    {
        Bytes b = test::gguf_header(0, 2);
        b.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
        c.push_back({"duplicate key", b.b, "duplicate key"});
    }
    c.push_back({"alignment 24", kv_file("general.alignment", 4, Bytes().u32(24)), "power of two"});
    c.push_back({"alignment 0", kv_file("general.alignment", 4, Bytes().u32(0)), "power of two"});
    c.push_back({"alignment 4", kv_file("general.alignment", 4, Bytes().u32(4)), "power of two"});
    c.push_back({"alignment u64", kv_file("general.alignment", 10, Bytes().u64(32)), "must be u32"});

    c.push_back({"n_dims 0", tensor_file({{"w", {}, 0, 0}}, 32), "n_dims 0"});
    c.push_back({"n_dims 5", tensor_file({{"w", {1, 1, 1, 1, 1}, 0, 0}}, 32), "n_dims 5"});
    c.push_back({"ne 0", tensor_file({{"w", {0}, 0, 0}}, 32), "ne[0]"});
    c.push_back({"ne huge", tensor_file({{"w", {~uint64_t(0)}, 0, 0}}, 32), "ne[0]"});
    c.push_back(
        {"ne product overflow", tensor_file({{"w", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0}}, 32), "overflow"});
    c.push_back({"ne product overflow 4d", tensor_file({{"w", {1u << 20, 1u << 20, 1u << 20, 1u << 20}, 0, 0}}, 32),
                 "overflow"});
    c.push_back({"unknown type id", tensor_file({{"w", {32}, 3, 0}}, 64), "tensor 'w': unsupported tensor type id 3"});
    c.push_back({"type id 1000", tensor_file({{"w", {32}, 1000, 0}}, 64), "id 1000"});
    c.push_back({"q8_0 ne0 33", tensor_file({{"w", {33}, 8, 0}}, 64), "block size"});
    c.push_back({"q4_k ne0 128", tensor_file({{"w", {128, 2}, 12, 0}}, 160), "block size"});
    c.push_back({"tq2_0 ne0 128", tensor_file({{"w", {128, 2}, 35, 0}}, 160), "block size"});
    c.push_back({"i2_s 64 elems", tensor_file({{"w", {64}, 36, 0}}, 64), "128"});
    c.push_back({"misaligned offset", tensor_file({{"w", {4}, 0, 16}}, 64), "alignment"});
    c.push_back({"offset overflow", tensor_file({{"w", {4}, 0, ~uint64_t(0) - 31}}, 64), "past the end"});
    c.push_back({"offset past end", tensor_file({{"w", {4}, 0, 64}}, 64), "past the end"});
    c.push_back({"data past end", tensor_file({{"w", {20}, 0, 0}}, 64), "past the end"});
    c.push_back({"huge data", tensor_file({{"w", {uint64_t(1) << 30, uint64_t(1) << 30}, 0, 0}}, 64), "past the end"});
    c.push_back({"duplicate tensor", tensor_file({{"w", {4}, 0, 0}, {"w", {4}, 0, 32}}, 64), "duplicate tensor"});
    {
        Bytes b = test::gguf_header(1, 0);
        b.u64(uint64_t(1) << 40).u32(1).u64(1).u32(0).u64(0);
        c.push_back({"huge tensor name", b.b, "tensor name"});
    }
    {
        auto bytes = test::small_gguf();
        bytes.resize(bytes.size() - 1);
        c.push_back({"last tensor short by one byte", bytes, "'b'"});
    }
    return c;
}

TEST(GgufMalformed, TableOfBadInputs) {
    for (const auto& c : cases()) {
        std::string msg;
        try {
            GgufFile::from_memory(c.bytes);
        } catch (const Error& e) {
            msg = e.what();
        }
        EXPECT_FALSE(msg.empty()) << c.what << ": accepted";
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": message was: " << msg;
    }
}

TEST(GgufMalformed, EveryTruncationThrows) {
    const auto full = test::small_gguf();
    ASSERT_NO_THROW(GgufFile::from_memory(full));
    for (size_t n = 0; n < full.size(); ++n) {
        std::vector<uint8_t> prefix(full.begin(), full.begin() + long(n));
        EXPECT_THROW(GgufFile::from_memory(prefix), Error) << "prefix of " << n << " bytes";
    }
}

TEST(GgufMalformed, Version2AndEdgeCasesAccepted) {
    auto v2 = test::small_gguf();
    v2[4] = 2;
    EXPECT_EQ(GgufFile::from_memory(v2).version(), 2u);
    // No tensors and no data section at all.
    EXPECT_EQ(GgufFile::from_memory(test::gguf_header(0, 0).b).tensors().size(), 0u);
    // Overlapping tensors are allowed (read-only views of the same bytes).
    auto both = GgufFile::from_memory(tensor_file({{"x", {4}, 0, 0}, {"y", {8}, 0, 0}}, 32));
    EXPECT_EQ(both.tensor("x").data, both.tensor("y").data);
    // A 4-deep nested array is the maximum accepted.
    Bytes v;
    for (int d = 0; d < 3; ++d) v.u32(9).u64(1);
    v.u32(0).u64(1).u8(9);
    const GgufFile g = GgufFile::from_memory(kv_file("k", 9, v));
    EXPECT_EQ(g.get("k").at(0).at(0).at(0).as_i32_array(), (std::vector<int32_t>{9}));
}

}  // namespace
}  // namespace bf
