// `bitflash serve`'s queue in front of the engine's batcher (engine/batcher.h): one thread owns the batcher
// and steps it; HTTP threads only submit requests and read their GenStream. Knows nothing of HTTP.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/batcher.h"

namespace bf {

// Everything the server serves, loaded once and then only read: the engine's model bundle.
using ServedModel = LoadedModel;

// Loads the model bundle; the chat template is `template_name` (a built-in name or a Jinja file), else the
// model's own, else phi4-mini (the model family this engine serves). Throws bf::Error.
std::unique_ptr<ServedModel> load_served_model(const std::string& path, const std::string& template_name,
                                               bool check_tensors = false);

enum class FinishReason { None, Stop, Length };

using GenParams = GenRequest;  // prompt, sampler, max_tokens, stop strings, ignore_eos
using GenTimings = GenStats;   // llama-server's `timings` counters

struct GenEvent {
    std::string text;  // next piece of output (complete UTF-8 characters, stop strings removed)
    bool done = false;
    FinishReason finish = FinishReason::None;  // with done
    GenTimings timings;                        // with done
    std::string error;                         // with done: non-empty if the request failed
    std::vector<TokenLogprob> logprobs;        // the tokens behind `text` (requests with logprobs)
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
    KvType kv_type = KvType::F32;          // shared K/V cache of each slot
    int64_t batch = 512;                   // tokens per forward_batch call (decode tokens + prompt chunks)
    size_t max_queue = 128;                // requests waiting for a slot; beyond this submit() throws QueueFull
    bool no_batch = false;                 // one slot per step (round robin), for comparison with batching
    int ctx_checkpoints = 8;               // state checkpoints per slot (--ctx-checkpoints)
    size_t checkpoint_bytes = 256u << 20;  // per slot (--ctx-checkpoint-mb / slots)
};

// The request was not queued and may be retried later (HTTP 503).
class Unavailable : public Error {
public:
    using Error::Error;
};
class QueueFull : public Unavailable {
public:
    using Unavailable::Unavailable;
};

// Totals since start for /metrics (tokens and milliseconds of finished requests), and the state now.
struct SchedulerMetrics {
    int64_t prompt_tokens = 0, cache_tokens = 0, predicted_tokens = 0, requests_done = 0;
    double prompt_ms = 0, predicted_ms = 0;
    int busy_slots = 0;
    size_t queued = 0;
};

class Scheduler {
public:
    Scheduler(const ServedModel& m, const SchedulerOptions& o);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Queues a request. Throws QueueFull when max_queue requests already wait, Unavailable after stop(),
    // bf::Error for a prompt that is empty or longer than the context.
    std::shared_ptr<GenStream> submit(GenParams p);
    void stop();  // finishes the thread; waiting and running requests get an error event
    const SchedulerOptions& options() const { return opt_; }
    int64_t steps() const { return batcher_.steps(); }       // forward_batch calls so far
    int64_t cancelled() const { return cancelled_.load(); }  // requests dropped because the client left
    size_t in_flight() const;                                // requests waiting or generating
    // Runs f on the scheduler thread between steps (slot files, /slots) and waits for it; rethrows its error.
    void run_on_engine(const std::function<void(Batcher&)>& f);
    SchedulerMetrics metrics() const;

private:
    struct Pending {
        GenParams params;
        std::shared_ptr<GenStream> out;
    };

    void run();
    void admit(Pending p);
    void count_done(const GenStats& s);

    const ServedModel& m_;
    SchedulerOptions opt_;
    Batcher batcher_;  // used by the scheduler thread only
    std::atomic<int64_t> cancelled_{0};

    mutable std::mutex mu_;  // guards queue_, tasks_, stop_ and metrics_
    std::condition_variable cv_;
    std::deque<Pending> queue_;
    std::deque<std::packaged_task<void()>> tasks_;
    SchedulerMetrics metrics_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace bf
