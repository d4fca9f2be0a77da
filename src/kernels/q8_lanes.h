// The "tokens in lanes" layout of Q8_0 activations used by the x86 prefill kernels: for one chunk of
// tokens (at most kQ8Slots), xs[(b·8 + c)·kQ8Slots + j] holds bytes 4c..4c+3 of block b of token j
// (XORed with `flip`: 0x80808080 makes them x + 128, unsigned), ds[b·kQ8Slots + j] its block scale.
// Unused slots hold x = 0 and scale 0. A vector load at xs[(b·8 + c)·kQ8Slots + j0] is then chunk c of
// tokens j0, j0 + 1, … matmul.cpp makes one copy per token chunk, shared by every row range's call.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace bf::kernels {

constexpr int64_t kQ8Slots = 64;

inline int64_t q8_lanes_words(int64_t cols) { return cols / 32 * 8 * kQ8Slots; }  // xs size per chunk
inline int64_t q8_lanes_scales(int64_t cols) { return cols / 32 * kQ8Slots; }     // ds size per chunk

// Fills xs and ds from n_tok <= kQ8Slots tokens of int8 codes x [n_tok][cols] and block scales xd.
inline void q8_tokens_in_lanes(const int8_t* x, const float* xd, int64_t n_tok, int64_t cols, uint32_t flip,
                               uint32_t* xs, float* ds) {
    BF_CHECK(n_tok <= kQ8Slots);
    const int64_t nb = cols / 32;
    for (int64_t i = 0; i < q8_lanes_words(cols); ++i) xs[i] = flip;  // x = 0 in the unused slots
    for (int64_t i = 0; i < q8_lanes_scales(cols); ++i) ds[i] = 0.0f;
    for (int64_t j = 0; j < n_tok; ++j)
        for (int64_t b = 0; b < nb; ++b) {
            for (int c = 0; c < 8; ++c) {
                uint32_t v;
                std::memcpy(&v, x + j * cols + b * 32 + 4 * c, 4);
                xs[(b * 8 + c) * kQ8Slots + j] = v ^ flip;
            }
            ds[b * kQ8Slots + j] = xd[j * nb + b];
        }
}

// Writes the sums part[i·kQ8Slots + j] of rows i < n_rows, token slots j < n_tok, to y[j·y_stride + i],
// a token at a time: y rows are 10 KB or more apart, so a row tile's few floats stored straight into each
// of 64 tokens' lines would touch 64 lines (and pages) per tile instead of one line per token and group.
inline void lanes_to_y(const float* part, int64_t n_rows, int64_t n_tok, float* y, int64_t y_stride) {
    for (int64_t j = 0; j < n_tok; ++j)
        for (int64_t i = 0; i < n_rows; ++i) y[j * y_stride + i] = part[i * kQ8Slots + j];
}

// The K-quant min terms of the same chunk: ms[b·kQ8Slots + j] = xd[j][b] · Σ codes of block b of token j
// (from the sums of 16, xsum16[j][cols/16]); 0 in the unused slots.
inline void kq_min_lanes(const float* xd, const int32_t* xsum16, int64_t n_tok, int64_t cols, float* ms) {
    BF_CHECK(n_tok <= kQ8Slots);
    const int64_t nb = cols / 32;
    for (int64_t i = 0; i < q8_lanes_scales(cols); ++i) ms[i] = 0.0f;
    for (int64_t j = 0; j < n_tok; ++j)
        for (int64_t b = 0; b < nb; ++b)
            ms[b * kQ8Slots + j] =
                xd[j * nb + b] * float(xsum16[j * (cols / 16) + 2 * b] + xsum16[j * (cols / 16) + 2 * b + 1]);
}

}  // namespace bf::kernels
