// The prefill walk of the x86 4-6-bit kernels: rows in groups unpacked once per call, each group run over
// every token chunk's tokens-in-lanes copy (a short last chunk, < 8 tokens and without a copy, goes to the
// row passes). The ISA-specific unpacking and tiles come in as functors. The tiles leave their sums in a
// group buffer that is written to y a token at a time: a tile's few rows × 64 tokens stored straight into
// y would write a few floats into each of 64 lines, each on its own page (y rows are 10 KB or more).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/compute.h"
#include "kernels/kernel_api.h"
#include "kernels/q8_lanes.h"

namespace bf::kernels {

// One group of unpacked rows in a worker's kKqGroup slot, each part 64-byte aligned: codes (group·k bytes
// and 64 bytes of slack), then per block (ng per row) the scales, the K-quant mins and the code
// corrections (AVX-512 only). Static: each per-ISA file keeps its own copy, built with its own flags.
struct KqGroupBuffers {
    uint8_t* codes;
    float* f;
    float* mn;
    int32_t* corr;
};
static inline KqGroupBuffers kq_group_buffers(KernelScratch& ws, int64_t group, int64_t k, int64_t ng) {
    const size_t cb = size_t(group * k + 64 + 63) / 64 * 64, fb = size_t(group * ng * 4 + 63) / 64 * 64;
    uint8_t* p = ws.bytes(KernelScratch::kKqGroup, cb + 3 * fb);
    return {p, reinterpret_cast<float*>(p + cb), reinterpret_cast<float*>(p + cb + fb),
            reinterpret_cast<int32_t*>(p + cb + 2 * fb)};
}

// ws: the calling worker's scratch. unpack(r, i): unpack row r into group slot i. rows(ra, rb, t0):
// tokens t0.. of rows [ra, rb) without lanes. lanes(c, ra, rb, part): chunk c (a copy of a with its
// xl/xdl/xml, n_tok and y) over rows [ra, rb), row ra + i's sum for token slot j into part[i·kQ8Slots + j].
template <class Unpack, class Rows, class Lanes>
inline void kq_lanes_groups(KernelScratch& ws, const MatArgs& a, int64_t r0, int64_t r1, int64_t group, Unpack&& unpack,
                            Rows&& rows, Lanes&& lanes) {
    const int64_t chunk = a.lane_chunk, k = a.cols;
    float* const part = reinterpret_cast<float*>(ws.bytes(KernelScratch::kKqPart, size_t(group * kQ8Slots) * 4));
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
            lanes(c, rg, re, part);
            lanes_to_y(part, re - rg, n, c.y + rg, c.y_stride);
        }
    }
}

}  // namespace bf::kernels
