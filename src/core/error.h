// Error policy (docs/style.md §7): bad input raises bf::Error with context; the CLI's main catches it
// and exits non-zero. BF_CHECK is for internal invariants and is always on.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace bf {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// printf-style message builder for errors; keeps call sites short.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] inline void fail(const std::string& msg) { throw Error(msg); }

}  // namespace bf

#define BF_CHECK(cond)                                                                                        \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            std::fprintf(stderr, "bitflash: internal check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                                     \
        }                                                                                                     \
    } while (0)
