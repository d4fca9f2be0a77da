// ThreadPool: worker start/stop, spin-then-futex waiting, and dynamic chunk claiming.
#include "core/thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <utility>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bf {

int resolve_thread_count(int n) {
    if (n > 0) return n;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int c = CPU_COUNT(&set);
        if (c > 0) return c;
    }
    return int(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

// The pool this thread owns or runs a chunk of, its worker id there, and whether it is inside a chunk
// (then a nested parallel_for runs inline).
thread_local const ThreadPool* t_pool = nullptr;
thread_local int t_worker = -1;
thread_local bool t_in_chunk = false;

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>* word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// How long an idle thread polls before it sleeps: long enough to span the serial gap between two
// kernels of one token, short enough that idle workers do not burn a core between requests.
constexpr auto kSpin = std::chrono::microseconds(200);

// Polls `ready` for up to kSpin; true once it holds.
template <class Ready>
bool spin_until(Ready&& ready) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (ready()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return ready();
    }
}

struct ThreadMark {  // sets this thread's (pool, worker, in_chunk) for the scope
    const ThreadPool* saved_pool;
    int saved_worker;
    bool saved_in_chunk;
    ThreadMark(const ThreadPool* pool, int worker, bool in_chunk)
        : saved_pool(t_pool), saved_worker(t_worker), saved_in_chunk(t_in_chunk) {
        t_pool = pool, t_worker = worker, t_in_chunk = in_chunk;
    }
    ~ThreadMark() { t_pool = saved_pool, t_worker = saved_worker, t_in_chunk = saved_in_chunk; }
};

}  // namespace

ThreadPool::ThreadPool(int n_threads) { start(resolve_thread_count(n_threads)); }

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::resize(int n_threads) {
    const int n = resolve_thread_count(n_threads);
    if (n == n_threads_) return;
    std::lock_guard<std::mutex> lock(caller_);
    stop();
    start(n);
}

int ThreadPool::current_worker() const { return t_pool == this ? t_worker : -1; }

ThreadPool::Owner::Owner(ThreadPool& pool) : pool_(&pool) {
    if (t_pool == pool_) return;  // already the owner, or inside one of its chunks
    pool_->caller_.lock();
    locked_ = true;
    saved_pool_ = t_pool, saved_worker_ = t_worker, saved_in_chunk_ = t_in_chunk;
    t_pool = pool_, t_worker = 0, t_in_chunk = false;
}

ThreadPool::Owner::~Owner() {
    if (!locked_) return;
    t_pool = static_cast<const ThreadPool*>(saved_pool_), t_worker = saved_worker_, t_in_chunk = saved_in_chunk_;
    pool_->caller_.unlock();
}

int ThreadPool::Owner::worker() const { return t_worker; }

void ThreadPool::start(int n_threads) {
    n_threads_ = n_threads;
    quit_.store(false);
    workers_.reserve(size_t(n_threads - 1));
    // The generation is read here, not by the new thread: a thread that starts late must still see the
    // jobs (and the stop) posted before it ran.
    const uint32_t seen = gen_.load();
    for (int id = 1; id < n_threads; ++id) workers_.emplace_back([this, id, seen] { worker_main(id, seen); });
}

void ThreadPool::stop() {
    quit_.store(true);
    gen_.fetch_add(1);  // wakes spinners; sleepers are woken below
    futex_wake_all(&gen_);
    for (auto& t : workers_) t.join();
    workers_.clear();
}

void ThreadPool::worker_main(int id, uint32_t seen) {
    for (;;) {
        if (!spin_until([&] { return gen_.load(std::memory_order_acquire) != seen; })) {
            sleepers_.fetch_add(1);  // seq_cst, paired with the caller's store of gen_ then load of sleepers_
            while (gen_.load() == seen) futex_wait(&gen_, seen);
            sleepers_.fetch_sub(1);
        }
        seen = gen_.load();  // before quit_: stop() sets quit_ before it bumps gen_, so no bump is missed
        if (quit_.load()) return;
        work_on(seen, id);
    }
}

void ThreadPool::work_on(uint32_t gen, int id) {
    ThreadMark mark(this, id, true);
    for (;;) {
        uint64_t cur = next_.load(std::memory_order_acquire);
        if (uint32_t(cur >> 32) != gen) return;  // a later job: this one is finished
        const uint64_t lim = limit_.load(std::memory_order_acquire);
        if (uint32_t(lim >> 32) != gen || uint32_t(cur) >= uint32_t(lim)) return;
        if (!next_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) continue;
        // Chunk claimed: the job cannot be replaced before done_ counts it, so its fields are stable.
        const int64_t b = int64_t(uint32_t(cur)) * grain_, e = std::min(n_items_, b + grain_);
        try {
            (*fn_)(b, e, id);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mu_);
            if (!error_) error_ = std::current_exception();
        }
        if (done_.fetch_add(1) + 1 == uint32_t(lim) && caller_sleeping_.load())  // seq_cst: see run()
            futex_wake_all(&done_);
    }
}

void ThreadPool::run(int64_t n_items, int64_t grain, ChunkFn fn) {
    if (n_items <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    grain = std::max(grain, (n_items + (int64_t(1) << 30) - 1) >> 30);  // chunk count fits the 32-bit words
    const int64_t n_chunks = (n_items + grain - 1) / grain;
    auto inline_loop = [&](int worker) {
        for (int64_t b = 0; b < n_items; b += grain) fn(b, std::min(n_items, b + grain), worker);
    };
    if (t_pool == this && t_in_chunk) return inline_loop(t_worker);  // nested inside one of our chunks
    Owner owner(*this);
    if (n_threads_ == 1 || n_chunks == 1) {
        ThreadMark mark(this, 0, true);
        return inline_loop(0);
    }
    const uint32_t gen = gen_.load() + 1;
    fn_ = &fn;
    n_items_ = n_items;
    grain_ = grain;
    done_.store(0, std::memory_order_relaxed);
    limit_.store((uint64_t(gen) << 32) | uint64_t(n_chunks), std::memory_order_release);
    next_.store(uint64_t(gen) << 32, std::memory_order_release);
    gen_.store(gen);  // seq_cst: a worker either sees it or is counted in sleepers_ below
    if (sleepers_.load() > 0) futex_wake_all(&gen_);

    work_on(gen, 0);
    const uint32_t total = uint32_t(n_chunks);
    if (!spin_until([&] { return done_.load(std::memory_order_acquire) == total; })) {
        caller_sleeping_.store(1);  // seq_cst with the load below and the worker's fetch_add, then its load
        for (uint32_t d; (d = done_.load()) != total;) futex_wait(&done_, d);
        caller_sleeping_.store(0);
    }
    if (error_) {  // every chunk is counted: no other thread touches error_ until the next job
        std::exception_ptr e = std::exchange(error_, nullptr);
        std::rethrow_exception(e);
    }
}

}  // namespace bf
