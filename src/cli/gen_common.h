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

// -ctk/-ctv: the shared K/V cache keeps K and V in one type, so one of them alone sets it, and both
// given must agree. f16 (llama.cpp's default) is taken as f32: there is no f16 cache layout.
KvType parse_cache_types(const std::string& k, const std::string& v);
void declare_cache_types(ArgParser& p, std::string* k, std::string* v);

struct GenFlags {
    std::string model, system_prompt, chat_template, chat_template_file, reasoning = "auto";
    int64_t n_predict = -1, threads = 0, ctx = 4096, batch = 512, seed = -1, top_k = 40, repeat_last_n = 64;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0, presence = 0.0, frequency = 0.0;
    std::string cache_type_k, cache_type_v;  // empty: default_kv_type()
    bool raw = false, verbose_prompt = false, no_perf = false, color = false, log_disable = false, mlock = false,
         check_tensors = false;
    std::string prompt_cache;  // --prompt-cache FNAME (engine/state_file.h format)

    void declare(ArgParser& p) {
        declare_model(p);
        declare_sampling(p);
        declare_output(p);
    }
    // What every generating command takes: model, threads, context, cache, template (eval uses only this).
    void declare_model(ArgParser& p);
    void declare_sampling(ArgParser& p);  // -n, -b, --temp, --top-k, ... (run and chat)
    void declare_output(ArgParser& p);    // --raw, --reasoning, --color, timings (run and chat)
    KvType kv_type() const { return parse_cache_types(cache_type_k, cache_type_v); }
    SamplerParams sampler() const;
};

// -m path, or the default demo model; applies -t, --mlock and -c 0 (the model's context); --chat-template
// NAME|FILE (or --chat-template-file) else the model's own (the engine's bundle, engine/loaded_model.h;
// render_prompt() lives there too).
std::unique_ptr<LoadedModel> load_for_generation(GenFlags& f);
std::string default_model_path();
// The one-slot batcher `run` and `chat` generate with (-c, -b, -ctk/-ctv, a checkpoint for --prompt-cache).
BatcherOptions one_slot(const GenFlags& f);
// --prompt-cache: load restores the file into slot 0 if it exists (a file of another model or context is
// reported and skipped); save writes the state at the end of the last prompt.
void load_prompt_cache(Batcher& b, const GenFlags& f);
void save_prompt_cache(Batcher& b, const GenFlags& f);

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

// Streams one reply to stdout (<think> text per --reasoning and --color) until it ends or Ctrl-C stops it
// (StopReason::Caller), then ends the line.
GenOutcome stream_reply(Batcher& engine, GenRequest req, const GenFlags& f);

// The conversation loop of `chat` and of `run -cnv` / `run -i`.
struct ChatOptions {
    std::string first_message;  // run's -p: the first turn, taken without reading the terminal
    bool single_turn = false;   // -st: one reply, then exit
};
int chat_session(const GenFlags& f, const LoadedModel& lm, const ChatOptions& o);
// Info lines on stderr (prefill counts, ...), unless --log-disable.
void log_info(const GenFlags& f, const std::string& line);

// Rejects text that is not valid UTF-8 (prompts and prompt files), naming the byte offset.
void check_utf8(const std::string& s, const char* what);

}  // namespace bf
