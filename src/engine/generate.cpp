#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace bf {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

GenerateResult generate(Session& s, Sampler& sampler, const Tokenizer& tok, const std::vector<int32_t>& eog,
                        const std::vector<int32_t>& prompt, int64_t n_predict,
                        const std::function<bool(const std::string&)>& on_token) {
    GenerateResult r;
    auto t0 = std::chrono::steady_clock::now();
    if (!prompt.empty()) s.feed(prompt);
    for (int32_t t : prompt) sampler.accept(t);
    r.timings.prompt_ms = ms_since(t0);
    r.timings.n_prompt = int64_t(prompt.size());

    StreamDecoder text(tok);
    auto tg0 = std::chrono::steady_clock::now();
    double sample_ms = 0;
    r.stop = StopReason::Length;
    for (int64_t i = 0; n_predict < 0 || i < n_predict; ++i) {
        auto ts = std::chrono::steady_clock::now();
        const int32_t id = sampler.sample(s.logits().data());
        sampler.accept(id);
        sample_ms += ms_since(ts);
        if (std::find(eog.begin(), eog.end(), id) != eog.end()) {
            r.stop = StopReason::EndOfGeneration;
            r.end_token = id;
            break;
        }
        r.tokens.push_back(id);
        if (on_token && !on_token(text.push(id))) {
            r.stop = StopReason::Callback;
            break;
        }
        if (s.n_past() >= s.n_ctx()) {
            r.stop = StopReason::ContextFull;
            break;
        }
        if (n_predict >= 0 && i + 1 >= n_predict) break;  // the last token needs no forward pass
        s.feed(std::span<const int32_t>(&id, 1));
    }
    if (on_token) on_token(text.flush());
    r.timings.gen_ms = ms_since(tg0) - sample_ms;
    r.timings.sample_ms = sample_ms;
    r.timings.n_gen = int64_t(r.tokens.size());
    return r;
}

std::string format_timings(const Timings& t, double load_ms) {
    auto rate = [](double ms, int64_t n) { return ms > 0 ? 1000.0 * double(n) / ms : 0.0; };
    auto per = [](double ms, int64_t n) { return n > 0 ? ms / double(n) : 0.0; };
    return strfmt(
        "bitflash_perf:        load time = %10.2f ms\n"
        "bitflash_perf: prompt eval time = %10.2f ms / %5lld tokens (%8.2f ms per token, %8.2f tokens per second)\n"
        "bitflash_perf:        eval time = %10.2f ms / %5lld runs   (%8.2f ms per token, %8.2f tokens per second)\n"
        "bitflash_perf:    sampling time = %10.2f ms / %5lld runs\n"
        "bitflash_perf:       total time = %10.2f ms / %5lld tokens\n",
        load_ms, t.prompt_ms, (long long)t.n_prompt, per(t.prompt_ms, t.n_prompt), rate(t.prompt_ms, t.n_prompt),
        t.gen_ms, (long long)t.n_gen, per(t.gen_ms, t.n_gen), rate(t.gen_ms, t.n_gen), t.sample_ms,
        (long long)t.n_gen, load_ms + t.prompt_ms + t.gen_ms + t.sample_ms, (long long)(t.n_prompt + t.n_gen));
}

}  // namespace bf
