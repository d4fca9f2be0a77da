// GPTQ (Frantar et al. 2022) on the ternary grid {-s, 0, +s} with one scale per row, stored as TQ2_0:
// the calibrated rule of `--ternary-scales gptq`, the same algorithm as tools/ptq/ternarize.py's gptq().
#pragma once
#include <cstdint>

namespace bf {

struct GptqOptions {
    int rounds = 2;      // quantization passes; the row scales are refitted under H after each
    double damp = 0.01;  // added to H's diagonal, times its mean
};

// Ternarizes w [rows, cols] (cols % 256 == 0) given h = X^T X [cols, cols] of the matrix's calibration
// inputs, and writes `rows` TQ2_0 rows to out (every block of a row holds the row's scale). Columns are
// quantized in order, each one's rounding error spread over the later columns through the upper Cholesky
// factor of (H + damping)^-1. Returns the proxy error tr(D H D^T) / tr(W H W^T), D = W - Q (0 when the
// inputs never reached the matrix). Throws bf::Error for non-finite weights or an unusable H.
double gptq_ternarize_tq2_0(const float* w, int64_t rows, int64_t cols, const double* h, uint8_t* out,
                            const GptqOptions& opt = {});

}  // namespace bf
