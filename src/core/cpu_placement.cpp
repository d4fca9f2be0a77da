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
    if (std::find(allowed_.begin(), allowed_.end(), caller_cpu_) == allowed_.end()) caller_cpu_ = allowed_[0];
    for (int c : allowed_)
        if (c != caller_cpu_) worker_cpu_.push_back(c);
    for (size_t i = 0; i < workers.size(); ++i)
        if (!pin(workers[i], worker_cpu_[i])) {  // e.g. a CPU set that changed under us: leave it to the OS
            cpu_set_t all;
            CPU_ZERO(&all);
            for (int c : allowed_) CPU_SET(c, &all);
            for (size_t j = 0; j < i; ++j) pthread_setaffinity_np(workers[j].native_handle(), sizeof(all), &all);
            return;
        }
    on_ = true;
}

void CpuPlacement::follow_caller_slow(std::vector<std::thread>& workers) {
    const int now = sched_getcpu();
    if (now == caller_cpu_ || now < 0) return;
    const int left = caller_cpu_;
    caller_cpu_ = now;
    for (size_t i = 0; i < worker_cpu_.size(); ++i)
        if (worker_cpu_[i] == now && left >= 0 && pin(workers[i], left)) {
            worker_cpu_[i] = left;
            moves_.fetch_add(1, std::memory_order_relaxed);
        }
}

}  // namespace bf
