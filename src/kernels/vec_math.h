// Vectorizable float math for element-wise kernels: exp, log1p, SiLU and softplus as branch-free inline
// code that GCC/Clang turn into SIMD inside `#pragma omp simd` loops, and BF_SIMD_CLONES, which compiles
// a kernel for AVX-512, AVX2 and a baseline, picked at run time (the project builds without -march).
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

// Not under ASan: its instrumentation and the ifunc resolvers of target_clones do not mix well.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define BF_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BF_SIMD_CLONES
#endif

// Forced inline: an out-of-line copy would be compiled for the baseline target and called once per lane,
// which kills the vectorization of the caller's loop (GCC declines to inline softplus_vec on its own).
#if defined(__GNUC__)
#define BF_VEC_INLINE inline __attribute__((always_inline))
#else
#define BF_VEC_INLINE inline
#endif

namespace bf {

namespace vec_detail {
BF_VEC_INLINE float bits_to_float(int32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
BF_VEC_INLINE int32_t float_to_bits(float f) {
    int32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}
}  // namespace vec_detail

// m ? a : b as a bit mask. Every conditional below goes through this: with a plain `?:`, GCC folds a
// constant arm into the arithmetic that follows, leaving a floating-point op on one path only, which
// -ftrapping-math (the default) forbids it to if-convert, and the loop is not vectorized for AVX2/SSE
// ("control flow in loop"). AVX-512 masking hides the problem, so check the AVX2 clone too.
BF_VEC_INLINE float select(bool m, float a, float b) {
    const int32_t k = -int32_t(m);
    return vec_detail::bits_to_float((vec_detail::float_to_bits(a) & k) | (vec_detail::float_to_bits(b) & ~k));
}

namespace vec_detail {
// x = n·ln2 + r with |r| <= ln2/2, for |x| < ~105 (ln2 split in two for an exact n·ln2); rounds to
// nearest by adding 1.5·2^23 (plain SSE2/NEON arithmetic, unlike nearbyint).
BF_VEC_INLINE float reduce_ln2(float x, float& r) {
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    return n;
}
// The Taylor series of e^r from the r^6 term down, p being its r^6 coefficient (or more terms folded in).
BF_VEC_INLINE float exp_taylor_from6(float p, float r) {
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}
}  // namespace vec_detail

// e^x over the whole float range: e^r by its Taylor series to r^7 (truncation < 1e-8 relative), 2^n
// applied as two factors 2^(n/2) so that overflow gives +inf and underflow goes through the denormals
// to 0 like std::exp. Error about 2 ulp. NaN propagates. The clamp comes first so no float→int
// conversion is out of range.
BF_VEC_INLINE float exp_vec(float x) {
    float xc = select(x > -105.0f, x, -105.0f);  // e^-105 rounds to 0; also maps NaN here, restored below
    xc = select(xc < 89.0f, xc, 89.0f);
    float r;
    const float n = vec_detail::reduce_ln2(xc, r);
    const float p = vec_detail::exp_taylor_from6(1.0f / 5040 * r + 1.0f / 720, r);
    const int32_t ni = int32_t(n);             // in [-152, 129]
    const int32_t n1 = ni >> 1, n2 = ni - n1;  // each in [-76, 65]: 2^n1 and 2^n2 are normal floats
    const float res = p * vec_detail::bits_to_float((n1 + 127) << 23) * vec_detail::bits_to_float((n2 + 127) << 23);
    return select(x == x, res, x);
}

// e^x for softmax arguments x = s − max <= 0, cheaper than exp_vec: Taylor to r^6 (truncation < 2e-7
// relative) and one exponent-field 2^n, valid because x is clamped at −87 (2^n stays a normal float;
// e^-87 ≈ 2e-38 is negligible next to the maximum's 1). Not for general use: no overflow, NaN or denormal
// handling.
BF_VEC_INLINE float exp_softmax_vec(float x) {
    float r;
    const float n = vec_detail::reduce_ln2(select(x > -87.0f, x, -87.0f), r);
    return vec_detail::exp_taylor_from6(1.0f / 720, r) * vec_detail::bits_to_float((int32_t(n) + 127) << 23);
}

// log(1 + t) for t >= -1 (fdlibm's method): 1 + t = 2^e·m with m in [√½, √2), log(m) = 2·atanh(s),
// s = (m−1)/(m+1), |s| <= 0.172, by its odd series to s^11 (truncation < 1e-9), plus the rounding error
// of 1 + t carried as (t − ((1+t) − 1))/(1+t), which keeps small t exact. Error about 2 ulp.
// t = −1 gives −inf, t < −1 NaN, +inf and NaN pass through.
BF_VEC_INLINE float log1p_vec(float t) {
    const float u = 1.0f + t;
    // Shift the bits so that the exponent field rounds m to [√½, √2) (0x3f3504f3 = √½).
    const int32_t ub = vec_detail::float_to_bits(select(u > 0.0f, u, 1.0f)) + (0x3f800000 - 0x3f3504f3);
    const int32_t e = (ub >> 23) - 127;
    const float m = vec_detail::bits_to_float((ub & 0x007fffff) + 0x3f3504f3);
    const float f = m - 1.0f;
    const float c = (t - (u - 1.0f)) / u;  // 0 unless 1 + t was rounded
    const float s = f / (2.0f + f);
    const float s2 = s * s;
    float q = 1.0f / 11;
    q = q * s2 + 1.0f / 9;
    q = q * s2 + 1.0f / 7;
    q = q * s2 + 1.0f / 5;
    q = q * s2 + 1.0f / 3;
    q = q * s2 + 1.0f;
    const float fe = float(e);
    float res = (fe * 0.693145752f + (2.0f * s * q + (c + fe * 1.42860677e-6f)));
    res = select(t == -1.0f, -std::numeric_limits<float>::infinity(), res);
    res = select(t < -1.0f, std::numeric_limits<float>::quiet_NaN(), res);
    res = select(t == std::numeric_limits<float>::infinity(), t, res);
    return select(t == t, res, t);
}

// x·σ(x) with h = e^−|x|/2, e = h² ≤ 1, so nothing overflows: x/(1+e) for x >= 0, (x·h)·h/(1+e) below
// (the textbook x/(1+e^−x) returns 0 for x < −88.7 where the result is still ~1e-37, and x·e would
// lose bits once e is denormal).
BF_VEC_INLINE float silu_vec(float x) {
    const float h = exp_vec(0.5f * select(x > 0.0f, -x, x));
    const float e = h * h;
    return select(x >= 0.0f, x, x * h * h) / (1.0f + e);
}

// log(1 + e^v), identity above 20 as in the reference kernels (§4.3 step 4). Below, written as
// max(v, 0) + log1p(e^−|v|) so that the log1p argument stays in (0, 1] and nothing overflows.
BF_VEC_INLINE float softplus_vec(float v) {
    const float pos = select(v > 0.0f, v, 0.0f);
    const float neg_abs = select(v > 0.0f, -v, v);
    const float sp = pos + log1p_vec(exp_vec(neg_abs));
    return select(v > 20.0f, v, sp);
}

}  // namespace bf
