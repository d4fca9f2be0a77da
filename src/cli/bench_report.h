// Results of `bitflash bench` and how they are written: llama-bench's markdown table, csv, json and jsonl
// (llama-bench's field names plus bitflash's bandwidth-probe, bound and energy fields), and the depth plot.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bf {

struct BenchModel {
    std::string filename, type;  // type: llama-bench's model_type, e.g. "phi4flash 3.8B Q4_K_M"
    uint64_t size = 0, n_params = 0;
    double weight_bytes_per_token = 0;  // bytes a decode step streams from the weights
};

struct BenchTest {
    int64_t n_threads = 0, n_prompt = 0, n_gen = 0, n_depth = 0, n_batch = 0;
    std::string type_kv, test_time;
    std::vector<double> samples_ns;  // one per repetition
    // Decode tests (n_gen > 0, n_prompt = 0) only:
    double bw_before = 0,
           bw_after = 0;            // best pass of the read-bandwidth probes right before/after, bytes/s (0 = none)
    double kv_bytes_per_token = 0;  // K/V cache bytes each generated token reads (mid-run average)
    double joules_per_token = -1;   // < 0: no energy counters

    std::string name() const;  // "pp512", "tg128", "pp512+tg128", with " @ d1024" at a depth
    std::vector<double> samples_ts() const;
    double avg_ts() const, stddev_ts() const, avg_ns() const, stddev_ns() const;
    bool decode_only() const { return n_prompt == 0 && n_gen > 0; }
    double weight_gbs(const BenchModel& m) const { return avg_ts() * m.weight_bytes_per_token / 1e9; }
    // Tokens/s the bytes per token allow at the mean of the two probes; 0 without probes.
    double bound_ts(const BenchModel& m) const;
};

struct BenchRun {
    BenchModel model;
    std::vector<BenchTest> tests;
    std::string energy;  // "package-0 (intel-rapl:0)" or "not available (reason)"
    double peak_rss = 0;
    bool rss_excludes_probes = true;
};

std::string human_bytes(double bytes);  // "1.33 GiB", "412.00 MiB", "38.50 KiB"
std::string human_count(double n);      // "3.84 B", "26.43 M", "7.10 K", "512"

// format: md | csv | json | jsonl (checked by the caller). Writes to stdout.
void print_bench(const BenchRun& run, const std::string& format);

// Decode t/s against depth per thread count with the byte bound, via gnuplot; throws bf::Error on failure.
void plot_depth_curve(const BenchRun& run, const std::string& png);

}  // namespace bf
