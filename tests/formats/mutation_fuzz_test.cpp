// Mutation fuzzing inside gtest (fixed seeds): corrupt valid small files and require the parsers to
// either accept them (and then every handed-out view must be readable) or throw bf::Error.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace bf {
namespace {

using test::TempDir;

std::vector<uint8_t> rich_gguf() {
    TempDir dir;
    const std::string path = dir.file("rich.gguf");
    {
        GgufWriter w(path);
        w.add_kv("general.architecture", GgufValue::string("x"));
        w.add_kv("general.alignment", GgufValue::u32(16));
        w.add_kv("a.u64", GgufValue::u64(5));
        w.add_kv("a.f", GgufValue::f32(0.5f));
        w.add_kv("a.b", GgufValue::boolean(true));
        w.add_kv("tok", GgufValue::str_array({"a", "bc", ""}));
        w.add_kv("types", GgufValue::i32_array({1, 2, 3}));
        w.add_kv("nest", GgufValue::array(GgufType::ARRAY, {GgufValue::u8_array({1}), GgufValue::f64_array({2})}));
        w.add_tensor("f", DType::F32, {2, 2});
        w.add_tensor("q", DType::Q8_0, {32});
        w.add_tensor("i", DType::I2_S, {128});
        w.add_tensor("t", DType::TQ2_0, {256});
        w.begin_data();
        std::vector<uint8_t> d(66, 0x11);
        w.write_tensor_data(d.data(), 16);
        w.write_tensor_data(d.data(), 34);
        w.write_tensor_data(d.data(), 64);
        w.write_tensor_data(d.data(), 66);
        w.finish();
    }
    return test::read_file(path);
}

std::vector<uint8_t> rich_safetensors() {
    test::Bytes d;
    for (int k = 0; k < 6; ++k) d.f32(float(k));
    for (int k = 0; k < 6; ++k) d.put<uint16_t>(uint16_t(0x3c00 + k));
    const std::string hdr = R"({"__metadata__":{"format":"pt"},)"
                            R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                            R"("b":{"dtype":"BF16","shape":[3,2],"data_offsets":[24,36]},)"
                            R"("h":{"dtype":"F16","shape":[2,1,2],"data_offsets":[24,32]}})";
    return test::make_safetensors(hdr, d.b);
}

// Flip bits, overwrite with interesting values, truncate or duplicate ranges.
std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
    const int n_mut = 1 + int(rng() % 4);
    for (int m = 0; m < n_mut && !b.empty(); ++m) {
        const size_t pos = rng() % b.size();
        switch (rng() % 6) {
            case 0: b[pos] ^= uint8_t(1u << (rng() % 8)); break;
            case 1: b[pos] = uint8_t(rng()); break;
            case 2: {  // an interesting 64-bit value at an arbitrary position
                static const uint64_t kVals[] = {
                    0, 1, 0xff, 0x7fffffffffffffffull, ~0ull, 1ull << 32, 1ull << 62, 0xfffffffffffffff0ull, 65536, 31};
                uint64_t v = kVals[rng() % (sizeof kVals / sizeof kVals[0])];
                for (size_t k = 0; k < 8 && pos + k < b.size(); ++k) b[pos + k] = uint8_t(v >> (8 * k));
                break;
            }
            case 3: b.resize(pos); break;
            case 4:
                b.insert(b.begin() + long(pos), b.begin() + long(pos), b.begin() + long(std::min(b.size(), pos + 8)));
                break;
            case 5: b[pos] = "{}[]\",:0-9e"[rng() % 11]; break;
        }
    }
    return b;
}

uint64_t touch_gguf(const GgufFile& g) {
    uint64_t h = 0;
    for (const auto& kv : g.kvs()) h += kv.value.size() + kv.key.size();
    for (const auto& t : g.tensors())
        for (size_t k = 0; k < t.nbytes; ++k) h += t.data[k];
    return h;
}

TEST(MutationFuzz, Gguf) {
    const auto base = rich_gguf();
    ASSERT_GT(touch_gguf(GgufFile::from_memory(base)), 0u);
    std::mt19937_64 rng(12345);
    int ok = 0, rejected = 0;
    for (int it = 0; it < 4000; ++it) {
        const auto m = mutate(base, rng);
        try {
            touch_gguf(GgufFile::from_memory(m));
            ++ok;
        } catch (const Error&) {
            ++rejected;
        }
    }
    std::printf("[ info     ] gguf mutations: %d accepted, %d rejected\n", ok, rejected);
    EXPECT_GT(rejected, 100);
    EXPECT_GT(ok, 0);
}

TEST(MutationFuzz, Safetensors) {
    const auto base = rich_safetensors();
    std::mt19937_64 rng(777);
    int ok = 0, rejected = 0;
    std::vector<float> out;
    for (int it = 0; it < 3000; ++it) {
        test::MemFile f(mutate(base, rng));
        try {
            const SafetensorsSet s = SafetensorsSet::open(f.path);
            for (const auto& name : s.names()) {
                const StTensor& t = s.tensor(name);
                if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16") continue;
                out.resize(size_t(t.numel()));
                s.read_rows_f32(t, 0, t.rows(), out.data());
            }
            ++ok;
        } catch (const Error&) {
            ++rejected;
        }
    }
    std::printf("[ info     ] safetensors mutations: %d accepted, %d rejected\n", ok, rejected);
    EXPECT_GT(rejected, 100);
    EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace bf
