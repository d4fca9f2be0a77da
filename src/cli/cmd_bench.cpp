// bitflash bench: llama-bench's tests (pp = prompt tokens/s, tg = generated tokens/s, pg = prompt then
// generation over the whole) at prefilled context depths, with decode's weight-bytes/s against read-bandwidth
// probes taken right before and after it, the bound that bytes per token allow, joules per token and peak RSS.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "cli/args.h"
#include "cli/bench_report.h"
#include "cli/gen_common.h"
#include "convert/quant_mix.h"
#include "core/bandwidth.h"
#include "core/energy.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "engine/session.h"
#include "engine/threads.h"

namespace bf {

namespace {

constexpr int64_t kMaxTokens = int64_t(1) << 20;  // depth + test tokens: beyond this a state would not fit anyway

std::vector<int64_t> parse_list(const std::string& s, const char* flag) {
    std::vector<int64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0 || errno == ERANGE)
            fail(std::string(flag) + " expects a comma-separated list of numbers >= 0, got '" + s + "'");
        out.push_back(v);
    }
    if (out.empty()) fail(std::string(flag) + " needs at least one value");
    return out;
}

double now_ns() {
    return double(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// The name of the file's type: general.file_type's (q4_k_m, not the Q4_K most tensors hold), else the
// type holding the most matrix bytes.
std::string ftype_name(const Model& m) {
    std::string s = file_type_name(m.file->get_u32_or("general.file_type", ~0u));
    if (s.empty()) {
        std::map<DType, size_t> bytes;
        for (const auto& t : m.file->tensors())
            if (t.ne.size() == 2 && t.name != "token_embd.weight") bytes[t.dtype()] += t.nbytes;
        size_t most = 0;
        for (auto [t, b] : bytes)
            if (b > most) most = b, s = dtype_name(t);
    }
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// K/V bytes one decode step reads when the context holds `tokens` tokens (the new one included): the
// shared cache by the global layer and every cross-attention layer, the f32 window rings by the SWA layers.
double kv_read_bytes(const ModelConfig& c, KvType kv, int64_t tokens) {
    int64_t shared = 0, swa = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerKind k = c.kind(l);
        shared += k == LayerKind::GlobalAttn || k == LayerKind::CrossAttn;
        swa += k == LayerKind::SwaAttn;
    }
    return double(shared * tokens * kv_bytes_per_token(kv, c.n_kv_head, c.head_dim)) +
           double(swa * std::min(tokens, c.window) * kv_bytes_per_token(KvType::F32, c.n_kv_head, c.head_dim));
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    std::string model_path, p_arg = "512", n_arg = "128", pg_arg, t_arg, d_arg = "0", out = "md", plot;
    std::string ctk = kv_type_name(default_kv_type()), ctv = ctk;
    int64_t reps = 5, chunk = 512, bw_mib = 2048;
    bool no_bw = false;
    ArgParser p(
        "bitflash bench -m MODEL.gguf [-p 512] [-n 128] [-pg 2048,512] [-t 1,2] [-r 5] [-d 0,8192,32768] "
        "[-o md|csv|json|jsonl] [--plot FILE.png]",
        "Measures prompt processing (pp) and generation (tg) speed like llama-bench: mean ± stddev over -r runs,\n"
        "at each context depth -d (prefilled once, growing from one depth to the next). Decode tests are framed by\n"
        "read-bandwidth probes and compared with the bound (weight + K/V bytes per token) / bandwidth; joules per\n"
        "token where RAPL counters are readable (root overridable by BF_POWERCAP_ROOT). Random token ids.");
    p.option({"-m", "--model"}, &model_path, "FNAME", "model GGUF");
    p.option({"-p", "--n-prompt"}, &p_arg, "N,...", "prompt lengths (0 = skip; default 512)");
    p.option({"-n", "--n-gen"}, &n_arg, "N,...", "generated tokens (0 = skip; default 128)");
    p.option({"-pg"}, &pg_arg, "PP,TG", "also a prompt of PP tokens then TG generated, t/s over the whole");
    p.option({"-t", "--threads"}, &t_arg, "N,...", "thread counts (default: all cores)");
    p.option({"-d", "--n-depth"}, &d_arg, "N,...",
             "context depths before each test (default 0); e.g. 0,4096,...,32768 for a depth curve");
    p.option({"-r", "--repetitions"}, &reps, "N", "repetitions (default 5)");
    p.option({"-b", "--batch-size", "-ub", "--ubatch-size"}, &chunk, "N",
             "prompt tokens per forward pass (default 512)");
    p.option({"-o", "--output"}, &out, "FMT", "md (default), csv, json or jsonl, with llama-bench's field names");
    p.option({"--plot"}, &plot, "FILE.png", "draw decode speed and its bound against depth (gnuplot)");
    declare_cache_types(p, &ctk, &ctv);
    p.flag({"--no-bandwidth"}, &no_bw, "skip the memory bandwidth probes");
    p.option({"--bw-mib"}, &bw_mib, "N", "bandwidth probe buffer in MiB (default 2048; well above the caches)");
    p.ignored({"-ngl", "--n-gpu-layers"}, true, "accepted and ignored (CPU only)");
    if (!p.parse(argc, argv)) return 0;
    if (model_path.empty()) fail("-m MODEL.gguf is required");
    if (out != "md" && out != "csv" && out != "json" && out != "jsonl")
        fail("-o must be md, csv, json or jsonl, not '" + out + "'");
    if (plot.find_first_of("'\n") != std::string::npos) fail("--plot: the file name may not contain ' or a newline");
    if (reps < 1 || reps > 100000) fail("-r must be between 1 and 100000");
    if (chunk < 1) fail("-b must be >= 1");
    if (bw_mib < 1 || bw_mib > 8192) fail("--bw-mib must be between 1 and 8192");
    const KvType kv = parse_cache_types(ctk, ctv);
    const auto pps = parse_list(p_arg, "-p"), tgs = parse_list(n_arg, "-n");
    auto depths = parse_list(d_arg, "-d");
    std::sort(depths.begin(), depths.end());
    depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
    const auto threads =
        t_arg.empty() ? std::vector<int64_t>{int64_t(resolve_thread_count(0))} : parse_list(t_arg, "-t");
    for (int64_t t : threads)
        if (t < 1 || t > 1024) fail("-t values must be between 1 and 1024");
    std::vector<int64_t> pg;
    if (!pg_arg.empty()) {
        pg = parse_list(pg_arg, "-pg");
        if (pg.size() != 2 || pg[0] < 1 || pg[1] < 1)
            fail("-pg expects PP,TG (two numbers >= 1), got '" + pg_arg + "'");
    }
    const auto nonzero = [](const std::vector<int64_t>& v) {
        return std::any_of(v.begin(), v.end(), [](int64_t x) { return x > 0; });
    };
    if (!nonzero(pps) && !nonzero(tgs) && pg.empty()) fail("nothing to measure: -p and -n are all 0 and no -pg");
    int64_t max_len = 1;
    for (auto v : pps) max_len = std::max(max_len, v);
    for (auto v : tgs) max_len = std::max(max_len, v);
    if (!pg.empty()) max_len = std::max(max_len, pg[0] + pg[1]);
    if (max_len > kMaxTokens || depths.back() > kMaxTokens - max_len)
        fail(strfmt("depth + test tokens must stay below %lld", (long long)kMaxTokens));

    BenchRun run;
    const Model model = Model::load(model_path);
    const ModelConfig& c = model.config;
    size_t embd_bytes = 0;
    for (const auto& t : model.file->tensors()) {
        run.model.size += t.nbytes;
        run.model.n_params += uint64_t(t.numel());
        if (t.name == "token_embd.weight") embd_bytes = t.nbytes;
    }
    // Bytes a decode step streams: every weight once; an untied embedding table only by one row.
    run.model.weight_bytes_per_token = double(c.tied_embeddings ? run.model.size : run.model.size - embd_bytes);
    std::string params = human_count(double(run.model.n_params));
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    run.model.type = "phi4flash " + params + " " + ftype_name(model);
    run.model.filename = model_path;

    const EnergyMeter energy;
    run.energy = energy.available() ? energy.zone_names() : "not available (" + energy.reason() + ")";
    double peak_rss = 0;
    bool rss_clean = true;
    auto probe = [&](int64_t t) {  // best pass, bytes/s; the probe's buffer kept out of the RSS peak
        peak_rss = std::max(peak_rss, double(peak_rss_bytes()));
        const double best = measure_read_bandwidth(int(t), size_t(bw_mib) << 20).best;
        rss_clean = rss_clean && reset_peak_rss();
        return best;
    };

    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(c.n_vocab - 1));
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> v(static_cast<size_t>(n));
        for (auto& x : v) x = tok(rng);
        return v;
    };

    // One state for every depth: prefilled to the first depth, then grown to each next one.
    Session s(model, depths.back() + max_len + 1, chunk, kv);
    const int64_t prefill_threads = *std::max_element(threads.begin(), threads.end());
    for (int64_t d : depths) {
        set_engine_threads(int(prefill_threads));
        if (d > s.n_past()) {
            std::fprintf(stderr, "bench: prefilling to depth %lld\n", (long long)d);
            s.feed(random_tokens(d - s.n_past()));
        }
        const Session::Checkpoint at_depth = s.save();
        for (int64_t t : threads) {
            set_engine_threads(int(t));
            s.restore(at_depth);
            s.feed(random_tokens(std::min<int64_t>(8, max_len)));  // warm-up: pages, threads
            auto measure = [&](int64_t np, int64_t ng) {
                BenchTest r{t, np, ng, d, chunk, kv_type_name(kv), utc_now(), {}};
                double joules = 0;
                for (int64_t i = 0; i < reps; ++i) {
                    s.restore(at_depth);
                    const auto prompt = random_tokens(np), gen = random_tokens(ng);
                    const auto e0 = energy.read();
                    const double t0 = now_ns();
                    if (np > 0) s.feed(prompt);
                    for (int32_t x : gen) s.feed(std::span<const int32_t>(&x, 1));
                    r.samples_ns.push_back(now_ns() - t0);
                    const double j = energy.joules(e0, energy.read());
                    joules = joules >= 0 && j >= 0 ? joules + j : -1;
                }
                if (energy.available() && joules >= 0) r.joules_per_token = joules / double(reps * (np + ng));
                return r;
            };
            for (int64_t np : pps)
                if (np > 0) run.tests.push_back(measure(np, 0));
            for (int64_t ng : tgs) {
                if (ng == 0) continue;
                const double before = no_bw ? 0 : probe(t);
                BenchTest r = measure(0, ng);
                r.bw_before = before;
                r.bw_after = no_bw ? 0 : probe(t);
                double kv_bytes = 0;  // mean over the steps: step k reads a context of d + k tokens
                for (int64_t k = 1; k <= ng; ++k) kv_bytes += kv_read_bytes(c, kv, d + k);
                r.kv_bytes_per_token = kv_bytes / double(ng);
                run.tests.push_back(r);
            }
            if (!pg.empty()) run.tests.push_back(measure(pg[0], pg[1]));
        }
        s.restore(at_depth);
    }
    auto rank = [&](const BenchTest& x) {
        return std::find(threads.begin(), threads.end(), x.n_threads) - threads.begin();
    };
    std::stable_sort(run.tests.begin(), run.tests.end(),  // as llama-bench: grouped by -t, in the order given
                     [&](const BenchTest& a, const BenchTest& b) { return rank(a) < rank(b); });
    run.rss_excludes_probes = rss_clean;
    run.peak_rss = rss_clean ? std::max(peak_rss, double(peak_rss_bytes())) : double(peak_rss_bytes());

    print_bench(run, out);
    if (!plot.empty()) plot_depth_curve(run, plot);
    return 0;
}

}  // namespace bf
