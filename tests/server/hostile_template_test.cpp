// A hostile chat template (the examples) carried by a GGUF or passed as a file: `bitflash run`
// exits with the limit's error, and the server answers 400 with it and keeps serving.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <string>

#include "../common/byte_tokenizer.h"
#include "../common/cli_run.h"
#include "engine/threads.h"
#include "server/http_server.h"

namespace bf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::bitflash;
using testing::tmp;

const int kOneThread = (set_engine_threads(1), 0);  // a shared, busy machine

std::string nested_loops() {  // ten nested loops over a 10-element list: 10^10 iterations unbounded
    std::string s;
    for (int k = 0; k < 10; ++k) s += "{% for x" + std::to_string(k) + " in [0,1,2,3,4,5,6,7,8,9] %}";
    s += "{{ messages[0]['content'] }}";
    for (int k = 0; k < 10; ++k) s += "{% endfor %}";
    return s;
}

std::string doubling() {  // a string doubled 40 times: a terabyte unbounded
    std::string s = "{% set a = messages[0]['content'] %}";
    for (int k = 0; k < 40; ++k) s += "{% set a = a ~ a %}";
    return s + "{{ a }}";
}

// A random tiny model whose GGUF carries the given chat template.
std::string model_with_template(const std::string& name, const std::string& tmpl) {
    const std::string dir = tmp() + "/" + name;
    fs::create_directories(dir);
    testing::write_byte_tokenizer(dir + "/tokenizer.json", /*rstrip_chat_tokens=*/false);
    std::ifstream cfg_in(std::string(BF_SOURCE_DIR) + "/tests/fixtures/tiny8/config.json");
    json cfg = json::parse(cfg_in);
    cfg["vocab_size"] = 320;
    std::ofstream(dir + "/config.json") << cfg.dump();
    std::ofstream(dir + "/tokenizer_config.json")
        << json{{"chat_template", tmpl}, {"eos_token", "<|endoftext|>"}}.dump();
    const std::string gguf = dir + ".gguf";
    const testing::Result r =
        bitflash("convert --random " + dir + "/config.json --tokenizer-dir " + dir + " -o " + gguf + " -q");
    EXPECT_EQ(r.code, 0) << r.err;
    return gguf;
}

TEST(HostileTemplate, RunExitsWithTheLimitNamed) {
    const std::string gguf = model_with_template("loops", nested_loops());
    testing::Result r = bitflash("run -m " + gguf + " -p hi -n 2 --no-perf");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("max_loop_iterations"), std::string::npos) << r.err;

    std::ofstream(tmp() + "/doubling.jinja") << doubling();
    r = bitflash("run -m " + gguf + " -p hi -n 2 --no-perf --chat-template " + tmp() + "/doubling.jinja");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("max_output_bytes"), std::string::npos) << r.err;
}

TEST(HostileTemplate, ServerAnswers400AndKeepsServing) {
    ServerOptions o;
    o.model_path = model_with_template("loops_srv", nested_loops());
    o.port = 0;
    o.sched.n_slots = 2;
    o.sched.n_ctx = 256;
    ApiServer server(o);
    const int port = server.start();
    server.load_model();
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    const json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
    const json messages_only = {{"messages", chat["messages"]}};  // /apply-template takes nothing else
    for (const char* path : {"/v1/chat/completions", "/apply-template"}) {
        const json& body = std::string(path) == "/apply-template" ? messages_only : chat;
        auto r = c.Post(path, body.dump(), "application/json");
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 400) << path << ": " << r->body;
        EXPECT_NE(r->body.find("max_loop_iterations"), std::string::npos) << r->body;
    }
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    auto r = c.Post("/v1/completions", json{{"prompt", "hi"}, {"max_tokens", 2}}.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace bf
