// ThreadPool take-over loops: exact results when a worker stalls inside a chunk, the take-over path used,
// nothing written by the late straggler, its input memory kept intact, and the plain fallbacks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace bf {
namespace {

// The straggler's controls: a loop body copied into the pool captures values only, so these are globals.
std::atomic<int> g_block_armed{0};  // 1: the next worker chunk blocks until g_release
std::atomic<int> g_release{0};
std::atomic<int> g_blocked{0};  // a worker is blocked inside its chunk
std::atomic<int> g_straggler_done{0};
std::atomic<int> g_input_changed{0};      // a straggler saw its inputs change under it
std::atomic<int64_t> g_sleep_us{0};       // the next worker chunk sleeps this long between reading its inputs
std::atomic<int64_t> g_worker_chunks{0};  // chunks a worker (not the caller) ran

// Two outputs per item i, 3·in[i] + 1 and -in[i], from the loop's input memory; each chunk busy for
// `spin_us` first, so that the worker is sure to claim chunks while the caller works.
struct Body {
    const int32_t* in;
    int64_t spin_us = 0;
    void operator()(int64_t b, int64_t e, float* out, int worker) const {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
        while (std::chrono::steady_clock::now() < until) {}
        const int32_t first = in[b];
        if (worker != 0) g_worker_chunks++;
        if (worker != 0 && g_sleep_us.load() > 0)
            if (const int64_t us = g_sleep_us.exchange(0)) std::this_thread::sleep_for(std::chrono::microseconds(us));
        if (worker != 0 && g_block_armed.exchange(0) == 1) {
            g_blocked.store(1);
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);  // never hang
            while (!g_release.load() && std::chrono::steady_clock::now() < give_up)
                std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        for (int64_t i = b; i < e; ++i) {
            out[2 * i] = float(3 * in[i] + 1);
            out[2 * i + 1] = float(-in[i]);
        }
        if (in[b] != first) g_input_changed.store(1);
        if (g_blocked.load() && worker != 0) g_straggler_done.store(1);
    }
};

void fill_inputs(int32_t* in, int64_t n, int32_t base = 0) {
    for (int64_t i = 0; i < n; ++i) in[i] = int32_t(i) + base;
}

void expect_exact(const std::vector<float>& out, int64_t n, int32_t base = 0) {
    for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(out[size_t(2 * i)], float(3 * (i + base) + 1)) << "item " << i;
        ASSERT_EQ(out[size_t(2 * i + 1)], float(-(i + base))) << "item " << i;
    }
}

// A worker blocked in its chunk (until released, so only a take-over can end the loop): the result is
// exact, the counter moved, and once released the straggler finishes its copy but writes nothing.
TEST(ThreadPoolTakeover, AStalledChunkIsTakenOverAndTheStragglerWritesNothing) {
    ThreadPool pool(2);
    pool.set_adaptive(false);  // the workers must stay in use however little they gain here
    const int64_t n = 64;
    std::vector<float> out(size_t(2 * n));
    g_release = 0, g_blocked = 0, g_straggler_done = 0, g_input_changed = 0;
    bool stalled = false;
    for (int round = 0; round < 500 && !stalled; ++round) {  // until the worker claims a chunk at all
        ThreadPool::Owner owner(pool);
        auto* in = reinterpret_cast<int32_t*>(pool.takeover_inputs(size_t(n) * 4));
        ASSERT_NE(in, nullptr);
        fill_inputs(in, n);
        g_block_armed = 1;
        std::fill(out.begin(), out.end(), -1.0f);
        pool.parallel_for_takeover(n, 1, out.data(), 2, Body{in, 20});
        expect_exact(out, n);
        stalled = g_blocked.load() == 1;
    }
    g_block_armed = 0;
    ASSERT_TRUE(stalled) << "the worker never took a chunk";
    EXPECT_GE(pool.takeovers(), 1u);
    EXPECT_EQ(g_straggler_done.load(), 0);  // still blocked: the loop ended without it
    std::fill(out.begin(), out.end(), 7.0f);
    // The pool goes on without the straggler meanwhile (plain and take-over loops).
    std::atomic<int> items{0};
    pool.parallel_for(100, 1, [&](int64_t b, int64_t e, int) { items += int(e - b); });
    EXPECT_EQ(items.load(), 100);
    std::vector<float> out2(size_t(2 * n));
    {
        ThreadPool::Owner owner(pool);
        auto* in2 = reinterpret_cast<int32_t*>(pool.takeover_inputs(size_t(n) * 4));
        fill_inputs(in2, n);
        pool.parallel_for_takeover(n, 3, out2.data(), 2, Body{in2});
    }
    expect_exact(out2, n);
    g_release = 1;
    ThreadPool::wait_for_stragglers();
    EXPECT_EQ(g_straggler_done.load(), 1);
    EXPECT_EQ(g_input_changed.load(), 0);
    for (float v : out) ASSERT_EQ(v, 7.0f);  // the straggler's late result went nowhere
}

// Many loops on 4 threads, workers sleeping inside chunks now and then: every result exact, and no loop's
// input memory rewritten while a straggler from an earlier loop still reads it (each loop has new inputs).
TEST(ThreadPoolTakeover, ManyLoopsWithStallsStayExact) {
    ThreadPool pool(4);
    pool.set_adaptive(false);
    g_release = 1, g_blocked = 0, g_input_changed = 0;
    for (int32_t round = 0; round < 300; ++round) {
        const int64_t n = 1 + (round * 37) % 200;
        std::vector<float> out(size_t(2 * n), -1.0f);
        ThreadPool::Owner owner(pool);
        auto* in = reinterpret_cast<int32_t*>(pool.takeover_inputs(size_t(n) * 4));
        ASSERT_NE(in, nullptr);
        fill_inputs(in, n, round * 1000);
        if (round % 3 == 0) g_sleep_us = 3000;
        pool.parallel_for_takeover(n, 1 + round % 5, out.data(), 2, Body{in, 5});
        expect_exact(out, n, round * 1000);
    }
    g_sleep_us = 0;
    ThreadPool::wait_for_stragglers();
    EXPECT_GT(pool.takeovers(), 0u);
    EXPECT_EQ(g_input_changed.load(), 0);
}

// The pool's own hook pauses a worker inside a chunk it has claimed: taken over, exact.
TEST(ThreadPoolTakeover, TheStallHookLeadsToATakeOver) {
    ThreadPool pool(2);
    pool.set_adaptive(false);
    const int64_t n = 96;
    for (int round = 0; round < 500 && pool.takeovers() == 0; ++round) {
        std::vector<float> out(size_t(2 * n), -1.0f);
        ThreadPool::Owner owner(pool);
        auto* in = reinterpret_cast<int32_t*>(pool.takeover_inputs(size_t(n) * 4));
        fill_inputs(in, n, round);
        ThreadPool::stall_next_worker_chunk(5000);
        pool.parallel_for_takeover(n, 2, out.data(), 2, Body{in, 10});
        expect_exact(out, n, round);
    }
    ThreadPool::stall_next_worker_chunk(0);
    ThreadPool::wait_for_stragglers();
    EXPECT_GT(pool.takeovers(), 0u);
}

// Loops whose worker chunks always stall gain nothing: after a window the pool runs them on the caller
// alone for a spell (exactly), both plain and take-over loops. Every loop the pool ran in a spell must have
// left the workers out; a slow machine may see a spell end before the next loop, so it triggers spells
// until loops did run inside one (each spell is twice as long as the last, so that ends).
TEST(ThreadPoolTakeover, LoopsThatGainNothingRunOnTheCallerForASpell) {
    ThreadPool pool(2);
    auto work = [](int64_t b, int64_t e, int w, int64_t* sum) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(5);
        while (std::chrono::steady_clock::now() < until) {}
        if (w != 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        for (int64_t i = b; i < e; ++i) sum[i] = i;
    };
    std::vector<int64_t> sum(8);
    static int32_t ids[8];
    fill_inputs(ids, 8);
    uint64_t plain_in_spell = 0, takeover_in_spell = 0;
    for (int spell = 0; spell < 8 && (plain_in_spell == 0 || takeover_in_spell == 0); ++spell) {
        const uint64_t spells = pool.serial_spells();
        for (int round = 0; round < 5000 && pool.serial_spells() == spells; ++round)
            pool.parallel_for(8, 1, [&](int64_t b, int64_t e, int w) { work(b, e, w, sum.data()); });
        ASSERT_GT(pool.serial_spells(), spells);
        uint64_t before = pool.serial_loops();
        std::atomic<int> on_workers{0};
        pool.parallel_for(8, 1, [&](int64_t b, int64_t e, int w) {
            on_workers += w != 0;
            work(b, e, w, sum.data());
        });
        for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(sum[size_t(i)], i);
        if (pool.serial_loops() > before) {
            EXPECT_EQ(on_workers.load(), 0);
            ++plain_in_spell;
        }
        ThreadPool::wait_for_stragglers();  // none expected; a late one would count below
        before = pool.serial_loops();
        const int64_t worker_chunks = g_worker_chunks.load();
        std::vector<float> out(16);
        pool.parallel_for_takeover(8, 1, out.data(), 2, Body{ids});
        expect_exact(out, 8);
        if (pool.serial_loops() > before) {
            EXPECT_EQ(g_worker_chunks.load(), worker_chunks);
            ++takeover_in_spell;
        }
    }
    EXPECT_GT(plain_in_spell, 0u);
    EXPECT_GT(takeover_in_spell, 0u);
}

// One thread, or nested inside a chunk: no input memory on offer and the loop runs inline, exactly.
TEST(ThreadPoolTakeover, OneThreadAndNestedLoopsRunInline) {
    ThreadPool one(1);
    {
        ThreadPool::Owner owner(one);
        EXPECT_EQ(one.takeover_inputs(64), nullptr);
    }
    static int32_t ids[64];
    fill_inputs(ids, 64);
    std::vector<float> out(128);
    one.parallel_for_takeover(64, 5, out.data(), 2, Body{ids});
    expect_exact(out, 64);
    ThreadPool two(2);
    std::vector<std::vector<float>> outs(8, std::vector<float>(128));
    std::atomic<int> offered{0};
    two.parallel_for(8, 1, [&](int64_t b, int64_t, int) {
        if (two.takeover_inputs(64)) offered++;
        two.parallel_for_takeover(64, 5, outs[size_t(b)].data(), 2, Body{ids});
    });
    EXPECT_EQ(offered.load(), 0);
    for (auto& o : outs) expect_exact(o, 64);
    EXPECT_EQ(two.takeovers(), 0u);
}

}  // namespace
}  // namespace bf
