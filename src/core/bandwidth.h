// A STREAM-like probe of memory read bandwidth, so benchmarks can say what share of the machine's
// bandwidth a decode step uses.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bf {

// `reps` passes summing a `bytes`-sized buffer with `threads` OpenMP threads, in bytes/s: the best pass
// (what STREAM reports) and the median (on a shared machine the two can differ a lot).
struct ReadBandwidth {
    double best = 0, median = 0;
};
ReadBandwidth measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 31, int reps = 10);

// Sum of the 64-bit words of [p, p + bytes) read by `threads` OpenMP threads (each a contiguous share):
// a plain read of existing data, to compare a kernel's streaming rate with the same bytes read bare.
// p must be 8-byte aligned; a last partial word (bytes % 8) is not read.
uint64_t read_words(const void* p, size_t bytes, int threads);

}  // namespace bf
