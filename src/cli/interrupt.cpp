// SIGINT -> an atomic flag; only async-signal-safe calls in the handler (clock_gettime, write, _exit).
#include "cli/interrupt.h"

#include <csignal>
#include <ctime>
#include <unistd.h>

#include <atomic>

namespace bf {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<long long> g_last_ms{-1000000};  // time of the previous Ctrl-C

long long now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void on_sigint(int) {
    const long long t = now_ms();
    // Twice quickly: the user wants out, whatever the loop is doing (a long prefill step, say).
    if (t - g_last_ms.exchange(t) < 1000) {
        const char nl = '\n';
        (void)!write(STDERR_FILENO, &nl, 1);
        _exit(130);
    }
    g_stop = true;
}

}  // namespace

void install_sigint_stop() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
}

bool interrupted() { return g_stop.load(); }
void clear_interrupt() { g_stop = false; }

}  // namespace bf
