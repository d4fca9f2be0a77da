// Shared by the server tests: a tiny random model with a byte-level tokenizer (converted once per process by
// the binary under test), server options, token counting under that tokenizer, and an SSE body parser.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../common/random_chat_model.h"
#include "engine/threads.h"
#include "server/http_server.h"

namespace bf::testing {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One compute thread: the tests run on a shared, busy machine where spinning OpenMP threads stall badly.
inline const int kOneThread = (set_engine_threads(1), 0);

inline std::string tmp() {
    static const std::string d = [] {
        auto p = fs::temp_directory_path() / ("bitflash_server_" + std::to_string(::getpid()));
        fs::create_directories(p);
        return p.string();
    }();
    return d;
}

// Byte-level tokenizer (256 byte tokens + Phi's chat tokens 256..260, no merges) and a random tiny model: the
// token count of a text is then its byte count plus one per special token, which the tests compute on their own.
inline const std::string& model_path() {
    static const std::string path = make_random_chat_model(tmp());
    return path;
}

inline ServerOptions options(int slots = 4, int64_t ctx = 512) {
    ServerOptions o;
    o.model_path = model_path();
    o.port = 0;
    o.alias = "tiny";
    o.sched.n_slots = slots;
    o.sched.n_ctx = ctx;
    return o;
}

// Token count under the test tokenizer: bytes, with each special token counting one.
inline int64_t n_tokens(std::string s) {
    int64_t n = 0;
    for (const char* sp : {"<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"})
        for (size_t at; (at = s.find(sp)) != std::string::npos;) s.erase(at, std::strlen(sp)), ++n;
    return n + int64_t(s.size());
}

inline json chat_body(const std::string& user, int max_tokens, double temp = 0) {
    return {{"messages", {{{"role", "user"}, {"content", user}}}}, {"max_tokens", max_tokens}, {"temperature", temp}};
}

struct SseResult {
    std::vector<json> chunks;
    bool done = false;
    std::string error;
};

// Splits an SSE body into its JSON chunks; checks the framing on the way.
inline SseResult parse_sse(const std::string& body) {
    SseResult r;
    size_t pos = 0;
    while (pos < body.size()) {
        const size_t end = body.find("\n\n", pos);
        if (end == std::string::npos) {
            r.error = "unterminated event: " + body.substr(pos);
            return r;
        }
        const std::string ev = body.substr(pos, end - pos);
        pos = end + 2;
        if (ev.rfind("data: ", 0) != 0) {
            r.error = "event without 'data: ': " + ev;
            return r;
        }
        const std::string data = ev.substr(6);
        if (data == "[DONE]") {
            r.done = true;
            if (pos != body.size()) r.error = "data after [DONE]";
            return r;
        }
        r.chunks.push_back(json::parse(data));
    }
    return r;
}

// A server of its own for a test, with small request helpers.
struct Running {
    explicit Running(ServerOptions o) : server(std::move(o)) {
        port = server.start();
        server.load_model();
    }
    httplib::Result post(const std::string& path, const json& body) {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(120, 0);
        return c.Post(path.c_str(), body.dump(), "application/json");
    }
    json ok(const std::string& path, const json& body) {
        auto r = post(path, body);
        EXPECT_TRUE(r);
        if (!r) return json();
        EXPECT_EQ(r->status, 200) << path << ": " << r->body;
        return json::parse(r->body);
    }
    httplib::Result get(const std::string& path) { return httplib::Client("127.0.0.1", port).Get(path.c_str()); }
    ApiServer server;
    int port = 0;
};

}  // namespace bf::testing
