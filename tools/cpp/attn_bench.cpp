// Attention microbenchmark: one decode step of differential attention over the shared K/V cache at a
// given depth, at the real model's head shapes (40 query heads, 20 kv heads, head_dim 64), i.e. what
// each of the 8 layers that read the shared cache costs per token. Prints ms per call and the cache
// bytes read per second (best and median call). The cache is filled with random rows; at 32K a q4_0 cache (45 MB) is larger
// than the last-level cache, so it streams from DRAM as in a real decode step.
// --queries N times a prefill chunk instead: the last N positions of a causal prompt of `depth` tokens
// (query t sees keys up to its own position), as the global layer does while a long prompt is read.
// Usage: attn_bench [--depth 1024,8192,32768] [--cache f32,q8_0,q4_0] [--threads 1,2] [--queries 1]
//                   [--seconds 1]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "list_arg.h"
#include "kernels/attention.h"
#include "kernels/kv_cache.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> depths{"1024", "8192", "32768"}, caches{"q4_0"}, threads{"1", "2"};
    double seconds = 1.0;
    int64_t n_q = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--depth") depths = split_list(v);
        else if (k == "--cache") caches = split_list(v);
        else if (k == "--threads") threads = split_list(v);
        else if (k == "--seconds") seconds = std::atof(v.c_str());
        else if (k == "--queries") n_q = std::max<int64_t>(1, std::atoll(v.c_str()));
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
    std::printf("queries per call: %lld\n", (long long)n_q);
    std::printf("| cache | depth | threads | best ms | median ms | cache MB | GB/s (median) |\n|---|---:|---:|---:|---:|---:|---:|\n");
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
                omp_set_num_threads(std::max(1, std::atoi(ts.c_str())));
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
                call();
                std::vector<double> times;
                const double t_end = now() + seconds;
                while (now() < t_end || times.size() < 3) {
                    const double t0 = now();
                    call();
                    times.push_back(now() - t0);
                }
                std::sort(times.begin(), times.end());
                const double med = times[times.size() / 2];
                std::printf("| %s | %lld | %s | %.3f | %.3f | %.1f | %.1f |\n", cname.c_str(), (long long)n, ts.c_str(),
                            times[0] * 1e3, med * 1e3, mb, mb / 1e3 / med);
                std::fflush(stdout);
            }
        }
    }
    return 0;
}
