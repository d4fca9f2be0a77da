// CpuPlacement through the pool: one worker per CPU when the pool uses every allowed CPU, none pinned
// otherwise or with BITFLASH_PIN=0, and a worker moves off the CPU the caller moved to.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "core/thread_pool.h"

namespace bf {
namespace {

std::vector<int> allowed() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

bool set_mine(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(c, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
}

// The caller's own affinity for a scope, restored even when an assertion returns early.
struct CallerOn {
    explicit CallerOn(int cpu) : ok(set_mine({cpu})) {}
    ~CallerOn() { set_mine(allowed_at_start); }
    static inline std::vector<int> allowed_at_start;
    bool ok;
};

// The CPUs the workers ran chunks on, in loops long enough for every worker to take part. Rounds are
// bounded by time, not count: on a loaded machine (ctest -j2) a worker may wait long for its core.
std::vector<int> cpus_workers_ran_on(ThreadPool& pool) {
    std::vector<std::atomic<int>> seen(size_t(pool.size()));
    for (auto& s : seen) s = -1;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
        pool.parallel_for(64, 1, [&](int64_t, int64_t, int w) {
            if (w > 0) seen[size_t(w)] = sched_getcpu();
            const auto c0 = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - c0 < std::chrono::microseconds(50)) {}
        });
        bool all = true;
        for (int w = 1; w < pool.size(); ++w) all = all && seen[size_t(w)] >= 0;
        if (all) break;
    }
    std::vector<int> out;
    for (int w = 1; w < pool.size(); ++w) out.push_back(seen[size_t(w)]);
    return out;
}

TEST(CpuPlacement, OneWorkerPerCpuAndTheCallerKeepsTheRest) {
    const std::vector<int> cpus = allowed();
    if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs";
    if (std::getenv("BITFLASH_PIN")) GTEST_SKIP() << "BITFLASH_PIN is set";
    CallerOn::allowed_at_start = cpus;
    ThreadPool pool(0);
    pool.set_adaptive(false);  // no serial spell: every loop is offered to the workers
    const std::vector<int> pinned = pool.worker_cpus();
    ASSERT_EQ(pinned.size(), cpus.size() - 1);
    for (int c : pinned) EXPECT_TRUE(std::find(cpus.begin(), cpus.end(), c) != cpus.end());
    std::vector<int> sorted = pinned;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "two workers on one CPU";
    EXPECT_EQ(cpus_workers_ran_on(pool), pool.worker_cpus());

    // The caller moves onto worker 1's CPU (read now: the caller may have moved, and a worker with it,
    // during the loops above); with its next job that worker takes the CPU the caller left.
    const int target = pool.worker_cpus()[0];
    const CallerOn moved(target);
    ASSERT_TRUE(moved.ok);
    const uint64_t before = pool.worker_moves();
    const std::vector<int> ran = cpus_workers_ran_on(pool);
    EXPECT_GT(pool.worker_moves(), before);
    EXPECT_NE(pool.worker_cpus()[0], target);
    EXPECT_NE(ran[0], target) << "worker 1 still ran on the caller's CPU";
    EXPECT_EQ(ran, pool.worker_cpus());
}

TEST(CpuPlacement, NothingPinnedWithMoreThreadsThanCpusOrWhenTurnedOff) {
    if (std::getenv("BITFLASH_PIN")) GTEST_SKIP() << "BITFLASH_PIN is set";
    const std::vector<int> cpus = allowed();
    ThreadPool more(int(cpus.size()) + 1);
    EXPECT_TRUE(more.worker_cpus().empty());
    setenv("BITFLASH_PIN", "0", 1);
    ThreadPool off(int(cpus.size()));
    unsetenv("BITFLASH_PIN");
    EXPECT_TRUE(off.worker_cpus().empty());
    ThreadPool one(1);
    EXPECT_TRUE(one.worker_cpus().empty());
}

}  // namespace
}  // namespace bf
