// The server's state features end to end: checkpoints serve a follow-up turn whose reply was sent back
// changed, /metrics and /slots, and slot save/restore/erase with --slot-save-path (bit-identical
// continuation, and every bad request or file refused with its 4xx).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <thread>

#include "engine/state_file.h"
#include "server_fixture.h"

namespace bf {
namespace {

using namespace bf::testing;

json two_turns(const std::string& reply) {
    return {{"messages",
             {{{"role", "user"}, {"content", "checkpoint turn one"}},
              {{"role", "assistant"}, {"content", reply}},
              {{"role", "user"}, {"content", "and two"}}}},
            {"max_tokens", 3},
            {"temperature", 0}};
}

TEST(ServerCheckpoints, FollowUpWithAChangedReplyReusesThePromptState) {
    const std::string turn1 = "<|user|>checkpoint turn one<|end|><|assistant|>";
    for (int n_cp : {0, 8}) {
        ServerOptions o = options(1, 512);
        o.sched.ctx_checkpoints = n_cp;
        Running s(o);
        const json first =
            s.ok("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "checkpoint turn one"}}}},
                                          {"max_tokens", 8},
                                          {"temperature", 0},
                                          {"ignore_eos", true}});
        // The client sends back a reply the slot never generated (as when reasoning_content is dropped).
        const json second = s.ok("/v1/chat/completions", two_turns("a reply that was edited"));
        EXPECT_EQ(second["timings"]["cache_n"], n_cp ? n_tokens(turn1) : 0) << "checkpoints " << n_cp;
        const json slots = json::parse(s.get("/slots")->body);
        ASSERT_EQ(slots.size(), 1u);
        EXPECT_EQ(slots[0]["n_checkpoints"], n_cp ? 2 : 0);  // the end of each prompt
    }
}

double metric(const std::string& text, const std::string& name) {
    const std::regex re("\n" + std::regex_replace(name, std::regex(R"([{}\"])"), R"(\$&)") + " ([0-9.e+-]+)\n");
    std::smatch m;
    if (!std::regex_search(text, m, re)) return -1;
    return std::stod(m[1]);
}

TEST(ServerMetrics, CountsRequestsErrorsAndTokens) {
    Running s(options(2, 256));
    s.ok("/v1/completions", {{"prompt", "metrics one"}, {"max_tokens", 5}, {"ignore_eos", true}});
    s.ok("/v1/completions", {{"prompt", "metrics two"}, {"max_tokens", 7}, {"ignore_eos", true}});
    EXPECT_EQ(s.post("/v1/completions", {{"prompt", 5}})->status, 400);
    EXPECT_EQ(s.get("/nowhere")->status, 404);
    // Responses are counted by httplib's logger, which runs just after the response is written: poll until
    // the 404 (the last request) is counted. Earlier polls are 200s that may be counted too.
    std::string t, content_type;
    int polls = 0;
    for (; polls < 200; ++polls) {
        auto r = s.get("/metrics");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200);
        t = "\n" + r->body;
        content_type = r->get_header_value("Content-Type");
        if (metric(t, "bitflash:http_errors_total{code=\"404\"}") == 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_NE(content_type.find("text/plain"), std::string::npos);
    EXPECT_GE(metric(t, "bitflash:http_requests_total{code=\"200\"}"), 2);
    EXPECT_LE(metric(t, "bitflash:http_requests_total{code=\"200\"}"), 2 + polls);
    EXPECT_EQ(metric(t, "bitflash:http_errors_total{code=\"400\"}"), 1);
    EXPECT_EQ(metric(t, "bitflash:http_errors_total{code=\"404\"}"), 1);
    EXPECT_EQ(metric(t, "bitflash:tokens_predicted_total"), 12);
    EXPECT_EQ(metric(t, "bitflash:prompt_tokens_total") + metric(t, "bitflash:prompt_tokens_cached_total"), 22);
    EXPECT_EQ(metric(t, "bitflash:requests_finished_total"), 2);
    EXPECT_EQ(metric(t, "bitflash:slots"), 2);
    EXPECT_EQ(metric(t, "bitflash:requests_processing"), 0);
    EXPECT_EQ(metric(t, "bitflash:requests_deferred"), 0);
    EXPECT_GT(metric(t, "bitflash:predicted_tokens_seconds"), 0);
    // Every sample line belongs to a declared metric.
    std::istringstream lines(t.substr(1));
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line[0] != '#') {
            EXPECT_EQ(line.rfind("bitflash:", 0), 0u) << line;
        }
}

TEST(ServerSlots, SaveRestoreContinuesBitIdentically) {
    const std::string dir = tmp() + "/slots";
    fs::create_directories(dir);
    ServerOptions o = options(1, 256);
    o.slot_save_path = dir;
    o.sched.ctx_checkpoints = 0;  // so that only the restored file can serve the prompt
    Running s(o);
    const json p1 = {{"prompt", "saved conversation state"}, {"max_tokens", 1}, {"ignore_eos", true}};
    const json p2 = {{"prompt", "saved conversation state, continued"},
                     {"max_tokens", 12},
                     {"ignore_eos", true},
                     {"temperature", 0.9},
                     {"seed", 77}};
    const json want = s.ok("/v1/completions", p2);  // from scratch
    s.ok("/v1/completions", p1);                    // the slot has seen exactly p1's prompt
    const json saved = s.ok("/slots/0?action=save", {{"filename", "conv-1.bin"}});
    EXPECT_EQ(saved["n_saved"], n_tokens("saved conversation state"));
    EXPECT_EQ(saved["n_written"], fs::file_size(dir + "/conv-1.bin"));
    EXPECT_EQ(s.ok("/slots/0?action=erase", json::object())["n_erased"], n_tokens("saved conversation state"));
    EXPECT_EQ(json::parse(s.get("/slots")->body)[0]["n_past"], 0);
    const json restored = s.ok("/slots/0?action=restore", {{"filename", "conv-1.bin"}});
    EXPECT_EQ(restored["n_restored"], n_tokens("saved conversation state"));
    const json got = s.ok("/v1/completions", p2);
    EXPECT_EQ(got["timings"]["cache_n"], n_tokens("saved conversation state"));
    EXPECT_EQ(got["choices"][0]["text"], want["choices"][0]["text"]);

    auto status = [&](const std::string& path, const json& body, int want_status, const std::string& msg) {
        auto r = s.post(path, body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, want_status) << path << " " << body.dump() << ": " << r->body;
        EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find(msg), std::string::npos) << r->body;
    };
    status("/slots/0?action=save", {{"filename", "../escape"}}, 400, "filename");
    status("/slots/0?action=save", {{"filename", "a/b"}}, 400, "filename");
    status("/slots/0?action=save", {{"filename", ".hidden"}}, 400, "filename");
    status("/slots/0?action=save", json::object(), 400, "filename");
    status("/slots/0?action=restore", {{"filename", "missing.bin"}}, 404, "missing.bin");
    status("/slots/1?action=save", {{"filename", "x"}}, 400, "does not exist");
    status("/slots/abc?action=save", {{"filename", "x"}}, 400, "does not exist");
    status("/slots/0?action=fly", {{"filename", "x"}}, 400, "action");
    // Damaged files: truncated, one byte flipped, another model's fingerprint (with a valid checksum).
    std::ifstream in(dir + "/conv-1.bin", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir + "/short.bin", std::ios::binary) << bytes.substr(0, bytes.size() - 9);
    status("/slots/0?action=restore", {{"filename", "short.bin"}}, 400, "checksum");
    std::string flipped = bytes;
    flipped[bytes.size() / 2] ^= 4;
    std::ofstream(dir + "/flipped.bin", std::ios::binary) << flipped;
    status("/slots/0?action=restore", {{"filename", "flipped.bin"}}, 400, "checksum");
    std::string other = bytes;
    other[13] ^= 1;
    const uint32_t crc = crc32_update(0, other.data(), other.size() - 4);
    std::memcpy(other.data() + other.size() - 4, &crc, 4);
    std::ofstream(dir + "/other.bin", std::ios::binary) << other;
    status("/slots/0?action=restore", {{"filename", "other.bin"}}, 400, "another model");
}

TEST(ServerSlots, OffWithoutSlotSavePath) {
    Running s(options(1, 128));
    auto r = s.post("/slots/0?action=save", {{"filename", "x"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 501);
    EXPECT_EQ(json::parse(r->body)["error"]["type"], "not_supported_error");
}

TEST(ServerLoad, TwoReplicasBehindNginxKeepConversationsOnTheirState) {
    const char* env = std::getenv("BF_SERVER_NGINX_TEST");
    if (!env || std::string(env) != "1")
        GTEST_SKIP() << "\n*** SKIPPED: nginx + 2 replicas + 32 openai-client conversations run only with "
                        "BF_SERVER_NGINX_TEST=1 (needs nginx, node and `npm ci --prefix tests/server/load`) ***";
    const std::string cmd = std::string("bash ") + BF_SOURCE_DIR + "/tests/server/load/nginx.sh " + BF_BINARY;
    const int st = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << cmd;
}

}  // namespace
}  // namespace bf
