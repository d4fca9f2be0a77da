// Test helpers: random data and independent (doc-formula) encoders/decoders of the weight file layouts,
// written separately from src/kernels so tests do not check the code against itself.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/fp16.h"
#include "core/thread_pool.h"
#include "kernels/compute.h"
#include "kernels/matmul.h"

namespace bf::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// Q8_0: 34-byte blocks, f16 d first, then 32 int8. y = q·d.
inline std::vector<double> decode_q8_0(const uint8_t* p, int64_t n) {
    std::vector<double> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* blk = p + (i / 32) * 34;
        const double d = f16_to_f32(uint16_t(blk[0] | (blk[1] << 8)));
        y[size_t(i)] = double(int8_t(blk[2 + i % 32])) * d;
    }
    return y;
}

// TQ2_0 (doc §2): for j in {0,32}, l=0..3, m=0..31: y[128·(j/32) + 32·l + m] = (((qs[j+m]>>(2l))&3)−1)·d,
// with f16 d after the 64 qs bytes of each 66-byte block. Written here element by element.
inline int tq2_code_at(const uint8_t* blk, int e) {
    const int j = (e / 128) * 32, l = (e % 128) / 32, m = e % 32;
    return (blk[j + m] >> (2 * l)) & 3;
}
inline std::vector<double> decode_tq2_0(const uint8_t* p, int64_t n) {
    std::vector<double> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* blk = p + (i / 256) * 66;
        const double d = f16_to_f32(uint16_t(blk[64] | (blk[65] << 8)));
        y[size_t(i)] = double(tq2_code_at(blk, int(i % 256)) - 1) * d;
    }
    return y;
}
// Builds TQ2_0 bytes from codes (0..3) and per-block f16 scales.
inline std::vector<uint8_t> encode_tq2_0(const std::vector<int>& codes, const std::vector<uint16_t>& d) {
    const size_t nb = codes.size() / 256;
    std::vector<uint8_t> out(nb * 66, 0);
    for (size_t i = 0; i < codes.size(); ++i) {
        uint8_t* blk = &out[(i / 256) * 66];
        const int e = int(i % 256), j = (e / 128) * 32, l = (e % 128) / 32, m = e % 32;
        blk[j + m] |= uint8_t(codes[i] << (2 * l));
    }
    for (size_t b = 0; b < nb; ++b) {
        out[b * 66 + 64] = uint8_t(d[b] & 0xff);
        out[b * 66 + 65] = uint8_t(d[b] >> 8);
    }
    return out;
}

// I2_S (doc §2, x86): element j of each flattened 128-group is byte j%32 at shift 6−2·(j/32);
// 0 → −1, 1 → 0, 2 → +1, 3 → 0.
inline int i2s_code_at(const uint8_t* codes, int64_t i) {
    const int64_t g = i / 128;
    const int j = int(i % 128);
    return (codes[g * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3;
}
inline double i2s_value(int code) { return code == 0 ? -1.0 : code == 2 ? 1.0 : 0.0; }
inline std::vector<uint8_t> encode_i2_s(const std::vector<int>& codes, float scale) {
    const size_t n = codes.size();
    std::vector<uint8_t> out(n / 4 + 32, 0);
    for (size_t i = 0; i < n; ++i) {
        const size_t g = i / 128, j = i % 128;
        out[g * 32 + j % 32] |= uint8_t(codes[i] << (6 - 2 * (j / 32)));
    }
    std::memcpy(&out[n / 4], &scale, 4);
    return out;
}

// Activations quantized as ggml's Q8_0 (d = amax/127 stored f16, q = roundf(x·(1/d))), dequantized
// to double.
inline std::vector<double> q8_act(const float* x, int64_t n) {
    std::vector<double> y(static_cast<size_t>(n));
    for (int64_t b = 0; b < n / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        const double dh = f16_to_f32(f32_to_f16(d));
        for (int j = 0; j < 32; ++j) y[size_t(b * 32 + j)] = double(std::roundf(x[b * 32 + j] * id)) * dh;
    }
    return y;
}

// BitNet b1.58 activations: s = 127/max|x|, q = clamp(round-half-even(x·s), ±127); returns q/s.
inline std::vector<double> ternary_act(const float* x, int64_t n) {
    float amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    std::vector<double> y(static_cast<size_t>(n), 0.0);
    if (amax == 0) return y;
    const float s = 127.0f / amax;
    for (int64_t i = 0; i < n; ++i) {
        double q = std::nearbyint(double(x[i] * s));
        q = std::min(127.0, std::max(-127.0, q));
        y[size_t(i)] = q / double(s);
    }
    return y;
}

// y = x · Wᵀ on kernel target `target` with `threads` threads (then back to "auto" and all cores).
inline std::vector<float> run_matmul(const Matrix& m, const std::vector<float>& x, int64_t n_tok, const char* target,
                                     int threads) {
    force_kernels(target);
    set_num_threads(threads);
    std::vector<float> y(size_t(n_tok * m.rows), -12345.0f);
    matmul(m, x.data(), n_tok, y.data());
    force_kernels("auto");
    set_num_threads(0);
    return y;
}

// Decode (one token) on `target` with 2 threads while the pool's hook pauses a worker inside its row
// range, until a take-over happened: every output must equal `ref` exactly (the one-thread output).
inline void expect_exact_decode_takeovers(const Matrix& m, const std::vector<float>& x, const char* target,
                                          const std::vector<float>& ref) {
    force_kernels(target);
    set_num_threads(2);
    kernel_pool().set_adaptive(false);  // the worker must stay in use
    const uint64_t before = kernel_pool().takeovers();
    // The pause must outlast the caller's own remaining chunks, else the worker wakes and commits first: 3 ms
    // natively, but under emulation (qemu-user in CI) a chunk can take longer, so it doubles each round. On a
    // loaded machine the worker may not get a core for many rounds (the caller then runs every chunk and
    // the pause is never taken), so the rounds are bounded by time, not by count.
    int64_t stall_us = 3000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int round = 0;
         kernel_pool().takeovers() == before && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60);
         ++round) {
        ThreadPool::stall_next_worker_chunk(stall_us);
        std::vector<float> y(size_t(m.rows), -12345.0f);
        matmul(m, x.data(), 1, y.data());
        ASSERT_EQ(y, ref) << "round " << round;
        stall_us = std::min<int64_t>(2 * stall_us, 200000);
    }
    ThreadPool::stall_next_worker_chunk(0);
    EXPECT_GT(kernel_pool().takeovers(), before);
    kernel_pool().set_adaptive(true);
    force_kernels("auto");
    set_num_threads(0);
}

}  // namespace bf::test
