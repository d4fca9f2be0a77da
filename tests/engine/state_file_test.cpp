// Saved-state files: a restored slot continues bit-identically (f32 and q8_0 K/V), and truncated,
// corrupted, foreign-model and too-long files are refused with a clear error, leaving the slot empty.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common/gen_fixture.h"
#include "requests.h"
#include "engine/batcher.h"
#include "engine/threads.h"

namespace bf {
namespace {

using namespace bf::testing;

const int kOneThread = (set_engine_threads(1), 0);

TEST(Crc32, StandardCheckValue) {
    EXPECT_EQ(crc32_update(0, "123456789", 9), 0xCBF43926u);
    EXPECT_EQ(crc32_update(crc32_update(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

GenRequest sampled(const std::vector<int32_t>& prompt, int64_t max_tokens) {
    return greedy_request(prompt, max_tokens, 0.9f);
}

std::string file_in_tmp(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("bitflash_state_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

struct Loaded {
    Model model = Model::load(converted_f32("bf16_untied"));
    Tokenizer tok = char_tokenizer();
};
const Loaded& loaded() {
    static Loaded s;
    return s;
}

TEST(StateFile, RestoredSlotContinuesBitIdentically) {
    const Loaded& su = loaded();
    const std::vector<int32_t> p1 = id_run(40, 37, 11);  // longer than one 16-token K/V block, not a multiple
    std::vector<int32_t> p2 = p1;
    for (int32_t t : id_run(9, 53, 5)) p2.push_back(t);
    for (KvType kv : {KvType::F32, KvType::Q8_0, KvType::Q4_0}) {
        BatcherOptions o;
        o.n_ctx = 96;
        o.batch = 16;
        o.kv_type = kv;
        Batcher fresh(su.model, &su.tok, {}, o);
        const GenOutcome want = generate_one(fresh, sampled(p2, 10), nullptr);
        const GenOutcome want_same = generate_one(fresh, sampled(p1, 5), nullptr);

        const std::string path = file_in_tmp(std::string("slot_") + kv_type_name(kv));
        Batcher a(su.model, &su.tok, {}, o);
        generate_one(a, sampled(p1, 1), nullptr);  // the state has seen exactly p1 (the sampled token is not fed)
        ASSERT_EQ(a.slot_tokens(0), p1);
        const size_t bytes = a.save_slot(0, path);
        EXPECT_EQ(bytes, std::filesystem::file_size(path));

        Batcher b(su.model, &su.tok, {}, o);
        const StateFileContents c = b.restore_slot(0, path);
        EXPECT_EQ(c.tokens, p1);
        EXPECT_EQ(b.slot_tokens(0), p1);
        const GenOutcome got = generate_one(b, sampled(p2, 10), nullptr);
        EXPECT_EQ(got.stats.cache_n, int64_t(p1.size())) << kv_type_name(kv);
        EXPECT_EQ(got.tokens, want.tokens) << kv_type_name(kv);
        // The saved logits let the identical prompt start without a forward pass.
        Batcher d(su.model, &su.tok, {}, o);
        d.restore_slot(0, path);
        const GenOutcome same = generate_one(d, sampled(p1, 5), nullptr);
        EXPECT_EQ(same.stats.prompt_n, 0);
        EXPECT_EQ(same.tokens, want_same.tokens) << kv_type_name(kv);
    }
}

TEST(StateFile, BadFilesAreRefusedAndLeaveTheSlotEmpty) {
    const Loaded& su = loaded();
    BatcherOptions o;
    o.n_ctx = 64;
    const std::vector<int32_t> p = id_run(30, 41, 3);
    Batcher a(su.model, &su.tok, {}, o);
    generate_one(a, sampled(p, 1), nullptr);
    const std::string good = file_in_tmp("good");
    a.save_slot(0, good);
    const std::string bytes = slurp(good);
    const std::string bad = file_in_tmp("bad");

    auto refused = [&](const std::string& contents, const std::string& why, int64_t n_ctx = 64,
                       KvType kv = KvType::F32) {
        spit(bad, contents);
        BatcherOptions bo = o;
        bo.n_ctx = n_ctx;
        bo.kv_type = kv;
        Batcher b(su.model, &su.tok, {}, bo);
        generate_one(b, sampled(id_run(5, 7, 1), 1), nullptr);  // something in the slot, to see it cleared
        try {
            b.restore_slot(0, bad);
            ADD_FAILURE() << "accepted: " << why;
        } catch (const StateFileError& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
        EXPECT_TRUE(b.slot_tokens(0).empty());
        EXPECT_EQ(b.slot_info(0).state_bytes, Batcher(su.model, &su.tok, {}, bo).slot_info(0).state_bytes);
    };
    refused(bytes.substr(0, bytes.size() / 2), "checksum");
    refused(bytes.substr(0, 10), "truncated");
    refused("", "truncated");
    std::string flipped = bytes;
    flipped[bytes.size() / 3] ^= 0x10;
    refused(flipped, "checksum");
    refused("GGUF" + bytes.substr(4), "not a bitflash state file");
    // Another model: a valid file (checksum recomputed) whose fingerprint differs.
    auto with_crc = [](std::string s) {
        const uint32_t crc = crc32_update(0, s.data(), s.size() - 4);
        std::memcpy(s.data() + s.size() - 4, &crc, 4);
        return s;
    };
    std::string other = bytes;
    other[12] ^= 1;  // the fingerprint follows the 8-byte magic and 4-byte version
    refused(with_crc(other), "another model");
    std::string version = bytes;
    version[8] = 9;
    refused(with_crc(version), "version 9");
    refused(bytes, "context", 16);  // too many tokens (or bytes) for a 16-token context
    refused(bytes, "K/V cache type", 64, KvType::Q8_0);
    // Not there at all.
    Batcher b(su.model, &su.tok, {}, o);
    EXPECT_THROW(b.restore_slot(0, file_in_tmp("missing")), StateFileError);
    // Another model file has another fingerprint.
    EXPECT_NE(model_fingerprint(su.model), model_fingerprint(Model::load(converted_f32("tiny8"))));
}

}  // namespace
}  // namespace bf
