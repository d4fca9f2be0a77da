// Kernel microbenchmark: GB/s of weights streamed and GMAC/s of matmul() for each weight format at the
// model's full-size shapes, for given token counts and thread counts. Decode runs rotate over enough
// copies of the weights (>= 256 MB) that they come from DRAM, not from the caches.
// Columns: best call (ms, GB/s, GMAC/s) and the mean GB/s over all calls.
// Usage: kernel_bench [--formats q8_0,tq2_0,q4_0,q4_k,q5_k,q6_k,...] [--tokens 1,512] [--threads 1,2] [--shapes
// model|head|all|ROWSxCOLS,...]
//                     [--kernels auto|scalar|avx2|avx512] [--seconds 0.5] [--clock wall|cpu] [--rotate 1|0]
// --rotate 0 uses one copy of the weights (cache-resident for small shapes: compute cost, not DRAM).
// --clock cpu times with the process CPU clock (summed over threads): a busy machine then still shows
// what the kernels cost, though not what they would reach alone.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "list_arg.h"
#include "kernels/compute.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace {

using bf::DType;

bool g_cpu_clock = false;

double now() {
    if (g_cpu_clock) {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Shape {
    int64_t rows, cols;
};

// Random weights in the file layout of `type`.
std::vector<uint8_t> make_weights(DType type, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t n = rows * cols;
    std::vector<uint8_t> b(bf::tensor_nbytes(type, cols, rows));
    switch (type) {
        case DType::F32:
            for (int64_t i = 0; i < n; ++i) {
                const float f = float(int(rng() % 2001) - 1000) * 1e-3f;
                std::memcpy(&b[size_t(i) * 4], &f, 4);
            }
            break;
        case DType::F16:
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                const float f = float(int(rng() % 2001) - 1000) * 1e-3f;
                const uint16_t h = type == DType::F16 ? bf::f32_to_f16(f) : bf::f32_to_bf16(f);
                std::memcpy(&b[size_t(i) * 2], &h, 2);
            }
            break;
        case DType::Q8_0:
            for (int64_t blk = 0; blk < n / 32; ++blk) {
                const uint16_t d = bf::f32_to_f16(0.01f);
                std::memcpy(&b[size_t(blk) * 34], &d, 2);
                for (int j = 0; j < 32; ++j) b[size_t(blk) * 34 + 2 + j] = uint8_t(int(rng() % 255) - 127);
            }
            break;
        case DType::TQ2_0:
            for (int64_t blk = 0; blk < n / 256; ++blk) {
                for (int j = 0; j < 64; ++j) {
                    uint8_t v = 0;
                    for (int l = 0; l < 4; ++l) v |= uint8_t((rng() % 3) << (2 * l));
                    b[size_t(blk) * 66 + j] = v;
                }
                const uint16_t d = bf::f32_to_f16(0.02f);
                std::memcpy(&b[size_t(blk) * 66 + 64], &d, 2);
            }
            break;
        case DType::I2_S:
            for (int64_t i = 0; i < n / 4; ++i) {
                uint8_t v = 0;
                for (int l = 0; l < 4; ++l) v |= uint8_t((rng() % 3) << (2 * l));
                b[size_t(i)] = v;
            }
            bf::write_i2_s_tail(&b[size_t(n / 4)], 0.02f);
            break;
        case DType::Q4_0:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K: {
            // Random code and sub-scale bytes; f16 super-scales set to small positive values.
            for (auto& v : b) v = uint8_t(rng());
            const int64_t bb = bf::dtype_block_bytes(type);
            const uint16_t d = bf::f32_to_f16(0.001f);
            for (size_t blk = 0; blk < b.size() / size_t(bb); ++blk) {
                uint8_t* p = &b[blk * size_t(bb)];
                if (type == DType::Q6_K)
                    std::memcpy(p + 208, &d, 2);
                else
                    std::memcpy(p, &d, 2);
                if (type == DType::Q4_K || type == DType::Q5_K) std::memcpy(p + 2, &d, 2);
            }
            break;
        }
        default: bf::fail("unsupported type");
    }
    return b;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string formats = "f32,f16,bf16,q8_0,tq2_0,i2_s", tokens = "1,512", threads = "1,2", shapes = "model",
                kernels;  // empty: BITFLASH_KERNELS or the best target
    double seconds = 0.5;
    bool rotate = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--formats")
            formats = v;
        else if (k == "--tokens")
            tokens = v;
        else if (k == "--threads")
            threads = v;
        else if (k == "--shapes")
            shapes = v;
        else if (k == "--kernels")
            kernels = v;
        else if (k == "--seconds")
            seconds = std::atof(v.c_str());
        else if (k == "--clock")
            g_cpu_clock = v == "cpu";
        else if (k == "--rotate")
            rotate = v != "0";
        else
            bf::fail("unknown option " + k);
    }
    if (!kernels.empty()) bf::force_kernels(kernels.c_str());
    std::vector<Shape> list;
    const std::vector<Shape> model = {{10240, 2560}, {2560, 5120}, {192, 5120},   {5120, 160},
                                      {5120, 2560},  {2560, 2560}, {20480, 2560}, {2560, 10240}};
    if (shapes == "model" || shapes == "all") list = model;
    if (shapes == "head" || shapes == "all") list.push_back({200064, 2560});
    if (list.empty())  // explicit shapes: ROWSxCOLS,...
        for (const auto& rc : split_list(shapes)) {
            const size_t x = rc.find('x');
            if (x == std::string::npos) break;
            list.push_back({std::atoll(rc.c_str()), std::atoll(rc.c_str() + x + 1)});
        }
    if (list.empty()) bf::fail("--shapes must be model, head, all or ROWSxCOLS,...");
    std::printf("kernels=%s clock=%s (GB/s counts the file-format weight bytes; GMAC/s = rows*cols*tokens/time)\n",
                bf::kernels_name(), g_cpu_clock ? "cpu" : "wall");
    std::printf("%-6s %14s %6s %3s %10s %9s %9s %9s\n", "format", "shape", "tokens", "thr", "ms/call", "GB/s", "GMAC/s",
                "avgGB/s");
    for (const auto& fname : split_list(formats)) {
        const DType type = bf::dtype_from_name(fname);
        for (const Shape& s : list) {
            if ((type == DType::Q8_0 || type == DType::Q4_0) && s.cols % 32) continue;
            if (s.cols % bf::dtype_block_elems(type)) {
                std::printf("%-6s %7lldx%-6lld  (skipped: cols not a multiple of 256)\n", fname.c_str(),
                            (long long)s.rows, (long long)s.cols);
                continue;
            }
            const double wbytes = double(bf::tensor_nbytes(type, s.cols, s.rows));
            for (const auto& tok_s : split_list(tokens)) {
                int64_t nt = std::atoll(tok_s.c_str());
                if (nt < 1) continue;
                const bool head = s.rows > 100000;
                if (head && nt > 64) nt = 64;  // the head runs once per sequence position; keep it short
                // Decode streams from DRAM: rotate over copies totalling >= 256 MB.
                const int copies = nt <= 4 && rotate ? int(std::clamp<double>(256e6 / wbytes, 1.0, 64.0)) : 1;
                std::vector<std::vector<uint8_t>> files;
                std::vector<bf::Matrix> mats;
                for (int c = 0; c < copies; ++c) {
                    files.push_back(make_weights(type, s.rows, s.cols, uint32_t(c + 1)));
                    bf::Matrix m;
                    m.type = type;
                    m.rows = s.rows;
                    m.cols = s.cols;
                    m.data = files.back().data();
                    if (type == DType::I2_S) m.scale = bf::i2_s_scale(m.data, s.rows * s.cols);
                    mats.push_back(bf::prepare_matrix(m));
                    // The kernels read the packed copy (same bytes per weight); drop the file copy.
                    if (mats.back().packed) {
                        std::vector<uint8_t>().swap(files.back());
                        mats.back().data = nullptr;
                    }
                }
                std::vector<float> x(size_t(nt * s.cols)), y(size_t(nt * s.rows));
                std::mt19937 rng(7);
                for (auto& v : x) v = float(int(rng() % 2001) - 1000) * 1e-3f;
                for (const auto& th_s : split_list(threads)) {
                    const int th = std::atoi(th_s.c_str());
                    if (th < 1) continue;
                    bf::set_num_threads(th);
                    bf::matmul(mats[0], x.data(), nt, y.data());  // warm up (scratch, threads)
                    double best = 1e30, total = 0;
                    int calls = 0;
                    while ((total < seconds || calls < 3) && calls < 100000) {
                        const double t0 = now();
                        bf::matmul(mats[size_t(calls % copies)], x.data(), nt, y.data());
                        const double dt = now() - t0;
                        best = std::min(best, dt);
                        total += dt;
                        ++calls;
                    }
                    std::printf("%-6s %7lldx%-6lld %6lld %3d %10.3f %9.2f %9.2f %9.2f\n", fname.c_str(),
                                (long long)s.rows, (long long)s.cols, (long long)nt, th, best * 1e3,
                                wbytes / best / 1e9, double(s.rows) * double(s.cols) * double(nt) / best / 1e9,
                                wbytes * calls / total / 1e9);
                    std::fflush(stdout);
                }
            }
        }
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_bench: %s\n", e.what());
    return 1;
}
