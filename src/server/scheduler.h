// Continuous batching for `bitflash serve`: one thread owns the model and the slots. Each step it gathers
// one decode token from every generating slot plus prompt chunks of newly admitted requests into a single
// forward_batch call. HTTP threads only submit requests and read their GenStream. Knows nothing of HTTP.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/kv_cache.h"

#include "core/error.h"
#include "model/sambay.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace bf {

// Everything the server serves, loaded once and then only read.
struct ServedModel {
    Model model;
    Tokenizer tok;
    std::vector<int32_t> eog;
    std::string chat_template;
    std::string path;
};

// Loads model, tokenizer, end-of-generation ids and chat template (the model's own, else `template_name`:
// a built-in name or a Jinja file). Throws bf::Error.
std::unique_ptr<ServedModel> load_served_model(const std::string& path, const std::string& template_name);

enum class FinishReason { None, Stop, Length };

struct GenParams {
    std::vector<int32_t> prompt;     // 1..n_ctx tokens
    SamplerParams sampler;
    int64_t max_tokens = -1;         // -1: until end of generation or the context end
    std::vector<std::string> stop;   // stop strings; the match and what follows are not returned
    bool ignore_eos = false;         // llama-server's ignore_eos: end-of-generation tokens do not stop
};

// llama-server's `timings` counters.
struct GenTimings {
    int64_t prompt_n = 0;     // prompt tokens prefilled for this request
    int64_t cache_n = 0;      // prompt tokens reused from the slot's saved state
    int64_t predicted_n = 0;  // generated tokens
    double prompt_ms = 0, predicted_ms = 0;
};

struct GenEvent {
    std::string text;  // next piece of output (complete UTF-8 characters, stop strings removed)
    bool done = false;
    FinishReason finish = FinishReason::None;  // with done
    GenTimings timings;                        // with done
    std::string error;                         // with done: non-empty if the request failed
};

// The per-request channel: the scheduler pushes, one HTTP thread reads.
class GenStream {
public:
    // Waits up to `timeout` for the next event; false on timeout.
    bool next(GenEvent& out, std::chrono::milliseconds timeout);
    void push(GenEvent e);
    // The client is gone: the scheduler frees the slot at its next step.
    void cancel() { cancelled_.store(true); }
    bool cancelled() const { return cancelled_.load(); }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<GenEvent> q_;
    std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
    int n_slots = 4;
    int64_t n_ctx = 4096;
    KvType kv_type = KvType::F32;  // shared K/V cache of each slot
    int64_t batch = 512;      // tokens per forward_batch call (decode tokens + prompt chunks)
    size_t max_queue = 128;   // requests waiting for a slot; beyond this submit() throws QueueFull
    bool no_batch = false;    // one slot per step (round robin), for comparison with batching
};

class QueueFull : public Error {
public:
    using Error::Error;
};

class Scheduler {
public:
    Scheduler(const ServedModel& m, const SchedulerOptions& o);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Queues a request. Throws QueueFull when max_queue requests already wait, bf::Error for a prompt that
    // is empty or longer than the context.
    std::shared_ptr<GenStream> submit(GenParams p);
    void stop();  // finishes the thread; waiting and running requests get an error event
    const SchedulerOptions& options() const { return opt_; }
    int64_t steps() const { return steps_.load(); }        // forward_batch calls so far
    int64_t cancelled() const { return cancelled_.load(); }  // requests dropped because the client left

private:
    struct Slot;
    struct Pending {
        GenParams params;
        std::shared_ptr<GenStream> out;
        std::chrono::steady_clock::time_point t_submit;
    };

    void run();
    void admit(std::deque<Pending>& incoming);
    void step();
    void sample_next(Slot& s);
    bool emit_text(Slot& s, const std::string& piece, bool final);
    void finish(Slot& s, FinishReason why, const std::string& error = "");

    const ServedModel& m_;
    SchedulerOptions opt_;
    std::vector<std::unique_ptr<Slot>> slots_;
    Workspace ws_;
    std::vector<float> logits_;
    uint64_t clock_ = 0;  // admission counter for least-recently-used slot choice
    size_t rr_ = 0;       // round-robin position for no_batch
    std::atomic<int64_t> steps_{0}, cancelled_{0};

    std::mutex mu_;  // guards queue_ and stop_
    std::condition_variable cv_;
    std::deque<Pending> queue_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace bf
