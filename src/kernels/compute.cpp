// The kernels' process-wide thread pool and the per-worker workspaces that go with it.
#include "kernels/compute.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace bf {

namespace {

struct Compute {
    ThreadPool pool;
    std::vector<std::unique_ptr<KernelScratch>> spaces;
    Compute() { size_spaces(); }
    void size_spaces() {
        while (int(spaces.size()) < pool.size()) spaces.push_back(std::make_unique<KernelScratch>());
    }
};

Compute& compute() {
    static Compute c;
    return c;
}

}  // namespace

uint8_t* KernelScratch::bytes(Buf b, size_t n) {
    Bytes& s = bufs_[b];
    if (n > s.cap) {
        const size_t cap = (n + 63) / 64 * 64;
        void* p = std::aligned_alloc(64, cap);
        if (!p) fail("out of memory for kernel scratch");
        s.p = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(p), std::free);
        s.cap = cap;
    }
    return s.p.get();
}

ThreadPool& kernel_pool() { return compute().pool; }

KernelScratch& workspace(int worker) {
    auto& spaces = compute().spaces;
    BF_CHECK(worker >= 0 && size_t(worker) < spaces.size());
    return *spaces[size_t(worker)];
}

void set_num_threads(int n) {
    Compute& c = compute();
    c.pool.resize(n);
    c.size_spaces();  // workspaces are only added: a smaller pool leaves the extra ones unused
}

int num_threads() { return kernel_pool().size(); }

int64_t chunk_grain(int64_t n, bool threaded) {
    const int nt = num_threads();
    if (!threaded || nt == 1) return std::max<int64_t>(n, 1);
    return std::max<int64_t>(1, n / (8 * int64_t(nt)));
}

}  // namespace bf
