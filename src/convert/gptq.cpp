// GPTQ with a ternary grid: damping, the inverse Hessian's Cholesky factor, column-by-column rounding with
// error feedback, and the per-row scale refitted by least squares under H (tools/ptq/ternarize.py gptq()).
#include "convert/gptq.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "convert/ternarize.h"
#include "core/error.h"
#include "core/fp16.h"
#include "kernels/compute.h"
#include "kernels/linalg.h"
#include "kernels/quant.h"

namespace bf {

namespace {

constexpr int64_t kBlock = 256;
constexpr double kMinScale = 1e-8;

// H as GPTQ uses it: a never-active input (zero diagonal) gets 1 there, then every diagonal entry gets
// damp · mean(diagonal) more, so that H is safely positive definite. Only the diagonal differs from H.
std::vector<double> damped_diagonal(const double* h, int64_t n, double damp) {
    std::vector<double> d(static_cast<size_t>(n));
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) {
        d[size_t(i)] = h[i * n + i] == 0 ? 1.0 : h[i * n + i];
        mean += d[size_t(i)];
    }
    mean /= double(n);
    for (double& v : d) v += damp * mean;
    return d;
}

// (H_damped t)_j for a ternary row t: the off-diagonal part is H's.
void damped_product(const double* h, const std::vector<double>& diag, const std::vector<double>& t, int64_t n,
                    double* out) {
    std::fill(out, out + n, 0.0);
    for (int64_t c = 0; c < n; ++c) {
        if (t[size_t(c)] == 0) continue;
        const double* hc = h + c * n;
        const double tc = t[size_t(c)];
        for (int64_t j = 0; j < n; ++j) out[j] += tc * hc[j];
        out[c] += tc * (diag[size_t(c)] - hc[c]);
    }
}

// One row: `rounds` passes of rounding with error feedback, each followed by the scale's refit. Leaves
// the codes in t and returns the scale.
double gptq_row(const float* w, int64_t n, const double* h, const std::vector<double>& diag, const double* u, double s,
                int rounds, std::vector<double>& t) {
    std::vector<double> r(static_cast<size_t>(n)), th(static_cast<size_t>(n));
    for (int round = 0; round < rounds; ++round) {
        for (int64_t c = 0; c < n; ++c) r[size_t(c)] = double(w[c]);
        for (int64_t c = 0; c < n; ++c) {
            // torch.round is round-half-to-even, as nearbyint in the default rounding mode.
            const double q = std::clamp(std::nearbyint(r[size_t(c)] / s), -1.0, 1.0);
            t[size_t(c)] = q;
            const double* uc = u + c * n;
            const double err = (r[size_t(c)] - s * q) / uc[c];
            for (int64_t j = c + 1; j < n; ++j) r[size_t(j)] -= err * uc[j];
        }
        damped_product(h, diag, t, n, th.data());
        double num = 0, den = 0;
        for (int64_t j = 0; j < n; ++j) {
            num += double(w[j]) * th[size_t(j)];
            den += t[size_t(j)] * th[size_t(j)];
        }
        if (den > 0) s = num / std::max(den, 1e-30);
        s = std::max(s, kMinScale);
    }
    return s;
}

// d^T H d for one row of d.
double quadratic_form(const double* h, const std::vector<double>& d, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (d[size_t(i)] == 0) continue;
        double hi = 0;
        for (int64_t j = 0; j < n; ++j) hi += h[i * n + j] * d[size_t(j)];
        e += d[size_t(i)] * hi;
    }
    return e;
}

}  // namespace

double gptq_ternarize_tq2_0(const float* w, int64_t rows, int64_t cols, const double* h, uint8_t* out,
                            const GptqOptions& opt) {
    if (cols <= 0 || cols % kBlock != 0)
        fail(strfmt("gptq: row length %lld is not a positive multiple of 256", (long long)cols));
    if (opt.rounds < 1 || !(opt.damp > 0)) fail("gptq: rounds must be >= 1 and damping > 0");
    for (int64_t i = 0; i < cols * cols; ++i)
        if (!std::isfinite(h[i])) fail("gptq: the calibration Hessian has non-finite entries");
    for (int64_t i = 0; i < rows * cols; ++i)
        if (!std::isfinite(w[i])) fail(strfmt("gptq: non-finite weight in row %lld", (long long)(i / cols)));
    const std::vector<double> diag = damped_diagonal(h, cols, opt.damp);
    std::vector<double> u(h, h + cols * cols);
    for (int64_t i = 0; i < cols; ++i) u[size_t(i * cols + i)] = diag[size_t(i)];
    if (!upper_cholesky_of_inverse(u.data(), cols))
        fail("gptq: the damped calibration Hessian is not positive definite");
    std::vector<double> importance(static_cast<size_t>(cols));  // the starting scale is the imatrix-weighted MSE fit
    for (int64_t i = 0; i < cols; ++i) importance[size_t(i)] = h[i * cols + i];

    const size_t row_bytes = row_nbytes(DType::TQ2_0, cols);
    std::vector<double> err_num(static_cast<size_t>(rows)), err_den(static_cast<size_t>(rows));
    parallel_for(rows, 1, [&](int64_t r0, int64_t r1, int) {
        std::vector<double> t(static_cast<size_t>(cols)), d(static_cast<size_t>(cols));
        std::vector<float> q(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
            const float* wr = w + r * cols;
            double s0 = 0;  // (weights are finite: the scale search cannot throw in the pool)
            for (int64_t b = 0; b < cols / kBlock; ++b)
                s0 += double(mse_ternary_scale(wr + b * kBlock, importance.data() + b * kBlock, kBlock));
            const double s = gptq_row(wr, cols, h, diag, u.data(), s0 / double(cols / kBlock), opt.rounds, t);
            const float sf = float(s);
            for (int64_t c = 0; c < cols; ++c) q[size_t(c)] = float(t[size_t(c)]) * sf;
            quantize_row_tq2_0(q.data(), out + size_t(r) * row_bytes, cols, sf);  // codes t, d = f16(s)
            const double stored = double(f16_to_f32(f32_to_f16(sf)));
            for (int64_t c = 0; c < cols; ++c) d[size_t(c)] = double(wr[c]) - t[size_t(c)] * stored;
            err_num[size_t(r)] = quadratic_form(h, d, cols);
            for (int64_t c = 0; c < cols; ++c) d[size_t(c)] = double(wr[c]);
            err_den[size_t(r)] = quadratic_form(h, d, cols);
        }
    });
    double num = 0, den = 0;
    for (int64_t r = 0; r < rows; ++r) num += err_num[size_t(r)], den += err_den[size_t(r)];
    return den > 0 ? num / den : 0.0;
}

}  // namespace bf
