// The one generation engine behind `run`, `chat`, `eval` and `serve`: slots (sequence states that outlive
// their requests, so a prompt that starts with what a slot has seen reuses it), admission, prompt chunks
// under a per-step token budget with decode tokens first, sampling, streaming UTF-8 decode, stop strings
// and every other stop rule. Single-threaded: the caller drives step() (the server from its own thread).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/loaded_model.h"
#include "sample/sampler.h"

namespace bf {

enum class StopReason {
    EndOfGeneration,  // an end-of-generation id was sampled (it is not output, nor fed)
    StopString,       // a stop string appeared in the text (it and what follows are not output)
    Length,           // max_tokens generated
    ContextFull,      // the sampled token no longer fits the context (it is output, not fed)
    Caller,           // on_text returned false, or cancelled() became true
    Error,
};

struct GenRequest {
    std::vector<int32_t> prompt;    // 1..n_ctx tokens
    SamplerParams sampler;          // for a new sampler, unless shared_sampler is set
    std::shared_ptr<Sampler> shared_sampler;  // kept across requests (chat: penalties and RNG go on)
    size_t sampler_seen = 0;        // prompt tokens shared_sampler has already accepted
    int64_t max_tokens = -1;        // -1: until end of generation or the context end
    std::vector<std::string> stop;  // stop strings
    bool ignore_eos = false;        // end-of-generation ids do not stop
};

// llama-server's `timings` counters, plus sampling time for the CLI's report.
struct GenStats {
    int64_t prompt_n = 0;     // prompt tokens prefilled for this request
    int64_t cache_n = 0;      // prompt tokens reused from the slot's saved state
    int64_t predicted_n = 0;  // generated tokens
    double prompt_ms = 0, predicted_ms = 0, sample_ms = 0;
};

struct GenOutcome {
    StopReason stop = StopReason::Length;
    int32_t end_token = -1;       // with EndOfGeneration
    std::vector<int32_t> tokens;  // generated, without the end-of-generation token
    GenStats stats;
    std::string error;            // with Error, and "cancelled" with Caller
};

struct GenCallbacks {
    // The next piece of output (complete UTF-8 characters, stop strings removed; may be empty);
    // false stops the request. Without a tokenizer no text is produced.
    std::function<bool(const std::string&)> on_text;
    std::function<void(GenOutcome&)> on_done;
    std::function<bool()> cancelled;  // polled before each step; true frees the slot
};

struct BatcherOptions {
    int n_slots = 1;
    int64_t n_ctx = 4096;
    KvType kv_type = KvType::F32;
    int64_t batch = 512;   // tokens per step (decode tokens first, then prompt chunks); INT64_MAX: whole prompts
    bool no_batch = false; // one slot per step (round robin), for comparison with batching
};

class Batcher {
public:
    // tok may be null (no text: eval scores tokens); then stop strings are not allowed.
    Batcher(const Model& m, const Tokenizer* tok, std::vector<int32_t> eog, const BatcherOptions& o);
    Batcher(const LoadedModel& lm, const BatcherOptions& o) : Batcher(lm.model, &lm.tok, lm.eog, o) {}
    ~Batcher();

    // Throws bf::Error for an empty prompt, one longer than the context, or ids out of the vocabulary.
    void check(const GenRequest& r) const;
    // Starts a request on a free slot: the one whose saved tokens are the longest prefix of the prompt
    // (reused as is), else the least recently used one (reset). Requires free_slots() > 0; calls check().
    // on_done may run inside admit (a fully reused prompt whose first sample stops it).
    void admit(GenRequest r, GenCallbacks cb);
    // One forward pass over every active slot; samples, streams and finishes requests.
    void step();
    // Finishes every active request with an error.
    void abort_all(const std::string& error);
    // Drops the saved state of idle slots (chat's /reset).
    void forget();

    int free_slots() const;
    bool idle() const { return free_slots() == int(slots_.size()); }
    int64_t steps() const { return steps_.load(); }  // forward passes so far (readable from any thread)
    // What the state of slot i has seen (chat: the prefix its next turn reuses).
    const std::vector<int32_t>& slot_tokens(int i) const;
    const BatcherOptions& options() const { return opt_; }

private:
    struct Slot;
    void sample_next(Slot& s, const float* logits);
    bool emit_text(Slot& s, const std::string& piece);
    void finish(Slot& s, StopReason why, const std::string& error = "");

    const Model& model_;
    const Tokenizer* tok_;
    std::vector<int32_t> eog_;
    BatcherOptions opt_;
    std::vector<std::unique_ptr<Slot>> slots_;
    Workspace ws_;
    std::vector<float> logits_;  // this step's rows, one per chunk
    uint64_t clock_ = 0;         // admission counter for the least-recently-used choice
    size_t rr_ = 0;              // round-robin position for no_batch
    std::atomic<int64_t> steps_{0};
};

// One request alone on `b` (one slot for `run` and `chat`), stepped to its end.
// Throws bf::Error with the request's error when it finished with StopReason::Error.
GenOutcome generate_one(Batcher& b, GenRequest r, const std::function<bool(const std::string&)>& on_text);

}  // namespace bf
