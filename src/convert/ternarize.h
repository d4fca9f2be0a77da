// Post-training ternarization rules of the converter (`--ternary-scales`): which scale each 256-weight
// TQ2_0 block gets. Measured on the f32 twin in docs/ACCURACY.md (tools/ptq/ternarize.py mirrors them).
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace bf {

enum class TernaryScales {
    Tensor,    // BitNet b1.58: gamma = mean|W| over the tensor (the only rule I2_S can hold)
    Row,       // mean|w| per row
    Block,     // mean|w| per 256-block
    RowMse,    // per row, the scale (and support) minimising sum (w - s t)^2
    BlockMse,  // the same per 256-block
    Gptq,      // GPTQ on calibration activations, one scale per row (convert/gptq.h; needs --calib)
};

TernaryScales ternary_scales_from_name(const std::string& name);  // fails on an unknown name
const char* ternary_scales_name(TernaryScales m);
// Fails unless the rule can be stored: anything but Tensor needs TQ2_0 (I2_S has one scale per tensor).
void check_ternary_scales(DType outtype, TernaryScales m);

// mean|w| of n values (double sum), at least 1e-8.
float absmean_scale(const float* w, int64_t n);
// argmin over s > 0 and t in {-1,0,1}^n of sum (w - s t)^2, as s (at least 1e-8). Given s the best t
// is sign(w)[|w| > s/2], so the support is the k largest |w| for some k, whose best s is their mean;
// every k is tried (sorted, cumulative sums in double). Throws on non-finite input.
float mse_ternary_scale(const float* w, int64_t n);
// The same under sum imp_i (w_i - s t_i)^2 (imp_i clamped to >= 1e-12; null = all 1).
float mse_ternary_scale(const float* w, const double* imp, int64_t n);

// Scales of the cols/256 blocks of one row under a per-row or per-block rule (not Tensor, not Gptq).
void ternary_block_scales(const float* row, int64_t cols, TernaryScales mode, float* scales);

// n rows of TQ2_0 (cols % 256 == 0): codes clip(rint(w / s), -1, 1) and d = f16(s), s = gamma for
// Tensor, else from ternary_block_scales. Gptq rows are written by convert/gptq.h instead.
void quantize_rows_tq2_0(const float* w, int64_t rows, int64_t cols, TernaryScales mode, float gamma, uint8_t* out);

}  // namespace bf
