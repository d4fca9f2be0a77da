// STREAM-like read-bandwidth probe: sums a large buffer with 1..N threads (OpenMP), best of several runs.
// Usage: membw [--mb 1024] [--reps 10] [--threads 1,2]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#ifdef __x86_64__
#include <immintrin.h>
#endif

namespace {

#ifdef __x86_64__
// Four independent 256-bit accumulators so the loop is bound by loads, not by add latency.
__attribute__((target("avx2"))) uint64_t sum_range(const uint64_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
    }
    alignas(32) uint64_t t[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t),
                       _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    uint64_t s = t[0] + t[1] + t[2] + t[3];
    for (; i < n; ++i) s += p[i];
    return s;
}
#else
uint64_t sum_range(const uint64_t* p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
    for (; i < n; ++i) s0 += p[i];
    return s0 + s1 + s2 + s3;
}
#endif

std::vector<int> parse_list(const char* s) {
    std::vector<int> v;
    for (const char* p = s; *p;) {
        v.push_back(std::atoi(p));
        const char* c = std::strchr(p, ',');
        if (!c) break;
        p = c + 1;
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    size_t mb = 1024;
    int reps = 10;
    std::vector<int> threads = {1, 2};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--mb"))
            mb = size_t(std::atol(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--reps"))
            reps = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--threads"))
            threads = parse_list(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: membw [--mb 1024] [--reps 10] [--threads 1,2]\n");
            return 2;
        }
    }
    if (mb < 1 || mb > (size_t(1) << 20) || reps < 1) {
        std::fprintf(stderr, "membw: bad --mb or --reps\n");
        return 2;
    }
    const size_t bytes = mb << 20, n = bytes / 8;
    auto* buf = static_cast<uint64_t*>(std::aligned_alloc(64, bytes));
    if (!buf) {
        std::fprintf(stderr, "membw: cannot allocate %zu MB\n", mb);
        return 1;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = i;  // first touch, also faults the pages in
    uint64_t check = 0;
    for (int nt : threads) {
        if (nt < 1) continue;
        double best = 1e30;
        for (int r = 0; r < reps; ++r) {
            uint64_t total = 0;
            const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
            {
                const size_t per = (n / size_t(omp_get_num_threads()) + 7) / 8 * 8;
                const size_t lo = std::min(n, per * size_t(omp_get_thread_num()));
                const size_t hi = std::min(n, lo + per);
                total += sum_range(buf + lo, hi - lo);
            }
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, s);
            check += total;
        }
        std::printf("read bandwidth: %d thread%s  %7.2f GB/s  (%zu MB buffer, best of %d)\n", nt, nt > 1 ? "s" : " ",
                    double(bytes) / best / 1e9, mb, reps);
    }
    std::fprintf(stderr, "(checksum %llu)\n", (unsigned long long)check);
    std::free(buf);
    return 0;
}
