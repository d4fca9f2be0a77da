// What `run`, `chat` and `eval` share: llama-cli's generation flags, loading the model bundle, and showing
// <think> reasoning dimmed or hidden.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "engine/batcher.h"
#include "engine/loaded_model.h"
#include "engine/reasoning.h"
#include "kernels/kv_cache.h"
#include "sample/sampler.h"

namespace bf {

// -ctk/-ctv: the shared K/V cache keeps K and V in one type, so both must name it.
KvType parse_cache_types(const std::string& k, const std::string& v);
void declare_cache_types(ArgParser& p, std::string* k, std::string* v);

struct GenFlags {
    std::string model, system_prompt, chat_template, reasoning = "auto";
    int64_t n_predict = -1, threads = 0, ctx = 4096, batch = 512, seed = -1, top_k = 40, repeat_last_n = 64;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0, presence = 0.0, frequency = 0.0;
    std::string cache_type_k = "f32", cache_type_v = "f32";
    bool raw = false, verbose_prompt = false, no_perf = false, check_tensors = false;

    void declare(ArgParser& p);
    KvType kv_type() const { return parse_cache_types(cache_type_k, cache_type_v); }
    SamplerParams sampler() const;
};

// -m path, or the default demo model; applies -t; --chat-template NAME|FILE else the model's own (the
// engine's bundle, engine/loaded_model.h; render_prompt() lives there too).
std::unique_ptr<LoadedModel> load_for_generation(const GenFlags& f);
std::string default_model_path();
// The one-slot batcher `run` and `chat` generate with (-c, -b, -ctk/-ctv).
BatcherOptions one_slot(const GenFlags& f);

// Shows <think>…</think> dimmed (terminal), plain, or hides it.
class ReasoningFilter {
public:
    enum class Mode { Show, Dim, Hide };
    explicit ReasoningFilter(Mode m) : mode_(m) {}
    static Mode from_flag(const std::string& flag, bool is_tty);
    std::string push(const std::string& piece) { return render(split_.push(piece)); }
    std::string flush();

private:
    std::string render(const std::vector<TextSegment>& segs) const;
    Mode mode_;
    ThinkSplitter split_;
};

// Rejects text that is not valid UTF-8 (prompts and prompt files), naming the byte offset.
void check_utf8(const std::string& s, const char* what);

}  // namespace bf
