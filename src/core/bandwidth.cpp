#include "core/bandwidth.h"

#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace bf {

double measure_read_bandwidth(int threads, size_t bytes, int reps) {
    const size_t n = bytes / sizeof(uint64_t);
    std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page, first-touch by the reading thread
    double best = 0;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t blk = 0; blk < n / 8; ++blk) {
            const uint64_t* p = buf.get() + blk * 8;  // eight independent loads per iteration
            total += (p[0] + p[1]) + (p[2] + p[3]) + (p[4] + p[5]) + (p[6] + p[7]);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + total;
        if (s > 0 && double(n / 8 * 64) / s > best) best = double(n / 8 * 64) / s;
    }
    return best;
}

}  // namespace bf
