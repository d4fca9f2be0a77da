// Walks a row range × token range in tiles of R rows × T tokens, with 1-wide edges; the tile functor
// holds the ISA-specific arithmetic. Included by each SIMD target file (compiled with its own flags).
#pragma once
#include <cstdint>

namespace bf::kernels {

template <int R, int T, class Tile>
inline void drive(int64_t r0, int64_t r1, int64_t n_tok, Tile&& tile) {
    if (n_tok == 1) {  // decode: one row at a time keeps the weight stream sequential for the prefetchers
        for (int64_t r = r0; r < r1; ++r) tile.template operator()<1, 1>(r, 0);
        return;
    }
    int64_t r = r0;
    for (; r + R <= r1; r += R) {
        int64_t t = 0;
        for (; t + T <= n_tok; t += T) tile.template operator()<R, T>(r, t);
        for (; t < n_tok; ++t) tile.template operator()<R, 1>(r, t);
    }
    for (; r < r1; ++r) {
        int64_t t = 0;
        for (; t + T <= n_tok; t += T) tile.template operator()<1, T>(r, t);
        for (; t < n_tok; ++t) tile.template operator()<1, 1>(r, t);
    }
}

// Calls f.template operator()<N>() for the run-time count n in [1, 4] (a tile width fixed at compile time).
template <class F>
inline void with_width(int64_t n, F&& f) {
    if (n == 1)
        f.template operator()<1>();
    else if (n == 2)
        f.template operator()<2>();
    else if (n == 3)
        f.template operator()<3>();
    else
        f.template operator()<4>();
}

}  // namespace bf::kernels
