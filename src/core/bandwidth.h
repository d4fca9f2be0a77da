// A STREAM-like probe of memory read bandwidth, so benchmarks can say what share of the machine's
// bandwidth a decode step uses.
#pragma once
#include <cstddef>

namespace bf {

// Best of `reps` passes summing a `bytes`-sized buffer with `threads` OpenMP threads, in bytes/s.
double measure_read_bandwidth(int threads, size_t bytes = size_t(1) << 31, int reps = 10);

}  // namespace bf
