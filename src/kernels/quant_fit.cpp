// Weighted least-squares scale searches shared by the Q4_0 / K-quant quantizers (quant_fit.h).
#include "kernels/quant_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace bf::qfit {

namespace {

constexpr int kMaxBlock = 64;  // the largest block searched (Q4_0: 32, K-quant sub-blocks: 16/32, scales: 16)
constexpr int kRefineSteps = 3;

// Rounds to nearest (ties to even) and clamps in floating point, so huge or tiny steps never convert an
// out-of-range double to int.
inline int round_clamp(double v, int lo, int hi) {
    const double r = std::nearbyint(v);
    return r < lo ? lo : r > hi ? hi : int(r);
}

}  // namespace

float fit_symmetric(const float* x, const float* w, int n, int nmax, int* l) {
    BF_CHECK(n > 0 && n <= kMaxBlock);
    float xmax = 0;  // the signed value of largest magnitude
    for (int i = 0; i < n; ++i)
        if (std::fabs(x[i]) > std::fabs(xmax)) xmax = x[i];
    if (xmax == 0) {
        std::fill(l, l + n, 0);
        return 0;
    }
    // Each candidate step rounds x to codes, then the least-squares scale for those codes is
    // Σwxl/Σwl², which lowers the weighted error by (Σwxl)²/Σwl²: keep the candidate that lowers it most.
    double best_gain = -1, best_s = 0;
    int q[kMaxBlock];
    auto try_inverse_step = [&](double inv) {
        double sxl = 0, sll = 0;
        for (int i = 0; i < n; ++i) {
            q[i] = round_clamp(inv * double(x[i]), -nmax, nmax - 1);
            sxl += double(w[i]) * double(x[i]) * q[i];
            sll += double(w[i]) * q[i] * q[i];
        }
        const double gain = sll > 0 ? sxl * sxl / sll : 0;
        if (gain > best_gain) {
            best_gain = gain;
            best_s = sll > 0 ? sxl / sll : -double(xmax) / nmax;
            std::copy(q, q + n, l);
        }
    };
    try_inverse_step(-double(nmax) / xmax);  // the plain choice: the extreme value on code −nmax
    for (int is = -9; is <= 9; ++is) try_inverse_step(-(nmax + 0.1 * is) / xmax);
    try_inverse_step(double(nmax - 1) / xmax);                  // the other polarity: the extreme value on nmax−1
    for (int it = 0; it < kRefineSteps && best_s != 0; ++it) {  // re-round with the fitted step
        const double before = best_gain;
        try_inverse_step(1.0 / best_s);
        if (!(best_gain > before)) break;
    }
    return float(best_s);
}

float fit_affine(const float* x, const float* w, int n, int nmax, float rmin, float rdelta, int nstep, int* l,
                 float* m) {
    BF_CHECK(n > 0 && n <= kMaxBlock);
    double lo = x[0], hi = x[0], sw = 0, sx = 0;
    for (int i = 0; i < n; ++i) {
        lo = std::min(lo, double(x[i]));
        hi = std::max(hi, double(x[i]));
        sw += w[i];
        sx += double(w[i]) * x[i];
    }
    if (lo > 0) lo = 0;  // the offset is stored as a non-negative min subtracted from s·l
    if (hi == lo) {      // constant block <= 0: the min alone holds it
        std::fill(l, l + n, 0);
        *m = float(-lo);
        return 0;
    }
    double best_err = std::numeric_limits<double>::infinity(), best_s = 0, best_b = 0;
    int q[kMaxBlock];
    auto error_of = [&](double s, double b) {
        double e = 0;
        for (int i = 0; i < n; ++i) {
            const double d = s * q[i] + b - x[i];
            e += double(w[i]) * d * d;
        }
        return e;
    };
    auto keep_if_better = [&](double s, double b) {
        const double e = error_of(s, b);
        if (e < best_err) {
            best_err = e;
            best_s = s;
            best_b = b;
            std::copy(q, q + n, l);
        }
    };
    // Codes from rounding inv·(x − b0); then the weighted least-squares (s, b) for those codes, b <= 0.
    auto try_inverse_step = [&](double inv, double b0) {
        double sl = 0, sll = 0, sxl = 0;
        for (int i = 0; i < n; ++i) {
            q[i] = round_clamp(inv * (double(x[i]) - b0), 0, nmax);
            sl += double(w[i]) * q[i];
            sll += double(w[i]) * q[i] * q[i];
            sxl += double(w[i]) * q[i] * x[i];
        }
        const double det = sw * sll - sl * sl;
        double s, b;
        if (det > 0) {
            s = (sw * sxl - sx * sl) / det;
            b = (sll * sx - sl * sxl) / det;
            if (b > 0) b = 0, s = sxl / sll;
        } else if (sll > 0) {  // every weighted code equal: a scale alone
            s = sxl / sll, b = 0;
        } else {
            s = 0, b = std::min(0.0, sw > 0 ? sx / sw : 0.0);
        }
        if (s >= 0) keep_if_better(s, b);
    };
    {  // the plain min/max mapping, kept as it is
        const double inv = nmax / (hi - lo);
        for (int i = 0; i < n; ++i) q[i] = round_clamp(inv * (double(x[i]) - lo), 0, nmax);
        keep_if_better((hi - lo) / nmax, lo);
    }
    for (int is = 0; is <= nstep; ++is) try_inverse_step((nmax + rmin + rdelta * is) / (hi - lo), lo);
    for (int it = 0; it < kRefineSteps && best_s > 0; ++it) {
        const double before = best_err;
        try_inverse_step(1.0 / best_s, best_b);
        if (!(best_err < before)) break;
    }
    *m = float(-best_b);
    return float(best_s);
}

float fit_positive(const float* v, const float* w, int n, int nmax, int* k) {
    BF_CHECK(n > 0 && n <= kMaxBlock);
    float vmax = 0;
    for (int i = 0; i < n; ++i) vmax = std::max(vmax, v[i]);
    if (!(vmax > 0)) {
        std::fill(k, k + n, 0);
        return 0;
    }
    double best_err = std::numeric_limits<double>::infinity(), best_d = 0;
    int q[kMaxBlock];
    auto try_inverse_step = [&](double inv) {
        double sqv = 0, sqq = 0;
        for (int i = 0; i < n; ++i) {
            q[i] = round_clamp(inv * v[i], 0, nmax);
            sqv += double(w[i]) * q[i] * v[i];
            sqq += double(w[i]) * q[i] * q[i];
        }
        const double d = sqq > 0 ? sqv / sqq : 0;
        double e = 0;
        for (int i = 0; i < n; ++i) {
            const double r = v[i] - d * q[i];
            e += double(w[i]) * r * r;
        }
        if (e < best_err) {
            best_err = e;
            best_d = d;
            std::copy(q, q + n, k);
        }
    };
    try_inverse_step(nmax / double(vmax));
    for (int is = -4; is <= 4; ++is) try_inverse_step((nmax + 0.1 * is) / vmax);
    for (int it = 0; it < kRefineSteps && best_d > 0; ++it) {
        const double before = best_err;
        try_inverse_step(1.0 / best_d);
        if (!(best_err < before)) break;
    }
    return float(best_d);
}

void block_weights(const float* x, const float* importance, int n, float sigma2, DefaultWeights rule, float* w) {
    double sum = 0;
    if (importance) {
        for (int i = 0; i < n; ++i) sum += w[i] = importance[i] * std::sqrt(sigma2 + x[i] * x[i]);
        if (sum > 0) return;
    }
    double sq = 0;
    for (int i = 0; i < n; ++i) sq += double(x[i]) * x[i];
    const float rms = float(std::sqrt(sq / n));
    sum = 0;
    for (int i = 0; i < n; ++i) sum += w[i] = rule == DefaultWeights::kSquare ? x[i] * x[i] : rms + std::fabs(x[i]);
    if (sum > 0) return;
    std::fill(w, w + n, 1.0f);
}

}  // namespace bf::qfit
