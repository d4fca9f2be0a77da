#include "kernels/ops.h"

namespace bf {

void layer_norm(const float* x, const float* w, const float* b, float eps, int64_t n_rows, int64_t n, float* y) {
#pragma omp parallel for if (n_rows > 1 && n_rows * n > 65536)
    for (int64_t t = 0; t < n_rows; ++t) {
        const float* xr = x + t * n;
        float* yr = y + t * n;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; ++i) sum += xr[i];
        const double mean = sum / double(n);
        for (int64_t i = 0; i < n; ++i) {
            const double d = xr[i] - mean;
            sq += d * d;
        }
        const float inv = float(1.0 / std::sqrt(sq / double(n) + eps));
        const float fm = float(mean);
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - fm) * inv * w[i] + b[i];
    }
}

void silu_mul(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride, int64_t n_rows, int64_t n,
              float* out) {
#pragma omp parallel for if (n_rows * n > 65536)
    for (int64_t t = 0; t < n_rows; ++t)
        for (int64_t i = 0; i < n; ++i) out[t * n + i] = silu(gate[t * gate_stride + i]) * up[t * up_stride + i];
}

void add_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* bias, int64_t n_rows,
              int64_t n) {
    for (int64_t t = 0; t < n_rows; ++t) {
        float* yr = y + t * y_stride;
        const float* xr = x + t * x_stride;
        if (bias)
            for (int64_t i = 0; i < n; ++i) yr[i] += xr[i] + bias[i];
        else
            for (int64_t i = 0; i < n; ++i) yr[i] += xr[i];
    }
}

void add_bias(float* x, int64_t x_stride, const float* bias, int64_t n_rows, int64_t n) {
    for (int64_t t = 0; t < n_rows; ++t)
        for (int64_t i = 0; i < n; ++i) x[t * x_stride + i] += bias[i];
}

}  // namespace bf
