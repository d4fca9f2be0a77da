// The "tokens in lanes" layout of Q8_0 activations used by the x86 prefill kernels: for one call's tokens
// (at most kQ8Slots), xs[(b·8 + c)·kQ8Slots + j] holds bytes 4c..4c+3 of block b of token j (XORed with
// `flip`: 0x80808080 makes them x + 128, unsigned), ds[b·kQ8Slots + j] its block scale. Unused slots hold
// x = 0 and scale 0. A vector load at xs[(b·8 + c)·kQ8Slots + j0] is then chunk c of tokens j0, j0 + 1, …
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_api.h"

namespace bf::kernels {

constexpr int64_t kQ8Slots = 64;

// Fills xs and ds (resized here) from a.x / a.xd for a.n_tok <= kQ8Slots tokens (the callers send more to
// their tile kernels).
inline void q8_tokens_in_lanes(const MatArgs& a, uint32_t flip, std::vector<uint32_t>& xs, std::vector<float>& ds) {
    const int64_t k = a.cols, nb = k / 32;
    BF_CHECK(a.n_tok <= kQ8Slots);
    xs.assign(size_t(nb * 8 * kQ8Slots), flip);  // x = 0 in the unused slots
    ds.assign(size_t(nb * kQ8Slots), 0.0f);
    const auto* x = static_cast<const int8_t*>(a.x);
    for (int64_t j = 0; j < a.n_tok; ++j)
        for (int64_t b = 0; b < nb; ++b) {
            for (int c = 0; c < 8; ++c) {
                uint32_t v;
                std::memcpy(&v, x + j * k + b * 32 + 4 * c, 4);
                xs[size_t((b * 8 + c) * kQ8Slots + j)] = v ^ flip;
            }
            ds[size_t(b * kQ8Slots + j)] = a.xd[j * nb + b];
        }
}

}  // namespace bf::kernels
