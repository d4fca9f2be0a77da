// Peak rate of vpdpbusd (u8 × s8 multiply-add, the ternary and Q8_0 prefill kernels' inner op) on this
// CPU: independent accumulator chains of 512- and 256-bit vpdpbusd, optionally with one 64-byte L1 load
// per 4 of them (the shape of the ternary prefill tile), on 1..N threads at once. The ceiling the matmul
// kernels can reach: GMAC/s = vpdpbusd per second × 64 (zmm) or 32 (ymm) multiply-adds.
// Also the rates of the shuffles and adds a lookup-table kernel would need instead.
// Usage: vnni_peak [--threads 1,2] [--seconds 1]
// GCC 12 warns spuriously about the _mm512_undefined_* idiom inside its own headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "list_arg.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace {

// Hides each accumulator from the optimizer (identical chains would otherwise be merged into one).
#define BF_OPAQUE(acc) _Pragma("GCC unroll 12") for (int j_ = 0; j_ < 12; ++j_) __asm__ volatile("" : "+v"(acc[j_]))

constexpr int64_t kIters = 1 << 15;  // loop trips per timed call (~0.1 ms: best-of finds unshared time slices)

// Fully unrolled (else GCC keeps the accumulators in memory). 12 independent chains (latency 4-5 cycles × up to 2 per
// cycle needs >= 10 in flight).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t zmm_chains(const uint8_t* l1, bool loads) {
    __m512i acc[12];
    _Pragma("GCC unroll 12") for (auto& v : acc) v = _mm512_setzero_si512();
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
    for (int64_t i = 0; i < kIters; ++i) {
        if (loads) {  // 3 loads per 12 ops, from a 4 KB L1-resident buffer
            const uint8_t* p = l1 + (i & 15) * 192;
            a = _mm512_loadu_si512(p);
            b = _mm512_loadu_si512(p + 64);
            const __m512i c = _mm512_loadu_si512(p + 128);
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] =
                _mm512_dpbusd_epi32(acc[j], j % 3 == 2 ? c : a, b);
        } else {
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
        }
        BF_OPAQUE(acc);
        __asm__ volatile("" : "+v"(a), "+v"(b));  // keep the operands opaque to the compiler
    }
    __m512i s = acc[0];
    _Pragma("GCC unroll 12") for (int j = 1; j < 12; ++j) s = _mm512_add_epi32(s, acc[j]);
    return _mm512_reduce_add_epi32(s);
}

// The other ops a lookup-table kernel (T-MAC / TL2 style) would spend per lookup: byte shuffles from one
// and two table registers, and 16-bit adds to accumulate the looked-up sums.
#define BF_CHAINS(name, isa, vec, zero, expr)                                                  \
    __attribute__((target(isa))) int64_t name(const uint8_t*, bool) {                          \
        vec acc[12];                                                                           \
        _Pragma("GCC unroll 12") for (auto& v : acc) v = zero;                                 \
        vec a = zero, b = zero;                                                                \
        for (int64_t i = 0; i < kIters; ++i) {                                                 \
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] = expr;               \
            BF_OPAQUE(acc);                                                                    \
            __asm__ volatile("" : "+v"(a), "+v"(b));                                           \
        }                                                                                      \
        vec s = acc[0];                                                                        \
        _Pragma("GCC unroll 12") for (int j = 1; j < 12; ++j) s = _mm512_xor_si512(s, acc[j]); \
        return _mm512_reduce_add_epi32(s);                                                     \
    }
BF_CHAINS(vpshufb_chains, "avx512f,avx512bw", __m512i, _mm512_setzero_si512(), _mm512_shuffle_epi8(acc[j], a))
BF_CHAINS(vpermb_chains, "avx512f,avx512bw,avx512vbmi", __m512i, _mm512_setzero_si512(),
          _mm512_permutexvar_epi8(acc[j], a))
BF_CHAINS(vpermi2b_chains, "avx512f,avx512bw,avx512vbmi", __m512i, _mm512_setzero_si512(),
          _mm512_permutex2var_epi8(a, acc[j], b))
BF_CHAINS(vpaddw_chains, "avx512f,avx512bw", __m512i, _mm512_setzero_si512(), _mm512_add_epi16(acc[j], a))

__attribute__((target("avx2,avxvnni"))) int64_t ymm_chains(const uint8_t*, bool) {
    __m256i acc[12];
    _Pragma("GCC unroll 12") for (auto& v : acc) v = _mm256_setzero_si256();
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-5);
    for (int64_t i = 0; i < kIters; ++i) {
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; ++j) acc[j] = _mm256_dpbusd_avx_epi32(acc[j], a, b);
        BF_OPAQUE(acc);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m256i s = acc[0];
    _Pragma("GCC unroll 12") for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, acc[j]);
    alignas(32) int32_t o[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(o), s);
    return o[0];
}

// Runs fn on `threads` threads for about `seconds`; returns vpdpbusd per second summed over the threads.
template <class Fn>
double rate(Fn fn, bool loads, int threads, double seconds) {
    std::vector<double> ops(size_t(threads), 0.0);
    std::vector<std::thread> pool;
    volatile int64_t sink = 0;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            alignas(64) static thread_local uint8_t buf[4096];
            for (int i = 0; i < 4096; ++i) buf[i] = uint8_t(i * 7);
            const auto t0 = std::chrono::steady_clock::now();
            double best = 0;
            for (;;) {
                const auto c0 = std::chrono::steady_clock::now();
                sink = sink + fn(buf, loads);
                const auto c1 = std::chrono::steady_clock::now();
                const double r = 12.0 * double(kIters) / std::chrono::duration<double>(c1 - c0).count();
                best = r > best ? r : best;
                if (std::chrono::duration<double>(c1 - t0).count() > seconds) break;
            }
            ops[size_t(t)] = best;
        });
    for (auto& th : pool) th.join();
    double sum = 0;
    for (double v : ops) sum += v;
    return sum;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string threads = "1,2";
    double seconds = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--threads")
            threads = argv[i + 1];
        else if (k == "--seconds")
            seconds = std::stod(argv[i + 1]);
        else {
            std::fprintf(stderr, "vnni_peak: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!__builtin_cpu_supports("avx512vnni")) {
        std::fprintf(stderr, "vnni_peak: this CPU has no AVX-512 VNNI\n");
        return 1;
    }
    std::vector<int> counts;
    for (const auto& ts : split_list(threads)) {
        const int n =
            ts.find_first_not_of("0123456789") == std::string::npos && ts.size() <= 3 ? std::atoi(ts.c_str()) : 0;
        if (n < 1 || n > 256) {
            std::fprintf(stderr, "vnni_peak: bad thread count '%s' (1 to 256)\n", ts.c_str());
            return 2;
        }
        counts.push_back(n);
    }
    if (!(seconds > 0 && seconds <= 60)) {
        std::fprintf(stderr, "vnni_peak: --seconds must be in (0, 60]\n");
        return 2;
    }
    std::printf("%-22s %3s %12s %9s\n", "op", "thr", "Gop/s", "GMAC/s");
    for (const int n : counts) {
        const double z = rate(zmm_chains, false, n, seconds), zl = rate(zmm_chains, true, n, seconds);
        std::printf("%-22s %3d %12.2f %9.1f\n", "vpdpbusd zmm", n, z * 1e-9, 64 * z * 1e-9);
        std::printf("%-22s %3d %12.2f %9.1f\n", "vpdpbusd zmm + loads", n, zl * 1e-9, 64 * zl * 1e-9);
        const double sh = rate(vpshufb_chains, false, n, seconds), ad = rate(vpaddw_chains, false, n, seconds);
        std::printf("%-22s %3d %12.2f\n", "vpshufb zmm", n, sh * 1e-9);
        std::printf("%-22s %3d %12.2f\n", "vpaddw zmm", n, ad * 1e-9);
        if (__builtin_cpu_supports("avx512vbmi")) {
            const double pb = rate(vpermb_chains, false, n, seconds), p2 = rate(vpermi2b_chains, false, n, seconds);
            std::printf("%-22s %3d %12.2f\n", "vpermb zmm", n, pb * 1e-9);
            std::printf("%-22s %3d %12.2f\n", "vpermi2b zmm", n, p2 * 1e-9);
        }
        if (__builtin_cpu_supports("avxvnni")) {
            const double y = rate(ymm_chains, false, n, seconds);
            std::printf("%-22s %3d %12.2f %9.1f\n", "vpdpbusd ymm (avxvnni)", n, y * 1e-9, 32 * y * 1e-9);
        }
    }
    return 0;
} catch (const std::exception& e) {  // std::stod
    std::fprintf(stderr, "vnni_peak: --seconds is not a number (%s)\n", e.what());
    return 2;
}

#else
int main() {
    std::fprintf(stderr, "vnni_peak: x86-64 only\n");
    return 1;
}
#endif
