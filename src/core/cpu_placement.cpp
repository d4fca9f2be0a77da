// CpuPlacement: pins pool workers one per CPU and moves one off the caller's CPU when the caller moves.
#include "core/cpu_placement.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

namespace bf {

namespace {

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

bool pin(std::thread& t, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(t.native_handle(), sizeof(set), &set) == 0;
}

}  // namespace

void CpuPlacement::start(std::vector<std::thread>& workers, int n_threads) {
    on_ = false;
    worker_cpu_.clear();
    const char* env = std::getenv("BITFLASH_PIN");
    if ((env && env[0] == '0') || n_threads < 2) return;
    allowed_ = allowed_cpus();
    if (int(allowed_.size()) != n_threads || int(workers.size()) != n_threads - 1) return;
    // The workers take every allowed CPU but the caller's current one.
    caller_cpu_ = sched_getcpu();
    if (!allowed(caller_cpu_)) caller_cpu_ = allowed_[0];
    for (int c : allowed_)
        if (c != caller_cpu_) worker_cpu_.push_back(c);
    on_ = true;
    for (size_t i = 0; i < workers.size() && on_; ++i)
        if (!pin(workers[i], worker_cpu_[i])) unpin_all(workers);
}

bool CpuPlacement::allowed(int cpu) const { return std::find(allowed_.begin(), allowed_.end(), cpu) != allowed_.end(); }

// A refused pin (e.g. a CPU set that shrank under us) would leave the one-thread-per-CPU rule broken:
// everything goes back to the OS for the pool's lifetime.
void CpuPlacement::unpin_all(std::vector<std::thread>& workers) {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c : allowed_) CPU_SET(c, &all);
    for (auto& t : workers) pthread_setaffinity_np(t.native_handle(), sizeof(all), &all);
    on_ = false;
    worker_cpu_.clear();
}

void CpuPlacement::follow_caller_slow(std::vector<std::thread>& workers) {
    const int now = sched_getcpu();
    if (now == caller_cpu_ || !allowed(now)) return;  // a CPU outside the set (affinity widened): not ours to use
    const int left = caller_cpu_;
    caller_cpu_ = now;
    for (size_t i = 0; i < worker_cpu_.size(); ++i)
        if (worker_cpu_[i] == now) {
            if (!pin(workers[i], left)) return unpin_all(workers);
            worker_cpu_[i] = left;
            moves_.fetch_add(1, std::memory_order_relaxed);
        }
}

}  // namespace bf
