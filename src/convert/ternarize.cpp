// Ternarization scale rules (per tensor / row / 256-block, absmean or MSE-optimal) and the TQ2_0 writer
// that gives every block its own scale.
#include "convert/ternarize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/quant.h"

namespace bf {

namespace {
constexpr int64_t kBlock = 256;  // TQ2_0 block width along the input
constexpr float kMinScale = 1e-8f;

void check_row_length(int64_t cols) {
    if (cols <= 0 || cols % kBlock != 0)
        fail(strfmt("ternarize: row length %lld is not a positive multiple of 256", (long long)cols));
}
}  // namespace

TernaryScales ternary_scales_from_name(const std::string& name) {
    for (TernaryScales m : {TernaryScales::Tensor, TernaryScales::Row, TernaryScales::Block, TernaryScales::RowMse,
                            TernaryScales::BlockMse, TernaryScales::Gptq})
        if (name == ternary_scales_name(m)) return m;
    fail("unknown --ternary-scales '" + name + "' (tensor | row | block | row-mse | block-mse | gptq)");
}

const char* ternary_scales_name(TernaryScales m) {
    switch (m) {
        case TernaryScales::Tensor: return "tensor";
        case TernaryScales::Row: return "row";
        case TernaryScales::Block: return "block";
        case TernaryScales::RowMse: return "row-mse";
        case TernaryScales::BlockMse: return "block-mse";
        case TernaryScales::Gptq: return "gptq";
    }
    return "?";
}

void check_ternary_scales(DType outtype, TernaryScales m) {
    if (m != TernaryScales::Tensor && outtype != DType::TQ2_0)
        fail(std::string("--ternary-scales ") + ternary_scales_name(m) + " needs type tq2_0 (per-block scales; " +
             dtype_name(outtype) + " holds one scale per tensor or is not ternary)");
}

float absmean_scale(const float* w, int64_t n) {
    const double s = sum_abs(w, n) / double(n);
    if (!std::isfinite(s)) fail("ternarize: non-finite weight");
    return std::max(float(s), kMinScale);
}

float mse_ternary_scale(const float* w, int64_t n) { return mse_ternary_scale(w, nullptr, n); }

float mse_ternary_scale(const float* w, const double* imp, int64_t n) {
    std::vector<std::pair<double, double>> a(static_cast<size_t>(n));  // (|w|, importance)
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(w[i])) fail("ternarize: non-finite weight");
        a[size_t(i)] = {std::fabs(double(w[i])), imp ? std::max(imp[i], 1e-12) : 1.0};
    }
    std::sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    // Error of the top-k support with its best scale: sum p w^2 - (sum_topk p|w|)^2 / sum_topk p; keep the
    // first best k.
    double num = 0, den = 0, best_gain = 0, best_s = 0;
    for (int64_t k = 0; k < n; ++k) {
        num += a[size_t(k)].second * a[size_t(k)].first;
        den += a[size_t(k)].second;
        const double gain = num * num / den;
        if (gain > best_gain) {
            best_gain = gain;
            best_s = num / den;
        }
    }
    return std::max(float(best_s), kMinScale);
}

void ternary_block_scales(const float* row, int64_t cols, TernaryScales mode, float* scales) {
    check_row_length(cols);
    const int64_t nb = cols / kBlock;
    switch (mode) {
        case TernaryScales::Row:
        case TernaryScales::RowMse: {
            const float s = mode == TernaryScales::Row ? absmean_scale(row, cols) : mse_ternary_scale(row, cols);
            std::fill(scales, scales + nb, s);
            return;
        }
        case TernaryScales::Block:
        case TernaryScales::BlockMse:
            for (int64_t b = 0; b < nb; ++b)
                scales[b] = mode == TernaryScales::Block ? absmean_scale(row + b * kBlock, kBlock)
                                                         : mse_ternary_scale(row + b * kBlock, kBlock);
            return;
        case TernaryScales::Tensor:
        case TernaryScales::Gptq: break;
    }
    fail(std::string("ternarize: ") + ternary_scales_name(mode) + " scales are not a per-block rule (internal)");
}

void quantize_rows_tq2_0(const float* w, int64_t rows, int64_t cols, TernaryScales mode, float gamma, uint8_t* out) {
    check_row_length(cols);
    const size_t block_bytes = row_nbytes(DType::TQ2_0, kBlock);
    std::vector<float> scales(size_t(cols / kBlock));
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = w + r * cols;
        if (mode == TernaryScales::Tensor)
            std::fill(scales.begin(), scales.end(), gamma);
        else
            ternary_block_scales(row, cols, mode, scales.data());
        // A TQ2_0 block is self-contained (its codes and its d), so each is written with its own scale.
        for (int64_t b = 0; b < cols / kBlock; ++b)
            quantize_row_tq2_0(row + b * kBlock, out + (size_t(r) * size_t(cols / kBlock) + size_t(b)) * block_bytes,
                               kBlock, scales[size_t(b)]);
    }
}

}  // namespace bf
