// The kernels' threads and scratch: one process-wide ThreadPool and a KernelScratch of scratch per worker.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/thread_pool.h"

namespace bf {

// Scratch memory of one worker, kept between calls (MB-sized buffers allocated per call would page-fault
// every time). A worker uses only its own KernelScratch, so no locking; one slot per use, listed here.
class KernelScratch {
public:
    enum Buf {
        kActQuant,       // matmul: quantized activations of the caller, read by every worker
        kKeysT,          // prefill attention: transposed keys of the caller, read by every worker
        kDecodeScores,   // decode attention: scores of one query, written part by part
        kPrefillScores,  // prefill attention, per worker: scores, weights and value sums of a unit
        kPrefillWeights,
        kPrefillValues,
        kScanState,  // selective scan, per worker: a block's states and decays
        kKvWeights,  // SIMD attention over the quantized cache, per worker: quantized value weights,
        kKvScales,   //   their scales and the offset corrections
        kKvCorr,
        kTernaryTile,  // AVX-512 ternary prefill, per worker: unpacked weight tile, partial sums, Σ codes
        kTernaryPart,
        kTernaryTotals,
        kKqGroup,    // x86 4-6-bit prefill, per worker: a group of unpacked rows (codes, scales, mins),
        kKqPart,     //   the group's sums for one token chunk (kq_lanes_driver.h)
        kKqRowSums,  // AVX-512 Q4_0 row passes, per worker: dx·Σx of each block of a few tokens
        kBufCount
    };
    enum Obj { kQuantQuery, kObjCount };  // attention over the quantized cache: a query's buffers

    // At least n elements of T at a 64-byte boundary; the contents are whatever the slot held last.
    template <class T>
    T* get(Buf b, size_t n) {
        return reinterpret_cast<T*>(bytes(b, n * sizeof(T)));
    }
    // The same in bytes, out of line: for the per-ISA files, which must not instantiate shared inline code
    // with their own target flags (the linker would keep one copy for every caller).
    uint8_t* bytes(Buf b, size_t n);
    // The object kept in slot o, made on first use (each slot holds one type only).
    template <class T>
    T& object(Obj o) {
        Holder& h = objects_[o];
        if (!h.p) h.p = new T(), h.del = [](void* q) { delete static_cast<T*>(q); };
        return *static_cast<T*>(h.p);
    }

private:
    struct Holder {
        void* p = nullptr;
        void (*del)(void*) = nullptr;
        Holder() = default;
        Holder(const Holder&) = delete;
        Holder& operator=(const Holder&) = delete;
        ~Holder() {
            if (p) del(p);
        }
    };
    struct Bytes {
        std::unique_ptr<uint8_t, void (*)(void*)> p{nullptr, nullptr};
        size_t cap = 0;
    };
    Bytes bufs_[kBufCount];
    Holder objects_[kObjCount];
};

// The pool every kernel splits its loops on; sized by set_num_threads.
ThreadPool& kernel_pool();
// Worker w's scratch (w from a parallel_for chunk or a ThreadPool::Owner of kernel_pool()).
KernelScratch& workspace(int worker);

// Threads used by the kernels; n <= 0: every core this process may use (resolve_thread_count).
// Not to be called while a kernel runs.
void set_num_threads(int n);
int num_threads();

// Items per chunk for a loop of n similar items: about 8 chunks per thread (few enough that claiming costs
// nothing, enough that a paused thread holds up only an eighth of its share); all n (inline) when not
// `threaded` (waking threads would cost more than the loop) or with one thread.
int64_t chunk_grain(int64_t n, bool threaded);

// fn(begin, end, worker) over chunks of [0, n) on kernel_pool(); a grain >= n runs inline.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
    kernel_pool().parallel_for(n, grain, std::forward<F>(fn));
}

}  // namespace bf
