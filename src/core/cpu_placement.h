// CpuPlacement: one pool thread per CPU when the pool uses every CPU the process may run on.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace bf {

// Unpinned, a worker woken by the caller is placed on the caller's CPU whenever the other cores are busy
// with another process; two of our threads then share one core while the busy process has the other to
// itself, and -t 2 decodes slower than -t 1 (docs/BENCHMARKS.md, session 10). So when the pool has exactly
// as many threads as allowed CPUs (the default thread count), each worker is pinned to its own CPU and
// the caller, which is not pinned (it is the user's thread), keeps the remaining one: when the scheduler
// moves the caller onto a worker's CPU, that worker moves to the CPU the caller left. With fewer threads
// than CPUs nothing is pinned: the scheduler's freedom to use an idle core is worth more.
// BITFLASH_PIN=0 turns it off.
class CpuPlacement {
public:
    // Pins the workers (threads 1..n-1 of the pool) if the rule above applies; the creator calls it.
    void start(std::vector<std::thread>& workers, int n_threads);
    void stop() { on_ = false; }
    // The owner, before it posts a job: keeps the workers off the CPU it runs on now.
    void follow_caller(std::vector<std::thread>& workers) {
        if (on_) follow_caller_slow(workers);
    }
    uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }  // workers moved so far
    // The CPU of each worker (empty: not pinned). Owner only, like follow_caller.
    std::vector<int> worker_cpus() const { return on_ ? worker_cpu_ : std::vector<int>{}; }

private:
    void follow_caller_slow(std::vector<std::thread>& workers);
    bool allowed(int cpu) const;
    void unpin_all(std::vector<std::thread>& workers);
    bool on_ = false;
    int caller_cpu_ = -1;
    std::vector<int> allowed_;     // the process's CPUs
    std::vector<int> worker_cpu_;  // worker_cpu_[i]: the CPU of workers[i]
    std::atomic<uint64_t> moves_{0};
};

}  // namespace bf
