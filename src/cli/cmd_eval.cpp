// bitflash eval -m MODEL --data FILE.jsonl: greedy answers to math problems through the chat template,
// continuous-batched, scored by final-answer match (engine/math_answer.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/batch_generate.h"
#include "engine/math_answer.h"

namespace bf {

namespace {

struct Item {
    std::string problem, answer;
};

std::vector<Item> read_jsonl(const std::string& path, int64_t limit) {
    std::ifstream in(path);
    if (!in) fail("cannot open " + path);
    std::vector<Item> items;
    std::string line;
    for (int64_t no = 1; std::getline(in, line); ++no) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fail(strfmt("%s line %lld: invalid JSON (%s)", path.c_str(), (long long)no, e.what()));
        }
        if (!j.is_object() || !j.contains("problem") || !j["problem"].is_string() || !j.contains("answer"))
            fail(strfmt("%s line %lld: needs a string \"problem\" and an \"answer\"", path.c_str(), (long long)no));
        const auto& a = j["answer"];
        items.push_back({j["problem"].get<std::string>(), a.is_string() ? a.get<std::string>() : a.dump()});
        check_utf8(items.back().problem, "a problem");
        if (limit > 0 && int64_t(items.size()) >= limit) break;
    }
    if (items.empty()) fail(path + " has no problems");
    return items;
}

}  // namespace

int cmd_eval(int argc, char** argv) {
    GenFlags f;
    std::string data, out_path;
    int64_t limit = 0, parallel = 8, max_tokens = 512;
    ArgParser p("bitflash eval [-m MODEL.gguf] --data FILE.jsonl [-l PROBLEMS] [-n TOKENS] [-o RESULTS.jsonl]",
                "Greedy answers to math problems (JSONL with \"problem\" and \"answer\", the MATH-500 layout works),\n"
                "scored by the final answer (\\boxed{...}, then x = ..., then the last number). Decoding is always\n"
                "greedy, so a score does not depend on a seed: sampling flags (--temp, --top-k, -s, ...) are refused.");
    p.option({"--data"}, &data, "FILE.jsonl", "problems");
    p.option({"-l", "--limit"}, &limit, "N", "only the first N problems");
    // -n is llama.cpp's "tokens to predict" here as in run and chat (not the number of problems: -l).
    p.option({"-n", "--n-predict", "--predict", "--max-tokens"}, &max_tokens, "N",
             "tokens generated per problem at most (default 512)");
    p.option({"-o", "--output"}, &out_path, "FILE.jsonl", "per-item results");
    p.option({"-np", "--parallel"}, &parallel, "N", "sequences decoded together (default 8)");
    f.declare_model(p);
    const std::string greedy = "eval decodes greedily (scores must not depend on a seed); sampling flags do not apply";
    for (const char* name : {"--temp", "--top-k", "--top-p", "--min-p", "-s", "--seed", "--repeat-penalty",
                             "--repeat-last-n", "--presence-penalty", "--frequency-penalty"})
        p.refuse({name}, true, greedy);
    if (!p.parse(argc, argv)) return 0;
    if (max_tokens < 1) fail("-n must be >= 1 for eval (tokens generated per problem)");
    if (data.empty()) fail("--data FILE.jsonl is required");
    const std::vector<Item> items = read_jsonl(data, limit);
    auto lm = load_for_generation(f);

    std::vector<BatchJob> jobs(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        std::vector<ChatMessage> msgs;
        if (!f.system_prompt.empty()) msgs.push_back({"system", f.system_prompt, std::nullopt});
        msgs.push_back({"user", items[i].problem, std::nullopt});
        jobs[i].prompt = lm->tok.encode(render_prompt(*lm, msgs, true), true);
    }
    const bool tty = isatty(STDERR_FILENO), progress = !f.log_disable;
    size_t done = 0, correct = 0;
    std::vector<char> ok(items.size(), 0);
    const auto t0 = std::chrono::steady_clock::now();
    generate_batch(
        lm->model, jobs, lm->eog, f.ctx, max_tokens, int(parallel),
        [&](size_t i) {
            ok[i] = answers_match(lm->tok.decode(jobs[i].output), items[i].answer);
            correct += size_t(ok[i]);
            ++done;
            if (!progress) return;
            const int width = 30, filled = int(double(done) / double(items.size()) * width);
            std::fprintf(stderr, "%s[%s%s] %zu/%zu  accuracy %.1f%%%s", tty ? "\r" : "",
                         std::string(size_t(filled), '=').c_str(), std::string(size_t(width - filled), ' ').c_str(),
                         done, items.size(), 100.0 * double(correct) / double(done), tty ? "" : "\n");
        },
        f.kv_type());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t gen_tokens = 0;
    for (const auto& j : jobs) gen_tokens += j.output.size();
    if (tty && progress) std::fprintf(stderr, "\n");
    if (!out_path.empty()) {
        std::ofstream out(out_path);
        if (!out) fail("cannot write " + out_path);
        for (size_t i = 0; i < items.size(); ++i) {
            const std::string reply = lm->tok.decode(jobs[i].output);
            const auto pred = extract_answer(reply);
            out << nlohmann::json{{"index", i},
                                  {"problem", items[i].problem},
                                  {"answer", items[i].answer},
                                  {"reply", reply},
                                  {"predicted", pred ? *pred : ""},
                                  {"correct", bool(ok[i])},
                                  {"tokens", jobs[i].output.size()}}
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
        }
    }
    std::printf("accuracy: %zu/%zu = %.2f%%  (greedy, -n %lld; %.1f s, %.1f generated tokens/s)\n", correct,
                items.size(), 100.0 * double(correct) / double(items.size()), (long long)max_tokens, secs,
                double(gen_tokens) / secs);
    return 0;
}

}  // namespace bf
