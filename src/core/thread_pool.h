// ThreadPool: persistent workers that split a loop into small chunks claimed one by one, for the kernels.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/cpu_placement.h"

namespace bf {

// The thread-count rule, in one place: n > 0 is taken as is; n <= 0 means every core this process may
// run on (sched_getaffinity, so `taskset` and container CPU sets are honoured).
int resolve_thread_count(int n);

// A callable viewed without owning or allocating: fn(begin, end, worker) runs items [begin, end).
class ChunkFn {
public:
    template <class F>
    ChunkFn(F& f)
        : obj_(const_cast<void*>(static_cast<const void*>(&f))),
          call_([](void* o, int64_t b, int64_t e, int w) { (*static_cast<F*>(o))(b, e, w); }) {}
    void operator()(int64_t b, int64_t e, int w) const { call_(obj_, b, e, w); }

private:
    void* obj_;
    void (*call_)(void*, int64_t, int64_t, int);
};

// Workers spin briefly after a job (the next kernel usually follows within microseconds) and then sleep
// on a futex. parallel_for hands out chunks of `grain` items from one atomic counter and the calling
// thread takes chunks too, so a worker the OS has paused delays only the chunk it holds, never the
// whole loop. A parallel_for inside a chunk runs inline on that chunk's thread (no nested teams). One
// outside thread owns the pool at a time (a second one waits), which is what makes per-worker scratch
// safe: worker 0's scratch belongs to the owner for as long as it holds an Owner.
class ThreadPool {
public:
    explicit ThreadPool(int n_threads = 0);  // n_threads counts the caller; <= 0: resolve_thread_count
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // Stops and restarts the workers; waits for the owner to leave, so never call it while owning.
    void resize(int n_threads);

    // fn(begin, end, worker) over chunks of [0, n_items) of at most `grain` items each, every item exactly
    // once; worker is in [0, size()) and no two chunks run at the same time with the same worker id (the
    // caller is 0), so it can index per-worker scratch. Returns when every chunk has run. fn must not
    // throw (a worker thread has nowhere to send the exception).
    template <class F>
    void parallel_for(int64_t n_items, int64_t grain, F&& fn) {
        run(n_items, grain, ChunkFn(fn));
    }

    // Take-over-safe loops (decode matmuls). When every chunk is claimed and a worker still holds one well
    // past the caller's own mean chunk time, the OS has most likely paused that worker (another process
    // shares its core, and CFS slices last milliseconds); the caller then runs the chunk itself instead of
    // waiting. The paused worker later finishes its copy into its private buffer, finds its commit refused
    // and drops it. Workers compute into private buffers and publish a chunk with a compare-and-swap on
    // their held-chunk word (running -> committing), the caller takes one over with running -> taken, so
    // exactly one result is written. A straggler may still run after the loop returned, so fn must:
    //   - write only out[b * out_per_item, e * out_per_item) of the `out` it is given (the destination
    //     on the caller, a private buffer on a worker);
    //   - read only the inputs it put in takeover_inputs() memory (kept until no straggler is in it) and
    //     memory that stays unchanged until wait_for_stragglers() (e.g. weights: free them after it);
    //   - be trivially copyable, at most kTakeoverFnBytes, capture by value (it is copied into the pool)
    //     and not throw.
    // The call sequence: p = takeover_inputs(bytes) (nullptr: not available, use parallel_for), fill p,
    // then parallel_for_takeover. fn(begin, end, out, worker).
    static constexpr size_t kTakeoverFnBytes = 256;
    uint8_t* takeover_inputs(size_t bytes);  // 64-byte aligned; the owner only, outside any chunk
    template <class F>
    void parallel_for_takeover(int64_t n_items, int64_t grain, float* out, int64_t out_per_item, const F& fn) {
        static_assert(std::is_trivially_copyable<F>::value && sizeof(F) <= kTakeoverFnBytes &&
                          alignof(F) <= alignof(std::max_align_t),
                      "a take-over loop body is copied into the pool: capture small values only");
        Owner owner(*this);
        Slot* s = takeover_slot();
        if (!s) {  // nested in a chunk or one thread: nothing to take over, a plain (inline) loop
            parallel_for(n_items, grain, [&](int64_t b, int64_t e, int w) { fn(b, e, out, w); });
            return;
        }
        new (s->fn) F(fn);
        s->call = [](const void* o, int64_t b, int64_t e, float* y, int w) { (*static_cast<const F*>(o))(b, e, y, w); };
        run_takeover(*s, n_items, grain, out, out_per_item);
    }
    // Serial spells: when a window of threaded loops gained too little (the other cores are busy: another
    // process, or our own threads sharing a core), loops run on the caller alone for a while, then the
    // workers are probed again, so -t N is never much slower than -t 1. On by default; tests that need the
    // workers turn it off.
    void set_adaptive(bool on);  // owner only (or before use)
    uint64_t serial_spells() const { return serial_spells_.load(std::memory_order_relaxed); }
    uint64_t serial_loops() const { return serial_loops_.load(std::memory_order_relaxed); }  // run in a spell

    // Blocks until no worker of any pool still runs a chunk that was taken over from it.
    static void wait_for_stragglers();
    uint64_t takeovers() const { return takeovers_.load(std::memory_order_relaxed); }  // chunks taken so far
    uint64_t worker_moves() const { return placement_.moves(); }               // workers moved off the caller's CPU
    std::vector<int> worker_cpus() const { return placement_.worker_cpus(); }  // empty: not pinned; owner only
    // Test hook: the next worker (of any pool) to start a take-over chunk sleeps `us` microseconds inside it,
    // as if the OS had paused it there.
    static void stall_next_worker_chunk(int64_t us);

    // Worker id of the calling thread: its id inside a chunk of this pool, 0 for the owner, else -1.
    int current_worker() const;

    // Makes the calling thread the pool's owner for the scope (waiting while another thread owns it), so
    // it may use worker 0's scratch between loops; re-entrant, and a no-op inside a chunk of this pool.
    class Owner {
    public:
        explicit Owner(ThreadPool& pool);
        ~Owner();
        Owner(const Owner&) = delete;
        Owner& operator=(const Owner&) = delete;
        int worker() const;  // this thread's worker id while the scope lasts

    private:
        ThreadPool* pool_;
        bool locked_ = false;
        const void* saved_pool_ = nullptr;
        int saved_worker_ = -1;
        bool saved_in_chunk_ = false;
    };

private:
    // A take-over loop's body and inputs. Only the owner writes a slot, and only one that no straggler
    // (a worker whose held_ word still names the slot's job) can read.
    struct Slot {
        alignas(std::max_align_t) unsigned char fn[kTakeoverFnBytes];
        void (*call)(const void*, int64_t, int64_t, float*, int) = nullptr;
        std::unique_ptr<uint8_t, void (*)(void*)> inputs{nullptr, nullptr};
        size_t cap = 0;
        uint32_t gen = 0;  // the job that used it last
    };
    struct alignas(64) WorkerState {
        std::atomic<uint64_t> held{0};  // (gen << 32) | (chunk << 2) | state of its take-over chunk
        std::vector<float> out;         // its private results, n_items * out_per_item
    };

    void run(int64_t n_items, int64_t grain, ChunkFn fn);
    Slot* takeover_slot();  // the slot takeover_inputs chose, else a free one; nullptr: run inline
    void run_takeover(Slot& s, int64_t n_items, int64_t grain, float* out, int64_t out_per_item);
    void post(uint32_t gen, int64_t n_items, int64_t grain, int64_t n_chunks);
    void wait_done(uint32_t total);
    bool take_over_one(uint32_t gen);  // runs a running worker's chunk of job gen here; false if none
    void run_chunk(uint32_t gen, int id, uint32_t chunk, uint32_t total);
    void count_done(uint32_t total);
    void record_error(std::exception_ptr e);
    void rethrow_error();
    Slot* free_slot();  // a slot no straggler reads
    void start(int n_threads);
    void stop();
    void worker_main(int id, uint32_t seen);
    int64_t work_on(uint32_t gen, int id);  // claims and runs chunks of job gen until none is left; how many
    bool serial_for_now();                  // inside a spell of running loops on the caller alone
    // Adds a threaded job's gain (posted at t0, caller's chunks from t1 to t2) to the current window.
    void note_gain(int64_t t0, int64_t t1, int64_t t2, int64_t mine, int64_t n_chunks);

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    CpuPlacement placement_;  // workers one per CPU when the pool uses them all (owner-only after start)
    std::mutex caller_;       // held by the owning outside thread (Owner)

    // The current job. Its fields are written before `gen_` is bumped and read only by a worker that has
    // claimed one of its chunks, which the caller waits for, so they never change under a reader.
    ChunkFn* fn_ = nullptr;
    Slot* slot_ = nullptr;  // set: a take-over loop (fn_ unused)
    float* out_ = nullptr;
    int64_t n_items_ = 0, grain_ = 1, out_per_item_ = 0;
    std::vector<std::unique_ptr<Slot>> slots_;  // n_threads of them: at most n_threads - 1 stragglers
    std::vector<std::unique_ptr<WorkerState>> states_;
    Slot* pending_ = nullptr;  // chosen by takeover_inputs for the next take-over loop

    // Serial spells (owner-only state). A window of kGainWindow threaded jobs estimates what they would
    // have cost on the caller alone (its mean chunk time x chunks); under kMinGainTenths/10 of the wall
    // time they took, the threads do not pay (their cores are busy), so loops run on the caller alone
    // for a spell, doubling from 50 ms to 1.6 s while probes keep failing.
    static constexpr int64_t kGainWindow = 256, kMinGainTenths = 11, kMinSampleNs = 20000;
    static constexpr int64_t kBaseBackoffNs = 50000000, kMaxBackoffNs = 1600000000;
    bool adaptive_ = true;
    int64_t gain_serial_ns_ = 0, gain_wall_ns_ = 0, gain_jobs_ = 0;
    int64_t serial_until_ns_ = 0, backoff_ns_ = kBaseBackoffNs;
    std::atomic<uint64_t> serial_spells_{0}, serial_loops_{0};
    std::atomic<uint64_t> takeovers_{0};
    std::atomic<uint64_t> next_{0};             // (gen << 32) | next chunk index: a claim fails once the job changed
    std::atomic<uint64_t> limit_{0};            // (gen << 32) | number of chunks
    alignas(64) std::atomic<uint32_t> gen_{0};  // futex word the idle workers sleep on
    std::atomic<uint32_t> sleepers_{0};
    alignas(64) std::atomic<uint32_t> done_{0};  // chunks finished; futex word the caller sleeps on
    std::atomic<uint32_t> caller_sleeping_{0};
    // The first exception a chunk of the current job threw (any thread); run() rethrows it once every chunk
    // is counted, so no worker still runs the job's function when its caller's frame is gone.
    std::mutex error_mu_;
    std::exception_ptr error_;
    std::atomic<bool> quit_{false};
};

}  // namespace bf
