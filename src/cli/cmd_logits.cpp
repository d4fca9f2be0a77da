// bitflash logits -m MODEL.gguf --tokens 5,17,42 -o OUT.f32 [--batch N]
// Writes the logits of every position as little-endian f32 rows (n_tokens × n_vocab). This interface
// is how outside checks compare bitflash with other implementations: keep it stable.
#include <cstdio>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

#include "cli/args.h"
#include "core/error.h"
#include "engine/threads.h"
#include "model/sambay.h"

namespace bf {

namespace {

std::vector<int32_t> parse_tokens(const std::string& s) {
    std::vector<int32_t> out;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = s.find_first_of(", ", i);
        if (j == std::string::npos) j = s.size();
        if (j > i) {
            const std::string t = s.substr(i, j - i);
            char* end = nullptr;
            const long v = std::strtol(t.c_str(), &end, 10);
            if (*end != '\0' || v < 0 || v > INT32_MAX) fail("--tokens: '" + t + "' is not a token id");
            out.push_back(int32_t(v));
        }
        i = j + 1;
    }
    if (out.empty()) fail("--tokens: no token ids given");
    return out;
}

}  // namespace

int cmd_logits(int argc, char** argv) {
    std::string model_path, tokens_arg, out_path, dump_dir;
    int64_t batch = 0, threads = 0, ctx = 0;
    ArgParser p("bitflash logits -m MODEL.gguf --tokens 5,17,42 -o OUT.f32 [--batch N]",
                "Writes the logits of every position as little-endian float32 rows (n_tokens x n_vocab).");
    p.option({"-m", "--model"}, &model_path, "MODEL.gguf", "model file");
    p.option({"--tokens"}, &tokens_arg, "IDS", "comma-separated token ids");
    p.option({"-o", "--output"}, &out_path, "OUT.f32", "output file");
    p.option({"--batch", "-b"}, &batch, "N", "feed the tokens in chunks of N (1 = one at a time; default all at once)");
    p.option({"-t", "--threads"}, &threads, "N", "threads (default: all cores)");
    p.option({"-c", "--ctx-size"}, &ctx, "N", "context size (default: the number of tokens)");
    p.option(
        {"--dump"}, &dump_dir, "DIR",
        "also write intermediates as DIR/<name>.f32 (embed, layerNN_mixer, layerNN_out, memory), appended per chunk");
    if (!p.parse(argc, argv)) return 0;
    if (model_path.empty() || tokens_arg.empty() || out_path.empty()) fail("-m, --tokens and -o are required");
    const std::vector<int32_t> tokens = parse_tokens(tokens_arg);
    if (batch < 0) fail("--batch must be >= 1");
    if (batch == 0) batch = int64_t(tokens.size());
    set_engine_threads(int(threads));

    const Model model = Model::load(model_path);
    const int64_t n_vocab = model.config.n_vocab;
    SequenceState state = SequenceState::create(model.config, ctx > 0 ? ctx : int64_t(tokens.size()));
    Workspace ws;
    if (!dump_dir.empty()) {
        ws.tap = [dump_dir](const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) {
            char file[64];
            if (layer < 0 || std::string(name) == "memory")
                std::snprintf(file, sizeof file, "/%s.f32", name);
            else
                std::snprintf(file, sizeof file, "/layer%02lld_%s.f32", (long long)layer, name);
            std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen((dump_dir + file).c_str(), "ab"), std::fclose);
            if (!f || std::fwrite(data, sizeof(float), size_t(rows * cols), f.get()) != size_t(rows * cols))
                fail("cannot write to " + dump_dir + file);
        };
    }
    std::vector<float> logits(tokens.size() * size_t(n_vocab));
    for (size_t i = 0; i < tokens.size(); i += size_t(batch)) {
        const size_t n = std::min(tokens.size() - i, size_t(batch));
        forward(model, state, std::span<const int32_t>(tokens.data() + i, n), LogitsFor::AllTokens, ws,
                logits.data() + i * size_t(n_vocab));
    }
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(out_path.c_str(), "wb"), std::fclose);
    if (!f) fail("cannot write " + out_path);
    if (std::fwrite(logits.data(), sizeof(float), logits.size(), f.get()) != logits.size())
        fail("short write to " + out_path);
    return 0;
}

}  // namespace bf
