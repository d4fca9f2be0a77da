// llama.cpp-style timing report of one generation.
#include "engine/timings.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

std::string format_timings(const GenStats& t, double load_ms) {
    auto rate = [](double ms, int64_t n) { return ms > 0 ? 1000.0 * double(n) / ms : 0.0; };
    auto per = [](double ms, int64_t n) { return n > 0 ? ms / double(n) : 0.0; };
    // Decode time without sampling, as llama.cpp reports them apart.
    const double gen_ms = std::max(0.0, t.predicted_ms - t.sample_ms);
    const std::string load = load_ms > 0 ? strfmt("bitflash_perf:        load time = %10.2f ms\n", load_ms) : "";
    return load + strfmt(
                      "bitflash_perf: prompt eval time = %10.2f ms / %5lld tokens (%8.2f ms per token, %8.2f tokens "
                      "per second)\n"
                      "bitflash_perf:        eval time = %10.2f ms / %5lld runs   (%8.2f ms per token, %8.2f tokens "
                      "per second)\n"
                      "bitflash_perf:    sampling time = %10.2f ms / %5lld runs\n"
                      "bitflash_perf:       total time = %10.2f ms / %5lld tokens\n",
                      t.prompt_ms, (long long)t.prompt_n, per(t.prompt_ms, t.prompt_n), rate(t.prompt_ms, t.prompt_n),
                      gen_ms, (long long)t.predicted_n, per(gen_ms, t.predicted_n), rate(gen_ms, t.predicted_n),
                      t.sample_ms, (long long)t.predicted_n, load_ms + t.prompt_ms + gen_ms + t.sample_ms,
                      (long long)(t.prompt_n + t.predicted_n));
}

}  // namespace bf
