// Run-time choice of the kernel target: CPU features, then BITFLASH_KERNELS, then force_kernels().
// Compiled without SIMD flags; x86 feature tests are guarded by BF_HAVE_X86.
#include <atomic>
#include <cstdio>
#if defined(BF_HAVE_NEON) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(BF_HAVE_NEON) && defined(__APPLE__)
#include <TargetConditionals.h>
#include <sys/sysctl.h>
#endif
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/kernel_api.h"
#include "kernels/matmul.h"

namespace bf {

#ifndef BF_HAVE_X86
const KernelTable* avx2_kernels() { return nullptr; }
const KernelTable* avx512_kernels() { return nullptr; }
#endif
#ifndef BF_HAVE_NEON
const KernelTable* neon_kernels() { return nullptr; }
const KernelTable* neon_dot_kernels() { return nullptr; }
#endif

namespace {

bool cpu_has_avx2() {
#ifdef BF_HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

bool cpu_has_avx512() {
#ifdef BF_HAVE_X86
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

// ARMv8.2's SDOT/UDOT (FEAT_DotProd), as the OS reports it.
bool cpu_has_dotprod() {
#if defined(BF_HAVE_NEON) && defined(__linux__)
    constexpr unsigned long kHwcapAsimdDp = 1ul << 20;  // HWCAP_ASIMDDP of <asm/hwcap.h>
    return (getauxval(AT_HWCAP) & kHwcapAsimdDp) != 0;
#elif defined(BF_HAVE_NEON) && defined(__APPLE__)
    int v = 0;
    size_t n = sizeof v;
    if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &n, nullptr, 0) == 0) return v != 0;
    return TARGET_OS_OSX;  // the key is macOS 12+; every Apple Silicon Mac before it (M1) has the dot product
#else
    return false;
#endif
}

// nullptr if the name is unknown or the target is unusable.
const KernelTable* lookup(const char* name, bool* known) {
    *known = true;
    if (std::strcmp(name, "scalar") == 0) return ref_kernels();
    if (std::strcmp(name, "avx2") == 0) return cpu_has_avx2() ? avx2_kernels() : nullptr;
    if (std::strcmp(name, "avx512") == 0) return cpu_has_avx512() ? avx512_kernels() : nullptr;
    if (std::strcmp(name, "neon") == 0) return neon_kernels();
    if (std::strcmp(name, "neon_dot") == 0) return cpu_has_dotprod() ? neon_dot_kernels() : nullptr;
    if (std::strcmp(name, "auto") == 0) {
        for (const char* n : {"avx512", "avx2", "neon_dot", "neon"}) {
            bool k;
            if (const KernelTable* t = lookup(n, &k)) return t;
        }
        return ref_kernels();
    }
    *known = false;
    return nullptr;
}

const KernelTable* initial_table() {
    const char* env = std::getenv("BITFLASH_KERNELS");
    bool known;
    if (env && *env) {
        if (const KernelTable* t = lookup(env, &known)) return t;
        std::fprintf(stderr, "bitflash: BITFLASH_KERNELS=%s is %s; using the best available target\n", env,
                     known ? "not usable on this CPU" : "unknown");
    }
    return lookup("auto", &known);
}

std::atomic<const KernelTable*> g_active{nullptr};

}  // namespace

const KernelTable& active_kernels() {
    const KernelTable* t = g_active.load(std::memory_order_acquire);
    if (!t) {
        t = initial_table();
        g_active.store(t, std::memory_order_release);
    }
    return *t;
}

void force_kernels(const char* name) {
    if (!name) fail("force_kernels: null target name");
    bool known;
    const KernelTable* t = lookup(name, &known);
    if (!known)
        fail(strfmt("unknown kernel target '%s' (expected scalar, avx2, avx512, neon, neon_dot or auto)", name));
    if (!t) fail(strfmt("kernel target '%s' is not available on this CPU or build", name));
    g_active.store(t, std::memory_order_release);
}

bool kernels_available(const char* name) {
    bool known;
    return name && lookup(name, &known) != nullptr;
}

const KernelTable* kernel_table(const char* name) {
    bool known;
    return name ? lookup(name, &known) : nullptr;
}

const char* kernels_name() { return active_kernels().name; }

}  // namespace bf
