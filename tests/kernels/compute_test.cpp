// The kernels' pool and workspaces: scratch slots, and matmul called from two threads at once (each
// caller's quantized activations must stay its own while the pool serves the other).
#include <gtest/gtest.h>

#include <barrier>
#include <cstring>
#include <thread>
#include <vector>

#include "core/fp16.h"
#include "kernels/compute.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace bf {
namespace {

TEST(KernelScratch, SlotsAreAlignedKeptAndSeparate) {
    KernelScratch ws;
    auto* a = ws.get<float>(KernelScratch::kActQuant, 100);
    auto* b = ws.get<int32_t>(KernelScratch::kScanState, 7);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
    EXPECT_NE(static_cast<void*>(a), static_cast<void*>(b));
    for (int i = 0; i < 100; ++i) a[i] = float(i);
    EXPECT_EQ(ws.get<float>(KernelScratch::kActQuant, 50), a);  // no larger: the same memory, contents kept
    EXPECT_EQ(a[99], 99.0f);
    float* grown = ws.get<float>(KernelScratch::kActQuant, 1 << 20);
    grown[(1 << 20) - 1] = 1.0f;  // the whole new size is usable (ASan checks)
    struct Obj {
        int n = 41;
    };
    EXPECT_EQ(ws.object<Obj>(KernelScratch::kQuantQuery).n, 41);
    ws.object<Obj>(KernelScratch::kQuantQuery).n = 7;
    EXPECT_EQ(ws.object<Obj>(KernelScratch::kQuantQuery).n, 7);
}

TEST(KernelScratch, OnePerWorkerAfterResizing) {
    for (int threads : {1, 3, 2}) {
        set_num_threads(threads);
        EXPECT_EQ(num_threads(), threads);
        for (int w = 0; w < threads; ++w) EXPECT_NE(&workspace(w), w ? &workspace(w - 1) : nullptr);
    }
    set_num_threads(0);
}

// A Q8_0 matrix with random codes and scales.
std::vector<uint8_t> random_q8_0(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> bytes(size_t(rows * cols / 32) * 34);
    for (size_t b = 0; b < bytes.size() / 34; ++b) {
        const uint16_t d = f32_to_f16(0.001f + 0.01f * float(rng() % 100) / 100.0f);
        std::memcpy(&bytes[b * 34], &d, 2);
        for (int j = 0; j < 32; ++j) bytes[b * 34 + 2 + size_t(j)] = uint8_t(int(rng() % 256) - 128);
    }
    return bytes;
}

TEST(Compute, MatmulFromTwoThreadsAtOnceMatchesOneAtATime) {
    const int64_t rows = 256, cols = 512;
    const auto bytes = random_q8_0(rows, cols, 5);
    Matrix raw;
    raw.type = DType::Q8_0, raw.rows = rows, raw.cols = cols, raw.data = bytes.data();
    const Matrix m = prepare_matrix(raw);
    set_num_threads(3);
    // Each caller has its own input (different token counts, so their scratch sizes differ too).
    const int64_t n_tok[2] = {5, 9};
    std::vector<float> x[2], want[2];
    for (int c = 0; c < 2; ++c) {
        x[c] = test::random_floats(size_t(n_tok[c] * cols), 100 + uint32_t(c));
        want[c].resize(size_t(n_tok[c] * rows));
        matmul(m, x[c].data(), n_tok[c], want[c].data());
    }
    int mismatches[2] = {0, 0};
    std::barrier both(2);  // every call starts together, so the two really overlap
    auto caller = [&](int c) {
        std::vector<float> y(want[c].size());
        for (int rep = 0; rep < 300; ++rep) {
            both.arrive_and_wait();
            matmul(m, x[c].data(), n_tok[c], y.data());
            if (y != want[c]) mismatches[c]++;
        }
    };
    std::thread t0(caller, 0), t1(caller, 1);
    t0.join();
    t1.join();
    set_num_threads(0);
    EXPECT_EQ(mismatches[0], 0);
    EXPECT_EQ(mismatches[1], 0);
}

}  // namespace
}  // namespace bf
