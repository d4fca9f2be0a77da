// The memory read-bandwidth probe (bench, tools/cpp/membw): N threads reading first-touched ranges.
#include "core/bandwidth.h"

#include "core/memory.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#ifdef __x86_64__
#include <immintrin.h>
#endif

namespace bf {

namespace {

// Sum of n words with four independent accumulators, so the loop is bound by loads, not adds.
uint64_t sum_plain(const uint64_t* p, size_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
    for (; i < n; ++i) s0 += p[i];
    return s0 + s1 + s2 + s3;
}

#ifdef __x86_64__
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint64_t* p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
    }
    alignas(32) uint64_t t[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t),
                       _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return t[0] + t[1] + t[2] + t[3] + sum_plain(p + i, n - i);
}
#endif

uint64_t sum_range(const uint64_t* p, size_t n) {
#ifdef __x86_64__
    if (__builtin_cpu_supports("avx2")) return sum_avx2(p, n);
#endif
    return sum_plain(p, n);
}

}  // namespace

uint64_t read_words(const void* p, size_t bytes, int threads) {
    const uint64_t* w = static_cast<const uint64_t*>(p);
    const size_t n = bytes / sizeof(uint64_t);
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        const size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
        total += sum_range(w + n * id / nt, n * (id + 1) / nt - n * id / nt);
    }
    return total;
}

ReadBandwidth measure_read_bandwidth(int threads, size_t bytes, int reps) {
    const size_t n = bytes / sizeof(uint64_t);
    // Laid out as the packed weights are (2 MiB-aligned, huge pages where the kernel gives them), so the
    // probe measures the same kind of stream the decode kernels read.
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t cap = (std::max<size_t>(n * sizeof(uint64_t), 1) + kHuge - 1) / kHuge * kHuge;
    std::unique_ptr<uint64_t, void (*)(void*)> buf(static_cast<uint64_t*>(std::aligned_alloc(kHuge, cap)), std::free);
    if (!buf) throw std::bad_alloc();
    advise_huge_pages(buf.get(), cap);
    uint64_t* const w = buf.get();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) w[i] = i;  // every page touched, by the thread that will read it
    std::vector<double> rates;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const uint64_t total = read_words(w, n * 8, threads);  // the same split as the first touch
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + total;
        if (s > 0) rates.push_back(double(n * 8) / s);
    }
    if (rates.empty()) return {};
    std::sort(rates.begin(), rates.end());
    const size_t m = rates.size();
    return {rates.back(), m % 2 ? rates[m / 2] : 0.5 * (rates[m / 2 - 1] + rates[m / 2])};
}

}  // namespace bf
