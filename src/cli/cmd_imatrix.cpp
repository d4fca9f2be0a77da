// bitflash imatrix -m MODEL -f TEXT -o FILE: llama-imatrix's importance matrix (per matrix, the mean of the
// squared input of each column over every token of the chunks), written in its legacy .dat format.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/gen_common.h"
#include "cli/text_eval.h"
#include "convert/imatrix.h"
#include "core/error.h"
#include "engine/imatrix.h"
#include "engine/perplexity.h"

namespace bf {

int cmd_imatrix(int argc, char** argv) {
    std::string model_path, text, out = "imatrix.dat", ctk, ctv;
    int64_t ctx = 512, batch = 0, threads = 0, chunks = -1;
    bool parse_special = false, process_output = false;
    ArgParser p("bitflash imatrix -m MODEL.gguf -f TEXT [-o imatrix.dat] [-c 512] [--chunks N]",
                "Collects per-column importance (mean squared input) of every matrix over chunks of -c tokens and\n"
                "writes llama.cpp's legacy imatrix file; also prints the perplexity of the text.");
    p.option({"-m", "--model"}, &model_path, "MODEL.gguf", "model file");
    p.option({"-f", "--file"}, &text, "TEXT", "calibration text");
    p.option({"-o", "--output"}, &out, "FILE", "output file (default imatrix.dat)");
    p.option({"-c", "--ctx-size"}, &ctx, "N", "tokens per chunk (default 512)");
    p.option({"-b", "--batch-size"}, &batch, "N", "tokens per forward pass (default: -c)");
    p.option({"-t", "--threads"}, &threads, "N", "threads (default: all cores)");
    p.option({"--chunks"}, &chunks, "N", "use at most N chunks (default: all)");
    p.flag({"--parse-special"}, &parse_special, "tokenize added-token text such as <|user|> as its id");
    p.flag({"--process-output"}, &process_output, "also collect output.weight (an untied head)");
    declare_cache_types(p, &ctk, &ctv);
    p.ignored({"-ngl", "--n-gpu-layers"}, true, "accepted and ignored (CPU only)");
    if (!p.parse(argc, argv)) return 0;
    if (model_path.empty() || text.empty()) fail("-m and -f are required");
    const KvType kv = parse_cache_types(ctk, ctv);
    if (batch < 0) fail("-b must be >= 1");
    const auto mt = load_model_with_tokenizer(model_path, threads);
    const std::vector<int32_t> tokens = tokenize_file(mt->tok, text, parse_special);
    const ChunkPlan plan = plan_chunks(int64_t(tokens.size()), ctx, chunks);
    const int64_t n_vocab = mt->model.config.n_vocab;
    std::fprintf(stderr, "imatrix: %zu tokens, %lld chunks of %lld\n", tokens.size(), (long long)plan.n_chunk,
                 (long long)plan.n_ctx);
    SequenceState st = SequenceState::create(mt->model.config, plan.n_ctx, kv);
    Workspace ws;
    ImatrixCollector collect(mt->model, process_output);
    collect.attach(ws);
    PplStats ppl;
    for (int64_t c = 0; c < plan.n_chunk; ++c) {
        const std::span<const int32_t> chunk(tokens.data() + c * plan.n_ctx, size_t(plan.n_ctx));
        evaluate_chunk(
            mt->model, st, ws, chunk, plan, batch,
            [&](int64_t j, const float* logits) {
                ppl.add(-token_logprob(logits, n_vocab, chunk[size_t(j + 1)]).logprob);
            },
            LogitsFor::AllTokens);
        std::printf("[%lld]%.4f,", (long long)(c + 1), ppl.ppl());
        std::fflush(stdout);
    }
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl.ppl(), ppl.error());
    std::map<std::string, ImatrixEntry> entries;
    for (const auto& [name, s] : collect.stats()) {
        ImatrixEntry& e = entries[name];
        e.rows = s.rows;
        for (double v : s.sum_sq) e.mean_sq.push_back(float(v / double(s.rows)));
    }
    save_imatrix(out, entries, plan.n_ctx, plan.n_chunk, text);
    std::fprintf(stderr, "imatrix: wrote %zu matrices to %s\n", entries.size(), out.c_str());
    return 0;
}

}  // namespace bf
