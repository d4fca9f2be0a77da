// Output of `bitflash bench`: markdown (column widths from the content), csv, json, jsonl, and the plot.
#include "cli/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "kernels/kv_cache.h"

namespace bf {

namespace {

double mean(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m += x;
    return v.empty() ? 0 : m / double(v.size());
}

double stddev(const std::vector<double>& v) {  // sample standard deviation, as llama-bench
    if (v.size() < 2) return 0;
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
}

// One test as llama-bench's fields in its order, then bitflash's own (null where they do not apply).
nlohmann::ordered_json fields(const BenchRun& run, const BenchTest& t) {
    const BenchModel& m = run.model;
    nlohmann::ordered_json j;
    j["model_filename"] = m.filename;
    j["model_type"] = m.type;
    j["model_size"] = m.size;
    j["model_n_params"] = m.n_params;
    j["backends"] = "CPU";
    j["n_batch"] = t.n_batch;
    j["n_ubatch"] = t.n_batch;
    j["n_threads"] = t.n_threads;
    j["type_k"] = t.type_kv;
    j["type_v"] = t.type_kv;
    j["n_prompt"] = t.n_prompt;
    j["n_gen"] = t.n_gen;
    j["n_depth"] = t.n_depth;
    j["test_time"] = t.test_time;
    j["avg_ns"] = uint64_t(std::llround(t.avg_ns()));
    j["stddev_ns"] = uint64_t(std::llround(t.stddev_ns()));
    j["avg_ts"] = t.avg_ts();
    j["stddev_ts"] = t.stddev_ts();
    std::vector<uint64_t> ns;
    for (double x : t.samples_ns) ns.push_back(uint64_t(std::llround(x)));
    j["samples_ns"] = ns;
    j["samples_ts"] = t.samples_ts();
    const bool dec = t.decode_only(), probed = dec && t.bw_before > 0;
    auto opt = [](bool has, double v) { return has ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
    j["weight_bytes_per_token"] = m.weight_bytes_per_token;
    j["kv_bytes_per_token"] = opt(dec, t.kv_bytes_per_token);
    j["weight_gb_per_s"] = opt(dec, t.weight_gbs(m));
    j["bw_before_gb_per_s"] = opt(probed, t.bw_before / 1e9);
    j["bw_after_gb_per_s"] = opt(probed, t.bw_after / 1e9);
    j["bw_share_before"] = opt(probed, t.weight_gbs(m) * 1e9 / t.bw_before);
    j["bw_share_after"] = opt(probed, t.weight_gbs(m) * 1e9 / t.bw_after);
    j["bound_ts"] = opt(probed, t.bound_ts(m));
    j["bound_share"] = opt(probed, t.avg_ts() / t.bound_ts(m));
    j["joules_per_token"] = opt(t.joules_per_token >= 0, t.joules_per_token);
    j["peak_rss"] = run.peak_rss;
    return j;
}

std::string csv_cell(const nlohmann::ordered_json& v) {
    if (v.is_null()) return "";
    if (v.is_array()) {  // samples: one cell, values separated by ';'
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ";") + x.dump();
        return "\"" + s + "\"";
    }
    if (!v.is_string()) return v.dump();
    std::string s = "\"";
    for (char ch : v.get<std::string>()) s += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return s + "\"";
}

void print_markdown(const BenchRun& run) {
    const BenchModel& m = run.model;
    bool any_kv_type = false, any_probe = false, any_energy = false, any_decode = false;
    for (const BenchTest& t : run.tests) {
        any_kv_type |=
            t.type_kv != kv_type_name(default_kv_type());  // llama-bench shows them only when not the default
        any_probe |= t.decode_only() && t.bw_before > 0;
        any_energy |= t.joules_per_token >= 0;
        any_decode |= t.decode_only();
    }
    std::vector<std::string> head = {"model", "size", "params", "backend", "threads"};
    if (any_kv_type) head.insert(head.end(), {"type_k", "type_v"});
    head.insert(head.end(), {"test", "t/s"});
    if (any_decode) head.push_back("weights GB/s");
    if (any_probe) head.insert(head.end(), {"weights % of bw before/after", "bound t/s", "of bound"});
    if (any_energy) head.push_back("J/token");
    std::vector<std::vector<std::string>> rows;
    for (const BenchTest& t : run.tests) {
        std::vector<std::string> r = {m.type, human_bytes(double(m.size)), human_count(double(m.n_params)), "CPU",
                                      std::to_string(t.n_threads)};
        if (any_kv_type) r.insert(r.end(), {t.type_kv, t.type_kv});
        r.push_back(t.name());
        r.push_back(strfmt("%.2f ± %.2f", t.avg_ts(), t.stddev_ts()));
        const bool dec = t.decode_only(), probed = dec && t.bw_before > 0;
        if (any_decode) r.push_back(dec ? strfmt("%.2f", t.weight_gbs(m)) : "");
        if (any_probe) {
            const double g = t.weight_gbs(m) * 1e9;
            r.push_back(probed ? strfmt("%.0f %% / %.0f %%", 100 * g / t.bw_before, 100 * g / t.bw_after) : "");
            r.push_back(probed ? strfmt("%.2f", t.bound_ts(m)) : "");
            r.push_back(probed ? strfmt("%.2f", t.avg_ts() / t.bound_ts(m)) : "");
        }
        if (any_energy) r.push_back(t.joules_per_token >= 0 ? strfmt("%.3f", t.joules_per_token) : "");
        rows.push_back(r);
    }
    std::vector<size_t> width(head.size());
    auto cells = [](const std::string& s) {  // display width: count UTF-8 lead bytes (±)
        size_t n = 0;
        for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
        return n;
    };
    for (size_t i = 0; i < head.size(); ++i) {
        width[i] = std::max<size_t>(cells(head[i]), 3);
        for (const auto& r : rows) width[i] = std::max(width[i], cells(r[i]));
    }
    const std::set<std::string> left = {"model", "backend", "type_k", "type_v"};
    auto line = [&](const std::vector<std::string>& r) {
        std::string s = "|";
        for (size_t i = 0; i < r.size(); ++i) {
            const std::string pad(width[i] - cells(r[i]), ' ');
            s += " " + (left.count(head[i]) ? r[i] + pad : pad + r[i]) + " |";
        }
        std::printf("%s\n", s.c_str());
    };
    line(head);
    std::string sep = "|";
    for (size_t i = 0; i < head.size(); ++i)
        sep += " " + (left.count(head[i]) ? std::string(width[i], '-') : std::string(width[i] - 1, '-') + ":") + " |";
    std::printf("%s\n", sep.c_str());
    for (const auto& r : rows) line(r);
    std::printf("\n");
    for (const BenchTest& t : run.tests) {
        if (!t.decode_only()) continue;
        std::printf("%s, %lld threads: %s of weights + %s of K/V read per token", t.name().c_str(),
                    (long long)t.n_threads, human_bytes(m.weight_bytes_per_token).c_str(),
                    human_bytes(t.kv_bytes_per_token).c_str());
        if (t.bw_before > 0)
            std::printf("; read bandwidth %.1f GB/s before, %.1f GB/s after (best pass of each probe)",
                        t.bw_before / 1e9, t.bw_after / 1e9);
        std::printf("\n");
    }
    std::printf("energy: %s\n", run.energy.c_str());
    std::printf("peak RSS: %s%s (weights %s)\n", human_bytes(run.peak_rss).c_str(),
                run.rss_excludes_probes ? "" : " (includes the bandwidth probe's buffer)",
                human_bytes(double(m.size)).c_str());
}

}  // namespace

std::string BenchTest::name() const {
    std::string s = n_prompt > 0 && n_gen > 0 ? strfmt("pp%lld+tg%lld", (long long)n_prompt, (long long)n_gen)
                    : n_prompt > 0            ? strfmt("pp%lld", (long long)n_prompt)
                                              : strfmt("tg%lld", (long long)n_gen);
    if (n_depth > 0) s += strfmt(" @ d%lld", (long long)n_depth);
    return s;
}

std::vector<double> BenchTest::samples_ts() const {
    std::vector<double> v;
    for (double ns : samples_ns) v.push_back(double(n_prompt + n_gen) * 1e9 / ns);
    return v;
}
double BenchTest::avg_ts() const { return mean(samples_ts()); }
double BenchTest::stddev_ts() const { return stddev(samples_ts()); }
double BenchTest::avg_ns() const { return mean(samples_ns); }
double BenchTest::stddev_ns() const { return stddev(samples_ns); }

double BenchTest::bound_ts(const BenchModel& m) const {
    if (bw_before <= 0 || bw_after <= 0) return 0;
    return 0.5 * (bw_before + bw_after) / (m.weight_bytes_per_token + kv_bytes_per_token);
}

std::string human_bytes(double b) {
    if (b >= double(1ull << 30)) return strfmt("%.2f GiB", b / double(1ull << 30));
    if (b >= double(1ull << 20)) return strfmt("%.2f MiB", b / double(1ull << 20));
    return strfmt("%.2f KiB", b / 1024.0);
}

std::string human_count(double n) {
    if (n >= 1e9) return strfmt("%.2f B", n / 1e9);
    if (n >= 1e6) return strfmt("%.2f M", n / 1e6);
    if (n >= 1e3) return strfmt("%.2f K", n / 1e3);
    return strfmt("%.0f", n);
}

void print_bench(const BenchRun& run, const std::string& format) {
    if (format == "md") return print_markdown(run);
    if (format == "json" || format == "jsonl") {
        nlohmann::ordered_json all = nlohmann::ordered_json::array();
        for (const BenchTest& t : run.tests) {
            if (format == "jsonl")
                std::printf("%s\n", fields(run, t).dump().c_str());
            else
                all.push_back(fields(run, t));
        }
        if (format == "json") std::printf("%s\n", all.dump(2).c_str());
        return;
    }
    bool first = true;  // csv: a header from the first test's field names
    for (const BenchTest& t : run.tests) {
        const auto j = fields(run, t);
        std::string head, row;
        for (const auto& [k, v] : j.items()) {
            const char* sep = head.empty() ? "" : ",";
            head += sep + k;
            row += sep + csv_cell(v);
        }
        if (first) std::printf("%s\n", head.c_str());
        first = false;
        std::printf("%s\n", row.c_str());
    }
}

void plot_depth_curve(const BenchRun& run, const std::string& png) {
    const std::string dat = png + ".dat";
    std::ofstream f(dat);
    std::vector<int64_t> threads;
    bool bound = false;
    for (const BenchTest& t : run.tests) {
        if (!t.decode_only()) continue;
        if (std::find(threads.begin(), threads.end(), t.n_threads) == threads.end()) threads.push_back(t.n_threads);
        f << t.n_threads << " " << t.n_depth << " " << t.avg_ts() << " " << t.stddev_ts() << " "
          << t.bound_ts(run.model) << "\n";
        bound |= t.bound_ts(run.model) > 0;
    }
    f.close();
    if (threads.empty()) fail("--plot needs decode tests (-n > 0)");
    // The key goes below the axes and the x range gets margins, so neither legend nor axes hide a point.
    std::string script = "set terminal pngcairo noenhanced size 900,560\nset output '" + png +
                         "'\nset title 'bitflash decode speed: " + run.model.type +
                         "'\nset xlabel 'context depth (tokens)'\nset ylabel 'tokens/s'\nset grid\nset yrange [0:*]\n"
                         "set offsets graph 0.03, graph 0.03, graph 0.05, 0\nset key below\nplot ";
    for (size_t i = 0; i < threads.size(); ++i) {
        const long long th = (long long)threads[i];
        script += strfmt("%s'%s' using ($1==%lld?$2:1/0):3:4 with yerrorlines lc %zu pt 7 title '%lld threads'",
                         i ? ", " : "", dat.c_str(), th, i + 1, th);
        if (bound)
            script += strfmt(
                ", '%s' using ($1==%lld && $5>0?$2:1/0):5 with lines dt 2 lc %zu title 'bound, %lld threads "
                "(weights + K/V bytes / probed bandwidth)'",
                dat.c_str(), th, i + 1, th);
    }
    std::ofstream(png + ".gp") << script << "\n";
    const std::string cmd = "gnuplot '" + png + ".gp'";
    if (std::system(cmd.c_str()) != 0) fail("gnuplot failed (is gnuplot installed? scripts/setup.sh installs it)");
    std::fprintf(stderr, "bench: wrote %s\n", png.c_str());
}

}  // namespace bf
