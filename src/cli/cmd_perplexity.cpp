// bitflash perplexity -m MODEL -f TEXT [-c 512] [--kl-divergence-base FILE [--kl-divergence]]: llama-perplexity's
// measurement and output. With a base file and --kl-divergence the tokens come from the file.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/gen_common.h"
#include "cli/text_eval.h"
#include "core/error.h"
#include "engine/kld_base.h"
#include "engine/perplexity.h"

namespace bf {

namespace {

struct PplFlags {
    std::string model, text, base, ctk = kv_type_name(default_kv_type()), ctv = ctk;
    KvType kv = default_kv_type();
    int64_t ctx = 512, batch = 0, threads = 0, chunks = -1;
    bool kl = false, parse_special = false;
};

// Perplexity of the text; with a base path, also writes every scored token's log-probabilities.
void run_perplexity(const PplFlags& f, const ModelWithTokenizer& mt) {
    const std::vector<int32_t> tokens = tokenize_file(mt.tok, f.text, f.parse_special);
    const ChunkPlan plan = plan_chunks(int64_t(tokens.size()), f.ctx, f.chunks);
    const int64_t n_vocab = mt.model.config.n_vocab;
    std::fprintf(stderr, "perplexity: %zu tokens, %lld chunks of %lld, scoring %lld tokens per chunk\n", tokens.size(),
                 (long long)plan.n_chunk, (long long)plan.n_ctx, (long long)plan.n_scored());
    std::unique_ptr<KldBaseWriter> base;
    if (!f.base.empty()) base = std::make_unique<KldBaseWriter>(f.base, n_vocab, plan, tokens);
    std::vector<uint8_t> rows;
    SequenceState st = SequenceState::create(mt.model.config, plan.n_ctx, f.kv);
    Workspace ws;
    PplStats ppl;
    for (int64_t c = 0; c < plan.n_chunk; ++c) {
        const std::span<const int32_t> chunk(tokens.data() + c * plan.n_ctx, size_t(plan.n_ctx));
        rows.resize(size_t(plan.n_scored() * base_row_bytes(n_vocab)));
        evaluate_chunk(mt.model, st, ws, chunk, plan, f.batch, [&](int64_t j, const float* logits) {
            const int32_t target = chunk[size_t(j + 1)];
            ppl.add(-token_logprob(logits, n_vocab, target).logprob);
            if (base)
                encode_base_row(logits, n_vocab, target, rows.data() + (j - plan.first) * base_row_bytes(n_vocab));
        });
        if (base) base->write_rows(rows);
        std::printf("[%lld]%.4f,", (long long)(c + 1), ppl.ppl());
        std::fflush(stdout);
    }
    if (base) base->close();
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl.ppl(), ppl.error());
}

void print_kld_summary(const KldSummary& s) {
    std::printf("====== Perplexity statistics ======\n");
    std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl_q, s.ppl_q_err);
    std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_base, s.ppl_base_err);
    std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.ln_ratio, s.ln_ratio_err);
    std::printf("\n====== KL divergence statistics ======\n");
    std::printf("Mean    KLD: %10.6f ± %10.6f\n", s.kld, s.kld_err);
    std::printf("Maximum KLD: %10.6f\n", s.kld_max);
    std::printf("99.9%%   KLD: %10.6f\n", s.kld_999);
    std::printf("99.0%%   KLD: %10.6f\n", s.kld_99);
    std::printf("95.0%%   KLD: %10.6f\n", s.kld_95);
    std::printf("90.0%%   KLD: %10.6f\n", s.kld_90);
    std::printf("Median  KLD: %10.6f\n", s.kld_median);
    std::printf("Minimum KLD: %10.6f\n", s.kld_min);
    std::printf("\n====== Token probability statistics ======\n");
    std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s.mean_dp, 100 * s.mean_dp_err);
    std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * s.rms_dp, 100 * s.rms_dp_err);
    std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * s.same_top, 100 * s.same_top_err);
}

// KL divergence of this model from the base file's, over the file's own tokens.
void run_kl_divergence(const PplFlags& f, bool ctx_given, const ModelWithTokenizer& mt) {
    KldBaseReader base(f.base);
    const int64_t n_vocab = mt.model.config.n_vocab;
    if (base.n_vocab() != n_vocab)
        fail(strfmt("%s was made with a vocabulary of %lld, this model has %lld", f.base.c_str(),
                    (long long)base.n_vocab(), (long long)n_vocab));
    ChunkPlan plan = base.plan();
    if (ctx_given && f.ctx != plan.n_ctx)
        fail(strfmt("%s was made with -c %lld, not %lld", f.base.c_str(), (long long)plan.n_ctx, (long long)f.ctx));
    if (!f.text.empty()) {  // optional: confirm the text and tokenization match the file's
        const std::vector<int32_t> tokens = tokenize_file(mt.tok, f.text, f.parse_special);
        const std::vector<int32_t>& want = base.tokens();
        if (tokens.size() < want.size() || !std::equal(want.begin(), want.end(), tokens.begin()))
            fail(f.base + " was made from a different text or tokenization than " + f.text);
    }
    if (f.chunks > 0) plan.n_chunk = std::min(plan.n_chunk, f.chunks);
    SequenceState st = SequenceState::create(mt.model.config, plan.n_ctx, f.kv);
    Workspace ws;
    KldStats kld;
    std::vector<uint8_t> rows;
    std::printf(
        "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS           "
        " Same top p\n");
    for (int64_t c = 0; c < plan.n_chunk; ++c) {
        base.read_chunk(c, rows);
        const std::span<const int32_t> chunk(base.tokens().data() + c * plan.n_ctx, size_t(plan.n_ctx));
        evaluate_chunk(mt.model, st, ws, chunk, plan, f.batch, [&](int64_t j, const float* logits) {
            kld.add(rows.data() + (j - plan.first) * base_row_bytes(n_vocab), logits, n_vocab, chunk[size_t(j + 1)]);
        });
        const KldSummary s = kld.summary();
        std::printf(
            "%4lld    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    %6.3f ± %6.3f %%\n",
            (long long)(c + 1), s.ppl_q, s.ppl_q_err, s.ln_ratio, s.ln_ratio_err, s.kld, s.kld_err, 100 * s.rms_dp,
            100 * s.rms_dp_err, 100 * s.same_top, 100 * s.same_top_err);
        std::fflush(stdout);
    }
    std::printf("\n");
    print_kld_summary(kld.summary());
}

}  // namespace

int cmd_perplexity(int argc, char** argv) {
    PplFlags f;
    ArgParser p("bitflash perplexity -m MODEL.gguf -f TEXT [-c 512] [--kl-divergence-base FILE [--kl-divergence]]",
                "Perplexity over non-overlapping chunks of -c tokens, each from an empty state, scoring the second\n"
                "half of each (llama-perplexity's method). --kl-divergence-base FILE saves the log-probabilities of\n"
                "every scored token; with --kl-divergence, compares this model against such a file.");
    p.option({"-m", "--model"}, &f.model, "MODEL.gguf", "model file");
    p.option({"-f", "--file"}, &f.text, "TEXT",
             "text file (optional with --kl-divergence: the tokens come from the base file)");
    p.option({"-c", "--ctx-size"}, &f.ctx, "N", "tokens per chunk (default 512)");
    p.option({"-b", "--batch-size"}, &f.batch, "N", "tokens per forward pass (default: -c)");
    p.option({"-t", "--threads"}, &f.threads, "N", "threads (default: all cores)");
    p.option({"--chunks"}, &f.chunks, "N", "evaluate at most N chunks (default: all)");
    p.option({"--kl-divergence-base"}, &f.base, "FILE",
             "write (or, with --kl-divergence, read) the base log-probabilities");
    p.flag({"--kl-divergence"}, &f.kl, "compare against --kl-divergence-base FILE");
    p.flag({"--parse-special"}, &f.parse_special, "tokenize added-token text such as <|user|> as its id");
    declare_cache_types(p, &f.ctk, &f.ctv);
    p.ignored({"-ngl", "--n-gpu-layers"}, true, "accepted and ignored (CPU only)");
    if (!p.parse(argc, argv)) return 0;
    if (f.model.empty()) fail("-m is required");
    f.kv = parse_cache_types(f.ctk, f.ctv);
    if (f.kl && f.base.empty()) fail("--kl-divergence needs --kl-divergence-base FILE");
    if (!f.kl && f.text.empty()) fail("-f TEXT is required");
    if (f.batch < 0) fail("-b must be >= 1");
    const auto mt = load_model_with_tokenizer(f.model, f.threads);
    if (f.kl)
        run_kl_divergence(f, p.given("-c"), *mt);
    else
        run_perplexity(f, *mt);
    return 0;
}

}  // namespace bf
