// The prefill walk of the x86 4-6-bit kernels: rows in groups unpacked once per call, each group run over
// every token chunk's tokens-in-lanes copy (a short last chunk, < 8 tokens and without a copy, goes to the
// row passes). The ISA-specific unpacking and tiles come in as functors. The tiles leave their sums in a
// group buffer that is written to y a token at a time: a tile's few rows × 64 tokens stored straight into
// y would write a few floats into each of 64 lines, each on its own page (y rows are 10 KB or more).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/kernel_api.h"
#include "kernels/q8_lanes.h"

namespace bf::kernels {

// unpack(r, i): unpack row r into group slot i. rows(ra, rb, t0): tokens t0.. of rows [ra, rb) without
// lanes. lanes(c, ra, rb, part): chunk c (a copy of a with its xl/xdl/xml, n_tok and y) over rows
// [ra, rb), row ra + i's sum for token slot j into part[i·kQ8Slots + j].
template <class Unpack, class Rows, class Lanes>
inline void kq_lanes_groups(const MatArgs& a, int64_t r0, int64_t r1, int64_t group, Unpack&& unpack, Rows&& rows,
                            Lanes&& lanes) {
    const int64_t chunk = a.lane_chunk, k = a.cols;
    static thread_local std::vector<float> part;
    part.resize(size_t(group * kQ8Slots));
    for (int64_t rg = r0; rg < r1; rg += group) {
        const int64_t re = std::min(r1, rg + group);
        for (int64_t r = rg; r < re; ++r) unpack(r, r - rg);
        for (int64_t t0 = 0; t0 < a.n_tok; t0 += chunk) {
            const int64_t n = std::min(chunk, a.n_tok - t0);
            if (n < 8) {
                rows(rg, re, t0);
                continue;
            }
            MatArgs c = a;
            const int64_t ch = t0 / chunk;
            c.xl = a.xl + ch * q8_lanes_words(k);
            c.xdl = a.xdl + ch * q8_lanes_scales(k);
            if (a.xml) c.xml = a.xml + ch * q8_lanes_scales(k);
            c.n_tok = n;
            c.y = a.y + t0 * a.y_stride;
            lanes(c, rg, re, part.data());
            lanes_to_y(part.data(), re - rg, n, c.y + rg, c.y_stride);
        }
    }
}

}  // namespace bf::kernels
