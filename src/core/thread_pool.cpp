// ThreadPool: worker start/stop, spin-then-futex waiting, and dynamic chunk claiming.
#include "core/thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <new>
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

// Polls `ready` for `patience` (checking the clock every 16 polls); true once it holds.
template <class Ready>
bool poll_for(std::chrono::nanoseconds patience, Ready&& ready) {
    const auto until = std::chrono::steady_clock::now() + patience;
    for (;;) {
        for (int i = 0; i < 16; ++i) {
            if (ready()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return ready();
    }
}

// Polls `ready` for up to kSpin; true once it holds.
template <class Ready>
bool spin_until(Ready&& ready) {
    return poll_for(kSpin, ready);
}

// A worker's held-chunk word: (gen << 32) | (chunk << 2) | state; 0 is idle. Chunk indices fit in 30 bits
// (run and run_takeover keep a job under 2^30 chunks).
enum : uint64_t { kIdle = 0, kRunning = 1, kTaken = 2, kCommitting = 3 };
uint64_t held_word(uint32_t gen, uint32_t chunk, uint64_t state) {
    return (uint64_t(gen) << 32) | (uint64_t(chunk) << 2) | state;
}
uint32_t held_gen(uint64_t h) { return uint32_t(h >> 32); }
uint32_t held_chunk(uint64_t h) { return uint32_t(h >> 2) & 0x3fffffffu; }
uint64_t held_state(uint64_t h) { return h & 3; }

// Workers (of any pool) still running a chunk that was taken over from them; a trivially destructible
// global, so wait_for_stragglers works from any destructor, even at exit.
std::atomic<int64_t> g_stragglers{0};
std::atomic<int64_t> g_test_stall_us{0};  // stall_next_worker_chunk

// How long the caller waits for a held chunk before taking it over: a few of its own mean chunk times (a
// running worker that started its chunk late needs about one more), at least 20 µs (timer and wake-up
// noise), at most 1 ms; 50 µs when it ran no chunk itself.
std::chrono::nanoseconds takeover_patience(int64_t work_ns, int64_t chunks) {
    if (chunks == 0) return std::chrono::microseconds(50);
    const int64_t ns = 4 * (work_ns / chunks) + 10000;
    return std::chrono::nanoseconds(std::min<int64_t>(std::max<int64_t>(ns, 20000), 1000000));
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
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
    // Fresh slots and worker states: stop() joined every worker, so no straggler reads the old ones.
    slots_.clear();
    states_.clear();
    pending_ = nullptr;
    for (int i = 0; i < n_threads; ++i) {
        slots_.push_back(std::make_unique<Slot>());
        states_.push_back(std::make_unique<WorkerState>());
    }
    workers_.reserve(size_t(n_threads - 1));
    // The generation is read here, not by the new thread: a thread that starts late must still see the
    // jobs (and the stop) posted before it ran.
    const uint32_t seen = gen_.load();
    for (int id = 1; id < n_threads; ++id) workers_.emplace_back([this, id, seen] { worker_main(id, seen); });
    placement_.start(workers_, n_threads);
}

void ThreadPool::stop() {
    placement_.stop();
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

int64_t ThreadPool::work_on(uint32_t gen, int id) {
    ThreadMark mark(this, id, true);
    for (int64_t ran = 0;; ++ran) {
        uint64_t cur = next_.load(std::memory_order_acquire);
        if (uint32_t(cur >> 32) != gen) return ran;  // a later job: this one is finished
        const uint64_t lim = limit_.load(std::memory_order_acquire);
        if (uint32_t(lim >> 32) != gen || uint32_t(cur) >= uint32_t(lim)) return ran;
        if (!next_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) {
            --ran;
            continue;
        }
        // Chunk claimed: the job cannot be replaced before done_ counts it (or, in a take-over loop, before
        // the caller has seen it running and taken it), so its fields are stable until then.
        run_chunk(gen, id, uint32_t(cur), uint32_t(lim));
    }
}

void ThreadPool::record_error(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = std::move(e);
}

void ThreadPool::count_done(uint32_t total) {
    if (done_.fetch_add(1) + 1 == total && caller_sleeping_.load())  // seq_cst: see wait_done()
        futex_wake_all(&done_);
}

void ThreadPool::run_chunk(uint32_t gen, int id, uint32_t chunk, uint32_t total) {
    const int64_t b = int64_t(chunk) * grain_, e = std::min(n_items_, b + grain_);
    if (!slot_) {
        try {
            (*fn_)(b, e, id);
        } catch (...) {
            record_error(std::current_exception());
        }
        return count_done(total);
    }
    Slot* s = slot_;
    float* const out = out_;
    const int64_t per = out_per_item_;
    if (id == 0) {  // the caller's chunks are never taken over: straight into out
        try {
            s->call(s->fn, b, e, out, 0);
        } catch (...) {
            record_error(std::current_exception());
        }
        return count_done(total);
    }
    // From here on only locals, the slot and this worker's own state: once the word says running, the
    // caller may take the chunk over and move on to other jobs.
    WorkerState& st = *states_[size_t(id)];
    // Mark the chunk running first, so that the caller can take it over from here on (a pause while the
    // buffer grows would otherwise hold the caller for a whole time slice); the job's sizes are locals.
    const size_t need = size_t(n_items_ * per);
    st.held.store(held_word(gen, chunk, kRunning));
    if (g_test_stall_us.load(std::memory_order_relaxed) > 0)
        if (const int64_t us = g_test_stall_us.exchange(0)) std::this_thread::sleep_for(std::chrono::microseconds(us));
    std::exception_ptr thrown;
    try {
        if (st.out.size() < need) st.out.resize(need);  // inside the try: bad_alloc reaches the caller
        s->call(s->fn, b, e, st.out.data(), id);
    } catch (...) {
        thrown = std::current_exception();
    }
    uint64_t expect = held_word(gen, chunk, kRunning);
    if (st.held.compare_exchange_strong(expect, held_word(gen, chunk, kCommitting), std::memory_order_acq_rel)) {
        if (thrown)
            record_error(thrown);  // the job is still live: the caller waits for this chunk, then throws
        else
            std::copy(st.out.data() + b * per, st.out.data() + e * per, out + b * per);
        st.held.store(kIdle, std::memory_order_release);
        return count_done(total);
    }
    // Taken over: drop the result; the release store ends this thread's reads of the slot.
    st.held.store(kIdle, std::memory_order_release);
    g_stragglers.fetch_sub(1, std::memory_order_release);
}

bool ThreadPool::take_over_one(uint32_t gen) {
    for (int w = 1; w < n_threads_; ++w) {
        std::atomic<uint64_t>& held = states_[size_t(w)]->held;
        uint64_t h = held.load(std::memory_order_acquire);
        if (held_gen(h) != gen || held_state(h) != kRunning) continue;
        g_stragglers.fetch_add(1);  // before the swap: a straggler that ends at once must not go below 0
        if (!held.compare_exchange_strong(h, held_word(gen, held_chunk(h), kTaken), std::memory_order_acq_rel)) {
            g_stragglers.fetch_sub(1);
            continue;
        }
        takeovers_.fetch_add(1, std::memory_order_relaxed);
        const int64_t b = int64_t(held_chunk(h)) * grain_, e = std::min(n_items_, b + grain_);
        ThreadMark mark(this, 0, true);
        try {
            slot_->call(slot_->fn, b, e, out_, 0);
        } catch (...) {
            record_error(std::current_exception());
        }
        done_.fetch_add(1);
        return true;
    }
    return false;
}

void ThreadPool::post(uint32_t gen, int64_t n_items, int64_t grain, int64_t n_chunks) {
    placement_.follow_caller(workers_);
    n_items_ = n_items;
    grain_ = grain;
    done_.store(0, std::memory_order_relaxed);
    limit_.store((uint64_t(gen) << 32) | uint64_t(n_chunks), std::memory_order_release);
    next_.store(uint64_t(gen) << 32, std::memory_order_release);
    gen_.store(gen);  // seq_cst: a worker either sees it or is counted in sleepers_ below
    if (sleepers_.load() > 0) futex_wake_all(&gen_);
}

void ThreadPool::wait_done(uint32_t total) {
    if (!spin_until([&] { return done_.load(std::memory_order_acquire) == total; })) {
        caller_sleeping_.store(1);  // seq_cst with the load below and the worker's fetch_add, then its load
        for (uint32_t d; (d = done_.load()) != total;) futex_wait(&done_, d);
        caller_sleeping_.store(0);
    }
}

void ThreadPool::rethrow_error() {
    if (error_) {  // every chunk is counted: no other thread touches error_ until the next job
        std::exception_ptr e = std::exchange(error_, nullptr);
        std::rethrow_exception(e);
    }
}

namespace {
// Keeps a job under 2^30 chunks (the 32-bit counters and the held word's 30 bits).
int64_t fit_grain(int64_t n_items, int64_t grain) {
    grain = std::max<int64_t>(grain, 1);
    return std::max(grain, (n_items + (int64_t(1) << 30) - 1) >> 30);
}
}  // namespace

void ThreadPool::run(int64_t n_items, int64_t grain, ChunkFn fn) {
    if (n_items <= 0) return;
    grain = fit_grain(n_items, grain);
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
    if (serial_for_now()) {
        ThreadMark mark(this, 0, true);
        return inline_loop(0);
    }
    const uint32_t gen = gen_.load() + 1;
    fn_ = &fn;
    slot_ = nullptr;
    const int64_t t0 = now_ns();
    post(gen, n_items, grain, n_chunks);
    const int64_t t1 = now_ns(), mine = work_on(gen, 0), t2 = now_ns();
    wait_done(uint32_t(n_chunks));
    note_gain(t0, t1, t2, mine, n_chunks);
    rethrow_error();
}

bool ThreadPool::serial_for_now() {
    if (serial_until_ns_ == 0) return false;
    if (now_ns() < serial_until_ns_) {
        serial_loops_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    serial_until_ns_ = 0;  // time to probe the workers again
    return false;
}

void ThreadPool::note_gain(int64_t t0, int64_t t1, int64_t t2, int64_t mine, int64_t n_chunks) {
    const int64_t wall = now_ns() - t0;
    // Jobs of a few µs measure the hand-off, not the machine; the caller needs a chunk to time.
    if (!adaptive_ || mine == 0 || wall < kMinSampleNs) return;
    gain_serial_ns_ += (t2 - t1) / mine * n_chunks;  // this job on one thread, at the caller's chunk speed
    gain_wall_ns_ += wall;
    if (++gain_jobs_ < kGainWindow) return;
    const bool worth = gain_serial_ns_ * 10 >= gain_wall_ns_ * kMinGainTenths;
    gain_serial_ns_ = gain_wall_ns_ = gain_jobs_ = 0;
    if (worth) {
        backoff_ns_ = kBaseBackoffNs;
        return;
    }
    serial_until_ns_ = now_ns() + backoff_ns_;
    backoff_ns_ = std::min(2 * backoff_ns_, kMaxBackoffNs);
    serial_spells_.fetch_add(1, std::memory_order_relaxed);
}

ThreadPool::Slot* ThreadPool::free_slot() {
    for (auto& s : slots_) {
        bool busy = false;
        for (auto& st : states_) {
            const uint64_t h = st->held.load(std::memory_order_acquire);  // pairs with the straggler's release
            busy = busy || (held_state(h) != kIdle && held_gen(h) == s->gen);
        }
        if (!busy) return s.get();
    }
    return nullptr;  // unreachable: n_threads slots, at most n_threads - 1 stragglers
}

uint8_t* ThreadPool::takeover_inputs(size_t bytes) {
    if (n_threads_ == 1 || t_pool != this || t_in_chunk) return nullptr;  // not the owner, or nested
    Slot* s = free_slot();
    if (!s) return nullptr;
    if (bytes > s->cap) {
        const size_t cap = (std::max<size_t>(bytes, 64) + 63) / 64 * 64;
        void* p = std::aligned_alloc(64, cap);
        if (!p) throw std::bad_alloc();
        s->inputs = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(p), std::free);
        s->cap = cap;
    }
    pending_ = s;
    return s->inputs.get();
}

ThreadPool::Slot* ThreadPool::takeover_slot() {
    if (n_threads_ == 1 || t_in_chunk) return nullptr;
    return pending_ ? std::exchange(pending_, nullptr) : free_slot();
}

void ThreadPool::run_takeover(Slot& s, int64_t n_items, int64_t grain, float* out, int64_t out_per_item) {
    if (n_items <= 0) return;
    grain = fit_grain(n_items, grain);
    const int64_t n_chunks = (n_items + grain - 1) / grain;
    if (n_chunks == 1 || serial_for_now()) {
        ThreadMark mark(this, 0, true);
        for (int64_t b = 0; b < n_items; b += grain) s.call(s.fn, b, std::min(n_items, b + grain), out, 0);
        return;
    }
    const uint32_t gen = gen_.load() + 1;
    s.gen = gen;
    slot_ = &s;
    fn_ = nullptr;
    out_ = out;
    out_per_item_ = out_per_item;
    const int64_t t0 = now_ns();
    post(gen, n_items, grain, n_chunks);
    const int64_t t1 = now_ns(), mine = work_on(gen, 0), t2 = now_ns();
    const uint32_t total = uint32_t(n_chunks);
    const auto patience = takeover_patience(t2 - t1, mine);
    for (;;) {
        if (poll_for(patience, [&] { return done_.load(std::memory_order_acquire) == total; })) break;
        if (!take_over_one(gen)) {  // held but not (yet) marked running, or being committed: plain wait
            wait_done(total);
            break;
        }
    }
    note_gain(t0, t1, t2, mine, n_chunks);
    rethrow_error();
}

void ThreadPool::set_adaptive(bool on) {
    Owner owner(*this);
    adaptive_ = on;
    serial_until_ns_ = gain_serial_ns_ = gain_wall_ns_ = gain_jobs_ = 0;
    backoff_ns_ = kBaseBackoffNs;
}

void ThreadPool::stall_next_worker_chunk(int64_t us) { g_test_stall_us.store(us); }

void ThreadPool::wait_for_stragglers() {
    while (g_stragglers.load(std::memory_order_acquire) > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
}

}  // namespace bf
