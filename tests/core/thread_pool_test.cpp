// ThreadPool: every item exactly once, worker ids, nesting, reuse, resizing, owners and shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace bf {
namespace {

// Runs one loop and checks that every item was visited exactly once and chunks respect the grain.
void check_cover(ThreadPool& pool, int64_t n, int64_t grain) {
    std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(n, 1)));
    std::atomic<int> bad_chunk{0}, bad_worker{0};
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int w) {
        if (b >= e || e - b > std::max<int64_t>(grain, 1) || b < 0 || e > n) bad_chunk++;
        if (w < 0 || w >= pool.size()) bad_worker++;
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    EXPECT_EQ(bad_chunk.load(), 0) << "n=" << n << " grain=" << grain;
    EXPECT_EQ(bad_worker.load(), 0);
    for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[size_t(i)].load(), 1) << "item " << i << " n=" << n << " grain=" << grain;
}

TEST(ThreadPool, EveryItemOnceForManySizesGrainsAndThreadCounts) {
    for (int threads : {1, 2, 3, 4, 7}) {
        ThreadPool pool(threads);
        ASSERT_EQ(pool.size(), threads);
        for (int64_t n : {0, 1, 2, 3, 7, 8, 63, 64, 65, 1000, 4097})
            for (int64_t grain : {0, 1, 2, 3, 16, 1000, 5000}) check_cover(pool, n, grain);
    }
}

// A chunk that throws (on the caller or on a worker) reaches the caller once every chunk has finished (with
// workers the other chunks still run; alone, the loop stops at the throw), and the pool serves the next loops.
TEST(ThreadPool, AnExceptionInAChunkReachesTheCallerAndThePoolGoesOn) {
    for (int threads : {1, 2, 4}) {
        ThreadPool pool(threads);
        for (int round = 0; round < 50; ++round) {
            std::atomic<int> ran{0};
            EXPECT_THROW(pool.parallel_for(64, 1,
                                           [&](int64_t b, int64_t, int) {
                                               ran++;
                                               if (b % 7 == 3) throw std::runtime_error("chunk " + std::to_string(b));
                                           }),
                         std::runtime_error);
            EXPECT_EQ(ran.load(), threads > 1 ? 64 : 4);
            check_cover(pool, 1000, 3);
        }
    }
}

TEST(ThreadPool, DefaultCountIsTheCoresWeMayUse) {
    EXPECT_GE(resolve_thread_count(0), 1);
    EXPECT_EQ(resolve_thread_count(-3), resolve_thread_count(0));
    EXPECT_EQ(resolve_thread_count(5), 5);
    ThreadPool pool;
    EXPECT_EQ(pool.size(), resolve_thread_count(0));
}

TEST(ThreadPool, NoTwoChunksRunAtOnceWithTheSameWorkerId) {
    ThreadPool pool(4);
    std::vector<std::atomic<int>> busy(4);
    std::atomic<int> clash{0};
    for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(64, 1, [&](int64_t, int64_t, int w) {
            if (busy[size_t(w)].fetch_add(1) != 0) clash++;
            std::this_thread::sleep_for(std::chrono::microseconds(20));
            busy[size_t(w)].fetch_sub(1);
        });
    EXPECT_EQ(clash.load(), 0);
}

TEST(ThreadPool, WorkersTakePartWhenTheCallerIsSlow) {
    ThreadPool pool(2);
    std::set<int> seen;
    std::mutex m;
    // The caller's own chunk sleeps, so the worker must take the others (it is awake within the wait).
    pool.parallel_for(8, 1, [&](int64_t, int64_t, int w) {
        {
            std::lock_guard<std::mutex> lock(m);
            seen.insert(w);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    EXPECT_EQ(seen.size(), 2u);
}

TEST(ThreadPool, NestedLoopsRunInlineOnTheChunksThread) {
    ThreadPool pool(3);
    std::vector<std::atomic<int>> hits(40 * 30);
    std::atomic<int> wrong_worker{0};
    pool.parallel_for(40, 1, [&](int64_t b, int64_t e, int outer) {
        for (int64_t i = b; i < e; ++i)
            pool.parallel_for(30, 4, [&](int64_t b2, int64_t e2, int inner) {
                if (inner != outer || pool.current_worker() != outer) wrong_worker++;
                for (int64_t j = b2; j < e2; ++j) hits[size_t(i * 30 + j)]++;
            });
    });
    EXPECT_EQ(wrong_worker.load(), 0);
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    EXPECT_EQ(pool.current_worker(), -1);  // outside any loop again
}

TEST(ThreadPool, ReusedThousandsOfTimes) {
    ThreadPool pool(3);
    int64_t total = 0;
    for (int rep = 0; rep < 20000; ++rep) {
        std::atomic<int64_t> sum{0};
        const int64_t n = 1 + rep % 37;
        pool.parallel_for(n, 1 + rep % 5, [&](int64_t b, int64_t e, int) {
            for (int64_t i = b; i < e; ++i) sum += i;
        });
        ASSERT_EQ(sum.load(), n * (n - 1) / 2) << "rep " << rep;
        total += sum.load();
    }
    EXPECT_GT(total, 0);
}

TEST(ThreadPool, LoopsAfterTheWorkersFellAsleep) {
    ThreadPool pool(2);
    for (int rep = 0; rep < 3; ++rep) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // far beyond the spin time
        check_cover(pool, 1000, 7);
    }
}

TEST(ThreadPool, ThreadCountChanges) {
    ThreadPool pool(1);
    for (int threads : {3, 1, 4, 2, 0, 2}) {
        pool.resize(threads);
        ASSERT_EQ(pool.size(), resolve_thread_count(threads));
        std::atomic<int> max_worker{0};
        pool.parallel_for(200, 1, [&](int64_t, int64_t, int w) {
            int m = max_worker.load();
            while (w > m && !max_worker.compare_exchange_weak(m, w)) {}
        });
        EXPECT_LT(max_worker.load(), pool.size());
        check_cover(pool, 777, 5);
    }
}

TEST(ThreadPool, DestroyedWithIdleWorkers) {
    for (int rep = 0; rep < 20; ++rep) {
        ThreadPool pool(4);
        if (rep % 2) check_cover(pool, 100, 3);
        if (rep % 4 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // workers asleep
    }  // must join without hanging, whether the workers spin, sleep or never ran a loop
}

TEST(ThreadPool, CallersFromSeveralThreadsTakeTurns) {
    ThreadPool pool(3);
    std::atomic<int> in_owner{0}, overlap{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
        callers.emplace_back([&] {
            for (int rep = 0; rep < 200; ++rep) {
                ThreadPool::Owner owner(pool);
                EXPECT_EQ(owner.worker(), 0);
                if (in_owner.fetch_add(1) != 0) overlap++;
                check_cover(pool, 50, 3);
                in_owner.fetch_sub(1);
            }
        });
    for (auto& t : callers) t.join();
    EXPECT_EQ(overlap.load(), 0);
}

}  // namespace
}  // namespace bf
