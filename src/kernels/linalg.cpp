// Gram accumulation and the upper Cholesky factor of an inverse, written as dot products of contiguous
// rows (cache-friendly and vectorizable at n = 10240), with plain textbook versions as references.
#include "kernels/linalg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/compute.h"

namespace bf {

namespace {

constexpr int64_t kRowTile = 64;  // activation rows converted to double at a time

double dot(const double* a, const double* b, int64_t n) {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
    return s;
}

// Lower Cholesky factor in place (row i from the dot products of rows i and j < i); zeroes the upper part.
bool cholesky_lower_rows(double* a, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        double* ri = a + i * n;
        for (int64_t j = 0; j < i; ++j) {
            const double* rj = a + j * n;
            ri[j] = (ri[j] - dot(ri, rj, j)) / rj[j];
        }
        const double d = ri[i] - dot(ri, ri, i);
        if (!(d > 0) || !std::isfinite(d)) return false;
        ri[i] = std::sqrt(d);
        std::fill(ri + i + 1, ri + n, 0.0);
    }
    return true;
}

}  // namespace

void gram_accumulate(double* h, const float* x, int64_t rows, int64_t n) {
    std::vector<double> xt(size_t(n * std::min(rows, kRowTile)));  // a tile transposed: column i contiguous
    for (int64_t r0 = 0; r0 < rows; r0 += kRowTile) {
        const int64_t m = std::min(kRowTile, rows - r0);
        for (int64_t t = 0; t < m; ++t)
            for (int64_t i = 0; i < n; ++i) xt[size_t(i * m + t)] = x[(r0 + t) * n + i];
        // Output row i needs columns j >= i only (the mirror fills the rest), so early rows cost more:
        // small chunks keep the threads balanced.
        parallel_for(n, std::max<int64_t>(1, n / (8 * num_threads())), [&](int64_t i0, int64_t i1, int) {
            for (int64_t i = i0; i < i1; ++i) {
                const double* ci = xt.data() + i * m;
                for (int64_t j = i; j < n; ++j) h[i * n + j] += dot(ci, xt.data() + j * m, m);
            }
        });
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) h[j * n + i] = h[i * n + j];
}

bool upper_cholesky_of_inverse(double* a, int64_t n) {
    if (!cholesky_lower_rows(a, n)) return false;  // a = L L^T
    // Row j of M = (L^-1)^T is column j of L^-1: the forward solve L y = e_j (y_i = 0 for i < j).
    std::vector<double> m(size_t(n * n), 0.0), y(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
        std::fill(y.begin(), y.end(), 0.0);
        for (int64_t i = j; i < n; ++i) {
            const double* li = a + i * n;
            y[size_t(i)] = ((i == j ? 1.0 : 0.0) - dot(li + j, y.data() + j, i - j)) / li[i];
        }
        std::copy(y.begin(), y.end(), m.begin() + j * n);
    }
    // a^-1 = L^-T L^-1 = M M^T: entry (i, j) is the dot product of rows i and j of M.
    parallel_for(n, std::max<int64_t>(1, n / (8 * num_threads())), [&](int64_t i0, int64_t i1, int) {
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j <= i; ++j) a[i * n + j] = dot(m.data() + i * n, m.data() + j * n, n);
    });
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) a[j * n + i] = a[i * n + j];
    if (!cholesky_lower_rows(a, n)) return false;  // a^-1 = L2 L2^T, U = L2^T
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) {
            a[j * n + i] = a[i * n + j];
            a[i * n + j] = 0;
        }
    return true;
}

namespace ref {

void gram_accumulate(double* h, const float* x, int64_t rows, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            for (int64_t t = 0; t < rows; ++t) h[i * n + j] += double(x[t * n + i]) * double(x[t * n + j]);
}

// Textbook steps on separate matrices: Cholesky–Banachiewicz, inverse through A^-1 = L^-T L^-1 with
// L^-1 by column substitution, then Cholesky again and a transpose.
bool upper_cholesky_of_inverse(double* a, int64_t n) {
    auto chol = [n](const std::vector<double>& s, std::vector<double>& l) {
        l.assign(size_t(n * n), 0.0);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                double v = s[size_t(i * n + j)];
                for (int64_t k = 0; k < j; ++k) v -= l[size_t(i * n + k)] * l[size_t(j * n + k)];
                if (i == j) {
                    if (!(v > 0)) return false;
                    l[size_t(i * n + i)] = std::sqrt(v);
                } else {
                    l[size_t(i * n + j)] = v / l[size_t(j * n + j)];
                }
            }
        return true;
    };
    std::vector<double> s(a, a + n * n), l, li(size_t(n * n), 0.0), inv(size_t(n * n), 0.0);
    if (!chol(s, l)) return false;
    for (int64_t c = 0; c < n; ++c)
        for (int64_t i = 0; i < n; ++i) {
            double v = i == c ? 1.0 : 0.0;
            for (int64_t k = 0; k < i; ++k) v -= l[size_t(i * n + k)] * li[size_t(k * n + c)];
            li[size_t(i * n + c)] = v / l[size_t(i * n + i)];
        }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            for (int64_t k = 0; k < n; ++k) inv[size_t(i * n + j)] += li[size_t(k * n + i)] * li[size_t(k * n + j)];
    if (!chol(inv, l)) return false;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) a[i * n + j] = l[size_t(j * n + i)];
    return true;
}

}  // namespace ref

}  // namespace bf
