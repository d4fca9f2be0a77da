// bitflash bench: llama-bench's table (pp = prompt tokens/s, tg = generated tokens/s, at a prefilled
// context depth), then decode weight-bytes/s against the machine's measured read bandwidth, and peak RSS.
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "cli/args.h"
#include "cli/gen_common.h"
#include "core/bandwidth.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "engine/session.h"
#include "engine/threads.h"

namespace bf {

namespace {

std::vector<int64_t> parse_list(const std::string& s, const char* flag) {
    std::vector<int64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0) fail(std::string(flag) + " expects a comma-separated list of numbers, got '" + s + "'");
        out.push_back(v);
    }
    if (out.empty()) fail(std::string(flag) + " needs at least one value");
    return out;
}

struct Row {
    int64_t threads = 0, depth = 0, n = 0;
    bool prompt = false;
    double mean = 0, sd = 0;  // tokens/s
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::pair<double, double> mean_sd(const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= double(v.size());
    for (double x : v) s += (x - m) * (x - m);
    return {m, v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0};
}

std::string ftype_name(const Model& m) {
    std::map<DType, size_t> bytes;
    for (const auto& t : m.file->tensors())
        if (t.ne.size() == 2 && t.name != "token_embd.weight") bytes[t.dtype()] += t.nbytes;
    DType best = DType::F32;
    size_t most = 0;
    for (auto [t, b] : bytes)
        if (b > most) most = b, best = t;
    std::string s = dtype_name(best);
    for (char& c : s) c = char(std::toupper(c));
    return s;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    std::string model_path, p_arg = "512", n_arg = "128", t_arg, d_arg = "0", out = "md", plot, ctk = "f32", ctv = "f32";
    int64_t reps = 5, chunk = 512;
    bool no_bw = false;
    ArgParser p("bitflash bench -m MODEL.gguf [-p 512] [-n 128] [-t 1,2] [-r 5] [-d 0,1024,8192] [-o md|json] [--plot FILE.png]",
                "Measures prompt processing (pp) and generation (tg) speed like llama-bench: mean ± stddev over -r runs,\n"
                "at each prefilled context depth -d. Random token ids; tokenization and sampling are not timed.");
    p.option({"-m", "--model"}, &model_path, "FNAME", "model GGUF");
    p.option({"-p", "--n-prompt"}, &p_arg, "N,...", "prompt lengths (0 = skip; default 512)");
    p.option({"-n", "--n-gen"}, &n_arg, "N,...", "generated tokens (0 = skip; default 128)");
    p.option({"-t", "--threads"}, &t_arg, "N,...", "thread counts (default: all cores)");
    p.option({"-d", "--n-depth"}, &d_arg, "N,...", "context depths prefilled before each test (default 0)");
    p.option({"-r", "--repetitions"}, &reps, "N", "repetitions (default 5)");
    p.option({"-b", "--batch-size", "-ub", "--ubatch-size"}, &chunk, "N", "prompt tokens per forward pass (default 512)");
    p.option({"-o", "--output"}, &out, "md|json", "output format (default md)");
    p.option({"--plot"}, &plot, "FILE.png", "draw decode speed against depth (gnuplot)");
    declare_cache_types(p, &ctk, &ctv);
    p.flag({"--no-bandwidth"}, &no_bw, "skip the memory bandwidth probe");
    p.ignored({"-ngl", "--n-gpu-layers"}, true, "accepted and ignored (CPU only)");
    if (!p.parse(argc, argv)) return 0;
    if (model_path.empty()) fail("-m MODEL.gguf is required");
    if (out != "md" && out != "json") fail("-o must be md or json");
    if (reps < 1) fail("-r must be >= 1");
    const KvType kv = parse_cache_types(ctk, ctv);
    const auto pps = parse_list(p_arg, "-p"), tgs = parse_list(n_arg, "-n"), depths = parse_list(d_arg, "-d");
    const auto threads = t_arg.empty() ? std::vector<int64_t>{int64_t(resolve_thread_count(0))}
                                       : parse_list(t_arg, "-t");

    const Model model = Model::load(model_path);
    const ModelConfig& c = model.config;
    size_t file_bytes = 0, params = 0, embd_bytes = 0;
    for (const auto& t : model.file->tensors()) {
        file_bytes += t.nbytes;
        params += size_t(t.numel());
        if (t.name == "token_embd.weight") embd_bytes = t.nbytes;
    }
    // Bytes a decode step streams: every weight once; an untied embedding table only by one row.
    const size_t step_bytes = c.tied_embeddings ? file_bytes : file_bytes - embd_bytes;
    const std::string label = strfmt("phi4flash %.1fB %s", double(params) / 1e9, ftype_name(model).c_str());

    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(c.n_vocab - 1));
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> v(static_cast<size_t>(n));
        for (auto& x : v) x = tok(rng);
        return v;
    };
    int64_t max_len = 0;
    for (auto v : pps) max_len = std::max(max_len, v);
    for (auto v : tgs) max_len = std::max(max_len, v);

    std::vector<Row> rows;
    for (int64_t t : threads) {
        set_engine_threads(int(t));
        for (int64_t d : depths) {
            Session s(model, d + max_len + 1, chunk, kv);
            if (d > 0) s.feed(random_tokens(d));
            const Session::Checkpoint base = s.save();
            {  // warm-up: page in the weights, spin up the threads
                s.feed(random_tokens(std::min<int64_t>(8, max_len > 0 ? max_len : 8)));
                s.restore(base);
            }
            for (int64_t np : pps) {
                if (np == 0) continue;
                std::vector<double> rates;
                for (int64_t r = 0; r < reps; ++r) {
                    s.restore(base);
                    const auto prompt = random_tokens(np);
                    const double t0 = now_s();
                    s.feed(prompt);
                    rates.push_back(double(np) / (now_s() - t0));
                }
                auto [m, sd] = mean_sd(rates);
                rows.push_back({t, d, np, true, m, sd});
            }
            for (int64_t ng : tgs) {
                if (ng == 0) continue;
                std::vector<double> rates;
                for (int64_t r = 0; r < reps; ++r) {
                    s.restore(base);
                    const auto toks = random_tokens(ng);
                    const double t0 = now_s();
                    for (int32_t x : toks) s.feed(std::span<const int32_t>(&x, 1));
                    rates.push_back(double(ng) / (now_s() - t0));
                }
                auto [m, sd] = mean_sd(rates);
                rows.push_back({t, d, ng, false, m, sd});
            }
        }
    }

    const double rss = double(peak_rss_bytes());  // before the bandwidth probe's own buffer
    std::map<int64_t, ReadBandwidth> bw;
    if (!no_bw)
        for (int64_t t : threads) bw[t] = measure_read_bandwidth(int(t));

    if (out == "json") {
        std::printf("[\n");
        for (size_t i = 0; i < rows.size(); ++i) {
            const Row& r = rows[i];
            const double gbs = r.prompt ? 0 : r.mean * double(step_bytes) / 1e9;
            std::printf("  {\"model\": \"%s\", \"size\": %zu, \"params\": %zu, \"threads\": %lld, \"test\": \"%s%lld\", "
                        "\"depth\": %lld, \"type_k\": \"%s\", \"avg_ts\": %.4f, \"stddev_ts\": %.4f, \"weight_gb_per_s\": %.3f, "
                        "\"read_bandwidth_gb_per_s\": %.3f, \"read_bandwidth_median_gb_per_s\": %.3f, \"peak_rss\": %.0f}%s\n",
                        label.c_str(), file_bytes, params, (long long)r.threads, r.prompt ? "pp" : "tg", (long long)r.n,
                        (long long)r.depth, kv_type_name(kv), r.mean, r.sd, gbs, bw[r.threads].best / 1e9, bw[r.threads].median / 1e9, rss,
                        i + 1 < rows.size() ? "," : "");
        }
        std::printf("]\n");
    } else {
        const bool kv_cols = kv != KvType::F32;  // llama-bench shows type_k/type_v only when not the default
        std::printf("| model                          |       size |     params | backend | threads |%s            test |              t/s |\n",
                    kv_cols ? " type_k | type_v |" : "");
        std::printf("| ------------------------------ | ---------: | ---------: | ------- | ------: |%s --------------: | ---------------: |\n",
                    kv_cols ? " -----: | -----: |" : "");
        for (const Row& r : rows) {
            std::string test = strfmt("%s%lld", r.prompt ? "pp" : "tg", (long long)r.n);
            if (r.depth > 0) test += strfmt(" @ d%lld", (long long)r.depth);
            const std::string types = kv_cols ? strfmt(" %6s | %6s |", kv_type_name(kv), kv_type_name(kv)) : "";
            std::printf("| %-30s | %6.2f GiB | %8.2f B | CPU     | %7lld |%s %15s | %7.2f ± %6.2f |\n", label.c_str(),
                        double(file_bytes) / double(1 << 30), double(params) / 1e9, (long long)r.threads, types.c_str(),
                        test.c_str(), r.mean, r.sd);
        }
        std::printf("\n");
        for (const Row& r : rows) {
            if (r.prompt) continue;
            const double gbs = r.mean * double(step_bytes) / 1e9;
            std::printf("tg%lld @ d%lld, %lld threads: %.2f GB/s of weights (%.3f GB per token)", (long long)r.n,
                        (long long)r.depth, (long long)r.threads, gbs, double(step_bytes) / 1e9);
            if (bw.count(r.threads))
                std::printf(" = %.0f%% of the measured read bandwidth %.1f GB/s (best of 10 passes; their median %.1f)",
                            100.0 * gbs * 1e9 / bw[r.threads].best, bw[r.threads].best / 1e9, bw[r.threads].median / 1e9);
            std::printf("\n");
        }
        std::printf("peak RSS: %.2f GiB (weights %.2f GiB)\n", rss / double(1 << 30), double(file_bytes) / double(1 << 30));
    }

    if (!plot.empty()) {
        const std::string dat = plot + ".dat";
        std::ofstream f(dat);
        for (const Row& r : rows)
            if (!r.prompt) f << r.threads << " " << r.depth << " " << r.mean << " " << r.sd << "\n";
        f.close();
        std::string script = "set terminal pngcairo noenhanced size 900,540\nset output '" + plot +
                             "'\nset title 'bitflash decode speed: " + label +
                             "'\nset xlabel 'context depth (tokens)'\nset ylabel 'tokens/s'\nset grid\nset yrange [0:*]\nplot ";
        for (size_t i = 0; i < threads.size(); ++i)
            script += strfmt("%s'%s' using ($1==%lld?$2:1/0):3:4 with yerrorlines title '%lld threads'", i ? ", " : "",
                             dat.c_str(), (long long)threads[i], (long long)threads[i]);
        std::ofstream(plot + ".gp") << script << "\n";
        const std::string cmd = "gnuplot '" + plot + ".gp'";
        if (std::system(cmd.c_str()) != 0) fail("gnuplot failed (is gnuplot installed? scripts/setup.sh installs it)");
        std::fprintf(stderr, "bench: wrote %s\n", plot.c_str());
    }
    return 0;
}

}  // namespace bf
