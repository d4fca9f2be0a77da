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

#include "engine/checkpoints.h"
#include "engine/loaded_model.h"
#include "grammar/grammar.h"
#include "engine/logprobs.h"
#include "engine/state_file.h"
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
    std::vector<int32_t> prompt;              // 1..n_ctx tokens
    SamplerParams sampler;                    // for a new sampler, unless shared_sampler is set
    std::shared_ptr<Sampler> shared_sampler;  // kept across requests (chat: penalties and RNG go on)
    size_t sampler_seen = 0;                  // prompt tokens shared_sampler has already accepted
    int64_t max_tokens = -1;                  // -1: until end of generation or the context end
    std::vector<std::string> stop;            // stop strings
    bool ignore_eos = false;                  // end-of-generation ids do not stop
    // Output constrained to this grammar from the first generated token: each step only tokens the grammar
    // accepts next, and end-of-generation only where it may end (needs a tokenizer; not with ignore_eos).
    std::shared_ptr<const Grammar> grammar;
    int n_logprobs = -1;  // -1: none; 0..kMaxTopLogprobs: each token's logprob and that many alternatives
    // With n_logprobs >= 0: each output token's log-probabilities, just before on_text gets its text.
    std::function<void(const TokenLogprob&)> on_logprob;
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
    std::string error;  // with Error, and "cancelled" with Caller
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
    int64_t batch = 512;          // tokens per step (decode tokens first, then prompt chunks); INT64_MAX: whole prompts
    bool no_batch = false;        // one slot per step (round robin), for comparison with batching
    int ctx_checkpoints = 0;      // state checkpoints kept per slot (end of each prompt); 0: none
    size_t checkpoint_bytes = 0;  // memory bound of one slot's checkpoints
};

class VocabTrie;

class Batcher {
public:
    // tok may be null (no text: eval scores tokens); then stop strings are not allowed.
    Batcher(const Model& m, const Tokenizer* tok, std::vector<int32_t> eog, const BatcherOptions& o);
    Batcher(const LoadedModel& lm, const BatcherOptions& o) : Batcher(lm.model, &lm.tok, lm.eog, o) {}
    ~Batcher();

    // Throws bf::Error for an empty prompt, one longer than the context, or ids out of the vocabulary.
    void check(const GenRequest& r) const;
    // Starts a request on a free slot: the one whose saved tokens, or one of whose checkpoints' tokens, are
    // the longest prefix of the prompt (reused as is, or restored), else the least recently used one (reset). Requires
    // free_slots() > 0; calls check(). on_done may run inside admit (a fully reused prompt whose first sample stops
    // it).
    void admit(GenRequest r, GenCallbacks cb);
    // One forward pass over every active slot; samples, streams and finishes requests.
    void step();
    // Finishes every active request with an error.
    void abort_all(const std::string& error);
    // Drops the saved state of idle slots (chat's /reset).
    void forget();

    // Saved slot files (engine/state_file.h); the slot must be idle (else bf::Error). save writes what the
    // slot's state has seen, or with prompt_only its newest checkpoint (the state at the end of the last
    // prompt: `--prompt-cache`); it returns the file size, or 0 (nothing written) when prompt_only finds no
    // checkpoint (no prompt has ended yet: interrupted during prefill). restore returns the file's contents (the
    // tokens now in the slot) and throws StateFileError for a file of another model, truncated or corrupted.
    size_t save_slot(int i, const std::string& path, bool prompt_only = false);
    StateFileContents restore_slot(int i, const std::string& path);
    void erase_slot(int i);  // forgets slot i's state and checkpoints

    struct SlotInfo {
        bool active = false;
        size_t n_tokens = 0;      // tokens the state has seen
        size_t prompt_n = 0;      // the request's prompt tokens (active)
        int64_t predicted_n = 0;  // tokens generated so far (active)
        size_t n_checkpoints = 0, checkpoint_bytes = 0, state_bytes = 0;
    };
    SlotInfo slot_info(int i) const;
    uint64_t fingerprint() const;  // of the model (state files)

    int free_slots() const;
    bool idle() const { return free_slots() == int(slots_.size()); }
    int64_t steps() const { return steps_.load(); }  // forward passes so far (readable from any thread)
    // What the state of slot i has seen (chat: the prefix its next turn reuses).
    const std::vector<int32_t>& slot_tokens(int i) const;
    const BatcherOptions& options() const { return opt_; }

private:
    struct Slot;
    void sample_next(Slot& s, const float* logits);
    void keep_checkpoint(Slot& s, const float* logits);
    bool emit_text(Slot& s, const std::string& piece);
    void finish(Slot& s, StopReason why, const std::string& error = "");
    const uint8_t* grammar_mask(Slot& s);  // null after finishing the request with an error
    const VocabTrie& trie();               // built at the first grammar request

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
    std::unique_ptr<VocabTrie> trie_;
    mutable uint64_t fingerprint_ = 0;  // computed on first use
    Slot& idle_slot(int i);
};

// One request alone on `b` (one slot for `run` and `chat`), stepped to its end; `cancelled` (Ctrl-C)
// is polled before each step. Throws bf::Error with the request's error when it finished with StopReason::Error.
GenOutcome generate_one(Batcher& b, GenRequest r, const std::function<bool(const std::string&)>& on_text,
                        std::function<bool()> cancelled = nullptr);

}  // namespace bf
