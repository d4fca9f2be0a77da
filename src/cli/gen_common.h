// What `run` and `chat` share: llama-cli's generation flags, loading model + tokenizer + template,
// rendering the chat prompt, and showing <think> reasoning dimmed or hidden.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "engine/reasoning.h"
#include "kernels/kv_cache.h"
#include "model/weights.h"
#include "sample/sampler.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace bf {

// -ctk/-ctv: the shared K/V cache keeps K and V in one type, so both must name it.
KvType parse_cache_types(const std::string& k, const std::string& v);
void declare_cache_types(ArgParser& p, std::string* k, std::string* v);

struct GenFlags {
    std::string model, system_prompt, chat_template, reasoning = "auto";
    int64_t n_predict = -1, threads = 0, ctx = 4096, batch = 512, seed = -1, top_k = 40, repeat_last_n = 64;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0, presence = 0.0, frequency = 0.0;
    std::string cache_type_k = "f32", cache_type_v = "f32";
    bool raw = false, verbose_prompt = false, no_perf = false;

    void declare(ArgParser& p);
    KvType kv_type() const { return parse_cache_types(cache_type_k, cache_type_v); }
    SamplerParams sampler() const;
};

struct LoadedModel {
    Model model;
    Tokenizer tok;
    std::vector<int32_t> eog;
    std::string chat_template;  // empty when the model has none and none was asked for
    double load_ms = 0;
};

// -m path, or the default demo model; applies -t.
std::unique_ptr<LoadedModel> load_for_generation(const GenFlags& f);
std::string default_model_path();

// The model's template (or --chat-template NAME|FILE) applied to the messages.
std::string render_prompt(const LoadedModel& lm, const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

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
