// Attention microbenchmark: one decode step of differential attention over the shared K/V cache at a
// given depth, at the real model's head shapes (40 query heads, 20 kv heads, head_dim 64), i.e. what
// each of the 8 layers that read the shared cache costs per token. Prints ms per call and the cache
// bytes read per second (best and median call). The cache is filled with random rows; at 32K a q4_0 cache (45 MB) is
// larger than the last-level cache, so it streams from DRAM as in a real decode step.
// --queries N times a prefill chunk instead: the last N positions of a causal prompt of `depth` tokens
// (query t sees keys up to its own position), as the global layer does while a long prompt is read.
// --plain-read 1 also reads the cache's bytes bare (a sum of words, same threads) between the calls and
// prints that rate: at depths beyond the last-level cache, the ceiling of any attention over this cache.
// --flush MB reads that many MB of other data (untimed) before every timed call, as the model streams
// ~45 MB of layer weights between two layers that read the shared cache: no call then finds the cache in L3.
// Usage: attn_bench [--depth 1024,8192,32768] [--cache f32,q8_0,q4_0] [--threads 1,2] [--queries 1]
//                   [--seconds 1] [--plain-read 0|1] [--flush 0]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "list_arg.h"
#include "core/bandwidth.h"
#include "kernels/attention.h"
#include "kernels/compute.h"
#include "kernels/kv_cache.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> depths{"1024", "8192", "32768"}, caches{"q4_0"}, threads{"1", "2"};
    double seconds = 1.0;
    int64_t n_q = 1;
    bool plain = false;
    double flush_mb = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--depth")
            depths = split_list(v);
        else if (k == "--cache")
            caches = split_list(v);
        else if (k == "--threads")
            threads = split_list(v);
        else if (k == "--seconds")
            seconds = std::atof(v.c_str());
        else if (k == "--plain-read")
            plain = v == "1";
        else if (k == "--flush")
            flush_mb = std::max(0.0, std::atof(v.c_str()));
        else if (k == "--queries")
            n_q = std::max<int64_t>(1, std::atoll(v.c_str()));
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    constexpr int64_t H = 40, G = 20, D = 64;
    std::vector<float> subln(2 * D, 1.0f), q(size_t(n_q * H * D)), out(size_t(n_q * H * D));
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& x : q) x = nd(rng);
    std::vector<uint64_t> other(size_t(flush_mb * 1e6 / 8), 1);
    std::printf("queries per call: %lld; %.0f MB of other data read before each timed call\n", (long long)n_q,
                flush_mb);
    std::printf(
        "| cache | depth | threads | best ms | median ms | cache MB | GB/s (median) "
        "|%s\n|---|---:|---:|---:|---:|---:|---:|%s\n",
        plain ? " plain read GB/s (median) | attention / plain read |" : "", plain ? "---:|---:|" : "");
    for (const std::string& cname : caches) {
        const bf::KvType type = bf::parse_kv_type(cname);
        for (const std::string& ds : depths) {
            const int64_t n = std::atoll(ds.c_str());
            std::vector<float> k(size_t(n * G * D)), v(size_t(n * G * D));
            bf::QuantKvCache cache;
            if (type != bf::KvType::F32) cache = bf::QuantKvCache(type, G, D, n);
            for (int64_t t = 0; t < n; ++t) {
                float* kr = k.data() + t * G * D;
                float* vr = v.data() + t * G * D;
                for (int64_t i = 0; i < G * D; ++i) kr[i] = nd(rng), vr[i] = nd(rng);
                if (type != bf::KvType::F32) cache.append(kr, vr);
            }
            const double mb = type == bf::KvType::F32 ? 2.0 * double(n * G * D) * 4 / 1e6 : double(cache.bytes()) / 1e6;
            if (type != bf::KvType::F32) k = {}, v = {};
            if (n_q > n) continue;
            std::vector<int64_t> lo(size_t(n_q), 0), hi(static_cast<size_t>(n_q));
            for (int64_t t = 0; t < n_q; ++t) hi[size_t(t)] = n - n_q + t + 1;
            for (const std::string& ts : threads) {
                bf::set_num_threads(std::max(1, std::atoi(ts.c_str())));
                auto call = [&] {
                    if (type == bf::KvType::F32) {
                        bf::DiffAttnArgs a;
                        a.n_head = H, a.n_kv_head = G, a.head_dim = D, a.lambda = 0.3f, a.lambda_init = 0.2f;
                        a.subln = subln.data(), a.q = q.data(), a.n_q = n_q, a.q_stride = H * D;
                        a.k = k.data(), a.v = v.data(), a.kv_stride = G * D, a.key_lo = lo.data(), a.key_hi = hi.data();
                        a.out = out.data(), a.out_stride = H * D;
                        bf::diff_attention(a);
                    } else {
                        bf::DiffAttnQuantArgs a;
                        a.n_head = H, a.n_kv_head = G, a.head_dim = D, a.lambda = 0.3f, a.lambda_init = 0.2f;
                        a.subln = subln.data(), a.q = q.data(), a.n_q = n_q, a.q_stride = H * D;
                        a.kv = cache.view(), a.key_hi = hi.data(), a.out = out.data(), a.out_stride = H * D;
                        bf::diff_attention_quant(a);
                    }
                };
                // The bytes the attention reads (the quantized cache's K, V and scales; the f32 K and V).
                std::vector<std::pair<const void*, size_t>> parts;
                if (type == bf::KvType::F32) {
                    parts = {{k.data(), k.size() * 4}, {v.data(), v.size() * 4}};
                } else {
                    const bf::KvView kv = cache.view();
                    const int64_t nb = (n + bf::kKvBlock - 1) / bf::kKvBlock;
                    const size_t codes = size_t(nb * kv.block_bytes()), scales = size_t(nb * G * bf::kKvBlock * 2);
                    parts = {{kv.k, codes}, {kv.v, codes}, {kv.ks, scales}, {kv.vs, scales}};
                }
                const int nt = std::max(1, std::atoi(ts.c_str()));
                uint64_t sink = 0;
                call();
                std::vector<double> times, reads;
                const double t_end = now() + seconds;
                while (now() < t_end || times.size() < 3) {
                    sink += bf::read_words(other.data(), other.size() * 8, nt);
                    double t0 = now();
                    call();
                    times.push_back(now() - t0);
                    if (!plain) continue;
                    sink += bf::read_words(other.data(), other.size() * 8, nt);
                    t0 = now();
                    for (const auto& [p, bytes] : parts) sink += bf::read_words(p, bytes, nt);
                    reads.push_back(now() - t0);
                }
                std::sort(times.begin(), times.end());
                std::sort(reads.begin(), reads.end());
                const double med = times[times.size() / 2];
                std::printf("| %s | %lld | %s | %.3f | %.3f | %.1f | %.1f |", cname.c_str(), (long long)n, ts.c_str(),
                            times[0] * 1e3, med * 1e3, mb, mb / 1e3 / med);
                if (plain) {
                    const double rmed = reads[reads.size() / 2];
                    std::printf(" %.1f | %.0f %% |%s", mb / 1e3 / rmed, 100.0 * rmed / med, sink == 1 ? " " : "");
                }
                std::printf("\n");
                std::fflush(stdout);
            }
        }
    }
    return 0;
}
