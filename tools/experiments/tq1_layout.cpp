// Experiment behind "TQ1_0 if it pays" (issue #4): is a 5-trits-per-byte ternary layout (1.6 bits per
// weight, like TQ1_0's base-3 bytes) faster for decode than our 2-bit codes on AVX-512 VNNI? Both
// kernels are minimal int8 matrix-vector products (2 rows per step, OpenMP over rows); the 5-trit one
// extracts trit n of byte q as [q·3ⁿ mod 256 ≥ 86] + [… ≥ 171] (llama.cpp's TQ1_0 uses the same
// multiply-by-3ⁿ encoding, byte = ceil(v·256/243)). Checks both against a plain sum, then times them on
// one cache-resident matrix (argument 1) or on 12 matrices in turn (argument 12, streamed from memory).
// Not part of the build (AVX-512 only):
//   g++ -O2 -mavx512f -mavx512bw -mavx512vnni -fopenmp tools/experiments/tq1_layout.cpp -o /tmp/tq1
//   OMP_NUM_THREADS=2 /tmp/tq1 1
#include <immintrin.h>
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// 2-bit: row = cols/4 bytes; 256-block: 64 bytes, element 64l+m = bits 2l of byte m.
static void gemv2(const uint8_t* w, const int8_t* x, int64_t rows, int64_t cols, int32_t* y) {
    const int64_t rb = cols / 4;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r += 2) {
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        const __m512i m3 = _mm512_set1_epi8(3);
        for (int64_t b = 0; b < cols / 256; b++) {
            __m512i v0 = _mm512_loadu_si512(w + r * rb + b * 64), v1 = _mm512_loadu_si512(w + (r + 1) * rb + b * 64);
            for (int l = 0; l < 4; l++) {
                __m512i xv = _mm512_loadu_si512(x + b * 256 + 64 * l);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(_mm512_srli_epi16(v0, 2 * l), m3), xv);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(v1, 2 * l), m3), xv);
            }
        }
        y[r] = _mm512_reduce_add_epi32(a0);
        y[r + 1] = _mm512_reduce_add_epi32(a1);
    }
}
// 5 trits per byte: row = cols/5 bytes; 320-group: 64 bytes, element 64n+m = trit n of byte m.
static void gemv5(const uint8_t* w, const int8_t* x, int64_t rows, int64_t cols, int32_t* y) {
    const int64_t rb = cols / 5;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r += 2) {
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        const __m512i c86 = _mm512_set1_epi8(86), c171 = _mm512_set1_epi8((char)171), one = _mm512_set1_epi8(1);
        for (int64_t b = 0; b < cols / 320; b++) {
            __m512i q0 = _mm512_loadu_si512(w + r * rb + b * 64), q1 = _mm512_loadu_si512(w + (r + 1) * rb + b * 64);
            for (int n = 0; n < 5; n++) {
                __m512i xv = _mm512_loadu_si512(x + b * 320 + 64 * n);
                __mmask64 k0a = _mm512_cmpge_epu8_mask(q0, c86), k0b = _mm512_cmpge_epu8_mask(q0, c171);
                __mmask64 k1a = _mm512_cmpge_epu8_mask(q1, c86), k1b = _mm512_cmpge_epu8_mask(q1, c171);
                __m512i t0 =
                    _mm512_mask_add_epi8(_mm512_maskz_mov_epi8(k0a, one), k0b, _mm512_maskz_mov_epi8(k0a, one), one);
                __m512i t1 =
                    _mm512_mask_add_epi8(_mm512_maskz_mov_epi8(k1a, one), k1b, _mm512_maskz_mov_epi8(k1a, one), one);
                a0 = _mm512_dpbusd_epi32(a0, t0, xv);
                a1 = _mm512_dpbusd_epi32(a1, t1, xv);
                q0 = _mm512_add_epi8(q0, _mm512_add_epi8(q0, q0));
                q1 = _mm512_add_epi8(q1, _mm512_add_epi8(q1, q1));
            }
        }
        y[r] = _mm512_reduce_add_epi32(a0);
        y[r + 1] = _mm512_reduce_add_epi32(a1);
    }
}
int main(int argc, char** argv) {
    const int64_t rows = 10240, cols = 2560;
    const int NM = argc > 1 ? atoi(argv[1]) : 12;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> tr(0, 2), xd(-127, 127);
    std::vector<int8_t> x(cols);
    for (auto& v : x) v = (int8_t)xd(rng);
    std::vector<std::vector<uint8_t>> w2(NM), w5(NM);
    std::vector<std::vector<int>> codes(NM);
    for (int m = 0; m < NM; m++) {
        auto& c = codes[m];
        c.resize(rows * cols);
        for (auto& v : c) v = tr(rng);
        w2[m].assign(rows * cols / 4, 0);
        w5[m].assign(rows * cols / 5, 0);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t e = 0; e < cols; e++) {
                int64_t b = e / 256, i = e % 256;
                w2[m][r * cols / 4 + b * 64 + i % 64] |= uint8_t(c[r * cols + e] << (2 * (i / 64)));
            }
            for (int64_t g = 0; g < cols / 320; g++)
                for (int mm = 0; mm < 64; mm++) {
                    int v = 0;
                    for (int n = 0; n < 5; n++) v = v * 3 + c[r * cols + g * 320 + 64 * n + mm];
                    w5[m][r * cols / 5 + g * 64 + mm] = uint8_t((v * 256 + 242) / 243);
                }
        }
    }
    std::vector<int32_t> y2(rows), y5(rows);
    gemv2(w2[0].data(), x.data(), rows, cols, y2.data());
    gemv5(w5[0].data(), x.data(), rows, cols, y5.data());
    for (int64_t r = 0; r < rows; r += 997) {
        long ref = 0;
        for (int64_t e = 0; e < cols; e++) ref += codes[0][r * cols + e] * x[e];
        if (ref != y2[r] || ref != y5[r]) {
            printf("MISMATCH r=%ld %ld %d %d\n", r, ref, y2[r], y5[r]);
            return 1;
        }
    }
    for (int rep = 0; rep < 3; rep++) {
        for (int kind = 0; kind < 2; kind++) {
            std::vector<double> ts;
            for (int it = 0; it < 10; it++) {
                double t0 = now();
                for (int m = 0; m < NM; m++) {
                    if (kind == 0)
                        gemv2(w2[m].data(), x.data(), rows, cols, y2.data());
                    else
                        gemv5(w5[m].data(), x.data(), rows, cols, y5.data());
                }
                ts.push_back((now() - t0) / NM);
            }
            std::sort(ts.begin(), ts.end());
            double t = ts[ts.size() / 2];
            double bytes = kind == 0 ? rows * cols / 4.0 : rows * cols / 5.0;
            printf("%s NM=%d: %.3f ms per matrix, %.1f GB/s of weights, %.1f Gweights/s\n",
                   kind == 0 ? "2-bit " : "5-trit", NM, t * 1e3, bytes / t / 1e9, rows * cols / t / 1e9);
        }
    }
}
