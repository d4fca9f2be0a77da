// ThreadPool: persistent workers that split a loop into small chunks claimed one by one, for the kernels.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

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
    void run(int64_t n_items, int64_t grain, ChunkFn fn);
    void start(int n_threads);
    void stop();
    void worker_main(int id, uint32_t seen);
    void work_on(uint32_t gen, int id);  // claims and runs chunks of job gen until none is left

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex caller_;  // held by the owning outside thread (Owner)

    // The current job. Its fields are written before `gen_` is bumped and read only by a worker that has
    // claimed one of its chunks, which the caller waits for, so they never change under a reader.
    ChunkFn* fn_ = nullptr;
    int64_t n_items_ = 0, grain_ = 1;
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
